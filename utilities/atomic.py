"""Output files written whole or not at all: a temporary file beside the target, fsynced, renamed over it."""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raises OSError naming path (never a temporary name) when it cannot become a file: its folder does
    not exist (folders named by the user are never created: cli-contract.md), or it is a folder."""
    target = os.path.abspath(os.fspath(path))
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", os.fspath(path))
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise FileNotFoundError(errno.ENOENT, "no such folder (create it first)", parent)


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[str]], None],
                     newline: str | None = None) -> None:
    """Writes the text write(f) produces to path (UTF-8); its folder must exist.

    A crash or an error leaves any old file as it was and no temporary file behind. The new file
    keeps the old one's mode, or gets the mode of any new file (0666 less the umask; mkstemp's 0600
    would hide an export from other users).
    """
    check_writable(path)
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    try:
        mode = os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as e:               # say the user's path, not the temporary name
        raise type(e)(e.errno, e.strerror, os.fspath(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename == tmp:
            raise type(e)(e.errno, e.strerror, os.fspath(path)) from None   # ENOSPC etc., said of the user's path
        raise
    with contextlib.suppress(OSError):          # make the rename itself durable where the OS allows
        dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
