"""The --keep rules: which copies of a group stay, tried in order until one decides."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from .found import DupeFile

# Each rule maps a file to a sort key: the smaller key is the better copy to keep.
_KEYS: dict[str, Callable[[DupeFile], object]] = {
    "first-root": lambda f: f.root,                         # a file under an earlier root wins
    "oldest": lambda f: f.stat.mtime_ns,
    "newest": lambda f: -f.stat.mtime_ns,
    "shortest-path": lambda f: len(os.fsencode(f.path)),   # in bytes, as the file system counts
    "least-nested": lambda f: f.path.count("/"),
    "most-nested": lambda f: -f.path.count("/"),
    "path": lambda f: f.path,                              # path order, as the exports sort paths
}
KEEP_RULES = tuple(_KEYS)
DEFAULT_KEEP = ("first-root", "oldest", "path")
_OPPOSITES = ({"oldest", "newest"}, {"least-nested", "most-nested"})


class KeepRuleError(ValueError):
    """A --keep value that is not a valid rule list; the message says what is wrong."""


def parse_keep(text: str) -> tuple[str, ...]:
    """Returns the rules of 'RULE[,RULE...]' in order, 'path' appended when not given (it always decides
    last); raises KeepRuleError for an unknown, repeated or contradictory rule or one that can never decide."""
    rules = [r.strip() for r in text.split(",")]
    if not text.strip() or "" in rules:
        raise KeepRuleError(f"--keep: empty rule in {text!r} (give RULE[,RULE...], e.g. first-root,oldest)")
    for r in rules:
        if r not in _KEYS:
            raise KeepRuleError(f"--keep: unknown rule {r!r} (choose from {', '.join(KEEP_RULES)})")
    for r in rules:
        if rules.count(r) > 1:
            raise KeepRuleError(f"--keep: rule {r!r} given twice")
    for pair in _OPPOSITES:
        if pair <= set(rules):
            a, b = sorted(pair, key=rules.index)
            raise KeepRuleError(f"--keep: {a!r} and {b!r} contradict each other; give one of them")
    if "path" in rules and rules[-1] != "path":
        after = ",".join(rules[rules.index("path") + 1:])
        raise KeepRuleError(f"--keep: 'path' always decides, so the rules after it ({after}) would never be used")
    if rules[-1] != "path":
        rules.append("path")
    return tuple(rules)


def rank(files: Sequence[DupeFile], rules: Sequence[str]) -> list[DupeFile]:
    """Returns files best first: ordered by the first rule, ties broken by the next, and so on; 'path'
    (path order) breaks any tie left, so the order never depends on the input order."""
    keys = [_KEYS[r] for r in rules]
    if "path" not in rules:
        keys.append(_KEYS["path"])
    return sorted(files, key=lambda f: tuple(k(f) for k in keys))
