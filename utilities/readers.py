"""Reading for the hash stages at an I/O depth: the files of one batch shared among a few threads.

A cold disk (an SSD, a virtio disk, a NAS) serves parallel requests: on the medium corpus, reading the
first 4 KiB of every file took 4.9 s one at a time and 1.8 s eight at a time (issue 13). The threads
take the batch's files in turn (file k goes to thread k mod n), so together they still move through
the batch in its order (disk order for the full hash). Whole batches go to the threads, never one
future per file: the per-file handover through the GIL made a warm pass 5 times slower.
A spinning disk seeks between parallel readers, so it is read with one thread; a virtual disk (virtio, Xen,
Hyper-V) is not taken for one, whatever its "rotational" flag says.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .hashing import DEFAULT_CHUNK, Outcome, hash_one
from .records import Stat

DEFAULT_DEPTH = 8               # files read at once where the disk does not seek (SSD, virtio, network)
_NO_BUFFER = bytearray(0)

_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] = (0, 0)            # (pid, threads): a forked worker makes its own pool
_local = threading.local()                     # each thread's read buffer for full hashes
_stop = threading.Event()                      # set on Ctrl-C: the threads finish the file in hand only


def io_depth(roots: Sequence[str]) -> int:
    """Returns the I/O depth for the roots' devices: 1 if any is a spinning disk, else DEFAULT_DEPTH."""
    for root in roots:
        try:
            dev = os.stat(root).st_dev
        except OSError:
            continue
        if _rotational(os.major(dev), os.minor(dev)):
            return 1
    return DEFAULT_DEPTH


# Virtual disks whose "rotational" flag says nothing: QEMU's virtio-blk, Xen's and Hyper-V's block devices
# report 1 unless the host was told otherwise, whatever the storage behind them. The virtio disk of our
# machines says 1, yet reading the first 4 KiB of medium's files took 4.9 s one at a time and 1.8 s eight
# at a time (issue 13): it is read at DEFAULT_DEPTH.
_VIRTUAL_BUSES = ("/virtio", "/vbd-", "/xen", "/vmbus")


def _rotational(major: int, minor: int, sys_root: str = "/sys") -> bool:
    """True when /sys says the block device (or the disk a partition is on) has rotating platters and the
    device is not a virtual disk (whose flag is a default, not a fact)."""
    base = f"{sys_root}/dev/block/{major}:{minor}"
    if any(bus in os.path.realpath(base) for bus in _VIRTUAL_BUSES):
        return False
    for flag in (f"{base}/queue/rotational", f"{base}/../queue/rotational"):
        try:
            with open(flag) as f:
                return f.read().strip() == "1"
        except OSError:
            continue
    return False            # no block device behind it (tmpfs, NFS, overlay): latency, not seeks


def hash_files(paths: Sequence[str], stats: Sequence[Stat], kind: str, algorithm: str, chunk_size: int,
               threads: int) -> list[Outcome]:
    """Returns the outcome of hashing each file (hashing.hash_one), in the order given, reading with up to
    `threads` threads. Ctrl-C stops them after the file each has in hand and is raised here."""
    n = len(paths)
    _stop.clear()
    if threads <= 1 or n < 2:
        buf = _buffer(kind, chunk_size)
        return [hash_one(p, s, kind, algorithm, buf) for p, s in zip(paths, stats, strict=True)]
    threads = min(threads, n)
    out: list[Outcome | None] = [None] * n

    def share(first: int) -> None:
        buf = _buffer(kind, chunk_size)
        for k in range(first, n, threads):
            if _stop.is_set():
                return
            out[k] = hash_one(paths[k], stats[k], kind, algorithm, buf)

    pool = _threads(threads)
    futures = [pool.submit(share, t) for t in range(threads)]
    try:
        for f in futures:
            f.result()
    except BaseException:
        _stop.set()                  # Ctrl-C: the batch is given up; let the threads stop soon
        for f in futures:
            f.cancel()
        raise
    return [o if o is not None else Outcome(None, False, 0, "not read") for o in out]


def _threads(n: int) -> ThreadPoolExecutor:
    """This process' reader pool, with at least n threads (a forked worker makes its own; a pool too small
    is replaced and the old one let go, not kept running beside it)."""
    global _pool, _pool_key
    key = (os.getpid(), n)
    if _pool is None or _pool_key[0] != key[0] or _pool_key[1] < n:
        if _pool is not None and _pool_key[0] == key[0]:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="reader")
        _pool_key = key
    return _pool


def _buffer(kind: str, size: int) -> bytearray:
    """This thread's read buffer of a full hash, made once per thread and size (a partial hash needs none)."""
    if kind != "full":
        return _NO_BUFFER
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is None or len(buf) != (size or DEFAULT_CHUNK):
        buf = _local.buf = bytearray(size or DEFAULT_CHUNK)
    return buf
