"""Replacing a verified duplicate by a hard link, a symbolic link or a clone of the kept copy, atomically,
or removing it.

A replacement is made under a temporary name in the same folder (leftovers.temp_path) and renamed over
the duplicate: the path never goes missing, and a failure or a kill leaves the old file in place (and at
most a disposable temporary, which leftovers removes). Each function first checks that the path still
names the file that was verified (check_name). What stays is the instant between that check and the
rename or unlink: a file swapped in under the same name by another process in those microseconds would
be replaced. No POSIX call closes it (there is no "rename only if it is still this inode").
"""
from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable

from .compare import Skip, check_name
from .leftovers import temp_path

FICLONE = 0x40049409          # _IOW(0x94, 9, int) from linux/fs.h
# FICLONE's answers where the file system has no clones (EINVAL: some, e.g. btrfs nodatacow, for a file)
_CANNOT_CLONE = {errno.EOPNOTSUPP: "EOPNOTSUPP", errno.ENOTTY: "ENOTTY", errno.EINVAL: "EINVAL",
                 errno.ENOSYS: "ENOSYS"}   # by name: errno.errorcode gives 95 its alias ENOTSUP
CROSS_FS = "on another file system than the kept copy: a {} cannot cross file systems"


class CannotClone(Skip):
    """The file system has no copy-on-write clones (ext4, tmpfs...): every reflink on it would fail alike."""


def precheck(action: str, victim: os.stat_result, kept: os.stat_result) -> str | None:
    """Returns why action cannot be done to victim for kept, from their stat alone, or None."""
    if action in ("hardlink", "reflink") and victim.st_dev != kept.st_dev:
        return CROSS_FS.format(action)
    if action == "hardlink":
        if (victim.st_uid, victim.st_gid) != (kept.st_uid, kept.st_gid):
            return (f"owner differs from the kept copy's ({victim.st_uid}:{victim.st_gid} against "
                    f"{kept.st_uid}:{kept.st_gid}): a hard link would change it")
        if victim.st_mode & 0o7777 != kept.st_mode & 0o7777:
            return (f"mode differs from the kept copy's ({victim.st_mode & 0o7777:04o} against "
                    f"{kept.st_mode & 0o7777:04o}): a hard link would change it")
    return None


def _install(make: Callable[[str], None], folder: str, victim: str, victim_st: os.stat_result,
             check: Callable[[str], None]) -> None:
    """Makes the replacement under a temporary name (make), checks it (check), renames it over victim."""
    tmp = temp_path(folder)
    make(tmp)
    try:
        check(tmp)
        check_name(victim, victim_st)
        os.replace(tmp, victim)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def hardlink_over(kept: str, kept_st: os.stat_result, victim: str, victim_st: os.stat_result) -> None:
    """Replaces victim by a hard link to kept; raises Skip (nothing changed) when it must not or cannot."""
    problem = precheck("hardlink", victim_st, kept_st)
    if problem:
        raise Skip(problem)

    def make(tmp: str) -> None:
        try:
            os.link(kept, tmp, follow_symlinks=False)
        except OSError as e:
            if e.errno == errno.EMLINK:
                raise Skip("the kept copy has as many hard links as its file system allows") from None
            if e.errno == errno.EXDEV:
                raise Skip(CROSS_FS.format("hardlink")) from None
            raise

    def check(tmp: str) -> None:   # linked by name: the name must still be the file that was verified
        st = os.lstat(tmp)
        if (st.st_dev, st.st_ino) != (kept_st.st_dev, kept_st.st_ino):
            raise Skip("the kept copy was replaced just before the change")
    _install(make, os.path.dirname(victim), victim, victim_st, check)


def link_target(kept: str, victim: str) -> str:
    """Returns the relative symbolic link from victim's folder to kept, as the dry run shows it."""
    return os.path.relpath(kept, os.path.dirname(victim))


def symlink_over(kept: str, kept_st: os.stat_result, victim: str, victim_st: os.stat_result) -> None:
    """Replaces victim by a relative symbolic link to kept (link_target; where folders reached through
    symbolic links make that miss, relative between the real folders); raises Skip when no relative link
    from there reaches kept."""
    folder = os.path.dirname(victim)

    def reaches(tmp: str) -> bool:
        try:
            st = os.stat(tmp)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (kept_st.st_dev, kept_st.st_ino)

    target = link_target(kept, victim)

    def make(tmp: str) -> None:
        nonlocal target
        os.symlink(target, tmp)
        if not reaches(tmp):
            os.unlink(tmp)
            target = os.path.relpath(os.path.join(os.path.realpath(os.path.dirname(kept)), os.path.basename(kept)),
                                     os.path.realpath(folder))
            os.symlink(target, tmp)

    def check(tmp: str) -> None:
        if not reaches(tmp):
            raise Skip(f"a relative link {target!r} from here would not reach the kept copy")
    _install(make, folder, victim, victim_st, check)


def clone_over(kept_fd: int, kept_st: os.stat_result, victim: str, victim_st: os.stat_result) -> os.stat_result | None:
    """Replaces victim by a copy-on-write clone of the file open at kept_fd (FICLONE), with victim's owner,
    mode and times; returns the clone's lstat once in place (None if something else is there by then);
    raises Skip when the file system cannot clone."""
    made: list[int] = []
    problem = precheck("reflink", victim_st, kept_st)
    if problem:
        raise Skip(problem)

    def make(tmp: str) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.ioctl(fd, FICLONE, kept_fd)
            except OSError as e:
                if e.errno in _CANNOT_CLONE:
                    raise CannotClone(f"the file system cannot clone files ({_CANNOT_CLONE[e.errno]})") from None
                if e.errno == errno.EXDEV:
                    raise Skip(CROSS_FS.format("reflink")) from None
                raise
            if (victim_st.st_uid, victim_st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fd, victim_st.st_uid, victim_st.st_gid)
                except PermissionError:
                    raise Skip("cannot give the clone the file's owner (not permitted)") from None
            os.fchmod(fd, victim_st.st_mode & 0o7777)     # after fchown, which clears set-id bits
            os.utime(fd, ns=(victim_st.st_atime_ns, victim_st.st_mtime_ns))
            os.fsync(fd)
            made.append(os.fstat(fd).st_ino)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
    _install(make, os.path.dirname(victim), victim, victim_st, lambda tmp: None)
    st = os.lstat(victim)             # after the rename, which moves the clone's ctime
    return st if st.st_ino == made[0] else None


def remove(victim: str, victim_st: os.stat_result) -> None:
    """Removes the name victim, after checking it still names the verified file."""
    check_name(victim, victim_st)
    os.unlink(victim)
