"""Issue 11, kill -9 in the middle of an apply (a real subprocess, killed while a change is half-way):
every original path is still there with its bytes (nothing half-replaced), the journal has at most one
operation "started", and the next run removes the temporaries and finishes the job."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _apply_driver import read_journal
from _dedupe import findings, temporaries, write
from utilities.dedupe.apply import MAX_OPEN, apply_plan
from utilities.dedupe.journal import MemoryJournal
from utilities.dedupe.leftovers import clean_under
from utilities.dedupe.plan import make_plan
from utilities.dedupe.planfile import write_plan

DRIVER = Path(__file__).resolve().parent / "_apply_driver.py"
MARKS = ("TEMP", "LINKED", "UNLINK")
DELAY = 2.0          # seconds the driver waits at each half-way moment: the test kills it then


def tree(root: Path) -> dict[str, bytes]:
    """12 groups of 3 copies (one copy with a second name), odd names; returns path -> bytes."""
    out = {}
    for g in range(12):
        data = os.urandom(1000 + 977 * g)
        for name in [f"g{g}/keep", f"g{g}/copy 'one'", f"g{g}/-copy\ntwo"]:
            out[write(root / name, data)] = data
    os.link(root / "g3/-copy\ntwo", root / "g3/second name")
    out[str(root / "g3/second name")] = out[str(root / "g3/-copy\ntwo")]
    return out


def kill_at(cmd: list[str], nth: int) -> tuple[str, list[str]]:
    """Runs cmd, kills it with SIGKILL right after its nth announced half-way moment; returns that line
    and all lines read."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, errors="surrogateescape")
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60 + nth * DELAY
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"the apply ended before its {nth}th change: {seen}")
            seen.append(line.rstrip("\n"))
            if line.startswith(MARKS) and sum(x.startswith(MARKS) for x in seen) == nth:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                assert proc.returncode == -signal.SIGKILL
                return line, seen
        pytest.fail("no change announced within 60 s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    raise AssertionError


@pytest.mark.slow
@pytest.mark.xdist_group("scanner-processes")      # killed at a moment of a running apply: see test_interruptions
@pytest.mark.parametrize("action", ["hardlink", "symlink", "delete", "move"])
@pytest.mark.parametrize("nth", [1, 4])
def test_kill_9_mid_apply_loses_nothing_and_the_next_run_cleans_up(tmp_path, action, nth):
    root = tmp_path / "root"
    files = tree(root)
    q = str(tmp_path / "q")
    plan = make_plan(findings([root]), action, move_to=q if action == "move" else None)
    write_plan(str(tmp_path / "plan.json"), plan)
    line, _ = kill_at([sys.executable, str(DRIVER), str(tmp_path / "plan.json"), str(tmp_path / "journal"), str(DELAY)],
                      nth)

    journal = read_journal(str(tmp_path / "journal"))
    started = [e for e in journal.values() if e["outcome"] == "started"]
    # the batch under way was stored before its first change: the change being made is among its entries
    assert 1 <= len(started) <= MAX_OPEN
    assert all(e["outcome"] in ("done", "started") for e in journal.values())
    gone = {e["path"] for e in journal.values() if e["outcome"] == "done"}
    maybe = {e["path"] for e in started}                    # stored before the change: made or not
    for path, data in files.items():
        if action in ("delete", "move") and (path in gone or (path in maybe and not os.path.lexists(path))):
            assert not os.path.lexists(path)
            if action == "move":
                assert Path(q + path).read_bytes() == data
        else:
            assert Path(path).read_bytes() == data, path   # present, whole (through a link if it is one)
    assert not any(not os.path.lexists(p) for p in files if p not in gone | maybe)   # nothing unjournaled went
    temps = temporaries(root)
    if line.startswith("TEMP"):
        assert temps == [line.split(" ", 1)[1].rstrip("\n")]
    else:
        assert temps == []

    # the next run: leftovers removed before its scan (so none is taken for a duplicate), a new plan, the rest
    assert [x.path for x in clean_under([str(root)]) if x.removed] == temps
    assert temporaries(root) == []
    plan2 = make_plan(findings([root]), action, move_to=q if action == "move" else None)
    result = apply_plan(plan2, MemoryJournal())
    assert result.leftovers == [] and result.count("failed") == 0 and result.count("skipped") == 0
    assert findings([root]).groups == ()                    # every group resolved
    for path, data in files.items():
        if os.path.lexists(path):
            assert Path(path).read_bytes() == data
        else:
            assert action in ("delete", "move")
            if action == "move":
                assert Path(q + path).read_bytes() == data
