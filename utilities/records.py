"""The records that cross module boundaries: a file's stat record, a stored catalog row, and the rule
that ties them (a stored hash holds while the file is unchanged)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

# A hash taken less than this long from the file's mtime is not trusted later: the file may have
# changed again within the same timestamp tick (git's "racy" rule; borg and dvc-data have it too).
# An mtime far in the future (clock skew, an archive's timestamps) is no risk: any later write sets
# the mtime to the present, which differs; such hashes hold (issue 10: re-read on every rescan before).
RACY_WINDOW_NS = 2_000_000_000


class Stat(NamedTuple):
    """What must match for a stored hash to still describe the file (cli-contract.md, Semantics)."""
    size: int
    mtime_ns: int          # an int: floats do not compare exactly
    ctime_ns: int          # catches an edit whose mtime was put back (rsync --inplace -t, cp -p, touch -r)
    device: int            # signed 64-bit, as stored in BIGINT columns (signed64)
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> Stat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, signed64(st.st_dev), signed64(st.st_ino))


class Hashes(NamedTuple):
    """How a file was hashed and what came out: the partial digest always, the full one once known."""
    algorithm: str
    partial_bytes: int     # head and tail block size of the partial digest
    partial: str
    full: str | None
    hashed_at: float       # epoch seconds, for the racy rule


class StoredFile(NamedTuple):
    """A catalog row as the scanner reads it (decoded path), without ORM identity overhead."""
    path: str
    stat: Stat
    hashes: Hashes | None


def hashes_hold(stored: StoredFile, current: Stat, algorithm: str, partial_bytes: int) -> bool:
    """True when stored's hashes may stand for the file whose stat record is now `current`: same stat
    record, hashed the way this scan hashes, and not within RACY_WINDOW_NS of the file's mtime."""
    h = stored.hashes
    return (h is not None and stored.stat == current and h.algorithm == algorithm
            and h.partial_bytes == partial_bytes and abs(h.hashed_at * 1e9 - current.mtime_ns) >= RACY_WINDOW_NS)


def signed64(n: int) -> int:
    """st_dev/st_ino are unsigned 64-bit; BIGINT and array('q') are signed. Wrap, keeping equality."""
    return n - (1 << 64) if n >= 1 << 63 else n


@dataclass
class ScanCounts:
    """What one scan did, counted as it went: for the summary, scan_metadata and the report."""
    files_scanned: int = 0         # regular files (paths) walked that passed the filters
    bytes_scanned: int = 0
    candidates: int = 0            # files (inodes) whose size another file shares
    unchanged: int = 0             # files whose stat record matches their catalog row
    moved: int = 0                 # files whose stat record matches a row of a path that is gone
    vanished: int = 0              # catalog rows deleted because their file is gone
    partial_hashed: int = 0
    partial_reused: int = 0        # candidates whose stored digests still held
    need_full: int = 0             # candidates left after the partial hash without a stored full hash
    full_hashed: int = 0           # full hashes computed and committed
    bytes_read: int = 0
    changed_during_scan: int = 0   # files that changed while being read (also counted as errors)
