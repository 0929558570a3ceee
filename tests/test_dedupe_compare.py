"""Issue 11, the byte comparison and the stat checks that come before any change."""
from __future__ import annotations

import os

import pytest

from _dedupe import write
from utilities.dedupe.compare import CHUNK, WHOLE, Skip, first_differences, open_checked, stat_problem
from utilities.records import Stat

SIZES = [0, 1, 4096, WHOLE, WHOLE + 1, 3 * CHUNK + 17]


def fds_of(paths):
    return [os.open(p, os.O_RDONLY) for p in paths]


@pytest.mark.parametrize("size", SIZES)
def test_first_differences_finds_the_first_differing_byte(tmp_path, size):
    data = os.urandom(size)
    ref = write(tmp_path / "ref", data)
    same = write(tmp_path / "same", data)
    paths = [same]
    expected = [None]
    for at in sorted({0, size // 2, size - 1}) if size else []:
        changed = bytearray(data)
        changed[at] ^= 0x01
        paths.append(write(tmp_path / f"diff{at}", bytes(changed)))
        expected.append(at)
    paths.append(write(tmp_path / "longer", data + b"x"))
    expected.append(size)
    if size:
        paths.append(write(tmp_path / "shorter", data[:-1]))
        expected.append(size - 1)
    fds = fds_of([ref, *paths])
    seen = []
    try:
        assert first_differences(fds[0], fds[1:], size, seen.append) == expected
    finally:
        for fd in fds:
            os.close(fd)
    assert sum(seen) >= size * 2


def test_a_kept_copy_of_the_wrong_size_matches_nothing(tmp_path):
    ref = write(tmp_path / "ref", b"abc")
    other = write(tmp_path / "other", b"abcd")
    fds = fds_of([ref, other])
    try:
        assert first_differences(fds[0], fds[1:], 4) == [3]
        assert first_differences(fds[1], fds[:1], 3) == [3]
    finally:
        for fd in fds:
            os.close(fd)


def test_lock_step_reads_the_kept_copy_once_for_many_files(tmp_path):
    data = os.urandom(2 * CHUNK + 5)
    paths = [write(tmp_path / f"f{i}", data) for i in range(5)]
    fds = fds_of(paths)
    seen = []
    try:
        assert first_differences(fds[0], fds[1:], len(data), seen.append) == [None] * 4
    finally:
        for fd in fds:
            os.close(fd)
    assert sum(seen) == 5 * len(data)


def test_open_checked_refuses_what_is_not_the_planned_file(tmp_path):
    p = write(tmp_path / "f", b"data")
    st = Stat.of(os.stat(p))
    fd, _ = open_checked(p, st)
    os.close(fd)
    with pytest.raises(Skip, match="changed since the scan \\(size, mtime, ctime\\)"):
        open_checked(p, st._replace(size=5, mtime_ns=1, ctime_ns=1))
    with pytest.raises(Skip, match="replaced since the scan"):
        open_checked(p, st._replace(inode=st.inode + 1))
    os.symlink("f", tmp_path / "link")
    with pytest.raises(Skip, match="replaced by a symbolic link"):
        open_checked(str(tmp_path / "link"), st)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(Skip, match="not a regular file"):
        open_checked(str(tmp_path / "fifo"), st)                 # and it does not block
    with pytest.raises(Skip, match="gone since the scan"):
        open_checked(str(tmp_path / "missing"), st)
    assert stat_problem(st, st) is None
