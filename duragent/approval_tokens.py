"""Signed approval tokens: an approver's HMAC over what exactly they approved.

A token binds the run (workflow id), the step, the approver, the hash of the tool arguments and
an expiry, signed with a key only that approver and the workers hold. A forged, expired or
mismatched token (other run, step, approver or arguments) is refused. Keys never enter workflow
history: tokens are verified by a worker activity.

    token = sign_token(key, workflow_id="run-support-1a2b", step_id="s4", approver="alice",
                       args_hash=args_hash({"order_id": "1001", "amount": 250}), ttl_s=900)
"""

from __future__ import annotations

import hashlib
import hmac
import time

from duragent._approvals import normalize_identity

VERSION = "v1"


def _message(
    workflow_id: str, step_id: str, approver: str, args_hash: str | None, expires: int
) -> bytes:
    # The approver's name as compared everywhere else: "Lee" and "lee" sign the same token.
    who = normalize_identity(approver)
    return "|".join([VERSION, workflow_id, step_id, who, args_hash or "-", str(expires)]).encode()


def sign_token(
    key: bytes | str,
    *,
    workflow_id: str,
    step_id: str,
    approver: str,
    args_hash: str | None,
    ttl_s: float = 900,
    now: float | None = None,
) -> str:
    """A token valid for ``ttl_s`` seconds: ``v1.<expires>.<hex hmac-sha256>``."""
    secret = key.encode() if isinstance(key, str) else key
    expires = int((time.time() if now is None else now) + ttl_s)
    mac = hmac.new(
        secret, _message(workflow_id, step_id, approver, args_hash, expires), hashlib.sha256
    )
    return f"{VERSION}.{expires}.{mac.hexdigest()}"


def verify_token(
    token: str,
    key: bytes | str | None,
    *,
    workflow_id: str,
    step_id: str,
    approver: str,
    args_hash: str | None,
    now: float | None = None,
) -> str | None:
    """Why the token is refused, or ``None`` when it is valid."""
    if key is None:
        return f"no approval key is configured for {approver!r} on the worker"
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION or not parts[1].isdigit():
        return "malformed approval token (expected v1.<expires>.<signature>)"
    expires = int(parts[1])
    secret = key.encode() if isinstance(key, str) else key
    expected = hmac.new(
        secret, _message(workflow_id, step_id, approver, args_hash, expires), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, parts[2]):
        return "approval token does not match this run, step, approver and arguments (forged or for something else)"
    if (time.time() if now is None else now) > expires:
        return "approval token has expired; sign a new one"
    return None
