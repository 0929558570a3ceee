"""Stages 4 and 5, hashing: partial (head + tail) and full-content digests, streamed, race-checked."""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from typing import Any, NamedTuple

import xxhash

from .errors import describe_os_error
from .records import Stat

# xxh3-128 by default: a 128-bit digest at ~14 GB/s on one core (hashlib's fastest, sha1, ~1.6 GB/s;
# md5, the earlier default, 0.67 GB/s). Accidental collisions are as unlikely as with md5; it is not
# built to resist files crafted to collide: pick sha256 or blake2b (-a) for untrusted contents.
DEFAULT_ALGORITHM = "xxh128"
ALGORITHMS: dict[str, Callable[[], Any]] = {
    "xxh128": xxhash.xxh3_128,
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "blake2b": hashlib.blake2b,
}
# Bytes read from the head and from the tail (bench/partial_block.py, README "Partial hash"): on the
# medium corpus 64 KiB leaves 850 files for the full hash where 4 KiB leaves 5,337, for 224 MiB more
# read up front; warm-cache time is the same, and on disks and NAS shares an avoided open-and-seek
# costs more than 64 KiB of sequential reading. Files up to 128 KiB are read whole, once.
PARTIAL_BLOCK = 64 * 1024
DEFAULT_CHUNK = 4 * 2**20       # bytes per read of a full hash
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class Outcome(NamedTuple):
    digest: str | None      # None when the file could not be hashed
    complete: bool          # the digest covers the whole file (small file, or a full hash)
    bytes_read: int
    problem: str | None     # why digest is None; "changed ..." when the file changed while being read


class FileChanged(Exception):
    """The file is not the one the walk saw, or it changed while being read."""


def _open_checked(path: str, expected: Stat) -> int:
    """Returns an fd on path after checking it is still the regular file the walk saw."""
    fd = os.open(path, _OPEN_FLAGS)   # O_NONBLOCK: a FIFO swapped in for a file cannot block us
    try:
        st = os.fstat(fd)
        now = Stat.of(st)
        if not stat.S_ISREG(st.st_mode) or (now.device, now.inode) != (expected.device, expected.inode):
            raise FileChanged("replaced since the walk")
        if now != expected:          # ctime included: the catalog keys on it (records.Stat)
            raise FileChanged("modified since the walk")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _check_unchanged(fd: int, expected: Stat) -> None:
    if Stat.of(os.fstat(fd)) != expected:
        raise FileChanged("modified while being read")


def partial_digest(path: str, expected: Stat, algorithm: str, block: int = PARTIAL_BLOCK) -> tuple[str, bool, int]:
    """Returns (digest of head + tail blocks, whether that covered the whole file, bytes read).

    Files of up to 2 * block bytes are read whole, so their partial digest is their full digest.
    """
    h = ALGORITHMS[algorithm]()
    size = expected.size
    fd = _open_checked(path, expected)
    try:
        if size <= 2 * block:
            data = os.pread(fd, size + 1, 0)   # one byte more: notices a file that grew
            if len(data) != size:
                raise FileChanged("size changed while being read")
            h.update(data)
            _check_unchanged(fd, expected)
            return h.hexdigest(), True, len(data)
        head = os.pread(fd, block, 0)
        tail = os.pread(fd, block, size - block)
        if len(head) != block or len(tail) != block:
            raise FileChanged("size changed while being read")
        h.update(head)
        h.update(tail)
        _check_unchanged(fd, expected)
        return h.hexdigest(), False, 2 * block
    finally:
        os.close(fd)


def full_digest(path: str, expected: Stat, algorithm: str, buf: bytearray) -> tuple[str, int]:
    """Returns (digest of the whole content, bytes read), streamed through buf; never the whole file."""
    h = ALGORITHMS[algorithm]()
    fd = _open_checked(path, expected)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)   # larger read-ahead on cold disks
        view = memoryview(buf)
        total = 0
        with open(fd, "rb", buffering=0, closefd=False) as f:
            while n := f.readinto(view):
                h.update(view[:n])
                total += n
        if total != expected.size:
            raise FileChanged("size changed while being read")
        _check_unchanged(fd, expected)
        return h.hexdigest(), total
    finally:
        os.close(fd)


def describe(e: BaseException) -> str:
    if isinstance(e, FileChanged):
        return f"changed during the scan ({e})"
    if isinstance(e, FileNotFoundError):
        return "vanished during the scan"
    if isinstance(e, OSError):
        return describe_os_error(e)
    return f"{type(e).__name__}: {e}"


def hash_one(path: str, expected: Stat, kind: str, algorithm: str, buf: bytearray) -> Outcome:
    """Returns the outcome of one partial or full hash; errors come back as data, never raised."""
    try:
        if kind == "partial":
            digest, complete, n = partial_digest(path, expected, algorithm)
        else:
            (digest, n), complete = full_digest(path, expected, algorithm, buf), True
        return Outcome(digest, complete, n, None)
    except (OSError, FileChanged) as e:
        return Outcome(None, False, 0, describe(e))
