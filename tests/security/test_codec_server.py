"""Encryption on, end to end: the support example runs to completion, `temporal workflow show`
finds no plaintext of its input, tool calls or answer in history, and `duragent codec-server`
(a real subprocess) shows it all to a holder of the token, and to nobody else."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from duragent import RunRequest
from duragent.activities.models import ScriptedProvider
from duragent.client import start_run
from duragent.encryption import new_key
from duragent.examples.customer_support import db
from duragent.examples.customer_support.app import ENTRY_AGENT, app
from duragent.settings import Settings
from duragent.workers import connect
from duragent.workers._devserver import free_port, port_open
from tests.conftest import new_worker

BIN = Path(sys.executable).parent
CANARY = "zebra-canary-5521"
INPUT = f"Where is my order 1001? My reference is {CANARY}."
SECRETS = [CANARY, "1Z999AA10123456784", "Wireless headphones", '"order_id"', "lookup_order"]
"""The input's canary; the tool's result (tracking number, item) and argument name; the tool."""
UI_ORIGIN = "http://localhost:8233"


def write_key_ring(folder: Path) -> Path:
    path = folder / "keys.yaml"
    path.write_text(
        f"active: k2\nkeys:\n  - {{id: k2, key: {new_key()}}}\n  - {{id: k1, key: {new_key()}}}\n"
    )
    return path


@dataclass
class CodecServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]


def start_codec_server(
    keys: Path, folder: Path, origins: list[str], port: int | None = None
) -> CodecServer:
    """``duragent codec-server`` as a real process, once its port answers. Its token is kept in
    ``folder/codec-token`` (written when missing)."""
    token_file = folder / "codec-token"
    if not token_file.exists():
        token_file.write_text("tok-" + base64.urlsafe_b64encode(os.urandom(18)).decode() + "\n")
    port = port or free_port()
    env = {**os.environ, "DURAGENT_ENCRYPTION_KEYS_FILE": str(keys), "DURAGENT_HOME": str(folder)}
    origin_args = [arg for origin in origins for arg in ("--cors-origin", origin)]
    process = subprocess.Popen(
        [str(BIN / "duragent"), "codec-server", "--port", str(port), "--token-file", str(token_file),
         *origin_args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not port_open("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output, _ = process.communicate()
            raise AssertionError(f"codec server did not start: {output!r}")
        time.sleep(0.05)
    return CodecServer(f"http://127.0.0.1:{port}", token_file.read_text().strip(), process)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def plaintext_of(value: Any) -> str:
    """Every string in a JSON document, and what each base64 string decodes to."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for key, item in v.items():
                out.append(str(key))
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)
        elif isinstance(v, str):
            out.append(v)
            try:
                out.append(base64.b64decode(v, validate=True).decode("utf-8", errors="replace"))
            except ValueError:
                pass

    walk(value)
    return "\n".join(out)


def temporal_show(address: str, workflow_id: str, *extra: str) -> Any:
    done = subprocess.run(
        [str(BIN / "temporal"), "workflow", "show", "--workflow-id", workflow_id, "-o", "json",
         "--address", address, *extra],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class EncryptedRun:
    address: str
    workflow_id: str
    run_id: str
    keys: Path
    home: Path
    output: str


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encrypted")


async def run_encrypted(address: str, folder: Path) -> EncryptedRun:
    """The support example's order question, run with encryption on: client and worker built
    by ``connect``/``build_worker`` from settings naming a new key ring in ``folder``."""
    keys = write_key_ring(folder)
    settings = Settings.from_env(
        {"DURAGENT_ENCRYPTION_KEYS_FILE": str(keys)}, address=address, home=folder / "home"
    )
    previous = os.environ.get(db.ENV_VAR)
    os.environ[db.ENV_VAR] = str(folder / "support.db")  # the in-process worker's tools read it
    try:
        encrypted = await connect(settings)
        scripted = {"scripted": ScriptedProvider()}
        async with new_worker(encrypted, app, settings=settings, providers=scripted) as worker:
            handle = await start_run(
                encrypted, RunRequest(agent=ENTRY_AGENT, input=INPUT), task_queue=worker.task_queue
            )
            result = await handle.result()
    finally:
        if previous is None:
            os.environ.pop(db.ENV_VAR, None)
        else:
            os.environ[db.ENV_VAR] = previous
    assert result.status == "completed", result.error
    assert result.output is not None and "1Z999AA10123456784" in result.output
    return EncryptedRun(address, handle.id, result.run_id, keys, folder / "home", result.output)


@pytest.fixture(scope="module")
async def encrypted_run(client: Client, folder: Path) -> EncryptedRun:
    return await run_encrypted(client.service_client.config.target_host, folder)


@pytest.fixture(scope="module")
def codec_server(encrypted_run: EncryptedRun, folder: Path) -> Iterator[CodecServer]:
    server = start_codec_server(encrypted_run.keys, folder, [UI_ORIGIN])
    yield server
    stop(server.process)


def test_history_holds_no_plaintext(encrypted_run: EncryptedRun) -> None:
    history = temporal_show(encrypted_run.address, encrypted_run.workflow_id)
    text = plaintext_of(history)
    assert "binary/encrypted" in text and "encryption-key-id" in text
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} is in plaintext in the run's history"


def test_transcript_store_holds_no_plaintext(encrypted_run: EncryptedRun) -> None:
    with sqlite3.connect(encrypted_run.home / "transcripts.db") as store:
        rows = [r[0] for r in store.execute("SELECT message FROM transcripts")]
    assert rows and all(row.startswith("enc:v1:k2:") for row in rows)
    assert not any(CANARY in row for row in rows)


def test_the_codec_server_shows_the_temporal_cli_everything(
    encrypted_run: EncryptedRun, codec_server: CodecServer
) -> None:
    history = temporal_show(
        encrypted_run.address, encrypted_run.workflow_id,
        "--codec-endpoint", codec_server.url, "--codec-auth", f"Bearer {codec_server.token}",
    )  # fmt: skip
    text = plaintext_of(history)
    for secret in SECRETS:
        assert secret in text, f"{secret!r} did not decode through the codec server"


def post(
    url: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_a_request_without_the_token_gets_401(codec_server: CodecServer) -> None:
    body = json.dumps({"payloads": []}).encode()
    json_headers = {"Content-Type": "application/json", "X-Namespace": "default"}
    assert post(f"{codec_server.url}/decode", body, json_headers)[0] == 401
    wrong = {**json_headers, "Authorization": f"Bearer {codec_server.token}x"}
    assert post(f"{codec_server.url}/decode", body, wrong)[0] == 401
    assert post(f"{codec_server.url}/wrong-token/decode", body, json_headers)[0] == 401
    right = {**json_headers, "Authorization": f"Bearer {codec_server.token}"}
    assert post(f"{codec_server.url}/decode", body, right)[0] == 200
    # The Web UI's form: the token as the first path segment of its codec endpoint.
    assert post(f"{codec_server.url}/{codec_server.token}/decode", body, json_headers)[0] == 200


def test_encode_then_decode_round_trips(codec_server: CodecServer) -> None:
    auth = {"Content-Type": "application/json", "Authorization": f"Bearer {codec_server.token}"}
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
             "data": base64.b64encode(json.dumps(CANARY).encode()).decode()}  # fmt: skip
    status, _, encoded = post(
        f"{codec_server.url}/encode", json.dumps({"payloads": [plain]}).encode(), auth
    )
    assert status == 200 and CANARY not in plaintext_of(json.loads(encoded))
    status, _, decoded = post(f"{codec_server.url}/decode", encoded, auth)
    assert status == 200 and json.loads(decoded) == {"payloads": [plain]}


def test_cors_preflight_answers_the_ui_origin_only(codec_server: CodecServer) -> None:
    def preflight(origin: str) -> tuple[int, dict[str, str]]:
        status, headers, _ = post(
            f"{codec_server.url}/decode",
            b"",
            {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
            method="OPTIONS",
        )
        return status, {k.lower(): v for k, v in headers.items()}

    status, headers = preflight(UI_ORIGIN)
    assert status == 200
    assert headers["access-control-allow-origin"] == UI_ORIGIN
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed
    assert "POST" in headers["access-control-allow-methods"]
    assert headers.get("access-control-allow-credentials") == "true"
    status, headers = preflight("http://evil.example")
    assert status != 200 and "access-control-allow-origin" not in headers


def duragent(run: EncryptedRun, *args: str, keys: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURAGENT_")}
    env.update(
        TEMPORAL_ADDRESS=run.address, DURAGENT_HOME=str(run.home), COLUMNS="200", NO_COLOR="1"
    )
    if keys:
        env["DURAGENT_ENCRYPTION_KEYS_FILE"] = str(run.keys)
    return subprocess.run(
        [str(BIN / "duragent"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_commands_read_encrypted_runs(encrypted_run: EncryptedRun) -> None:
    shown = duragent(encrypted_run, "show", encrypted_run.workflow_id)
    assert shown.returncode == 0, shown.stderr
    assert "1Z999AA10123456784" in shown.stdout and "completed" in shown.stdout
    report = duragent(encrypted_run, "report", "--since", "1h", "--format", "json")
    assert report.returncode == 0, report.stderr
    # A client without the keys still reports on every other run, naming what it cannot read.
    blind = duragent(encrypted_run, "report", "--since", "1h", "--format", "json", keys=False)
    assert blind.returncode == 0, blind.stderr
    assert "could not be read and are left out" in blind.stderr
    without = duragent(encrypted_run, "show", encrypted_run.workflow_id, keys=False)
    assert without.returncode == 2 and "1Z999AA10123456784" not in without.stdout
    assert "encryption is off here: set DURAGENT_ENCRYPTION_KEYS_FILE" in without.stderr


async def test_duragent_dev_serves_its_ui_a_codec_endpoint_only_with_encryption_on(
    tmp_path: Path,
) -> None:
    from contextlib import AsyncExitStack

    from duragent.cli._codec_cmd import start_dev_codec_server

    async with AsyncExitStack() as stack:
        assert start_dev_codec_server(Settings.from_env({}, home=tmp_path), 8233, stack) is None
        on = Settings.from_env(
            {"DURAGENT_ENCRYPTION_KEYS_FILE": str(write_key_ring(tmp_path))}, home=tmp_path
        )
        endpoint = start_dev_codec_server(on, 8233, stack)
        assert endpoint is not None
        token = (tmp_path / "codec-token").read_text().strip()  # kept for the temporal CLI
        assert (
            endpoint.endswith(f"/{token}")
            and (tmp_path / "codec-token").stat().st_mode & 0o077 == 0
        )
        body = json.dumps({"payloads": []}).encode()
        assert post(f"{endpoint}/decode", body, {"Content-Type": "application/json"})[0] == 200
        base = endpoint.rsplit("/", 1)[0]
        assert post(f"{base}/decode", body, {"Content-Type": "application/json"})[0] == 401
