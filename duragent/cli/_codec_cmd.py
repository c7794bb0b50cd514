"""``duragent codec-server`` and ``duragent keygen``; and the codec server ``duragent dev``
starts for its Web UI when encryption is on."""

from __future__ import annotations

import os
import secrets
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from duragent.cli._common import console, fail, settings
from duragent.settings import Settings

if TYPE_CHECKING:
    from duragent.encryption import EncryptionCodec

DEV_CODEC_PORT = 8888


def keygen() -> None:
    """Print a new random AES-256 key (base64) for a key ring file's ``key:``."""
    from duragent.encryption import new_key

    print(new_key())


def _token(s: Settings, token_file: Path | None) -> tuple[str, str]:
    """The access token, and how to refer to it in a shell command (never the token itself).

    From ``--token-file``, else ``DURAGENT_CODEC_TOKEN``, else a new one written (0600) to
    ``<home>/codec-token`` and kept for later runs."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"--token-file {token_file}: {exc}")
        if not token:
            fail(f"--token-file {token_file} is empty")
        return token, f"$(cat {token_file})"
    if s.codec_token:
        return s.codec_token, "$DURAGENT_CODEC_TOKEN"
    path = s.home / "codec-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip(), f"$(cat {path})"


def _codec(s: Settings) -> EncryptionCodec:
    from duragent.encryption import EncryptionCodec, KeyRingError, load_key_ring

    if s.encryption_keys_file is None:
        fail(
            "the codec server decodes with the workers' key ring: set "
            "DURAGENT_ENCRYPTION_KEYS_FILE to the same file the workers use"
        )
    try:
        return EncryptionCodec(load_key_ring(s.encryption_keys_file))
    except KeyRingError as exc:
        fail(str(exc))


def codec_server(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8888,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A Web UI origin allowed to call it, repeatable (default: the dev server's "
            "UI, http://localhost:8233 and http://127.0.0.1:8233)"
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the access token (else env DURAGENT_CODEC_TOKEN, else a new "
            "token kept in $DURAGENT_HOME/codec-token)"
        ),
    ] = None,
) -> None:
    """Decode (and encode) encrypted payloads for the Web UI and `temporal --codec-endpoint`."""
    from duragent.encryption.server import codec_app, serve

    s = settings(None, None)
    codec = _codec(s)
    token, token_ref = _token(s, token_file)
    origins = cors_origin or ["http://localhost:8233", "http://127.0.0.1:8233"]
    url = f"http://{host}:{port}"
    console.print(
        f"codec server at [bold]{url}[/] (keys {', '.join(codec.keys.ids)}; CORS for {', '.join(origins)})"
    )
    console.print(
        f'  temporal CLI: --codec-endpoint {url} --codec-auth "Bearer {token_ref}"\n'
        f"  Web UI codec endpoint (Settings > Data Encoder, or start-dev --ui-codec-endpoint): "
        f"{url}/{token_ref}"
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(
            "[yellow]not on loopback: put TLS in front of it (the token is a bearer secret)[/]"
        )
    serve(codec_app(codec, token=token, origins=origins), host=host, port=port)


def start_dev_codec_server(s: Settings, ui_port: int, stack: AsyncExitStack) -> str | None:
    """When ``s`` turns encryption on, a codec server for ``duragent dev``'s Web UI, on port
    8888 when free: returns the codec endpoint to give the UI (``http://127.0.0.1:PORT/<token>``,
    the token in the path, as the UI sends no token of ours), else None."""
    if s.encryption_keys_file is None:
        return None
    from duragent.encryption.server import CodecServer, codec_app
    from duragent.workers import free_port, port_open

    codec = _codec(s)
    token, token_ref = _token(s, None)
    port = DEV_CODEC_PORT if not port_open("127.0.0.1", DEV_CODEC_PORT) else free_port()
    origins = [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]
    server = CodecServer(codec_app(codec, token=token, origins=origins), port=port)
    server.start()
    stack.callback(server.stop)
    url = f"http://127.0.0.1:{port}"
    console.print(
        f"payloads are encrypted; the Web UI decodes them through the codec server at {url} "
        f'(temporal CLI: --codec-endpoint {url} --codec-auth "Bearer {token_ref}")'
    )
    return f"{url}/{token}"
