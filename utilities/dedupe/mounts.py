"""Which file systems cannot clone files, known before trying (so that a reflink plan claims nothing there)."""
from __future__ import annotations

import os

from ..records import signed64

# File system types with no copy-on-write clones (FICLONE fails with EOPNOTSUPP). Types not listed (xfs,
# btrfs, bcachefs, ocfs2, zfs, nfs, cifs, overlay...) may or may not clone: applying finds out.
NO_CLONES = frozenset({"ext2", "ext3", "ext4", "tmpfs", "ramfs", "vfat", "msdos", "exfat", "ntfs", "ntfs3",
                       "hfsplus", "iso9660", "squashfs", "fuseblk", "jfs", "reiserfs", "f2fs", "minix", "udf"})


_known: dict[int, str] = {}
_missed: set[int] = set()


def _read_mountinfo() -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split()
                if "-" not in fields:
                    continue
                major, minor = fields[2].split(":")
                out[signed64(os.makedev(int(major), int(minor)))] = fields[fields.index("-") + 1]
    except (OSError, ValueError):
        pass
    return out


def fs_type(device: int) -> str | None:
    """Returns the type of the mounted file system with this device number (records.Stat.device), or None.
    The mount table is read again for a device not seen before (something may have been mounted since)."""
    if device not in _known and device not in _missed:
        _known.update(_read_mountinfo())
        if device not in _known:
            _missed.add(device)
    return _known.get(device)


def cannot_clone(device: int) -> str | None:
    """Returns why files on device cannot be cloned when that is known for sure, else None."""
    kind = fs_type(device)
    return f"the file system ({kind}) cannot clone files" if kind in NO_CLONES else None
