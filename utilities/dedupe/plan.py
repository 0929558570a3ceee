"""The plan: per group the files kept and one operation per name of every other file, with the space each
frees. Planning changes nothing; it reads only link counts (lstat), the mount table and the device of --move-to."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from ..paths import is_under
from ..records import Stat
from .found import DupeFile, DupeGroup, Findings
from .keep import DEFAULT_KEEP, rank
from .mounts import cannot_clone

ACTIONS = ("delete", "hardlink", "symlink", "reflink", "move")
SAME_DEVICE_ACTIONS = ("hardlink", "reflink")   # a link or clone cannot cross file systems

Protect = Callable[[str], bool]   # path -> protected (the --protect matcher)


class PlanError(ValueError):
    """A plan that cannot be made or loaded; the one-line message names the problem."""


class PlanFile(NamedTuple):
    """A file (inode) of a group, with everything applying checks again."""
    path: str
    stat: Stat
    root: int
    hard_links: tuple[str, ...]
    links: int                  # st_nlink when planned; 0 when unknown

    @property
    def names(self) -> tuple[str, ...]:
        return (self.path, *self.hard_links)


class Operation(NamedTuple):
    """One name of a redundant file and what is done to it."""
    action: str                 # one of ACTIONS
    path: str                   # the name acted on
    kept: str                   # the kept file it is a copy of (a GroupPlan.kept path); links point to it
    dest: str | None            # move: DIR/<path>; else None
    frees: int                  # bytes freed by this operation (see GroupPlan.ops)
    note: str                   # why it frees what it frees, for people; "" when it simply frees the file


class Left(NamedTuple):
    """A redundant file no operation is planned for, and why."""
    path: str
    reason: str


class GroupPlan(NamedTuple):
    size: int
    digest: str
    files: tuple[PlanFile, ...]       # every file of the group, kept ones first in rank order
    kept: tuple[str, ...]             # the --keep-copies best by the keep rules; kept[0] is the primary
    protected: tuple[str, ...]        # protected files kept in addition
    ops: tuple[Operation, ...]        # grouped by file; only the operation that removes a file's last
    #                                   name frees it, and only when no name outside the roots remains
    left: tuple[Left, ...] = ()

    def file_named(self, name: str) -> PlanFile | None:
        for f in self.files:
            if name in f.names:
                return f
        return None


class Plan(NamedTuple):
    roots: tuple[str, ...]
    algorithm: str
    keep: tuple[str, ...]
    keep_copies: int
    move_to: str | None
    generated_at: float
    groups: tuple[GroupPlan, ...]

    @property
    def bytes_to_free(self) -> int:
        return sum(op.frees for g in self.groups for op in g.ops)

    @property
    def operations(self) -> int:
        return sum(len(g.ops) for g in self.groups)


def quarantine_path(move_to: str, path: str) -> str:
    """Returns where --action move puts path: DIR/<its absolute path>."""
    return os.path.join(move_to, path.lstrip("/"))


def device_of(path: str) -> int | None:
    """Returns the device of path, or of its nearest existing ancestor (a quarantine made on demand)."""
    while True:
        try:
            return Stat.of(os.stat(path)).device
        except OSError:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent


def lstat_links(f: DupeFile) -> int:
    """Returns f's current link count, or 0 when it cannot be read or f is no longer that file."""
    try:
        st = os.lstat(f.path)
    except OSError:
        return 0
    now = Stat.of(st)
    return st.st_nlink if (now.device, now.inode) == (f.stat.device, f.stat.inode) else 0


def _merged(files: Iterable[DupeFile]) -> list[DupeFile]:
    """Returns files with entries of one inode merged (--hard-links lists each name as its own entry)."""
    by_inode: dict[tuple[int, int], list[DupeFile]] = {}
    for f in files:
        by_inode.setdefault((f.stat.device, f.stat.inode), []).append(f)
    out = []
    for same in by_inode.values():
        names = sorted({n for f in same for n in (f.path, *f.hard_links)})
        first = min(same, key=lambda f: (f.root, f.path))
        out.append(first._replace(path=names[0], hard_links=tuple(names[1:])))
    return out


def _frees_of(size: int, f: PlanFile, covered: int, move_frees: bool) -> tuple[int, str]:
    """Returns (bytes, note) for the operation on the last planned name of f, when covered of its names
    are planned."""
    others = len(f.names) - covered
    if others:
        return 0, f"frees nothing: {others} other name(s) of this file under the roots stay"
    if f.links == 0:
        return 0, "frees nothing for sure: its link count could not be read"
    if f.links > len(f.names):
        return 0, f"frees nothing: {f.links - len(f.names)} more hard link(s) outside the roots keep it"
    if not move_frees:
        return 0, "frees nothing: the quarantine is on the same file system"
    if len(f.names) > 1:
        return size, f"frees the file with its {len(f.names) - 1} other name(s)"
    return size, ""


def settle_frees(size: int, files: Sequence[PlanFile], ops: Sequence[Operation],
                 move_dev: int | None) -> tuple[Operation, ...]:
    """Returns ops with the bytes each frees and why: a file is freed by the operation on the last of
    its names, only when every name under the roots is planned and no other name exists (its link count),
    and a move only when the quarantine is on another file system. Never claims space it does not free."""
    file_of = {n: f for f in files for n in f.names}
    last: dict[str, int] = {}
    covered: dict[str, int] = {}
    for i, op in enumerate(ops):
        f = file_of[op.path]
        last[f.path] = i
        covered[f.path] = covered.get(f.path, 0) + 1
    out = []
    for i, op in enumerate(ops):
        f = file_of[op.path]
        if last[f.path] == i:
            frees, note = _frees_of(size, f, covered[f.path], op.action != "move" or move_dev != f.stat.device)
        else:
            frees, note = 0, f"frees nothing by itself: the file has {len(f.names)} names"
        out.append(op._replace(frees=frees, note=note))
    return tuple(out)


def _group_plan(g: DupeGroup, action: str, keep: Sequence[str], keep_copies: int, protect: Protect | None,
                move_to: str | None, move_dev: int | None, links_of: Callable[[DupeFile], int],
                no_clones: Callable[[int], str | None]) -> GroupPlan:
    ranked = rank(_merged(g.files), keep)
    top = ranked[:keep_copies]
    protected: list[DupeFile] = []
    victims: list[DupeFile] = []
    for d in ranked[keep_copies:]:
        (protected if protect is not None and any(map(protect, (d.path, *d.hard_links))) else victims).append(d)
    kept_files = [PlanFile(d.path, d.stat, d.root, d.hard_links, 0) for d in top + protected]
    files = kept_files + [PlanFile(d.path, d.stat, d.root, d.hard_links, links_of(d)) for d in victims]
    ops: list[Operation] = []
    left: list[Left] = []
    for f in files[len(kept_files):]:
        kept = top[0]
        if action in SAME_DEVICE_ACTIONS:
            same = [k for k in top if k.stat.device == f.stat.device]
            if not same:
                left += [Left(n, f"on another file system than every kept copy: a {action} cannot cross "
                                 "file systems") for n in f.names]
                continue
            kept = same[0]
        if action == "reflink" and (why := no_clones(f.stat.device)):
            left += [Left(n, why) for n in f.names]
            continue
        ops += [Operation(action, n, kept.path, quarantine_path(move_to, n) if move_to else None, 0, "")
                for n in sorted(f.names)]
    return GroupPlan(g.size, g.digest, tuple(files), tuple(d.path for d in top), tuple(d.path for d in protected),
                     settle_frees(g.size, files, ops, move_dev), tuple(left))


def make_plan(findings: Findings, action: str, *, keep: Sequence[str] = DEFAULT_KEEP, keep_copies: int = 1,
              protect: Protect | None = None, move_to: str | None = None,
              links_of: Callable[[DupeFile], int] = lstat_links,
              no_clones: Callable[[int], str | None] = cannot_clone) -> Plan:
    """Returns the plan for acting on findings; changes nothing.

    keep: parsed rules (keep.parse_keep). protect: path -> never removed or replaced. links_of: a file's link
    count, to tell whether removing all its names under the roots frees it (default: lstat it now).
    no_clones: device -> why it surely cannot clone (default: its file system type, mounts.cannot_clone).
    Raises PlanError for an unknown action, a missing or misplaced --move-to, or --keep-copies below 1.
    """
    if action not in ACTIONS:
        raise PlanError(f"unknown action {action!r} (choose from {', '.join(ACTIONS)})")
    if keep_copies < 1:
        raise PlanError(f"--keep-copies must be at least 1, not {keep_copies}")
    move_dev = None
    if action == "move":
        if not move_to:
            raise PlanError("--action move needs --move-to DIR")
        move_to = os.path.abspath(move_to)
        for r in findings.roots:
            if is_under(move_to, r):
                raise PlanError(f"--move-to {move_to} is inside the root {r}: moved files would stay under the roots")
        move_dev = device_of(move_to)
    elif move_to:
        raise PlanError(f"--move-to is only for --action move, not {action}")
    groups = tuple(_group_plan(g, action, keep, keep_copies, protect, move_to, move_dev, links_of, no_clones)
                   for g in findings.groups)
    return Plan(tuple(findings.roots), findings.algorithm, tuple(keep), keep_copies, move_to, time.time(), groups)
