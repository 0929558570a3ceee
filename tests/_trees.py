"""File trees for the tests, and what should be found in them: contents, ages, a brute-force oracle."""
from __future__ import annotations

import json
import os
import random
import stat
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent     # the checkout: main.py, main_mul.py, utilities/
PAST = time.time() - 3600          # older than the racy window: a rescan may trust stored hashes


def blob(seed: int, size: int) -> bytes:
    """Returns size pseudo-random bytes, the same for the same seed (fast: MBs in milliseconds)."""
    return random.Random(seed).randbytes(size)


def write(path: Path | str, data: bytes) -> Path:
    """Writes data to path, making its folders; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def age(root: Path | str, when: float = PAST) -> None:
    """Sets the mtime of every file and directory under root (not following symlinks) to `when`."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            try:
                os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
            except OSError:
                pass


def copies_tree(root: Path, folders: tuple[str, ...], big: int, extra: dict[str, bytes] | None = None) -> Path:
    """A tree with two groups, small.bin (3,000 bytes) and big.bin (big bytes: over 128 KiB, a group that needs
    full hashes), each copied into every one of folders, plus extra files; aged past the racy window."""
    for where in folders:
        write(root / where / "small.bin", blob(1, 3000))
        write(root / where / "big.bin", blob(2, big))
    for name, data in (extra or {}).items():
        write(root / name, data)
    age(root)
    return root


def groups(report: dict) -> list[list[str]]:
    """Returns the report's groups as sorted lists of paths, sorted."""
    return sorted(sorted(g["files"]) for g in report["groups"])


def read_json(path: Path | str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def oracle(roots: Iterable[Path | str], hard_links: bool = False, include_empty: bool = False) -> list[list[str]]:
    """Brute force: every regular non-symlink file under roots, grouped by its bytes. Without hard_links one
    path per inode (the first in path order) and a group needs two inodes; with it every path counts.
    Paths as the JSON export (version 2) writes them: os.fsdecode'd, undecodable bytes as surrogates."""
    paths: set[str] = set()
    stack = [os.path.abspath(r) for r in roots]
    while stack:                                    # iterative: os.walk recurses (1,000-level trees)
        top = stack.pop()
        if not os.path.isdir(top) or os.path.islink(top):
            paths.add(top)
            continue
        with os.scandir(top) as it:
            for e in it:
                (stack.append if e.is_dir(follow_symlinks=False) else paths.add)(e.path)
    by_content: dict[bytes, dict[tuple[int, int], list[str]]] = {}
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:                             # ENAMETOOLONG: beyond PATH_MAX, unreadable by path
            continue
        if not stat.S_ISREG(st.st_mode) or (st.st_size == 0 and not include_empty):
            continue
        with open(p, "rb") as f:
            data = f.read()
        by_content.setdefault(data, {}).setdefault((st.st_dev, st.st_ino), []).append(p)
    out = []
    for inodes in by_content.values():
        if hard_links:
            g = sorted(p for ps in inodes.values() for p in ps)
        else:
            g = sorted(min(ps) for ps in inodes.values())
        if len(g) > 1:
            out.append(sorted(g))
    return sorted(out)
