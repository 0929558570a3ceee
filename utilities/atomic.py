"""Output files written whole or not at all: a temporary file beside the target, fsynced, renamed over it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike[str], write: Callable[[IO[str]], None],
                     newline: str | None = None) -> None:
    """Writes the text write(f) produces to path (UTF-8).

    A crash or an error leaves any old file as it was and no temporary file behind. The new file
    keeps the old one's mode, or gets the mode of any new file (0666 less the umask; mkstemp's 0600
    would hide an export from other users).
    """
    target = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    try:
        mode = os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):          # make the rename itself durable where the OS allows
        dfd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
