"""The ``approvals.verify_token`` activity: checks signed approval tokens with the worker's keys.

Keys live only here, in the worker's configuration (a YAML file mapping approver to secret,
``DURAGENT_APPROVER_KEYS_FILE``); the workflow sees only the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from temporalio import activity

from duragent._approvals import normalize_identity
from duragent._contracts import TokenVerification
from duragent._messages import TokenCheck, TokenVerdict
from duragent._names import ACTIVITY_VERIFY_TOKEN
from duragent.approval_tokens import verify_token


def load_approver_keys(path: str | Path) -> dict[str, str]:
    """Approver name to signing key, from a YAML mapping. Fails naming the file."""
    import yaml

    from duragent._loader import describe_yaml_error, load_yaml

    try:
        # Strict YAML: a name given twice would otherwise keep only its last key, silently.
        raw = load_yaml(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: {describe_yaml_error(exc)}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items()
    ):
        raise ValueError(f"{path}: expected a mapping of approver name to a non-empty secret key")
    return dict(raw)


class ApprovalActivities(TokenVerification):
    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        # Names as the workflow compares them (normalize_identity): "Lee" holds lee's key.
        self._keys: dict[str, str] = {}
        for name, key in (keys or {}).items():
            who = normalize_identity(name)
            if who in self._keys:
                raise ValueError(
                    f"approver keys: {name!r} and another entry are the same person once names "
                    "are normalized (case, Unicode, spaces); keep one key per approver"
                )
            self._keys[who] = key

    @activity.defn(name=ACTIVITY_VERIFY_TOKEN)
    async def verify_token(self, check: TokenCheck) -> TokenVerdict:
        """Whether ``check.token`` was signed by the approver's key for exactly this step."""
        try:
            reason = verify_token(
                check.token,
                self._keys.get(normalize_identity(check.approver)),
                workflow_id=check.workflow_id,
                step_id=check.step_id,
                approver=check.approver,
                args_hash=check.args_hash,
                action=check.action,
                response=check.response,
            )
        except Exception as exc:  # a verdict, never a retried failure: the desk waits on it
            reason = f"approval token cannot be checked ({type(exc).__name__})"
        return TokenVerdict(ok=reason is None, reason=reason)
