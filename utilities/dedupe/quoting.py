"""Paths quoted for a shell, on one line of valid UTF-8, giving back the exact bytes.

A person can paste a dry-run line into bash (or sh, for names without odd bytes) and it names exactly
the same file: names with control characters or bytes that are not UTF-8 use bash's $'...' quoting
with \\xNN escapes, so the output itself is always valid UTF-8 on one line.
"""
from __future__ import annotations

import os
import re

_SAFE = re.compile(r"[A-Za-z0-9@%+=:,./_-]+")
_ANSI_C = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def shell_quote(path: str) -> str:
    """Returns path quoted for a POSIX shell; $'...' (bash, zsh, ksh) where it has control characters or
    undecodable bytes (surrogates), so the text stays on one line and gives back the exact bytes."""
    if _SAFE.fullmatch(path):
        return path
    if path.isprintable():       # excludes control characters, lone surrogates and other odd code points
        return "'" + path.replace("'", "'\"'\"'") + "'"
    out = []
    for ch in path:
        if ch in _ANSI_C:
            out.append(_ANSI_C[ch])
        elif ch.isprintable():
            out.append(ch)
        else:                    # a control character, an undecodable byte, or an unprintable code point
            out.extend(f"\\x{b:02x}" for b in os.fsencode(ch))
    return "$'" + "".join(out) + "'"


