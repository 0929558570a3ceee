"""Issue 11, reflink for real: a small XFS image (btrfs if XFS cannot be made) is created and loop-mounted,
files are cloned, and FIEMAP (filefrag -v) must show shared extents, with each clone's owner, mode and mtime
kept. Needs root and mkfs.xfs (xfsprogs) or mkfs.btrfs (btrfs-progs): with CI=true, not being able to make
or mount the image fails the test; elsewhere it skips, saying why. Mounts and loop devices are removed even
when a test fails."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from _dedupe import PAST_NS, findings, temporaries, write
from utilities.dedupe.apply import apply_plan
from utilities.dedupe.journal import MemoryJournal
from utilities.dedupe.mounts import fs_type
from utilities.dedupe.plan import make_plan
from utilities.records import Stat

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
IMAGE_BYTES = 320 * 2**20        # XFS wants at least 300 MB; the image file is sparse


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: cannot test reflink on a real file system: {why}", pytrace=False)
    pytest.skip(why)


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def cow_mount(tmp_path_factory):
    """A freshly made and loop-mounted file system with copy-on-write clones (XFS, else btrfs)."""
    if os.geteuid() != 0:
        _unavailable("loop-mounting an image needs root")
    base = tmp_path_factory.mktemp("cow")
    img, mnt = base / "fs.img", base / "mnt"
    mnt.mkdir()
    errors = []
    mounted = None
    for kind, mkfs in (("xfs", ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"]), ("btrfs", ["mkfs.btrfs", "-q", "-f"])):
        if shutil.which(mkfs[0]) is None:
            errors.append(f"{mkfs[0]} not installed")
            continue
        with open(img, "wb") as f:
            f.truncate(IMAGE_BYTES)
        made = _run(*mkfs, str(img))
        if made.returncode:
            errors.append(f"{mkfs[0]}: {made.stderr.strip()}")
            continue
        m = _run("mount", "-o", "loop", str(img), str(mnt))
        if m.returncode:
            errors.append(f"mount {kind}: {m.stderr.strip()}")
            continue
        mounted = kind
        break
    if mounted is None:
        _unavailable("; ".join(errors))
    try:
        yield mnt
    finally:
        loops = _run("losetup", "-j", str(img)).stdout.split(":")[0:1]
        if _run("umount", str(mnt)).returncode:
            _run("umount", "-l", str(mnt))
        for dev in filter(None, loops):      # mount -o loop detaches by itself; make sure
            _run("losetup", "-d", dev)
        img.unlink(missing_ok=True)
        assert _run("losetup", "-j", str(img)).stdout == ""


def shared_extents(path: str) -> list[str]:
    """Returns the extent lines of filefrag -v for path that are flagged shared."""
    out = subprocess.run(["filefrag", "-v", path], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "shared" in line]


@pytest.fixture
def cow(cow_mount, request):
    d = cow_mount / request.node.name[:60].replace("[", "-").replace("]", "")
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_reflink_clones_share_extents_and_keep_owner_mode_and_mtime(cow):
    data = os.urandom(3 * 2**20 + 12345)
    a = write(cow / "a", data, mode=0o644)
    b = write(cow / "b", data, mode=0o600, mtime_ns=PAST_NS + 777)
    c = write(cow / "sub/c", data, mode=0o640, mtime_ns=PAST_NS + 999)
    os.chown(c, 65534, 65534)
    os.utime(c, ns=(PAST_NS, PAST_NS + 999))
    os.sync()
    before = {p: os.stat(p) for p in (b, c)}
    assert shared_extents(a) == []
    plan = make_plan(findings([cow]), "reflink")
    assert fs_type(Stat.of(os.stat(a)).device) in ("xfs", "btrfs")
    assert plan.operations == 2 and plan.bytes_to_free == 2 * len(data)
    journal = MemoryJournal()
    result = apply_plan(plan, journal)
    assert result.count("done") == 2, [r.reason for r in result.results]
    assert result.bytes_freed == 2 * len(data)
    for p in (b, c):
        st, old = os.stat(p), before[p]
        assert st.st_ino != old.st_ino                     # a new file: a clone, renamed over the old one
        assert Path(p).read_bytes() == data
        assert stat.S_IMODE(st.st_mode) == stat.S_IMODE(old.st_mode)
        assert st.st_mtime_ns == old.st_mtime_ns
        assert (st.st_uid, st.st_gid) == (old.st_uid, old.st_gid)
        assert shared_extents(p), f"no shared extent in filefrag -v {p}"
    assert shared_extents(a)
    for p in (a, b, c):                                    # the catalog's new rows: exactly as on disk
        assert result.stats.get(p, Stat.of(os.lstat(p))) == Stat.of(os.lstat(p))
    assert set(result.stats) >= {b, c}
    assert temporaries(cow) == []
    assert [e.outcome for e in journal.entries] == ["done", "done"]


def test_a_clone_does_not_change_when_the_kept_file_is_written_later(cow):
    a = write(cow / "a", b"1" * 100_000)
    b = write(cow / "b", b"1" * 100_000)
    result = apply_plan(make_plan(findings([cow]), "reflink"), MemoryJournal())
    assert result.count("done") == 1
    with open(a, "r+b") as f:
        f.write(b"2" * 10)
    assert Path(b).read_bytes() == b"1" * 100_000          # copy-on-write: b keeps its bytes


def test_reflink_refuses_a_file_that_changed_after_the_scan(cow):
    write(cow / "a", b"x" * 50_000)
    b = write(cow / "b", b"x" * 50_000)
    plan = make_plan(findings([cow]), "reflink")
    with open(b, "r+b") as f:
        f.write(b"y")
    os.utime(b, ns=(PAST_NS, PAST_NS))
    result = apply_plan(plan, MemoryJournal())
    assert result.results[0].outcome == "skipped" and "changed since the scan" in result.results[0].reason
    assert Path(b).read_bytes()[:1] == b"y" and shared_extents(b) == []
