"""Stage 1, walk: every regular file under the roots, stat'ed once, each path at most once."""
from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .records import Stat

log = logging.getLogger(__name__)


class FileEntry(NamedTuple):
    """One regular file as the walk saw it."""
    path: str          # absolute; undecodable bytes as surrogates (os.fsdecode)
    stat: Stat


@dataclass(frozen=True)
class WalkOptions:
    min_size: int = 1
    max_size: int | None = None
    exclude: Sequence[str] = ()
    follow_symlinks: bool = False
    one_file_system: bool = False


@dataclass
class ErrorLog:
    """Per-file problems: counted, kept for the report, logged at INFO (shown with -v)."""
    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, problem: str) -> None:
        self.items.append((path, problem))
        log.info("SKIPPED: %s: %s", path, problem)

    def __len__(self) -> int:
        return len(self.items)


def describe_os_error(e: OSError) -> str:
    """Returns e as 'PermissionError: Permission denied' (without the path, which is said already)."""
    return f"{type(e).__name__}: {e.strerror or e}"


def _exclude_matcher(patterns: Sequence[str]) -> Callable[[str, str], bool]:
    """Returns match(name, relpath): true when a glob matches the name or the path relative to its root."""
    if not patterns:
        return lambda name, rel: False
    rx = re.compile("|".join(fnmatch.translate(p.rstrip("/")) for p in patterns))
    return lambda name, rel: rx.match(name) is not None or rx.match(rel) is not None


def normalize_roots(roots: Sequence[str]) -> list[str]:
    """Returns absolute roots, without repeats and without roots nested inside another root."""
    out: list[str] = []
    for r in sorted({os.path.abspath(r) for r in roots}):
        if not any(r == o or r.startswith(o.rstrip("/") + "/") for o in out):
            out.append(r)
    return out


def iter_files(roots: Sequence[str], opts: WalkOptions, errors: ErrorLog) -> Iterator[FileEntry]:
    """Yields the regular files under roots (absolute, normalized) that pass the filters.

    Iterative (no recursion limit). Symbolic links are skipped unless follow_symlinks; then linked
    directories are entered, each directory once by (device, inode), which also stops loops, while
    links to files are still skipped (a link is not a duplicate of its target). FIFOs, sockets and devices
    are never opened, so they cannot block the scan.
    """
    excluded = _exclude_matcher(opts.exclude)
    follow = opts.follow_symlinks
    lo, hi = opts.min_size, opts.max_size
    seen_dirs: set[tuple[int, int]] = set()

    def wanted(st: os.stat_result) -> bool:
        return st.st_size >= lo and (hi is None or st.st_size <= hi)

    for root in roots:
        try:
            st = os.stat(root)      # a root the user named is followed even if it is a link
        except OSError as e:
            errors.add(root, describe_os_error(e))
            continue
        if stat.S_ISREG(st.st_mode):
            if wanted(st):
                yield FileEntry(root, Stat.of(st))
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue   # a FIFO, a socket, a device: nothing to read
        root_dev = st.st_dev
        stack = [(root, st.st_dev, st.st_ino)]
        prefix_len = len(root.rstrip("/")) + 1
        while stack:
            top, dev, ino = stack.pop()
            if (dev, ino) in seen_dirs:
                continue
            seen_dirs.add((dev, ino))
            try:
                it = os.scandir(top)
            except OSError as e:
                errors.add(top, describe_os_error(e))
                continue
            with it:
                while True:
                    try:
                        entry = next(it)
                    except StopIteration:
                        break
                    except OSError as e:     # an I/O error in the middle of a directory listing
                        errors.add(top, describe_os_error(e))
                        break
                    path = entry.path
                    if excluded(entry.name, path[prefix_len:]):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=follow):
                            sub = entry.stat(follow_symlinks=follow)
                            if opts.one_file_system and sub.st_dev != root_dev:
                                continue
                            stack.append((path, sub.st_dev, sub.st_ino))
                        elif entry.is_file(follow_symlinks=follow) and not (follow and entry.is_symlink()):
                            # A link to a file is never a copy of it (cli-contract.md), followed or not.
                            fst = entry.stat(follow_symlinks=follow)
                            if wanted(fst):
                                yield FileEntry(path, Stat.of(fst))
                    except FileNotFoundError as e:
                        errors.add(path, f"vanished during the scan ({describe_os_error(e)})")
                    except OSError as e:
                        errors.add(path, describe_os_error(e))


class FileTable:
    """The walk's result in columns: each file a name, a directory number and its stat record as five
    64-bit ints.

    About 110 bytes a file besides its name, where a tuple of full path and ints costs ~450: 200,000
    files must fit in the 150 MB the project allows a scan (directory paths are stored once).
    """

    def __init__(self) -> None:
        self.dirs: list[str] = []
        self._dir_ids: dict[str, int] = {}
        self._by_name: list[dict[str, int]] = []   # per directory: name -> file index
        self.dir_of = array("i")
        self.names: list[str] = []
        self.size = array("q")
        self.mtime_ns = array("q")
        self.ctime_ns = array("q")
        self.device = array("q")      # signed, as stored in BIGINT columns (records.signed64)
        self.inode = array("q")

    def add(self, e: FileEntry) -> None:
        d, _, name = e.path.rpartition("/")
        k = self._dir_ids.get(d)
        if k is None:
            k = self._dir_ids[d] = len(self.dirs)
            self.dirs.append(d)
            self._by_name.append({})
        by_name = self._by_name[k]
        if name in by_name:           # the same file reached twice (a file root inside a dir root)
            return
        by_name[name] = len(self.names)
        self.names.append(name)
        self.dir_of.append(k)
        st = e.stat
        self.size.append(st.size)
        self.mtime_ns.append(st.mtime_ns)
        self.ctime_ns.append(st.ctime_ns)
        self.device.append(st.device)
        self.inode.append(st.inode)

    def __len__(self) -> int:
        return len(self.names)

    def path(self, i: int) -> str:
        return f"{self.dirs[self.dir_of[i]]}/{self.names[i]}"

    def lookup(self, path: str) -> int | None:
        """Returns the index of path, None if the walk did not yield it."""
        d, _, name = path.rpartition("/")
        k = self._dir_ids.get(d)
        return None if k is None else self._by_name[k].get(name)

    def stat(self, i: int) -> Stat:
        return Stat(self.size[i], self.mtime_ns[i], self.ctime_ns[i], self.device[i], self.inode[i])
