"""Signed approval tokens: an approver's HMAC over what exactly they approved.

A token binds the run (workflow id), the step, the approver, the action (approve, reject, edit,
respond), the hash of the tool arguments, the response text where there is one, and an expiry, signed with a key only that approver and the workers hold. A forged, expired or
mismatched token (other run, step, approver or arguments) is refused. Keys never enter workflow
history: tokens are verified by a worker activity.

    token = sign_token(key, workflow_id="run-support-1a2b", step_id="s4", approver="alice",
                       args_hash=args_hash({"order_id": "1001", "amount": 250}), ttl_s=900)
"""

from __future__ import annotations

import hashlib
import hmac
import time

from duragent._approvals import TOKEN_SHAPE, normalize_identity

VERSION = "v2"
"""v2 binds the action and the response too: a token signed to reject cannot approve."""
_TOKEN = TOKEN_SHAPE


def _message(
    workflow_id: str,
    step_id: str,
    approver: str,
    args_hash: str | None,
    expires: int,
    action: str,
    response: str | None,
) -> bytes:
    # The approver's name as compared everywhere else: "Lee" and "lee" sign the same token.
    who = normalize_identity(approver)
    said = "-" if response is None else hashlib.sha256(response.encode()).hexdigest()
    fields = [VERSION, workflow_id, step_id, who, action, args_hash or "-", said, str(expires)]
    return "|".join(fields).encode()


def sign_token(
    key: bytes | str,
    *,
    workflow_id: str,
    step_id: str,
    approver: str,
    args_hash: str | None,
    action: str = "approve",
    response: str | None = None,
    ttl_s: float = 900,
    now: float | None = None,
) -> str:
    """A token valid for ``ttl_s`` seconds: ``v2.<expires>.<hex hmac-sha256>``."""
    secret = key.encode() if isinstance(key, str) else key
    expires = int((time.time() if now is None else now) + ttl_s)
    message = _message(workflow_id, step_id, approver, args_hash, expires, action, response)
    mac = hmac.new(secret, message, hashlib.sha256)
    return f"{VERSION}.{expires}.{mac.hexdigest()}"


def verify_token(
    token: str,
    key: bytes | str | None,
    *,
    workflow_id: str,
    step_id: str,
    approver: str,
    args_hash: str | None,
    action: str = "approve",
    response: str | None = None,
    now: float | None = None,
) -> str | None:
    """Why the token is refused, or ``None`` when it is valid. Never raises."""
    if key is None:
        return f"no approval key is configured for {approver!r} on the worker"
    shape = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if shape is None:
        return f"malformed approval token (expected {VERSION}.<expires>.<64 hex digits>)"
    expires = int(shape[1])
    secret = key.encode() if isinstance(key, str) else key
    message = _message(workflow_id, step_id, approver, args_hash, expires, action, response)
    expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, shape[2]):
        return (
            "approval token does not match this run, step, approver, action and arguments "
            "(forged or for something else)"
        )
    if (time.time() if now is None else now) > expires:
        return "approval token has expired; sign a new one"
    return None
