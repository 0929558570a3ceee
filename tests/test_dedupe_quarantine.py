"""Issue 11, --action move and its undo: files go to DIR/<absolute path> with their bytes, mode and mtime, on
one file system or across two, nothing in the quarantine is overwritten, and undoing every move gives back
the tree as it was (names, bytes, modes, mtimes, hard links)."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from _dedupe import PAST_NS, findings, snapshot, temporaries, write
from test_dedupe_plan import ODD_NAMES
from utilities.dedupe.apply import apply_plan
from utilities.dedupe.compare import Skip
from utilities.dedupe.journal import MemoryJournal
from utilities.dedupe.plan import make_plan, quarantine_path
from utilities.dedupe.quarantine import undo_move, undo_moves


@pytest.fixture
def shm():
    d = tempfile.mkdtemp(dir="/dev/shm", prefix="dupfinder-test-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def odd_tree(root: Path) -> None:
    raw = os.fsencode(root)
    for i, name in enumerate(ODD_NAMES):
        write(raw + b"/d%d/" % (i % 3) + name, b"content %d" % (i % 4) * 300, mode=0o600 + (i % 3) * 0o40,
              mtime_ns=PAST_NS + i)
    os.link(raw + b"/d1/" + ODD_NAMES[4], raw + b"/hard \xff link")    # a redundant file with two names
    os.symlink("d0", root / "a symlink")


def undo_all(journal: MemoryJournal, quarantine: str) -> list[str]:
    done = undo_moves(journal.entries, prune_to=quarantine)
    assert len(done) == sum(e.action == "move" and e.outcome == "done" for e in journal.entries)
    return [f"{e.path}: {why}" for e, why in done if why]


@pytest.mark.parametrize("where", ["same file system", "another file system"])
def test_move_then_undo_gives_the_tree_back(tmp_path, shm, where):
    root = tmp_path / "root"
    odd_tree(root)
    q = str(tmp_path / "q" if where == "same file system" else shm / "q")
    before = snapshot(root, strict=False)
    plan = make_plan(findings([root]), "move", move_to=q)
    assert plan.operations >= 10
    journal = MemoryJournal()
    result = apply_plan(plan, journal)
    assert result.count("done") == plan.operations and result.count("skipped") == 0
    for g in plan.groups:
        for op in g.ops:
            assert not os.path.lexists(op.path)
            st = os.lstat(op.dest)
            assert Path(op.dest).read_bytes() == Path(g.kept[0]).read_bytes()
            f = g.file_named(op.path)
            assert st.st_mtime_ns == f.stat.mtime_ns
            assert stat.S_IMODE(st.st_mode) == before[os.fsencode(os.path.relpath(op.path, root))][1]
    # a file with two names stays one file in the quarantine, even across file systems
    (hard,) = [op for g in plan.groups for op in g.ops if os.fsencode(op.path).endswith(b"hard \xff link")]
    (other,) = [op for g in plan.groups for op in g.ops if op.path.endswith(os.fsdecode(b"/d1/" + ODD_NAMES[4]))]
    assert os.path.samefile(hard.dest, other.dest)
    assert result.bytes_freed == (0 if where == "same file system" else plan.bytes_to_free)
    assert undo_all(journal, q) == []
    assert snapshot(root, strict=False) == before
    assert os.listdir(q) == [] and temporaries(root) == [] and temporaries(q) == []


def test_nothing_in_the_quarantine_is_overwritten(tmp_path):
    a = write(tmp_path / "r/a", b"data")
    b = write(tmp_path / "r/b", b"data")
    q = str(tmp_path / "q")
    occupant = write(quarantine_path(q, b), b"someone else's file")
    result = apply_plan(make_plan(findings([tmp_path / "r"]), "move", move_to=q), MemoryJournal())
    (r,) = result.results
    assert r.outcome == "skipped" and r.reason == f"something is already at {quarantine_path(q, b)}: never overwritten"
    assert Path(occupant).read_bytes() == b"someone else's file" and Path(b).read_bytes() == b"data"
    assert Path(a).read_bytes() == b"data"


def test_an_interrupted_move_is_finished_by_the_next_run(tmp_path):
    """kill -9 between the new name in the quarantine and the removal of the original leaves both names:
    the original path is present, and the next apply finishes the move."""
    write(tmp_path / "r/a", b"data")
    b = write(tmp_path / "r/b", b"data")
    q = str(tmp_path / "q")
    plan = make_plan(findings([tmp_path / "r"]), "move", move_to=q)
    dest = plan.groups[0].ops[0].dest
    os.makedirs(os.path.dirname(dest))
    os.link(b, dest)                                       # where the killed run stopped
    plan = make_plan(findings([tmp_path / "r"]), "move", move_to=q)   # a rescan sees the new ctime
    result = apply_plan(plan, MemoryJournal())
    assert result.count("done") == 1 and not os.path.exists(b) and Path(dest).read_bytes() == b"data"


def test_undo_refuses_when_the_original_path_is_occupied(tmp_path):
    write(tmp_path / "r/a", b"data")
    b = write(tmp_path / "r/b", b"data")
    q = str(tmp_path / "q")
    journal = MemoryJournal()
    apply_plan(make_plan(findings([tmp_path / "r"]), "move", move_to=q), journal)
    (e,) = journal.entries
    write(b, b"a new file at the old path")
    with pytest.raises(Skip, match="the original path is occupied"):
        undo_move(e)
    assert Path(b).read_bytes() == b"a new file at the old path"
    assert Path(e.moved_to).read_bytes() == b"data"


def test_undo_refuses_a_quarantined_file_that_changed(tmp_path):
    write(tmp_path / "r/a", b"data" * 100)
    b = write(tmp_path / "r/b", b"data" * 100)
    journal = MemoryJournal()
    apply_plan(make_plan(findings([tmp_path / "r"]), "move", move_to=str(tmp_path / "q")), journal)
    (e,) = journal.entries
    assert e.moved is not None and e.moved.size == 400
    st = os.stat(e.moved_to)
    with open(e.moved_to, "r+b") as f:                    # same size, mtime put back: the digest tells
        f.write(b"X")
    os.utime(e.moved_to, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(Skip, match="no longer has the journaled sha256 digest"):
        undo_move(e)
    assert not os.path.exists(b)
    with open(e.moved_to, "ab") as f:                      # another size: the stat record tells
        f.write(b"more")
    with pytest.raises(Skip, match="changed since it was moved"):
        undo_move(e)


def test_undo_of_a_move_cut_short_finishes_or_says_there_is_nothing_to_undo(tmp_path):
    write(tmp_path / "r/a", b"data")
    b = write(tmp_path / "r/b", b"data")
    journal = MemoryJournal()
    apply_plan(make_plan(findings([tmp_path / "r"]), "move", move_to=str(tmp_path / "q")), journal)
    (e,) = journal.entries
    os.link(e.moved_to, b)                                 # both names, as after a kill -9 mid-undo
    undo_move(e)
    assert Path(b).read_bytes() == b"data" and not os.path.exists(e.moved_to)
    with pytest.raises(Skip, match="no longer in the quarantine"):
        undo_move(e)
    from dataclasses import replace
    with pytest.raises(Skip, match="never finished and the original is in place"):
        undo_move(replace(e, outcome="started"))
