"""The journal of applied operations: what apply records and undo reads back. The catalog's table
dedupe_actions implements Journal; MemoryJournal is for tests and for runs without a catalog.

Each operation that changes something is recorded before it starts (outcome "started") and settled
after it ("done" or "failed"), so that after a kill -9 the journal shows the operations that may be
half-way (at most one batch of them, or two: a batch's outcomes are stored with the next batch's
"started" entries), and a move's record says where the file went even then. Skips are recorded once. A
journal may keep entries until flush(): apply flushes before each batch's first change, and at its end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, Protocol

from ..records import Stat

Outcome = Literal["started", "done", "skipped", "failed"]


@dataclass(frozen=True)
class JournalEntry:
    action: str                     # plan.ACTIONS
    path: str                       # the name acted on
    kept: str                       # the kept copy it was compared with
    size: int
    digest: str                     # the group's digest, and the algorithm that made it
    algorithm: str
    outcome: Outcome
    reason: str = ""                # why skipped or failed
    moved_to: str | None = None     # move: where the file is in the quarantine
    moved: Stat | None = None       # move, once done: the quarantined file's stat record (undo checks it)
    at: float = 0.0                 # epoch seconds
    id: int = 0                     # given by the journal


class Journal(Protocol):
    """Where apply records what it does."""

    def record(self, entry: JournalEntry) -> int:
        """Stores entry; returns its id."""
        ...

    def settle(self, entry_id: int, outcome: Outcome, reason: str = "", moved: Stat | None = None) -> None:
        """Sets the outcome of an entry recorded as "started"."""
        ...

    def flush(self) -> None:
        """Stores what was recorded and settled since the last flush. apply flushes before making a
        batch's changes (its "started" entries, the outcomes of the batch before) and once at its end."""
        ...


class MemoryJournal:
    """A Journal in a list."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []

    def record(self, entry: JournalEntry) -> int:
        e = entry
        self.entries.append(JournalEntry(e.action, e.path, e.kept, e.size, e.digest, e.algorithm, e.outcome, e.reason,
                                         e.moved_to, e.moved, e.at or time.time(), len(self.entries) + 1))
        return len(self.entries)

    def settle(self, entry_id: int, outcome: Outcome, reason: str = "", moved: Stat | None = None) -> None:
        e = self.entries[entry_id - 1]      # built anew, not dataclasses.replace: 5x faster, once a file
        self.entries[entry_id - 1] = JournalEntry(e.action, e.path, e.kept, e.size, e.digest, e.algorithm, outcome,
                                                  reason, e.moved_to, moved if moved is not None else e.moved,
                                                  e.at, e.id)

    def flush(self) -> None:
        pass
