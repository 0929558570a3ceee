"""Random small trees (few contents so that duplicates occur, odd names, hard links,
symlinks), both entry points report exactly the groups a brute-force oracle finds, and keep doing so on
a rescan that reuses the catalog and after files are changed or deleted."""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import main
import main_mul
from _trees import PAST, age, blob, groups, oracle
from utilities.hashing import PARTIAL_BLOCK

# name fragments: plain, odd and undecodable bytes, and the escape's own spelling ("\xff" as 4 characters)
FRAGMENTS = [b"a", b"b", b"Z", b"0", b" ", b"\n", b"\t", b"\\", b"\\xff", b"\xff", b"\xe9", "\u00e9".encode(),
             "\U0001F600".encode(), b"'", b'"', b"-", b"=", b"<", b">", b"%", b"*", b"["]
SIZES = [0, 1, 100, 2 * PARTIAL_BLOCK, 2 * PARTIAL_BLOCK + 1, 3 * PARTIAL_BLOCK + 17]

names = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5).map(b"".join)
contents = st.tuples(st.integers(0, 2), st.sampled_from(SIZES), st.booleans())   # seed, size, middle flipped


def content(spec: tuple[int, int, bool]) -> bytes:
    seed, size, flip = spec
    data = bytearray(blob(seed, size))
    if flip and size:
        data[size // 2] ^= 0xFF      # same size, head and tail as the unflipped one: only a full hash tells
    return bytes(data)


trees = st.fixed_dictionaries({
    "dirs": st.lists(st.tuples(st.integers(0, 3), names), max_size=3),   # (parent dir index, name)
    "files": st.lists(st.tuples(st.integers(0, 3), names, contents), min_size=1, max_size=10),
    "hardlinks": st.lists(st.tuples(st.integers(0, 9), st.integers(0, 3), names), max_size=3),
    "symlinks": st.lists(st.tuples(st.integers(0, 12), st.integers(0, 3), names), max_size=3),
    "hard_links": st.booleans(),
    "include_empty": st.booleans(),
    "follow_symlinks": st.booleans(),
    "change": st.integers(0, 9),
    "delete": st.integers(0, 9),
})


def build(root: Path, spec: dict) -> list[bytes]:
    """Creates the tree under root; returns the paths of its regular files (bytes)."""
    broot = os.fsencode(root)
    dirs = [broot]
    for parent, name in spec["dirs"]:
        d = os.path.join(dirs[min(parent, len(dirs) - 1)], name)
        if not os.path.lexists(d):
            os.mkdir(d)
            dirs.append(d)
    files = []
    for d, name, c in spec["files"]:
        p = os.path.join(dirs[min(d, len(dirs) - 1)], name)
        if not os.path.lexists(p):
            with open(p, "wb") as f:
                f.write(content(c))
            files.append(p)
    for f, d, name in spec["hardlinks"]:
        p = os.path.join(dirs[min(d, len(dirs) - 1)], name)
        if files and not os.path.lexists(p):
            os.link(files[f % len(files)], p)
    targets = files + dirs[1:]
    for t, d, name in spec["symlinks"]:
        p = os.path.join(dirs[min(d, len(dirs) - 1)], name)
        if not os.path.lexists(p):
            target = targets[t] if t < len(targets) else b"dangling-" + name
            os.symlink(target, p)            # to a file, a directory (maybe an ancestor: a loop) or nothing
    age(root, PAST)
    return files + [p for p in _real_names(broot) if p not in files]


def _real_names(broot: bytes) -> list[bytes]:
    out = []
    for dirpath, _, filenames in os.walk(broot):
        for n in filenames:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p):
                out.append(p)
    return out


def run(entry, root: Path, db: str, out: Path, spec: dict) -> dict:
    args = [str(root), "--db-url", db, "--json", str(out), "--skip-html", "-q"]
    args += [f"--{k.replace('_', '-')}" for k in ("hard_links", "include_empty", "follow_symlinks") if spec[k]]
    if entry is main_mul.main:
        args += ["-p", "2", "-b", "2"]
    assert entry(args) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def check(report: dict, root: Path, spec: dict, by_path: dict[str, bytes]) -> None:
    expected = oracle([root], hard_links=spec["hard_links"], include_empty=spec["include_empty"])
    got = groups(report)
    if not spec["follow_symlinks"]:
        assert got == expected
        return
    # Following symlinks, which name of a file is walked first depends on the walk's order: compare files
    # (inodes), each counted once per real name with --hard-links; a symlink never counts as a name.
    def inodes(gs):
        out = []
        for g in gs:
            ids = Counter()
            for p in g:
                st_ = os.stat(by_path[p])
                ids[(st_.st_dev, st_.st_ino)] += 1
            if not spec["hard_links"]:
                assert set(ids.values()) == {1}, f"one file twice in a group: {g}"
            out.append(sorted(ids.elements()))
        return sorted(out)
    assert inodes(got) == inodes(expected)
    for g in got:
        for p in g:
            assert not os.path.islink(by_path[p]) or not any(
                os.path.samefile(by_path[p], by_path[q]) for q in g if q != p and not os.path.islink(by_path[q])), \
                f"a symlink reported as a duplicate of its target: {g}"


# The number of examples and whether they are random come from the Hypothesis profile (conftest.py): "dev"
# locally, "ci" (derandomized) with CI=true, "long" with DUPFINDER_HYPOTHESIS_PROFILE=long.
@pytest.mark.slow
@pytest.mark.timeout(60 + 3 * settings().max_examples)      # an example takes well under a second
@given(spec=trees)
@example(spec={   # a file, a hard link and a symlink to it, a copy: the symlink is no duplicate of its target
    "dirs": [(0, b"d")], "files": [(1, b"x", (0, 100, False)), (0, b"y", (0, 100, False))],
    "hardlinks": [(0, 0, b"x-hard")], "symlinks": [(0, 0, b"a-link-to-x"), (2, 0, b"link-to-d")],
    "hard_links": True, "include_empty": False, "follow_symlinks": True, "change": 5, "delete": 5})
def test_both_entry_points_agree_with_a_brute_force_oracle(spec):
    with tempfile.TemporaryDirectory(prefix="dupfinder-prop-") as tmp:
        tmp = Path(tmp)
        root = tmp / "root"
        root.mkdir()
        files = build(root, spec)
        db = f"sqlite:///{tmp / 'catalog.db'}"
        by_path = _all_reachable(root)
        for k, entry in enumerate((main.main, main_mul.main)):      # the second reuses the first's catalog
            report = run(entry, root, db, tmp / f"r{k}.json", spec)
            check(report, root, spec, by_path)
        # change one file's content (same size, mtime put back) and delete another, then rescan
        if files:
            victim = files[spec["change"] % len(files)]
            st_ = os.stat(victim)
            if st_.st_size:
                with open(victim, "r+b") as f:
                    f.write(bytes([f.read(1)[0] ^ 0xFF]))
                os.utime(victim, ns=(st_.st_atime_ns, st_.st_mtime_ns))
            gone = files[spec["delete"] % len(files)]
            if gone != victim:
                os.unlink(gone)
            by_path = _all_reachable(root)
            report = run(main_mul.main, root, db, tmp / "r2.json", spec)
            check(report, root, spec, by_path)


def _all_reachable(root: Path) -> dict[str, bytes]:
    """JSON form (os.fsdecode) -> bytes, for every path the scanner may report: every name reachable from
    root through directories and symlinks (each directory through every way in, so any walk order is covered).
    The JSON export is lossless, so no two names can share a key."""
    out: dict[str, bytes] = {}
    stack = [(os.fsencode(root), 0)]
    while stack:
        d, depth = stack.pop()
        if depth > 6:                        # loops: any walk enters each directory once, 6 levels suffice
            continue
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir():
                    stack.append((e.path, depth + 1))
                elif e.is_file():
                    out[os.fsdecode(e.path)] = e.path
            except OSError:
                pass
    return out
