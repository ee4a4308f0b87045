"""Every finished change of an apply, for quarantine, kept as columns per batch rather than a dict each.

A first load of a million people finishes two million changes; a dict per change held them all until the
run ended. Here a batch's outcomes are a few column lists, and a dict is made only for whoever iterates
(`Quarantine.record`), one at a time, in the order the changes finished. The values sent are kept for a
refused change only (quarantine hashes them to know the same change again); an applied one's `values` is
None, so the changes of a million-row first load are not all held until the run ends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

FIELDS = ("entity", "action", "key", "values", "outcome", "message")


class Outcomes:
    """A list-like of {entity, action, key, values, outcome[, message]} dicts, stored by batch."""

    def __init__(self) -> None:
        self._parts: list[dict | tuple[list, ...]] = []  # a single outcome dict, or a batch's columns
        self._count = 0

    def append(self, item: dict) -> None:
        self._parts.append(item)
        self._count += 1

    def extend_columns(self, columns: tuple[list, ...]) -> None:
        """One batch: a list per name in FIELDS, all of one length (values and message None where applied)."""
        if columns[0]:
            self._parts.append(columns)
            self._count += len(columns[0])

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict]:
        for part in self._parts:
            if isinstance(part, dict):
                yield part
                continue
            for entity, action, key, values, outcome, message in zip(*part, strict=True):
                item = {"entity": entity, "action": action, "key": key, "values": values, "outcome": outcome}
                if outcome != "applied":
                    item["message"] = message
                yield item

    def __getitem__(self, index: int) -> dict:
        items = list(self)
        return items[index]

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"Outcomes({self._count} changes)"


@dataclass
class ApplyResult:
    applied: Counter = field(default_factory=Counter)  # (entity, action) -> count
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (entity, key, message)
    created: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity, key) -> new LMS id
    skipped: int = 0  # already applied by an earlier, interrupted run of the same plan
    retried: int = 0  # calls sent again after a transient failure
    adopted: int = 0  # creates an interrupted run had sent: found in the LMS, not sent again
    stopped: str | None = None  # why the run stopped early
    outcomes: Outcomes = field(default_factory=Outcomes)  # every finished change, for quarantine
