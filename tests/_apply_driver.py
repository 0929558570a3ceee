"""Applies a plan file in a process of its own, for the kill -9 tests: python _apply_driver.py PLAN JOURNAL DELAY.

The journal goes to JOURNAL as JSON lines (one per record or settle), kept until apply flushes it and
then written at once, as the catalog's journal commits a batch. With DELAY > 0, the driver announces each
moment a change is half-way on stdout ("TEMP <path>": a temporary exists and is about to be renamed over
the file; "LINKED <path>": a moved file has its new name and its old name is about to go; "UNLINK <path>":
a name is about to be removed) and sleeps there, so that a test can kill it exactly then. Only time is
stretched: the product's code paths are the real ones.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utilities.dedupe.apply import apply_plan
from utilities.dedupe.journal import JournalEntry, Outcome
from utilities.dedupe.leftovers import PREFIX
from utilities.dedupe.planfile import load_plan
from utilities.dedupe.render import apply_lines
from utilities.records import Stat


class JsonlJournal:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        self.n = 0
        self.pending: list[str] = []

    def _write(self, data: dict) -> None:
        self.pending.append(json.dumps(data, ensure_ascii=True) + "\n")

    def flush(self) -> None:
        self.f.write("".join(self.pending))
        self.f.flush()
        self.pending.clear()

    def record(self, entry: JournalEntry) -> int:
        self.n += 1
        self._write({"id": self.n, "action": entry.action, "path": entry.path, "outcome": entry.outcome,
                     "reason": entry.reason, "moved_to": entry.moved_to})
        return self.n

    def settle(self, entry_id: int, outcome: Outcome, reason: str = "", moved: Stat | None = None) -> None:
        self._write({"id": entry_id, "outcome": outcome, "reason": reason})


def read_journal(path: str) -> dict[int, dict]:
    """Returns the entries of a JSON-lines journal by id, settled ones with their final outcome."""
    out: dict[int, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            out.setdefault(d["id"], {}).update(d)
    return out


def _slowed(delay: float) -> None:
    real_replace, real_unlink = os.replace, os.unlink

    def replace(src, dst, **kw):
        if os.path.basename(os.fsdecode(src)).startswith(PREFIX):
            print("TEMP", os.fsdecode(src), flush=True)
            time.sleep(delay)
        return real_replace(src, dst, **kw)

    def unlink(path, **kw):
        p = os.fsdecode(path)
        if not os.path.basename(p).startswith(PREFIX):
            print("LINKED" if os.stat(p, follow_symlinks=False).st_nlink > 1 else "UNLINK", p, flush=True)
            time.sleep(delay)
        return real_unlink(path, **kw)
    os.replace, os.unlink = replace, unlink


if __name__ == "__main__":
    plan_path, journal_path, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if delay:
        _slowed(delay)
    result = apply_plan(load_plan(plan_path), JsonlJournal(journal_path))
    for line in apply_lines(result):
        print(line, flush=True)
