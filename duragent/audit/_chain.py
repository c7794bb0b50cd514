"""The hash chain: canonical records, their hashes, and the walk that checks them.

Each record's hash covers the previous record's hash, its own sequence number, when it was
recorded and its content::

    hash = sha256(prev_hash + "\\n" + str(seq) + "\\n" + recorded_at + "\\n" + entry_json)

with ``prev_hash`` of the first record fixed to 64 zeros. Changing, removing or reordering a
record breaks the hash of that record or the ``prev_hash`` link of the next one; a head row
(last seq and hash), written in the same transaction as the records, catches the removal of
the last records. Backends store rows; this module alone decides what counts as intact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from duragent.audit._model import AuditEntry, VerifyReport

GENESIS = "0" * 64


def canonical_json(entry: AuditEntry) -> str:
    """The entry as hashed and stored: sorted keys, compact separators, UTF-8 text."""
    return json.dumps(
        entry.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def chain_hash(prev_hash: str, seq: int, recorded_at: str, entry_json: str) -> str:
    text = f"{prev_hash}\n{seq}\n{recorded_at}\n{entry_json}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC ISO text, so that comparing strings compares times. Naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def same_content(stored_json: str, entry: AuditEntry, entry_json: str) -> bool:
    """Whether a stored record says the same as ``entry``.

    Equal text is the common case (a retried activity sends the same payload). Comparing the
    parsed models as well keeps a record written before a field was added (with its default)
    equal to the same step re-sent by a newer worker.
    """
    if stored_json == entry_json:
        return True
    try:
        return AuditEntry.model_validate_json(stored_json) == entry
    except ValueError:
        return False


COLUMNS = "seq, workflow_id, run_id, step_id, recorded_at, entry_json, prev_hash, hash"


@dataclass(frozen=True)
class Row:
    """One stored record, in the order of ``COLUMNS``."""

    seq: int
    workflow_id: str
    run_id: str
    step_id: str
    recorded_at: str
    entry_json: str
    prev_hash: str
    hash: str

    @property
    def label(self) -> str:
        return f"record seq {self.seq} ({self.workflow_id}/{self.step_id})"

    def as_dict(self) -> dict[str, Any]:
        """The record as exported: the columns plus the parsed entry."""
        return {
            "seq": self.seq,
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "recorded_at": self.recorded_at,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "entry": json.loads(self.entry_json),
        }


@dataclass
class ChainWalk:
    """Feed rows in seq order with ``add``, then ``finish`` with the head row."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    _seq: int = 0
    _hash: str = GENESIS

    def add(self, row: Row) -> None:
        self.checked += 1
        if chain_hash(row.prev_hash, row.seq, row.recorded_at, row.entry_json) != row.hash:
            self.problems.append(f"{row.label} was modified: its hash does not match its content")
        else:
            self._check_key(row)
        if row.seq > self._seq + 1:
            first, last = self._seq + 1, row.seq - 1
            which = f"seq {first}" if first == last else f"seq {first} to {last}"
            self.problems.append(f"record(s) missing before seq {row.seq} ({which})")
        elif row.seq <= self._seq:
            self.problems.append(f"{row.label} is out of order: sequence numbers start at 1")
        elif row.prev_hash != self._hash:
            if self._seq == 0:
                self.problems.append(
                    f"record(s) missing before seq {row.seq}: the first record does not start "
                    "the chain"
                )
            else:
                self.problems.append(
                    f"chain broken at seq {row.seq}: its prev_hash does not match the hash of "
                    f"seq {self._seq}, so seq {self._seq} was rewritten (content and hash) or "
                    "replaced"
                )
        self._seq, self._hash = row.seq, row.hash

    def _check_key(self, row: Row) -> None:
        try:
            entry = json.loads(row.entry_json)
            key = (entry["workflow_id"], entry["run_id"], entry["step"]["step_id"])
        except (ValueError, KeyError, TypeError):
            self.problems.append(f"{row.label} is not a readable audit entry")
            return
        if key != (row.workflow_id, row.run_id, row.step_id):
            self.problems.append(
                f"{row.label} was modified: its key columns do not match its content "
                f"({'/'.join(key)})"
            )

    def finish(self, head: tuple[int, str] | None) -> VerifyReport:
        if head is None:
            if self.checked:
                self.problems.append(
                    "the head row is missing, so removal of the last records cannot be ruled out"
                )
            return self._report(None)
        head_seq, head_hash = head
        if head_seq > self._seq:
            if self.checked:
                self.problems.append(
                    f"records after seq {self._seq} are missing: the head records seq {head_seq}"
                )
            else:
                self.problems.append(f"all records are missing: the head records seq {head_seq}")
        elif head_seq < self._seq:
            self.problems.append(
                f"records after seq {head_seq} were not written through the audit log: "
                f"the head records seq {head_seq}, the log goes on to seq {self._seq}"
            )
        elif head_hash != self._hash:
            self.problems.append(
                f"the head does not match record seq {self._seq}: the last record was "
                "rewritten or replaced"
            )
        return self._report(head)

    def _report(self, head: tuple[int, str] | None) -> VerifyReport:
        return VerifyReport(
            ok=not self.problems,
            checked=self.checked,
            problems=list(self.problems),
            head_seq=head[0] if head else 0,
            head_hash=head[1] if head else None,
        )
