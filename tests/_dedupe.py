"""Helpers of the dedupe tests (issue 11): a brute-force oracle that builds the groups by reading every
file, snapshots of whole trees, and file system fixtures on other devices."""
from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from utilities.dedupe.found import DupeFile, DupeGroup, Findings
from utilities.records import Stat

PAST_NS = 1_600_000_000_123_456_789      # an mtime in the past, with nanoseconds


def write(path: Path | str | bytes, data: bytes, mtime_ns: int | None = PAST_NS, mode: int | None = None) -> str:
    """Writes data to path (parents made); sets its mtime and mode; returns the path as str."""
    p = os.fsdecode(path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(p, mode)
    if mtime_ns is not None:
        os.utime(p, ns=(mtime_ns, mtime_ns))
    return p


def _files(root: str) -> Iterable[str]:
    if os.path.isfile(root):                   # a root may be a single file
        yield root
        return
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if stat.S_ISREG(os.lstat(p).st_mode):
                yield p


def findings(roots: Sequence[str | Path], algorithm: str = "sha256", include_empty: bool = False) -> Findings:
    """Returns the duplicate groups under roots as the pipeline should hand them over, found the slow
    way: every regular file read whole, grouped by its bytes; one entry per inode, its other names in
    hard_links; root = index of the first root that holds it."""
    roots = [os.path.abspath(os.fspath(r)) for r in roots]
    by_content: dict[bytes, dict[tuple[int, int], list[tuple[str, int, os.stat_result]]]] = {}
    seen: set[str] = set()
    for i, r in enumerate(roots):
        for p in _files(r):
            if p in seen:
                continue
            seen.add(p)
            st = os.lstat(p)
            if st.st_size == 0 and not include_empty:
                continue
            with open(p, "rb") as f:
                data = f.read()
            by_content.setdefault(data, {}).setdefault((st.st_dev, st.st_ino), []).append((p, i, st))
    groups = []
    for data, inodes in by_content.items():
        if len(inodes) < 2:
            continue
        files = []
        for names in inodes.values():
            names.sort()
            p, i, st = names[0]
            files.append(DupeFile(p, Stat.of(st), i, tuple(n for n, _, _ in names[1:])))
        h = hashlib.new(algorithm, data).hexdigest()
        groups.append(DupeGroup(len(data), h, tuple(sorted(files))))
    groups.sort(key=lambda g: (-g.size * (len(g.files) - 1), g.files[0].path))
    return Findings(tuple(roots), algorithm, tuple(groups))


def snapshot(top: str | Path, strict: bool = True) -> dict[bytes, tuple]:
    """Returns every entry under top (top itself excluded), keyed by its path relative to top (bytes): its
    kind, mode, mtime, and content or link target; strict adds owner, ctime, inode and link count (all
    that any change would move). Non-strict still records which names share an inode, as a partition."""
    top_b = os.fsencode(top)
    out: dict[bytes, tuple] = {}
    inode_names: dict[tuple[int, int], list[bytes]] = {}
    for d, dirs, names in os.walk(top_b):
        for n in dirs + names:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, top_b)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                body: object = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    body = ("file", f.read())
                inode_names.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISDIR(st.st_mode):
                body = ("dir",)
            else:
                body = ("other",)
            mtime = None if stat.S_ISDIR(st.st_mode) and not strict else st.st_mtime_ns
            entry: tuple = (body, stat.S_IMODE(st.st_mode), mtime)
            if strict:
                entry += (st.st_uid, st.st_gid, st.st_ctime_ns, st.st_ino, st.st_nlink)
            out[rel] = entry
    if not strict:
        for names in inode_names.values():
            for n in names:
                out[n] += (tuple(sorted(names)),)
    return out


def contents_under(roots: Iterable[str | Path]) -> dict[bytes, int]:
    """Returns each distinct content of the regular files under roots and in how many files (inodes)."""
    counts: dict[bytes, set[tuple[int, int]]] = {}
    for r in roots:
        for p in _files(os.fspath(r)):
            st = os.lstat(p)
            with open(p, "rb") as f:
                counts.setdefault(f.read(), set()).add((st.st_dev, st.st_ino))
    return {c: len(s) for c, s in counts.items()}


def temporaries(top: str | Path) -> list[str]:
    """Returns the apply temporaries (leftovers.PREFIX) under top."""
    from utilities.dedupe.leftovers import PREFIX
    return [os.path.join(d, n) for d, dirs, names in os.walk(os.fspath(top)) for n in dirs + names
            if n.startswith(PREFIX)]
