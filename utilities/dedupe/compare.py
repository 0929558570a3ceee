"""The checks made right before a file is touched: its stat record again, and its bytes compared with
the kept copy's, both through open descriptors so that what was checked is what is acted on."""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence

from ..records import Stat

# O_NOFOLLOW: a symbolic link swapped in for the file is refused (ELOOP), never followed;
# O_NONBLOCK: a FIFO swapped in cannot block the open (and regular files ignore it, so it stays set).
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CHUNK = 1 << 20               # bytes read per file per step
WHOLE = 256 << 10             # files up to this size are read in one pread each (most duplicates are small)
BUFFERS = 16 << 20            # bytes of buffers at most for one lock-step comparison (of many files)

OnBytes = Callable[[int], None]


class Skip(Exception):
    """An operation is skipped because a check said no (the file changed, differs, cannot be linked...);
    str(e) is the one-line reason. Nothing was changed."""


def stat_problem(now: Stat, expected: Stat) -> str | None:
    """Returns why now is not expected ("changed since the scan: mtime"), or None when they are equal."""
    if now == expected:
        return None
    if (now.device, now.inode) != (expected.device, expected.inode):
        return "replaced since the scan (another file is at this path)"
    what = [f for f in ("size", "mtime_ns", "ctime_ns") if getattr(now, f) != getattr(expected, f)]
    if what == ["ctime_ns"]:
        return "changed since the scan (ctime: written to with its mtime put back, or its metadata changed)"
    return f"changed since the scan ({', '.join(w.removesuffix('_ns') for w in what)})"


def open_checked(path: str, expected: Stat) -> tuple[int, os.stat_result]:
    """Returns (fd, fstat) of path, checked to be the regular file whose stat record is expected;
    raises Skip with the reason otherwise."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise Skip("gone since the scan") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Skip("replaced by a symbolic link since the scan") from None
        raise Skip(f"cannot be opened: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Skip("replaced by something that is not a regular file since the scan")
        problem = stat_problem(Stat.of(st), expected)
        if problem:
            raise Skip(problem)
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def check_fd(fd: int, expected: Stat, what: str = "") -> os.stat_result:
    """Returns fstat(fd) after checking it still matches expected; raises Skip otherwise."""
    st = os.fstat(fd)
    problem = stat_problem(Stat.of(st), expected)
    if problem:
        raise Skip(f"{what}{problem}")
    return st


def check_name(path: str, st: os.stat_result) -> None:
    """Raises Skip unless path still names the file st describes (device and inode, not followed)."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        raise Skip("gone just before the change") from None
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        raise Skip("replaced just before the change")


def first_differences(ref: int, fds: Sequence[int], size: int, on_bytes: OnBytes | None = None) -> list[int | None]:
    """Returns, for each of fds, None when its content equals ref's (size bytes, and neither goes on),
    else the offset of the first byte that differs. Reads ref once for all of them, in lock step, with
    bounded memory; a file that differs is no longer read."""
    if not fds:
        return []
    if size <= WHOLE:
        return _small_differences(ref, fds, size, on_bytes)
    chunk = max(64 << 10, min(CHUNK, BUFFERS // (len(fds) + 1), max(size, 1)))
    ref_buf = bytearray(chunk)
    bufs = [bytearray(chunk) for _ in fds]
    result: list[int | None] = [None] * len(fds)
    live = list(range(len(fds)))
    offset = 0
    while offset < size and live:
        want = min(chunk, size - offset)
        n_ref = os.preadv(ref, [ref_buf], offset)
        if n_ref < want:                  # the kept copy ended early: it is not what the plan says
            for i in live:
                result[i] = offset + n_ref
            break
        read = n_ref
        for i in list(live):
            n = os.preadv(fds[i], [bufs[i]], offset)
            read += n
            if n != n_ref or not _equal(bufs[i], ref_buf, n):
                result[i] = offset + _first_mismatch(ref_buf, bufs[i], min(n, n_ref))
                live.remove(i)
        if on_bytes is not None:
            on_bytes(read)
        offset += want
    for i in live:   # equal so far: the files must also end where the plan says they do
        if os.pread(fds[i], 1, size) or os.pread(ref, 1, size):
            result[i] = size
    return result


def _small_differences(ref: int, fds: Sequence[int], size: int, on_bytes: OnBytes | None) -> list[int | None]:
    """first_differences for small files: one pread of size + 1 bytes each (the extra byte shows a file
    that goes on), no buffers to set up."""
    want = os.pread(ref, size + 1, 0)
    read = len(want)
    result: list[int | None] = []
    if len(want) != size:                 # the kept copy is not the size the plan says
        result = [min(len(want), size)] * len(fds)
    else:
        for fd in fds:
            data = os.pread(fd, size + 1, 0)
            read += len(data)
            result.append(None if data == want else _first_mismatch(want, data, min(len(data), size)))
    if on_bytes is not None:
        on_bytes(read)
    return result


def _equal(a: bytearray, b: bytearray, n: int) -> bool:
    """Returns whether the first n bytes of a and b are equal (bytearray ==: memcmp; memoryview == is slow)."""
    return a == b if n == len(a) else a[:n] == b[:n]


def _first_mismatch(a: bytes | bytearray, b: bytes | bytearray, n: int) -> int:
    """Returns the first index < n where a and b differ, else n (one is shorter)."""
    lo, hi = 0, n
    while hi - lo > 4096:                 # halve on slices: C-speed compares, few Python steps
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return n
