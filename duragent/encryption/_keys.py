"""The key ring: AES-256-GCM keys by id, one of them active.

Everything duragent encrypts (Temporal payloads, the payload store's files, the transcript
store's rows) is sealed under the *active* key and names that key's id next to the ciphertext,
so any key still in the ring opens it. Rotation without downtime is therefore: add the new key
to every worker's and client's ring, then make it active; keep the old key in the ring for as
long as any history, payload file or transcript row may still be encrypted under it.

Key material never leaves this module: errors name key ids and files, never keys.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from duragent.errors import DuragentError

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SETTING = "DURAGENT_ENCRYPTION_KEYS_FILE"


class KeyRingError(DuragentError):
    """A key ring cannot be loaded, or ciphertext cannot be opened with it. The message names
    the key id (never the key) and what to change."""

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        self.key_id = key_id
        super().__init__(message)


def new_key() -> str:
    """A fresh random key, base64: what a key ring file's ``key:`` holds."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


@dataclass(frozen=True)
class KeyRing:
    """Keys by id; ``active`` encrypts, every key decrypts."""

    keys: Mapping[str, bytes] = field(repr=False)
    active: str
    source: str = "the key ring"
    """Where the ring came from (a file path), for error messages."""
    _ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError(f"{self.source}: no keys; add one (`duragent keygen` prints one)")
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise KeyRingError(
                    f"{self.source}: key id {key_id!r} must be 1-64 letters, digits, '.', '_' "
                    "or '-', starting with a letter or digit",
                    key_id=key_id,
                )
            if len(key) != KEY_BYTES:
                raise KeyRingError(
                    f"{self.source}: key {key_id!r} is {len(key)} bytes; AES-256 needs "
                    f"{KEY_BYTES} (base64 of 32 random bytes: `duragent keygen`)",
                    key_id=key_id,
                )
        if self.active not in self.keys:
            raise KeyRingError(
                f"{self.source}: the active key {self.active!r} is not in the ring "
                f"({', '.join(self.keys)})",
                key_id=self.active,
            )
        object.__setattr__(self, "_ciphers", {k: AESGCM(v) for k, v in self.keys.items()})

    @property
    def ids(self) -> list[str]:
        return list(self.keys)

    def encrypt(self, data: bytes, aad: bytes) -> tuple[str, bytes]:
        """``data`` sealed under the active key, bound to ``aad``: (key id, nonce + ciphertext)."""
        nonce = os.urandom(NONCE_BYTES)
        return self.active, nonce + self._ciphers[self.active].encrypt(nonce, data, aad)

    def decrypt(self, key_id: str, blob: bytes, aad: bytes, *, what: str = "a payload") -> bytes:
        """Open what ``encrypt`` sealed. Fails naming the key id and what to do about it."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise KeyRingError(
                f"{what} is encrypted with key {key_id!r}, which is not in {self.source} "
                f"(it holds {', '.join(self.ids)}): add key {key_id!r} back to the ring "
                f"({SETTING}) of every worker and client. Keep a retired key in the ring as "
                "long as any history, payload file or transcript row may be encrypted under it.",
                key_id=key_id,
            )
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise KeyRingError(
                f"{what} encrypted with key {key_id!r} failed authentication: either it was "
                f"modified, or key {key_id!r} in {self.source} is not the key it was "
                "encrypted with (a key id must never be reused for another key)",
                key_id=key_id,
            ) from None


def load_key_ring(path: str | Path) -> KeyRing:
    """The ring in a YAML (or JSON) file::

        active: k2                 # optional; default: the first key listed
        keys:
          - {id: k2, key: <base64 of 32 random bytes>}
          - {id: k1, key: <...>}

    Fails naming the file and the key id, never a key.
    """
    from duragent._loader import load_yaml

    source = str(path)
    try:
        raw = load_yaml(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyRingError(f"{source}: key ring file not found ({SETTING})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyRingError(f"{source}: cannot read the key ring: {exc}") from None
    except Exception as exc:  # a YAML syntax error: its message may quote a line, so a key
        raise KeyRingError(f"{source}: not valid YAML ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
        raise KeyRingError(f"{source}: expected `keys: [{{id: ..., key: ...}}, ...]`")
    unknown = set(raw) - {"keys", "active"}
    if unknown:
        raise KeyRingError(f"{source}: unknown field {sorted(unknown)[0]!r}; use keys, active")
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(raw["keys"], 1):
        if not isinstance(entry, dict) or set(entry) != {"id", "key"}:
            raise KeyRingError(f"{source}: key #{n} must have exactly `id` and `key`")
        key_id, text = str(entry["id"]), entry["key"]
        if key_id in keys:
            raise KeyRingError(f"{source}: key id {key_id!r} appears twice", key_id=key_id)
        try:
            keys[key_id] = base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingError(
                f"{source}: key {key_id!r} is not valid base64", key_id=key_id
            ) from None
    active = raw.get("active")
    return KeyRing(keys, str(active) if active is not None else next(iter(keys), ""), source)
