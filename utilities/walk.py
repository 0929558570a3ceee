"""Stage 1, walk: every regular file under the roots, stat'ed once, each file listed under one path."""
from __future__ import annotations

import heapq
import logging
import os
import stat
import sys
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from .dedupe.leftovers import PREFIX as TEMP_PREFIX
from .errors import describe_os_error
from .paths import is_under
from .records import Stat

if TYPE_CHECKING:
    from .patterns import PathMatcher

log = logging.getLogger(__name__)
_TOP, _WRAP = 1 << 63, 1 << 64        # st_dev/st_ino wrap into signed 64-bit ints (records.signed64)


class FileEntry(NamedTuple):
    """One regular file as the walk saw it."""
    path: str          # absolute; undecodable bytes as surrogates (os.fsdecode)
    stat: Stat


@dataclass(frozen=True)
class WalkOptions:
    min_size: int = 1
    max_size: int | None = None
    include_empty: bool = False        # empty files pass whatever --min-size says
    exclude: PathMatcher | None = None
    skip: frozenset[str] = frozenset()  # absolute paths never listed (the catalog's own files)
    follow_symlinks: bool = False
    one_file_system: bool = False

    def wanted(self, size: int) -> bool:
        if size == 0 and self.include_empty:
            return True
        return size >= self.min_size and (self.max_size is None or size <= self.max_size)


@dataclass
class ErrorLog:
    """Per-file problems: counted, kept for the report, logged at INFO (shown with -v)."""
    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, problem: str) -> None:
        self.items.append((path, problem))
        log.info("SKIPPED: %s: %s", path, problem)

    def __len__(self) -> int:
        return len(self.items)


def normalize_roots(roots: Sequence[str]) -> list[str]:
    """Returns absolute roots without repeats and without a root that lies inside another, also through a
    symbolic link (its files are then reached under the other root). Of two roots that are one folder,
    the one that is its own real path stays."""
    by_real: dict[str, str] = {}
    for r in sorted({os.path.abspath(r) for r in roots}):
        real = os.path.realpath(r)
        if real not in by_real or r == real:
            by_real[real] = r
    out: list[str] = []
    for real in sorted(by_real):
        if not any(is_under(real, o) for o in out):
            out.append(real)
    return sorted(by_real[real] for real in out)


def iter_files(roots: Sequence[str], opts: WalkOptions, errors: ErrorLog) -> Iterator[FileEntry]:
    """Yields the regular files under roots (normalize_roots) that pass the filters, each file once.

    Folders are listed in path order (a heap of paths; a child's path sorts after its parent's), so the
    first path that reaches a folder is its smallest, and each folder is entered once by (device, inode),
    which also stops loops. Symbolic links are skipped unless follow_symlinks; then links to folders and
    to files are followed, except where the target's real path lies inside a root: the walk reaches it
    there under its real path. A file outside the roots reached by several links is listed under its
    first alias in path order (cli-contract.md, Semantics). FIFOs, sockets and devices are never opened.
    """
    follow, exclude = opts.follow_symlinks, opts.exclude
    excluded = exclude.matches if exclude else None      # bound once: PathMatcher's truth test is not free
    real_roots = [os.path.realpath(r) for r in roots]
    heap: list[tuple[str, int, int, int, str | None]] = []   # (path, root index, device, inode, real path)
    root_devices: list[int] = []
    for k, root in enumerate(roots):
        try:
            st = os.stat(root)      # a root the user named is followed even if it is a link
        except OSError as e:
            errors.add(root, describe_os_error(e))
            root_devices.append(-1)
            continue
        root_devices.append(st.st_dev)
        if stat.S_ISREG(st.st_mode):
            if opts.wanted(st.st_size) and not (exclude and exclude.matches(k, os.path.basename(root))):
                yield FileEntry(root, Stat.of(st))
        elif stat.S_ISDIR(st.st_mode):
            heapq.heappush(heap, (root, k, st.st_dev, st.st_ino, None))
        # a FIFO, a socket, a device: nothing to read

    def outside_roots(path: str) -> str | None:
        """The real path of a link's target when it lies outside every root, else None."""
        real = os.path.realpath(path)
        return None if any(is_under(real, r) for r in real_roots) else real

    outside: dict[str, FileEntry] = {}     # real path -> a file outside the roots under its first alias
    lo, hi, empty_ok = opts.min_size, opts.max_size if opts.max_size is not None else sys.maxsize, opts.include_empty
    skip = opts.skip
    seen_dirs: set[tuple[int, int]] = set()
    while heap:
        top, k, dev, ino, top_real = heapq.heappop(heap)
        if (dev, ino) in seen_dirs:
            continue
        seen_dirs.add((dev, ino))
        prefix_len = len(roots[k].rstrip("/")) + 1
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
                if entry.name.startswith(TEMP_PREFIX):             # a temporary of an apply: never a file of ours
                    continue
                try:
                    if entry.is_file(follow_symlinks=False):        # the common case first, inlined
                        # excluded before the stat: DirEntry.stat() is an lstat call on Linux
                        if (excluded and excluded(k, path[prefix_len:])) or (skip and path in skip):
                            continue
                        st = entry.stat(follow_symlinks=False)
                        size = st.st_size
                        if not (lo <= size <= hi or (empty_ok and not size)):
                            continue
                        d, i = st.st_dev, st.st_ino
                        found = Stat(size, st.st_mtime_ns, st.st_ctime_ns, d - _WRAP if d >= _TOP else d,
                                     i - _WRAP if i >= _TOP else i)
                        if top_real is None:
                            yield FileEntry(path, found)
                        else:
                            _keep_first_alias(outside, f"{top_real}/{entry.name}", path, found)
                        continue
                    real: str | None = None
                    linked = entry.is_symlink()
                    if linked:
                        if not follow or (real := outside_roots(path)) is None:
                            continue
                        st = os.stat(path)
                    elif entry.is_dir(follow_symlinks=False):
                        if excluded and excluded(k, path[prefix_len:], is_dir=True):
                            continue
                        st = entry.stat(follow_symlinks=False)
                        real = top_real and f"{top_real}/{entry.name}"
                    else:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if linked and excluded and excluded(k, path[prefix_len:], is_dir=True):
                            continue                                # a followed link to a folder
                        if opts.one_file_system and st.st_dev != root_devices[k]:
                            continue
                        heapq.heappush(heap, (path, k, st.st_dev, st.st_ino, real))
                    elif stat.S_ISREG(st.st_mode) and opts.wanted(st.st_size) and real is not None:
                        if (excluded and excluded(k, path[prefix_len:])) or path in skip:
                            continue
                        _keep_first_alias(outside, real, path, Stat.of(st))   # a followed link to a file
                except FileNotFoundError as e:
                    if not entry.is_symlink():          # a dangling link is no file; a vanished file is news
                        errors.add(path, f"vanished during the scan ({describe_os_error(e)})")
                except OSError as e:
                    errors.add(path, describe_os_error(e))
    yield from outside.values()


def _keep_first_alias(outside: dict[str, FileEntry], real: str, path: str, found: Stat) -> None:
    """Keeps, per real path outside the roots, the file under its first alias in path order."""
    if real not in outside or path < outside[real].path:
        outside[real] = FileEntry(path, found)


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

    def forget_names(self) -> None:
        """Drops the name index of lookup() (a dict entry a file: 20 MB for 200,000 files) once it is done."""
        self._by_name = []
        self._dir_ids = {}

    def lookup(self, path: str) -> int | None:
        """Returns the index of path, None if the walk did not yield it (or forget_names() was called)."""
        d, _, name = path.rpartition("/")
        k = self._dir_ids.get(d)
        return None if k is None else self._by_name[k].get(name)

    def stat(self, i: int) -> Stat:
        return Stat(self.size[i], self.mtime_ns[i], self.ctime_ns[i], self.device[i], self.inode[i])
