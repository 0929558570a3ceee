"""Files that change under the scanner: vanished, replaced by a directory or a FIFO, grown, shrunk or rewritten
between the walk and the read or while being read. Such a file is skipped with its reason, counted in the
errors, never grouped and never recorded with a hash, and the rescan sees it as it is now."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import main
from _db import HASH, catalog_rows
from _inject import Injection
from _run import ENTRIES, scan, sqlite_url
from _trees import age, blob, groups, oracle, write
from utilities.hashing import PARTIAL_BLOCK
from utilities.paths import db_path

BIG = 2 * PARTIAL_BLOCK + 5000   # read in two stages: head and tail, then the whole
VANISHED = "vanished during the scan"
REPLACED = "changed during the scan (replaced since the walk)"
RESIZED = "changed during the scan (size changed while being read)"
MODIFIED = "changed during the scan (modified while being read)"


@pytest.fixture
def trio(tmp_path: Path) -> Path:
    """small/ and big/ each hold three identical files (a, b, c); big ones need a full hash."""
    root = tmp_path / "trio"
    for name in "abc":
        write(root / "small" / f"{name}.bin", blob(1, 1000))        # partial hash = full hash
        write(root / "big" / f"{name}.bin", blob(2, BIG))           # partial, then full hash
    write(root / "other" / "x.bin", blob(3, 777))
    write(root / "other" / "y.bin", blob(3, 777))
    age(root)
    return root


def stored_hash(url: str, path: Path) -> str | None:
    """The full hash the catalog holds for path (None when there is no row, or no full hash)."""
    row = catalog_rows(url).get(db_path(os.fspath(path)))
    return None if row is None else row[HASH]


def assert_skipped(root: Path, victim: Path, report: dict, skipped: dict[str, str], reason: str) -> None:
    """victim is skipped for reason, counted once in errors and in no group; the other files group as before."""
    assert skipped == {str(victim): reason}
    assert report["summary"]["errors"] == 1
    assert not any(str(victim) in g for g in groups(report))
    survivors = sorted(str(p) for p in victim.parent.iterdir() if p != victim and p.is_file())
    assert survivors in groups(report)
    assert [str(root / "other" / "x.bin"), str(root / "other" / "y.bin")] in groups(report)


@ENTRIES
@pytest.mark.parametrize("stage", ["partial", "full"])
def test_file_vanishes_between_walk_and_read(entry, stage, trio, tmp_path, monkeypatch, skipped):
    victim = trio / ("small" if stage == "partial" else "big") / "a.bin"
    injection = Injection(monkeypatch, victim, f"before_{stage}_open", victim.unlink, tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(entry, [trio], url, tmp_path)
    assert injection.fired
    assert_skipped(trio, victim, report, skipped(), VANISHED)
    assert stored_hash(url, victim) is None
    monkeypatch.undo()
    again = scan(entry, [trio], url, tmp_path)          # the rescan forgets it
    assert db_path(str(victim)) not in catalog_rows(url)
    assert groups(again) == oracle([trio])


@ENTRIES
def test_file_replaced_by_a_directory(entry, trio, tmp_path, monkeypatch, skipped):
    victim = trio / "big" / "a.bin"

    def swap():
        victim.unlink()
        victim.mkdir()
        write(victim / "inner.bin", blob(2, BIG))       # the same content as b and c, one level down
    injection = Injection(monkeypatch, victim, "before_full_open", swap, tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(entry, [trio], url, tmp_path)
    assert injection.fired
    assert_skipped(trio, victim, report, skipped(), REPLACED)
    monkeypatch.undo()
    again = scan(entry, [trio], url, tmp_path)
    assert groups(again) == oracle([trio])
    assert str(victim / "inner.bin") in [p for g in groups(again) for p in g]


@pytest.mark.timeout(60)
@ENTRIES
def test_file_replaced_by_a_fifo_never_blocks(entry, trio, tmp_path, monkeypatch, skipped):
    victim = trio / "big" / "a.bin"

    def swap():
        victim.unlink()
        os.mkfifo(victim)
    injection = Injection(monkeypatch, victim, "before_full_open", swap, tmp_path / "state")
    report = scan(entry, [trio], sqlite_url(tmp_path), tmp_path)
    assert injection.fired
    assert_skipped(trio, victim, report, skipped(), REPLACED)


def _grow(p: Path) -> None:
    with open(p, "ab") as f:
        f.write(b"more")


def _shrink(p: Path) -> None:
    os.truncate(p, p.stat().st_size // 2)


def _rewrite(p: Path) -> None:
    with open(p, "r+b") as f:
        f.write(b"\x00" * 4096)


def _rewrite_keeping_mtime(p: Path) -> None:     # what rsync --inplace -t or a restore with cp -p ends with
    st = p.stat()
    _rewrite(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


# each change, and the reason the scanner must give for it
CHANGES = {"grow": (_grow, RESIZED), "shrink": (_shrink, RESIZED), "rewrite": (_rewrite, MODIFIED),
           "rewrite_keeping_mtime": (_rewrite_keeping_mtime, MODIFIED)}


@ENTRIES
@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("when", ["before_reading", "while_reading"])
def test_file_changing_while_hashed_is_never_recorded_nor_grouped(entry, change, when, trio, tmp_path,
                                                                  monkeypatch, skipped):
    """The full hash of big/a.bin: changed after its open checked it (before the first read), or after its
    first 4 KiB were read (-c 4096: the rest is read in many more chunks)."""
    victim = trio / "big" / "a.bin"
    action, reason = CHANGES[change]
    point = "after_full_open_check" if when == "before_reading" else "after_first_full_read"
    injection = Injection(monkeypatch, victim, point, lambda: action(victim), tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(entry, [trio], url, tmp_path, "-c", "4096")
    assert injection.fired
    assert_skipped(trio, victim, report, skipped(), reason)
    assert stored_hash(url, victim) is None, "a hash of contents that changed while read was recorded"
    monkeypatch.undo()
    again = scan(entry, [trio], url, tmp_path)
    assert groups(again) == oracle([trio])


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_small_file_changing_during_its_partial_hash(change, trio, tmp_path, monkeypatch, skipped):
    """A small file is read whole by its partial hash: changed after that hash's open checked it."""
    victim = trio / "small" / "a.bin"
    action, reason = CHANGES[change]
    injection = Injection(monkeypatch, victim, "after_partial_open_check", lambda: action(victim), tmp_path / "state")
    url = sqlite_url(tmp_path)
    report = scan(main.main, [trio], url, tmp_path)
    assert injection.fired
    assert_skipped(trio, victim, report, skipped(), reason)
    assert stored_hash(url, victim) is None
