"""An app whose Python spec is wrong (``tool`` for ``tools``): the CLI must print one line."""

from duragent import Agent, App

app = App(
    agents=[Agent(name="info", model="openai/gpt-5.5", tool=["lookup_order"])],  # type: ignore[call-arg]
)
