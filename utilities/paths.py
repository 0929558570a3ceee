"""File names as stored and as shown: lossless for non-UTF-8 bytes on every backend."""
from __future__ import annotations

import re

# Python gives undecodable bytes of a file name as lone surrogates U+DC80..U+DCFF (PEP 383).
# PostgreSQL refuses them in text, so the catalog stores a reversible escape instead:
# a backslash becomes "\\" and an undecodable byte "\xNN". The escape works character by
# character, so "a/b" stored is a prefix of "a/b/c" stored and range queries keep working.
_NEEDS_ESCAPE = re.compile(r"[\\\udc80-\udcff]")
_ESCAPED = re.compile(r"\\(\\|x[0-9a-f]{2})")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    return "\\\\" if c == "\\" else f"\\x{ord(c) - 0xDC00:02x}"


def _unescape(m: re.Match[str]) -> str:
    s = m.group(1)
    return "\\" if s == "\\" else chr(0xDC00 + int(s[1:], 16))


def db_path(path: str) -> str:
    """Returns the form of path stored in the database (valid UTF-8, reversible)."""
    if path.isascii() and "\\" not in path:   # the common case costs one scan
        return path
    return _NEEDS_ESCAPE.sub(_escape, path)


def from_db_path(stored: str) -> str:
    """Returns the file system path (str with surrogateescape) a stored path stands for."""
    if "\\" not in stored:
        return stored
    return _ESCAPED.sub(_unescape, stored)


def display_path(path: str) -> str:
    """Returns path as people read it (CSV, HTML report, messages): undecodable bytes as \\xNN and,
    so that no two names print the same, a backslash as \\\\ (cli-contract.md). It is the stored form."""
    return db_path(path)


def is_under(path: str, root: str) -> bool:
    """True when path is root or lies below it, as strings (nothing is resolved): /a/b is under /a and /a/,
    /a/bc is not under /a/b."""
    return path == root or path.startswith(root.rstrip("/") + "/")
