"""No secret in any record: canaries planted where secrets really come from, searched for in
everything a run leaves behind.

Each repro of issue 12 ("secrets reach history") runs a real worker on the dev server and looks
for its canary in the run's history (payloads decoded, as ``temporal workflow show -o json``
plus a base64 decode would show them), its ``RunResult``, the audit log, the transcript store's
files and the worker's log. Each test also checks that the leaking path really ran (the
redacted text is where the secret would have been), so none can pass by never leaking.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment

from duragent import (
    Agent,
    App,
    Message,
    ModelRef,
    ModelRequest,
    ModelResponse,
    ProviderError,
    RunRequest,
    RunResult,
    ToolCall,
    ToolCallRequest,
    ToolError,
    _redact,
    tool,
)
from duragent import logging as dlog
from duragent._messages import StepRecord
from duragent._redact import REDACTED
from duragent._sandbox import SandboxJob, SandboxPolicy
from duragent.activities import ToolActivities
from duragent.activities._audit import AuditActivities
from duragent.activities.models import ModelProvider, ScriptedProvider
from duragent.activities.models._base import close_providers
from duragent.activities.sandbox import SubprocessBackend
from duragent.audit import AuditBatch, AuditEntry, SQLiteAuditLog
from duragent.client import start_run
from duragent.mock_llm import MockLLM
from duragent.settings import Settings
from duragent.workers import build_providers
from tests.conftest import new_worker

URL_PASSWORD = "hunter2-canary-9c4e"
API_KEY = "proj-canary-Zx81Qm4Rt7Lw"
"""Not shaped like any vendor's key: only redaction by value (the worker's env) can catch it."""
BACKEND_TOKEN = "tkn-canary-7Hq2Lm9Xc4Vb"


# --- where a secret could end up -----------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        try:  # payload data is base64 in the JSON form of a history
            yield base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            pass
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass
class Records:
    """Everything one run left behind, as text."""

    history: str
    result: str
    audit: str
    transcripts: str
    log: str

    def holding(self, secret: str) -> list[str]:
        """The records that contain ``secret``."""
        return [name for name, text in vars(self).items() if secret in text]


async def records(
    handle: WorkflowHandle[Any, RunResult],
    result: RunResult,
    audit: SQLiteAuditLog,
    store: Path,
    log: io.StringIO,
) -> Records:
    history = await handle.fetch_history()
    stored = b"".join(p.read_bytes() for p in sorted(store.parent.glob(store.name + "*")))
    return Records(
        history="\n".join(_strings(json.loads(history.to_json()))),
        result=result.model_dump_json(),
        audit=json.dumps(audit.records_for(handle.id), default=str),
        transcripts=stored.decode("utf-8", "replace"),
        log=log.getvalue(),
    )


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    """The worker's log, configured as ``duragent worker`` does it, at DEBUG."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    dlog.configure(stream=stream, level="DEBUG", json=True)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


@asynccontextmanager
async def serving(
    client: Client, app: App, tmp_path: Path, providers: dict[str, ModelProvider]
) -> AsyncIterator[tuple[str, SQLiteAuditLog, Path]]:
    """A worker for ``app`` keeping its audit log and transcripts in ``tmp_path``."""
    store = tmp_path / "transcripts.db"
    settings = Settings(transcript_store=str(store))
    with SQLiteAuditLog(tmp_path / "audit.db") as audit:
        async with new_worker(
            client, app, settings=settings, audit_log=audit, providers=providers
        ) as worker:
            yield worker.task_queue, audit, store


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- (a) a credential in OPENAI_BASE_URL --------------------------------------------------


async def test_base_url_credentials_reach_no_record(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker_log: io.StringIO
) -> None:
    """The worker's OPENAI_BASE_URL has a password in its user part and nothing listens there:
    the connection error names the base URL, in history, the result, the audit log and the
    log, with the credentials redacted."""
    port = closed_port()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://ops:{URL_PASSWORD}@127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000000000")
    providers = build_providers()
    agent = Agent(
        name="leaky",
        model="openai/gpt-4o-mini",
        retry={"max_attempts": 1},
        degraded={"answer": "No model answered."},
    )
    result, found = await run_leaky(client, agent, tmp_path, providers, worker_log)

    assert found.holding(URL_PASSWORD) == []
    where = f"http://{REDACTED}@127.0.0.1:{port}/v1"
    assert where in found.history and where in found.result and where in found.audit
    assert where in found.log  # the worker logged the failed attempt, redacted
    assert any(s.kind == "model_error" for s in result.steps)


async def run_leaky(
    client: Client,
    agent: Agent,
    tmp_path: Path,
    providers: dict[str, ModelProvider],
    worker_log: io.StringIO,
) -> tuple[RunResult, Any]:
    """Run ``agent`` once on a worker of its own and gather every record of the run."""
    try:
        async with serving(client, App(name="leaky", agents=[agent]), tmp_path, providers) as (
            queue,
            audit,
            store,
        ):
            handle = await start_run(
                client, RunRequest(agent="leaky", input="hello"), task_queue=queue
            )
            result = await handle.result()
            return result, await records(handle, result, audit, store, worker_log)
    finally:
        await close_providers(providers)


# --- (b) a provider's 401 echoing the key --------------------------------------------------


async def test_a_key_echoed_in_a_401_reaches_no_record(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker_log: io.StringIO
) -> None:
    """mock-llm's 401 quotes the API key the worker sent, as some servers do; the worker knows
    its OPENAI_API_KEY and redacts it wherever the message goes."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    providers = build_providers()
    with MockLLM() as mock:
        agent = Agent(
            name="leaky",
            model={
                "provider": "openai",
                "name": "gpt-4o-mini",
                "base_url": mock.openai_base_url,
                "params": {"mock_fault": "401"},
            },
            degraded={"answer": "No model answered."},
        )
        result, found = await run_leaky(client, agent, tmp_path, providers, worker_log)

    assert found.holding(API_KEY) == []
    echoed = f"Incorrect API key provided: {REDACTED}"
    assert echoed in found.history and echoed in found.result and echoed in found.audit
    assert echoed in found.log
    assert result.errors.get("auth") == 1  # not retried: a retry cannot fix a key


# --- (c) a tool's exception quoting a token -----------------------------------------------


@tool(retries=1)
def fetch_report(name: str) -> str:
    """Fails the way a client library does: the request, token included, in the message."""
    raise RuntimeError(f"GET /reports/{name} refused for token {BACKEND_TOKEN}")


@tool(execution="activity")
def fetch_status(name: str) -> str:
    """A handled failure whose message quotes the token."""
    raise ToolError(f"status backend said: bad token {BACKEND_TOKEN} for {name}")


@tool
def fetch_config(name: str) -> str:
    """Output that prints the token."""
    return f"config of {name}: backend_url=https://backend.internal token={BACKEND_TOKEN}"


class Recorded:
    """The scripted model, remembering every request it was sent: what the model saw."""

    def __init__(self) -> None:
        self.inner = ScriptedProvider()
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return await self.inner.complete(request)


async def test_a_token_in_tool_failures_and_output_reaches_no_record_and_no_model(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker_log: io.StringIO
) -> None:
    """Three tools leak the worker's BACKEND_API_TOKEN: an unexpected exception, a ToolError
    and plain output. The model is shown each result and repeats the last in its answer."""
    monkeypatch.setenv("BACKEND_API_TOKEN", BACKEND_TOKEN)
    model = Recorded()
    agent = Agent(
        name="ops",
        model="scripted/ops",
        tools=["fetch_report", "fetch_status", "fetch_config"],
        script=[
            {
                "on": "tool",
                "tool": "fetch_report",
                "call": {"tool": "fetch_status", "arguments": {"name": "eu"}},
            },
            {
                "on": "tool",
                "tool": "fetch_status",
                "call": {"tool": "fetch_config", "arguments": {"name": "eu"}},
            },
            {"on": "tool", "tool": "fetch_config", "when": "(?s)(.+)", "say": "Config: {1}"},
            {"call": {"tool": "fetch_report", "arguments": {"name": "eu"}}},
        ],
    )
    app = App(name="ops", agents=[agent], tools=[fetch_report, fetch_status, fetch_config])
    async with serving(client, app, tmp_path, {"scripted": model}) as (queue, audit, store):
        handle = await start_run(client, RunRequest(agent="ops", input="status?"), task_queue=queue)
        result = await handle.result()
        found = await records(handle, result, audit, store, worker_log)

    assert found.holding(BACKEND_TOKEN) == []
    seen = "\n".join(m.content for r in model.requests for m in r.messages)
    assert BACKEND_TOKEN not in seen
    # Each leak happened and was redacted where the token was.
    assert f"RuntimeError: GET /reports/eu refused for token {REDACTED}" in seen
    assert f"bad token {REDACTED} for eu" in seen
    assert f"token={REDACTED}" in seen
    assert f"refused for token {REDACTED}" in found.log
    assert result.output is not None and f"token={REDACTED}" in result.output
    assert len(model.requests) == 4


# --- (d) token counts stay numbers ---------------------------------------------------------


async def test_log_lines_keep_token_counts_numeric(
    client: Client, tmp_path: Path, worker_log: io.StringIO
) -> None:
    """The worker's "model call" line: ``input_tokens`` is a number, not ``[redacted]``."""
    agent = Agent(name="echo", model="scripted/echo", script=[{"say": "Hello."}])
    providers: dict[str, ModelProvider] = {"scripted": ScriptedProvider()}
    async with serving(client, App(name="echo", agents=[agent]), tmp_path, providers) as (
        queue,
        _,
        _,
    ):
        handle = await start_run(client, RunRequest(agent="echo", input="hi"), task_queue=queue)
        await handle.result()
    lines = [json.loads(line) for line in worker_log.getvalue().splitlines() if line.strip()]
    calls = [line for line in lines if line.get("event") == "model call"]
    assert calls, "the worker logged no model call"
    for line in calls:
        for field in ("input_tokens", "output_tokens", "cached_tokens"):
            assert isinstance(line[field], int), line
        assert line["input_tokens"] > 0


# --- the activities on their own: sandbox tails and audit records --------------------------


@pytest.fixture
def known_token() -> Iterator[None]:
    """The process's redactor knows BACKEND_TOKEN, as a worker started with it would."""
    before = _redact.current()
    _redact.install(before.extended([BACKEND_TOKEN]))
    yield
    _redact.install(before)


@tool(sandboxed=True, timeout=30)
def leaky_job(name: str) -> SandboxJob:
    """A job that prints the token to stdout and stderr."""
    return SandboxJob(
        command=["sh", "-c", f"echo using {BACKEND_TOKEN}; echo {name}: {BACKEND_TOKEN} >&2"]
    )


async def test_sandbox_output_tails_are_redacted(known_token: None) -> None:
    app = App(name="jobs", agents=[], tools=[leaky_job])
    activities = ToolActivities(app, sandbox=SubprocessBackend())
    request = ToolCallRequest(
        run_id="r1",
        workflow_id="run-jobs",
        step_id="s2",
        agent="analyst",
        call=ToolCall(id="c1", name="leaky_job", arguments={"name": "eu"}),
        sandbox=SandboxPolicy(wall_s=20, isolation="preferred"),
    )
    result = await ActivityEnvironment().run(activities.call, request)
    seen = json.loads(result.output)
    assert seen["exit_code"] == 0
    assert seen["stdout"].strip() == f"using {REDACTED}"
    assert seen["stderr"].strip() == f"eu: {REDACTED}"


def _pieces(secret: str, text: str, size: int = 6) -> list[str]:
    """The ``size``-character pieces of ``secret`` that ``text`` holds."""
    return sorted({secret[i : i + size] for i in range(len(secret) - size + 1)} & _words(text))


def _words(text: str, size: int = 6) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def _printing(stream: str, before: int = 0, after: int = 0, *, space: bool = False) -> str:
    """Shell that prints ``before`` x's, ``token=<BACKEND_TOKEN>``, then ``after`` x's."""
    xs = "head -c {} /dev/zero | tr '\\0' x"
    token = f"printf '{' ' if space else ''}token=%s' {BACKEND_TOKEN}"
    return f"{{ {xs.format(before)}; {token}; {xs.format(after)}; }}" + (
        " >&2" if stream == "stderr" else ""
    )


@tool(sandboxed=True, timeout=30)
def straddling_job() -> SandboxJob:
    """The token, then just enough x's to put the model's 4,000-character cut inside it."""
    return SandboxJob(
        command=[
            "sh",
            "-c",
            f"{_printing('stdout', after=3992)}; {_printing('stderr', after=3992)}",
        ]
    )


@tool(sandboxed=True, timeout=30)
def capped_job(space: bool) -> SandboxJob:
    """Output that passes a 1,024-byte limit 12 characters into the token: after a space, or
    glued to the x's before it."""
    return SandboxJob(
        command=["sh", "-c", _printing("stdout", before=1006 - space, after=10, space=space)]
    )


async def _run_job(
    name: str, policy: SandboxPolicy, arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    app = App(name="jobs", agents=[], tools=[straddling_job, capped_job])
    request = ToolCallRequest(
        run_id="r1",
        workflow_id="run-jobs",
        step_id="s2",
        agent="analyst",
        call=ToolCall(id="c1", name=name, arguments=arguments or {}),
        sandbox=policy,
    )
    activities = ToolActivities(app, sandbox=SubprocessBackend())
    result = await ActivityEnvironment().run(activities.call, request)
    seen: dict[str, Any] = json.loads(result.output)
    return seen


async def test_a_secret_straddling_the_models_cut_leaves_no_piece(known_token: None) -> None:
    """Redacted, then cut: cut first, the token's last 8 characters would be the tail's first."""
    seen = await _run_job("straddling_job", SandboxPolicy(wall_s=20, isolation="preferred"))
    for stream in ("stdout", "stderr"):
        assert _pieces(BACKEND_TOKEN, seen[stream]) == [], seen[stream][:40]
        # The cut fell inside the marker: the marker is kept whole, not "acted]".
        assert seen[stream] == REDACTED + "x" * 3992


@pytest.mark.parametrize("space", [True, False])
async def test_a_secret_cut_by_the_output_limit_leaves_no_piece(
    known_token: None, space: bool
) -> None:
    """The backend stops reading at output_bytes, 12 characters into the token: that unfinished
    word is not shown (no rule can recognize a piece of a secret)."""
    policy = SandboxPolicy(wall_s=20, isolation="preferred", output_bytes=1024)
    seen = await _run_job("capped_job", policy, {"space": space})
    assert seen["violation"].startswith("output_size")
    assert _pieces(BACKEND_TOKEN, seen["stdout"]) == [], seen["stdout"][-40:]
    if space:  # the unfinished word, and only it, is dropped
        assert seen["stdout"] == "x" * 1005 + " "
    else:  # a long unfinished word loses its end only
        assert seen["stdout"] == "x" * (1024 - 256)


async def test_audit_records_keep_their_hashes_and_lose_the_secret(
    tmp_path: Path, known_token: None
) -> None:
    digest = hashlib.sha256(b"{}").hexdigest()
    step = StepRecord(
        step_id="s3",
        kind="tool_error",
        agent="ops",
        turn=2,
        at=datetime(2026, 1, 2, tzinfo=UTC),
        tool="fetch_report",
        arguments={"name": "eu"},
        output=f"RuntimeError: refused for token {BACKEND_TOKEN}",
        detail="tool_error",
        reason=f"Authorization: Bearer {BACKEND_TOKEN}",
        args_hash=digest,
        spec_hash=digest,
    )
    entry = AuditEntry(workflow_id="run-ops", run_id="r1", agent="ops", step=step, spec_hash=digest)
    with SQLiteAuditLog(tmp_path / "audit.db") as audit:
        env = ActivityEnvironment()
        assert await env.run(AuditActivities(audit).append, AuditBatch(entries=[entry])) == 1
        # A retry of the same batch redacts the same way: nothing new, no conflict.
        assert await env.run(AuditActivities(audit).append, AuditBatch(entries=[entry])) == 0
        (record,) = audit.records_for("run-ops")
        assert audit.verify().ok
    written = record["entry"]
    assert BACKEND_TOKEN not in json.dumps(written)
    assert written["step"]["output"] == f"RuntimeError: refused for token {REDACTED}"
    assert written["step"]["reason"] == f"Authorization: Bearer {REDACTED}"
    assert written["step"]["args_hash"] == digest and written["spec_hash"] == digest
    assert written["step"]["arguments"] == {"name": "eu"}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_both_providers_redact_a_key_their_401_echoes(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classified error each provider raises (what the activity records) names no key."""
    monkeypatch.setenv(f"{provider.upper()}_API_KEY", API_KEY)
    before = _redact.current()
    _redact.install(before.extended([API_KEY]))  # as build_worker does from the env
    providers = build_providers()
    try:
        with MockLLM() as mock:
            base_url = mock.openai_base_url if provider == "openai" else mock.anthropic_base_url
            request = ModelRequest(
                run_id="r1",
                agent="leaky",
                turn=1,
                model=ModelRef(
                    provider=provider,
                    name="m",
                    base_url=base_url,
                    params={"mock_fault": "401"},
                ),
                messages=[Message(role="user", content="hi")],
            )
            with pytest.raises(ProviderError) as raised:
                await providers[provider].complete(request)
    finally:
        _redact.install(before)
        await close_providers(providers)
    assert raised.value.kind == "auth"
    assert API_KEY not in str(raised.value)
    assert f"Incorrect API key provided: {REDACTED}" in str(raised.value)


# --- (e) the CLI's error lines ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
DSN = f"postgresql://admin:{URL_PASSWORD}@127.0.0.1:1/x"


def duragent(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``duragent *args`` as a user runs it, with ``env`` added to this environment."""
    base = {k: v for k, v in os.environ.items() if k != "DURAGENT_DEBUG"}
    # Nothing listens on port 9: a command that got as far as connecting fails differently.
    base |= {"TEMPORAL_ADDRESS": "127.0.0.1:9", "DURAGENT_HOME": str(tmp_path), "COLUMNS": "60"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "duragent"), *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("debug", [False, True])
def test_an_app_import_error_quoting_settings_prints_no_secret(tmp_path: Path, debug: bool) -> None:
    """The app's module fails at import with a message quoting its DSN and its token, as a
    client library would: the one-line error (and the traceback under --debug) name neither."""
    (tmp_path / "settings_app.py").write_text(
        "import os\n"
        "raise RuntimeError(\n"
        "    f\"cannot open {os.environ['DATABASE_URL']}\"\n"
        "    f\" with token {os.environ['BACKEND_API_TOKEN']}\"\n"
        ")\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "DATABASE_URL": DSN, "BACKEND_API_TOKEN": BACKEND_TOKEN}
    if debug:
        env["DURAGENT_DEBUG"] = "1"
    done = duragent("worker", "--app", "settings_app:app", env=env, tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert URL_PASSWORD not in done.stderr and BACKEND_TOKEN not in done.stderr
    line = f"cannot open postgresql://{REDACTED}@127.0.0.1:1/x with token {REDACTED}"
    assert done.stderr.splitlines()[-1].endswith(line), done.stderr
    assert ("Traceback (most recent call last)" in done.stderr) is debug


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql+psycopg://admin:{URL_PASSWORD}@127.0.0.1:1/x",
        f"admin:{URL_PASSWORD}@127.0.0.1:1/x",
    ],
)
def test_a_bad_audit_log_setting_prints_no_password(tmp_path: Path, dsn: str) -> None:
    """An unsupported scheme, or a DSN missing its scheme (read as a path): the error names the
    setting, not its password."""
    done = duragent("audit", "verify", env={"DURAGENT_AUDIT_LOG": dsn}, tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ")
    assert URL_PASSWORD not in done.stderr
