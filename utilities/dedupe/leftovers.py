"""Temporary names, and the cleanup of those an interrupted apply left behind.

Every temporary apply makes is named .dupfinder-tmp-<pid>-<token>-<n>, in the folder of the path it will
replace (or of the quarantine file it will become). A temporary is always disposable: it is a new name of
the kept file (hard link), a symbolic link, a clone, or a copy whose original is still in place, because
the original path is only replaced by an atomic rename of a complete temporary. So after a kill -9, every
original path is present, and removing the temporaries loses nothing.
"""
from __future__ import annotations

import itertools
import os
import re
import secrets
import stat
from collections.abc import Iterable
from typing import NamedTuple

PREFIX = ".dupfinder-tmp-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-([0-9a-f]{8})-(\d+)")
_counter = itertools.count()
_stem = ""


def _new_stem() -> None:
    global _stem
    _stem = f"/{PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"


_new_stem()
os.register_at_fork(after_in_child=_new_stem)     # a child has its own pid, so its own names


def temp_path(folder: str) -> str:
    """Returns a new temporary name in folder (not created)."""
    return f"{folder.rstrip('/')}{_stem}{next(_counter)}"


class Leftover(NamedTuple):
    path: str
    kind: str            # "hard link", "symbolic link", "file"
    removed: bool
    reason: str          # why it was left, or "" when removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check(path: str, name: str) -> Leftover | None:
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        kind = "symbolic link"
    elif stat.S_ISREG(st.st_mode):
        kind = "hard link" if st.st_nlink > 1 else "file"
    else:
        return Leftover(path, "other", False, "not a file or link: not ours")
    if _alive(int(m.group(1))):
        return Leftover(path, kind, False, f"process {m.group(1)} that made it is still running")
    try:
        os.unlink(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return Leftover(path, kind, False, f"cannot be removed: {e.strerror or e}")
    return Leftover(path, kind, True, "")


def clean_folders(folders: Iterable[str]) -> list[Leftover]:
    """Removes the temporaries of dead apply runs directly in folders; returns what it found."""
    out = []
    for folder in sorted(set(folders)):
        try:
            with os.scandir(folder) as it:
                names = [e.name for e in it if e.name.startswith(PREFIX)]
        except OSError:
            continue
        for name in names:
            found = _check(os.path.join(folder, name), name)
            if found is not None:
                out.append(found)
    return out


def clean_under(roots: Iterable[str]) -> list[Leftover]:
    """Removes the temporaries of dead apply runs anywhere under roots, symbolic links not followed (run
    it before a scan, so that no leftover is taken for a duplicate); returns what it found."""
    out = []
    stack = sorted(set(roots), reverse=True)
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.name.startswith(PREFIX):
                found = _check(e.path, e.name)
                if found is not None:
                    out.append(found)
            elif e.is_dir(follow_symlinks=False):
                stack.append(e.path)
    return out
