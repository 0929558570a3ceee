"""Moving a verified duplicate into the quarantine (--move-to DIR, as DIR/<its absolute path>), and back.

Nothing already in the quarantine is overwritten, and the original name is removed only once the file
is complete at its new place: on one file system by a new hard link in the quarantine, then removal of the
original name; across file systems by a copy under a temporary name (bytes, owner where permitted, mode,
times), fsynced, compared byte for byte with the original, linked to its final name, its folder fsynced,
then the original name removed. An interruption leaves the original in place, and at most a temporary
or a second name that the next run finishes. Undoing a move takes the same steps the other way, after
checking that the quarantined file is the one journaled (stat record and digest) and that the original
path is free.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterable

from ..errors import describe_os_error
from ..hashing import ALGORITHMS
from ..records import Stat
from .compare import OnBytes, Skip, check_name, first_differences
from .journal import JournalEntry
from .leftovers import temp_path

FOLDER_MODE = 0o700          # quarantine folders: the files keep their mode, but may have lost a
#                              protective parent folder on the way, so the new folders admit no one else
_COPY = 8 << 20              # bytes per copy_file_range call

Memo = dict[tuple[int, int], str]   # (device, inode) of a source -> the path its first copy got


class Occupied(Skip):
    """The new name is taken: nothing is ever overwritten."""


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_bytes(src: int, dst: int, size: int) -> None:
    offset = 0
    try:
        while offset < size:
            n = os.copy_file_range(src, dst, min(_COPY, size - offset), offset, offset)
            if n == 0:
                break
            offset += n
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    while offset < size:                     # where copy_file_range cannot be used
        data = os.pread(src, min(_COPY, size - offset), offset)
        if not data:
            break
        os.pwrite(dst, data, offset)
        offset += len(data)
    if offset != size:
        raise OSError(errno.EIO, f"the source ended after {offset} of {size} bytes")


def copy_verified(src_fd: int, src_st: os.stat_result, dest: str, on_bytes: OnBytes | None = None) -> os.stat_result:
    """Copies the file open at src_fd to the new name dest (which must not exist: never overwritten),
    with its owner (where permitted), mode and times, durably, and compared byte for byte with the source;
    returns the copy's lstat. Raises Skip when dest exists, OSError when the copy fails (nothing left)."""
    folder = os.path.dirname(dest)
    tmp = temp_path(folder)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        _copy_bytes(src_fd, fd, src_st.st_size)
        with contextlib.suppress(PermissionError):
            os.fchown(fd, src_st.st_uid, src_st.st_gid)
        os.fchmod(fd, src_st.st_mode & 0o7777)
        os.utime(fd, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))
        os.fsync(fd)
        if first_differences(src_fd, [fd], src_st.st_size, on_bytes)[0] is not None:
            raise OSError(errno.EIO, "the copy differs from the original")
        try:
            os.link(tmp, dest, follow_symlinks=False)
        except FileExistsError:
            raise Occupied(f"something is already at {dest}: never overwritten") from None
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_folder(folder)
    return os.lstat(dest)


def _link_new(existing: str, dest: str, expect: tuple[int, int]) -> os.stat_result:
    """Links existing to the new name dest on the same file system, checks it is the expected file."""
    try:
        os.link(existing, dest, follow_symlinks=False)
    except FileExistsError:
        raise Occupied(f"something is already at {dest}: never overwritten") from None
    st = os.lstat(dest)
    if (st.st_dev, st.st_ino) != expect:
        os.unlink(dest)
        raise Skip("replaced just before the change")
    return st


def _make_folders(folder: str) -> None:
    os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)


def move_into(victim: str, victim_fd: int, victim_st: os.stat_result, dest: str, memo: Memo,
              still: Callable[[], None], on_bytes: OnBytes | None = None) -> os.stat_result:
    """Moves the verified file victim (open at victim_fd) to dest; returns the quarantined file's lstat.

    still() re-checks the source (raises Skip) after a copy, which takes time. memo carries, within
    one run, where a file with several names went, so its other names become links there, not copies.
    Raises Skip (nothing changed) when dest is taken or a check fails.
    """
    key = (victim_st.st_dev, victim_st.st_ino)
    try:
        there = os.lstat(dest)
    except FileNotFoundError:
        there = None
    copied = False
    if there is not None:
        if (there.st_dev, there.st_ino) != key:
            raise Occupied(f"something is already at {dest}: never overwritten")
        st = there                 # an earlier run was interrupted between the link and the removal
    else:
        _make_folders(os.path.dirname(dest))
        dest_dev = os.stat(os.path.dirname(dest)).st_dev
        if dest_dev == victim_st.st_dev:
            st = _link_new(victim, dest, key)      # no data moves; the new name changes the ctime
        elif key in memo and os.stat(os.path.dirname(memo[key])).st_dev == dest_dev:
            copy = os.lstat(memo[key])
            st = _link_new(memo[key], dest, (copy.st_dev, copy.st_ino))
        else:
            st = copy_verified(victim_fd, victim_st, dest, on_bytes)
            copied = True
    try:
        if copied:
            still()                # the copy took a while: the source must not have changed meanwhile
        check_name(victim, victim_st)
    except Skip:
        # Undo the new name only while the original has a name of its own: if someone removed that name
        # meanwhile, the quarantined file is all that is left of it, and it stays.
        if os.fstat(victim_fd).st_nlink > (1 if (st.st_dev, st.st_ino) == key else 0):
            os.unlink(dest)
        raise
    memo.setdefault(key, dest)
    os.unlink(victim)
    return st


def _digest(fd: int, algorithm: str, on_bytes: OnBytes | None) -> str:
    h = ALGORITHMS[algorithm]()
    buf = bytearray(1 << 20)
    offset = 0
    while n := os.preadv(fd, [buf], offset):
        h.update(buf if n == len(buf) else buf[:n])
        offset += n
        if on_bytes is not None:
            on_bytes(n)
    return str(h.hexdigest())


def _prune(folder: str, top: str) -> None:
    """Removes folder and its parents while they are empty, up to (not including) top."""
    top = top.rstrip("/")
    while folder.startswith(top + "/"):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


def undo_move(entry: JournalEntry, memo: Memo | None = None, on_bytes: OnBytes | None = None,
              prune_to: str | None = None) -> None:
    """Puts the file entry moved back at its original path. Raises Skip with the reason when it cannot:
    the original path is occupied, the quarantined file is gone, or it is not the file journaled (stat
    record, or content digest). memo (optional, for undoing several entries) keeps files that had
    several names as one file when they come back across file systems. prune_to: the quarantine folder,
    whose folders left empty are removed."""
    if entry.action != "move" or not entry.moved_to:
        raise Skip("not a move")
    if entry.outcome not in ("done", "started"):
        raise Skip(f"nothing to undo: the move was {entry.outcome}")
    dest, path = entry.moved_to, entry.path
    try:
        there = os.lstat(dest)
    except FileNotFoundError:
        if entry.outcome == "started" and os.path.lexists(path):
            raise Skip("nothing to undo: the move never finished and the original is in place") from None
        raise Skip(f"no longer in the quarantine: {dest}") from None
    if not stat.S_ISREG(there.st_mode):
        raise Skip(f"not a regular file in the quarantine: {dest}")
    try:
        here = os.lstat(path)
    except FileNotFoundError:
        here = None
    if here is not None:
        if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
            os.unlink(dest)        # an interrupted move or undo: both names are the file; finish it
            return
        raise Skip("the original path is occupied")
    m = entry.moved
    now = Stat.of(there)
    if m is not None and (now.size, now.mtime_ns, now.device, now.inode) != (m.size, m.mtime_ns, m.device, m.inode):
        raise Skip("the quarantined file changed since it was moved")
    fd = os.open(dest, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (there.st_dev, there.st_ino) or st.st_size != entry.size:
            raise Skip("the quarantined file changed since it was moved")
        if _digest(fd, entry.algorithm, on_bytes) != entry.digest:
            raise Skip(f"the quarantined file's content no longer has the journaled {entry.algorithm} digest")
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        key = (st.st_dev, st.st_ino)
        memo = {} if memo is None else memo
        if os.stat(folder).st_dev == st.st_dev:
            _link_new(dest, path, key)
        elif key in memo and os.stat(os.path.dirname(memo[key])).st_dev == os.stat(folder).st_dev:
            back = os.lstat(memo[key])
            _link_new(memo[key], path, (back.st_dev, back.st_ino))
        else:
            copy_verified(fd, st, path, on_bytes)
        memo.setdefault(key, path)
        try:
            check_name(dest, st)
            os.unlink(dest)
        except Skip:
            pass                   # the quarantined name was replaced meanwhile: that is not ours to remove
        if prune_to:
            _prune(os.path.dirname(dest), prune_to)
    except Occupied:
        raise Skip("the original path is occupied") from None
    finally:
        os.close(fd)


def undo_moves(entries: Iterable[JournalEntry], prune_to: str | None = None,
               on_bytes: OnBytes | None = None) -> list[tuple[JournalEntry, str]]:
    """Undoes the moves among entries, newest first (--undo-move all); returns (entry, "" when restored,
    else why not) for each move, and goes on past a refusal."""
    memo: Memo = {}
    out = []
    for e in sorted((e for e in entries if e.action == "move" and e.outcome in ("done", "started")),
                    key=lambda e: (e.at, e.id), reverse=True):
        try:
            undo_move(e, memo, on_bytes, prune_to)
            out.append((e, ""))
        except Skip as s:
            out.append((e, str(s)))
        except OSError as x:
            out.append((e, describe_os_error(x)))
    return out
