"""Agents' prompts by content address: written once by ``specs.resolve``, read by model calls.

A run's history records each agent's prompt (instructions, tool schemas, script) only by its
address (``ResolvedSpecs.prompts``); model calls carry a ``PromptRef``. Unlike a transcript,
which history holds and can resend, history does not hold a compacted prompt, so a worker that
lacks one must find it itself, in order:

1. this process's cache (an LRU: every run of an agent shares one prompt);
2. the store the workers share (the transcript store's content-addressed texts; sealed with
   the key ring when there is one): a worker started mid-run with an empty cache reads it here;
3. its own app, when the agent's prompt there has the same address (a worker on another host
   with a store of its own, serving the same version of the app): the store is healed with it.

Failing all three the call fails closed, non-retryable ``spec_missing`` saying what to fix; the
workflow then ends the run rather than asking a model with no instructions. Along with each
prompt the whole spec is stored under its hash (``ResolvedSpecs.hashes``), so the audit can
show the exact spec a run used from the hash its history records.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from duragent._app import App
from duragent._messages import ResolvedSpecs
from duragent._prompt import AgentPrompt, agent_prompt, compact
from duragent.activities._transcripts import TranscriptError, TranscriptStore
from duragent.errors import SpecError

SPEC_MISSING = "spec_missing"
"""The error type of a model call whose prompt no source holds (non-retryable)."""


class SpecStore:
    """One per worker process, shared by its ``specs.resolve`` and ``model.call`` activities.

    Thread-safe: both activities call in from worker threads (``asyncio.to_thread``).
    """

    def __init__(self, store: TranscriptStore, *, app: App | None = None, size: int = 256) -> None:
        self._store = store
        self._app = app
        self._size = size
        self._cache: OrderedDict[str, AgentPrompt] = OrderedDict()
        self._compacted: dict[str, ResolvedSpecs] = {}
        self._lock = threading.Lock()

    def record(self, specs: ResolvedSpecs) -> ResolvedSpecs:
        """``specs`` compacted, once each agent's prompt and whole spec are in the shared store.

        Whole specs in, compacted specs out, the same object for the same entry agent (an app
        does not change once built): the store is written once per process and agent.
        """
        with self._lock:
            done = self._compacted.get(specs.entry)
        if done is not None and done.hashes == specs.hashes:
            return done
        prompts: dict[str, str] = {}
        for name, agent in specs.agents.items():
            prompt = agent_prompt(specs, name)
            text = prompt.model_dump_json()
            prompts[name] = self._store.put_text(text)
            self._store.put_text(agent.model_dump_json())  # address: "sha256:" + its hash
            self._remember(prompts[name], prompt)
        done = compact(specs, prompts)
        with self._lock:
            self._compacted[specs.entry] = done
        return done

    def prompt(self, digest: str, agent: str) -> AgentPrompt:
        """The prompt stored under ``digest``, from the first source that holds it."""
        with self._lock:
            found = self._cache.get(digest)
            if found is not None:
                self._cache.move_to_end(digest)
                return found
        try:
            found = AgentPrompt.model_validate_json(self._store.text(digest))
        except (TranscriptError, ValidationError):
            found = self._from_app(digest, agent)
        self._remember(digest, found)
        return found

    def _from_app(self, digest: str, agent: str) -> AgentPrompt:
        where = f"the shared store at {self._store.path}"
        if self._app is None:
            raise self._missing(digest, agent, f"neither in this worker's cache nor in {where}")
        try:
            prompt = agent_prompt(self._app.resolve(agent), agent)
        except SpecError as exc:
            raise self._missing(
                digest, agent, f"not in {where}, and this worker's app cannot resolve it ({exc})"
            ) from None
        if prompt.digest() != digest:
            raise self._missing(
                digest,
                agent,
                f"not in {where}, and this worker's app tells agent {agent!r} something else "
                f"now ({prompt.digest()}): the run must keep the prompt it started with",
            )
        self._store.put_text(prompt.model_dump_json())  # heal the store for the next worker
        return prompt

    @staticmethod
    def _missing(digest: str, agent: str, why: str) -> ApplicationError:
        return ApplicationError(
            f"agent {agent!r}'s prompt {digest} is {why}. Give every worker of the deployment "
            "the same transcript store (DURAGENT_TRANSCRIPT_STORE: a shared SQLite file or "
            "postgresql://...), or run this run on workers serving the app it started with",
            type=SPEC_MISSING,
            non_retryable=True,
        )

    def _remember(self, digest: str, prompt: AgentPrompt) -> None:
        with self._lock:
            self._cache[digest] = prompt
            self._cache.move_to_end(digest)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
