"""Stage 2, candidates: files whose size another file shares, one unit per inode; regrouping by digest."""
from __future__ import annotations

from array import array
from collections.abc import Iterator
from itertools import groupby

from .walk import FileTable


class Candidates:
    """Files that share their size with another file, one unit per inode (hard links are one file)."""

    def __init__(self, files: FileTable, include_empty: bool = False, hard_links: bool = False,
                 also: frozenset[int] = frozenset()) -> None:
        """also: sizes whose files are candidates even when alone in the walk (--catalog: the catalog holds
        files of those sizes elsewhere)."""
        self.reps = array("i")                    # one index per unit, the alphabetically first path
        self.aliases: dict[int, list[int]] = {}   # rep -> the other paths of its inode, when it has any
        self.rep_of: dict[int, int] = {}          # alias -> rep
        self.member = bytearray(len(files))       # 1 for every path of every candidate unit
        self.linked_bytes = 0                     # bytes of the second and further names of hard-linked files
        self.size = size = files.size
        order = sorted((i for i in range(len(files)) if size[i] or include_empty), key=size.__getitem__)
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and size[order[end]] == size[order[start]]:
                end += 1
            if end - start > 1 or size[order[start]] in also:
                self._add_run(files, order[start:end], hard_links, alone=size[order[start]] in also)
            start = end

    def _add_run(self, files: FileTable, run: list[int], hard_links: bool, alone: bool = False) -> None:
        """Adds one size's files; reps therefore stay in size order (regroup relies on it)."""
        by_inode: dict[tuple[int, int], list[int]] = {}
        for i in run:
            by_inode.setdefault((files.device[i], files.inode[i]), []).append(i)
        self.linked_bytes += (len(run) - len(by_inode)) * files.size[run[0]]   # names of one file share a size
        if len(by_inode) < 2 and not hard_links and not alone:
            return                                  # all names of one file: nothing to compare
        for idx in by_inode.values():
            idx.sort(key=files.path)
            rep = idx[0]
            self.reps.append(rep)
            for i in idx:
                self.member[i] = 1
            if len(idx) > 1:
                self.aliases[rep] = idx[1:]
                for i in idx[1:]:
                    self.rep_of[i] = rep

    def indices(self, rep: int) -> list[int]:
        return [rep, *self.aliases.get(rep, ())]

    def groups(self, digests: list[str | None], hard_links: bool, singles: bool = False) -> Iterator[list[int]]:
        """Yields the units that share (size, digest), one list per (size, digest): two files or more, or
        with --hard-links two paths; with singles, every (size, digest) (--catalog: copies may be elsewhere).
        reps are in size order, so each size is regrouped on its own (small
        dicts only: 200,000 candidates in one dict cost 65 MB)."""
        for _, run in groupby(self.reps, key=self.size.__getitem__):
            by_digest: dict[str, list[int]] = {}
            for u in run:
                d = digests[u]
                if d is not None:
                    by_digest.setdefault(d, []).append(u)
            for g in by_digest.values():
                if singles or len(g) > 1 or (hard_links and g[0] in self.aliases):
                    yield g

    def regroup(self, digests: list[str | None], hard_links: bool) -> list[int]:
        """Returns the units of groups(), in one list."""
        return [u for g in self.groups(digests, hard_links) for u in g]
