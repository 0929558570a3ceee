"""Gitignore-style path patterns, as --exclude (and --protect) take them (cli-contract.md).

A pattern without '/' matches a name at any depth; a pattern with '/' matches the path relative to the
root ('/' at the start anchors it there, and './' means the same); '*' and '?' never cross '/', '**'
does; a trailing '/' matches directories only. A pattern that is an absolute path under a root matches
that path. The rules are gitwildmatch's, through the pathspec library (what black and many tools use).
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class PathMatcher:
    """Patterns compiled per root; matches paths relative to their root."""
    roots: tuple[str, ...]
    specs: tuple[pathspec.GitIgnoreSpec | None, ...]  # per root; None where no pattern applies
    warnings: tuple[str, ...] = field(default=())     # one line per pattern that cannot match anything
    # Per root, pathspec's regular expressions joined into one, when no pattern negates ('!'): then a
    # path is excluded as soon as any pattern matches, and one regex call per entry does what
    # spec.match_file does pattern by pattern (the walk calls it for every file and folder).
    fast: tuple[re.Pattern[str] | None, ...] = field(default=())

    @classmethod
    def compile(cls, patterns: Sequence[str], roots: Sequence[str], option: str = "--exclude") -> PathMatcher:
        import pathspec  # loaded only when there are patterns
        per_root: list[list[str]] = [[] for _ in roots]
        warnings = []
        for pattern in patterns:
            placed = False
            for k, root in enumerate(roots):
                line = _for_root(pattern, root)
                per_root[k].append(line)
                placed = placed or _may_match(line, root)
            if not placed:
                warnings.append(f"warning: {option} {pattern!r} cannot match anything under "
                                f"{', '.join(roots)} (patterns with '/' are relative to each root)")
        specs = tuple(pathspec.GitIgnoreSpec.from_lines(lines) if lines else None for lines in per_root)
        return cls(tuple(roots), specs, tuple(warnings), tuple(_joined(s) for s in specs))

    def matches(self, root_index: int, rel: str, is_dir: bool = False) -> bool:
        """True when rel (relative to roots[root_index], '/'-separated) or a folder above it matches."""
        fast = self.fast[root_index]
        if fast is not None:
            return fast.match(rel + "/" if is_dir else rel) is not None
        spec = self.specs[root_index]
        return spec is not None and spec.match_file(rel + "/" if is_dir else rel)

    def matches_path(self, path: str) -> bool:
        """True when an absolute path under one of the roots matches (--protect's question)."""
        for k, root in enumerate(self.roots):
            base = root.rstrip("/") + "/"
            if path.startswith(base) and self.matches(k, path[len(base):]):
                return True
            if path == root and self.matches(k, os.path.basename(root)):
                return True
        return False

    def __bool__(self) -> bool:
        return any(s is not None for s in self.specs)


def _joined(spec: pathspec.GitIgnoreSpec | None) -> re.Pattern[str] | None:
    """One regex for a spec whose patterns all exclude; None when one negates (order matters then)."""
    if spec is None:
        return None
    parts = []
    for p in spec.patterns:
        regex = getattr(p, "regex", None)
        if p.include is None:                   # a blank line or a comment
            continue
        if not p.include or regex is None:
            return None
        parts.append("(?:" + regex.pattern.replace("(?P<ps_d>", "(?:") + ")")
    return re.compile("|".join(parts)) if parts else None


def _for_root(pattern: str, root: str) -> str:
    """Returns the gitignore line pattern stands for under root. An absolute path under root becomes
    anchored at root; any other leading '/' anchors at each root, as in .gitignore."""
    body = pattern.rstrip("/")
    trail = pattern[len(body):][:1]
    base = root.rstrip("/")
    if body.startswith(base + "/"):                    # an absolute path under this root
        return "/" + body[len(base) + 1:] + trail
    if body == base:                                   # the root itself: everything under it
        return "/**"
    if body.startswith("./"):
        return "/" + body[2:].lstrip("/") + trail
    return pattern


def _literal_prefix(path: str) -> str:
    """The part of a path before its first glob character, cut back to a whole component."""
    m = _GLOB.search(path)
    if m is None:
        return path
    return path[:m.start()].rsplit("/", 1)[0]


def _may_match(line: str, root: str) -> bool:
    """False when an anchored pattern's leading folders do not exist under root (a mistyped or
    misplaced path); unanchored patterns may match anywhere and always count."""
    body = line.rstrip("/")
    if "/" not in body or body.startswith("**"):
        return True
    if body.startswith("!"):
        return True
    prefix = _literal_prefix(body.lstrip("/"))
    if not prefix:
        return True
    return os.path.lexists(os.path.join(root, prefix))
