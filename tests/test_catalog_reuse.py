"""When a stored hash is reused: unchanged files under their path or under a new one (a moved folder), files
whose mtime lies in the future, and never the catalog's own files."""
from __future__ import annotations

import os
import shutil
import time

import pytest

import main
from _db import scans
from _run import ENTRIES, scan
from _trees import age, blob, write


@ENTRIES
def test_a_moved_folder_is_not_read_again(entry, db_url, tmp_path):
    """Issue 10, item 11: `mv` of a folder within one file system keeps device, inode, size, mtime and ctime
    of every file inside, so their hashes hold under the new paths."""
    root = tmp_path / "r"
    for i in range(6):
        write(root / "photos" / "2019" / f"img{i}.jpg", blob(i % 3, 200_000 + i % 3))   # three pairs, full hashes
        write(root / "photos" / "2019" / f"small{i}.txt", blob(10 + i % 2, 700))
    write(root / "other" / "lone.bin", blob(99, 1234))
    age(root)
    first = scan(entry, [root], db_url, tmp_path)
    assert scans(db_url)[-1].bytes_read > 0 and len(first["groups"]) == 5      # 3 pairs of images, 2 triples of texts
    os.rename(root / "photos", root / "archive")
    moved = scan(entry, [root], db_url, tmp_path)
    assert scans(db_url)[-1].bytes_read == 0
    assert [[p.replace("/archive/", "/photos/") for p in g["files"]] for g in moved["groups"]] == \
           [g["files"] for g in first["groups"]]
    again = scan(entry, [root], db_url, tmp_path)              # the rows moved too: the old paths are gone
    assert scans(db_url)[-1].bytes_read == 0 and again["groups"] == moved["groups"]


def test_a_renamed_file_is_read_again(tmp_path):
    """Renaming the file itself changes its ctime: the stat record no longer vouches for the hash."""
    root = tmp_path / "r"
    write(root / "a", blob(1, 300_000))
    write(root / "b", blob(1, 300_000))
    age(root)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    scan(main.main, [root], url, tmp_path)
    os.rename(root / "b", root / "c")
    report = scan(main.main, [root], url, tmp_path)
    assert scans(url)[-1].bytes_read > 0
    assert report["groups"][0]["files"] == [str(root / "a"), str(root / "c")]


def test_a_copy_with_the_same_times_is_not_taken_for_a_move(tmp_path):
    """A copy has another inode: its content is read, never assumed."""
    root = tmp_path / "r"
    write(root / "d" / "a", blob(1, 300_000))
    write(root / "d" / "b", blob(1, 300_000))
    age(root)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    scan(main.main, [root], url, tmp_path)
    shutil.copytree(root / "d", root / "e", copy_function=shutil.copy2)   # same mtimes, new inodes
    shutil.rmtree(root / "d")
    scan(main.main, [root], url, tmp_path)
    assert scans(url)[-1].bytes_read > 0


@pytest.mark.parametrize("algorithm", ["xxh128", "sha256"])
def test_a_file_with_a_future_mtime_is_read_once(algorithm, tmp_path):
    """Issue 10, item 10: a file whose mtime lies ahead of the clock was re-read on every rescan (the racy
    rule never let its hash hold)."""
    root = tmp_path / "r"
    write(root / "a", blob(1, 300_000))
    write(root / "b", blob(1, 300_000))
    age(root)
    future = time.time() + 365 * 86400
    os.utime(root / "b", (future, future))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    scan(main.main, [root], url, tmp_path, "-a", algorithm)
    for _ in range(2):
        report = scan(main.main, [root], url, tmp_path, "-a", algorithm)
        assert scans(url)[-1].bytes_read == 0
        assert len(report["groups"]) == 1


def test_the_catalog_never_scans_its_own_files(tmp_path):
    """An SQLite catalog inside a scanned folder is written by the scan itself: never hashed, never listed."""
    root = tmp_path / "r"
    write(root / "a", blob(1, 5000))
    write(root / "b", blob(1, 5000))
    url = f"sqlite:///{root / 'catalog.db'}"
    for _ in range(2):
        report = scan(main.main, [root], url, tmp_path)
        assert report["summary"]["files_scanned"] == 2 and report["unreadable"] == []
    assert (root / "catalog.db").is_file()
