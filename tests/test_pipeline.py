"""End to end: both entry points, both backends, trees whose every directory names the stage that must
separate (or join) its files."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

import main
import main_mul
from _db import catalog_rows, scans
from _run import ENTRIES, scan
from _trees import age, blob, write

EDGE = 64 * 1024


ODD_NAMES = ["with space.txt", "quote'd \"name\".txt", "new\nline.txt", "-leading-dash.txt",
             "<script>alert(1)</script>.txt", os.fsdecode(b"latin1-\xe9t\xe9.txt")]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    same = blob(1, 20_000)
    write(root / "same" / "a.bin", same)
    write(root / "same" / "deep" / "er" / "b.bin", same)
    write(root / "differ_by_size" / "a.bin", blob(2, 5000))
    write(root / "differ_by_size" / "b.bin", blob(2, 5001))
    write(root / "differ_by_prefix" / "a.bin", b"A" + blob(3, 9999))
    write(root / "differ_by_prefix" / "b.bin", b"B" + blob(3, 9999))
    middle = bytearray(blob(4, 3 * EDGE + 123))
    write(root / "differ_by_middle" / "a.bin", bytes(middle))
    middle[len(middle) // 2] ^= 0xFF
    write(root / "differ_by_middle" / "b.bin", bytes(middle))
    write(root / "empty" / "e1", b"")
    write(root / "empty" / "e2", b"")
    solo = write(root / "links" / "solo.bin", blob(5, 7777))
    os.link(solo, root / "links" / "solo-hardlink.bin")                    # one file, two names
    os.link(root / "same" / "a.bin", root / "links" / "a-hardlink.bin")    # a third name of a group member
    os.symlink(root / "same" / "a.bin", root / "links" / "a-symlink.bin")  # never a duplicate
    os.symlink(root, root / "links" / "loop")                              # a loop, for --follow-symlinks
    for name in ODD_NAMES:
        write(root / "odd" / name, blob(6, 1234))
    age(root)
    return root


def rel_groups(report: dict, root: Path) -> list[list[str]]:
    prefix = str(root) + "/"
    return sorted(sorted(p.removeprefix(prefix) for p in g["files"]) for g in report["groups"])


EXPECTED_DEFAULT = [
    ["links/a-hardlink.bin", "same/deep/er/b.bin"],   # one name per inode: the first in path order
    sorted("odd/" + n for n in ODD_NAMES),
]


def stored_paths(db_url: str) -> set[str]:
    return set(catalog_rows(db_url))


@ENTRIES
def test_groups_on_both_backends(entry, tree, db_url, tmp_path):
    report = scan(entry, [tree], db_url, tmp_path)
    assert rel_groups(report, tree) == sorted(EXPECTED_DEFAULT)
    s = report["summary"]
    assert (s["duplicate_groups"], s["duplicate_files"], s["errors"]) == (2, 8, 0)
    assert s["wasted_bytes"] == 20_000 + 1234 * 5
    assert report["groups"][0]["size"] == 20_000            # most wasted space first
    assert report["finished"] is True and report["version"] == 2
    assert scans(db_url)[-1].status == "finished"
    # every regular file is in the catalog, symlinks are not
    stored = stored_paths(db_url)
    assert len(stored) == s["files_scanned"] == 17     # 19 regular files less 2 empty (--min-size 1)
    assert not any("symlink" in p or "/loop" in p for p in stored)


@ENTRIES
def test_options_change_what_is_a_group(entry, tree, db_url, tmp_path):
    with_links = rel_groups(scan(entry, [tree], db_url, tmp_path, "--hard-links"), tree)
    assert ["links/solo-hardlink.bin", "links/solo.bin"] in with_links
    assert ["links/a-hardlink.bin", "same/a.bin", "same/deep/er/b.bin"] in with_links
    empty = rel_groups(scan(entry, [tree], db_url, tmp_path, "--include-empty"), tree)
    assert ["empty/e1", "empty/e2"] in empty
    followed = scan(entry, [tree], db_url, tmp_path, "--follow-symlinks")
    assert rel_groups(followed, tree) == sorted(EXPECTED_DEFAULT)   # the loop is entered once, links join inodes


def test_filters_and_roots(tree, db_url, tmp_path):
    entry = main.main
    assert rel_groups(scan(entry, [tree], db_url, tmp_path, "--exclude", "odd"), tree) == \
           [EXPECTED_DEFAULT[0]]
    assert rel_groups(scan(entry, [tree], db_url, tmp_path, "--exclude", "links/*", "--exclude", "*.txt"), tree) \
        == [["same/a.bin", "same/deep/er/b.bin"]]
    assert rel_groups(scan(entry, [tree], db_url, tmp_path, "--min-size", "10K"), tree) == [EXPECTED_DEFAULT[0]]
    assert rel_groups(scan(entry, [tree], db_url, tmp_path, "--max-size", "2KiB"), tree) == [EXPECTED_DEFAULT[1]]
    # overlapping roots and the same root twice count each file once
    twice = scan(entry, [tree, tree / "same", tree], db_url, tmp_path)
    assert rel_groups(twice, tree) == sorted(EXPECTED_DEFAULT)
    assert twice["summary"]["files_scanned"] == 17
    # files as roots
    files = scan(entry, [tree / "same" / "a.bin", tree / "same" / "deep" / "er" / "b.bin"], db_url, tmp_path)
    assert rel_groups(files, tree) == [["same/a.bin", "same/deep/er/b.bin"]]


@ENTRIES
def test_rescan_reuses_hashes_and_sees_changes(entry, tree, db_url, tmp_path):
    first = scan(entry, [tree], db_url, tmp_path)
    assert scans(db_url)[-1].bytes_read > 0
    again = scan(entry, [tree], db_url, tmp_path)
    assert again["groups"] == first["groups"]
    assert (scans(db_url)[-1].bytes_read, scans(db_url)[-1].files_hashed) == (0, 0)   # nothing read again

    # Same size, mtime restored: only ctime tells the content changed.
    b = tree / "same" / "deep" / "er" / "b.bin"
    st = b.stat()
    b.write_bytes(b"X" + b.read_bytes()[1:])
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert b.stat().st_mtime_ns == st.st_mtime_ns and b.stat().st_size == st.st_size
    changed = scan(entry, [tree], db_url, tmp_path)
    assert rel_groups(changed, tree) == [EXPECTED_DEFAULT[1]]

    # A deleted file leaves the catalog and the groups.
    for name in ODD_NAMES[1:]:
        os.unlink(tree / "odd" / name)
    after = scan(entry, [tree], db_url, tmp_path)
    assert after["groups"] == []
    stored = stored_paths(db_url)
    assert not any(p.endswith("dash.txt") for p in stored)
    assert str(tree / "odd" / ODD_NAMES[0]) in stored


def test_switching_algorithm_never_mixes_digests(tree, db_url, tmp_path):
    fast = scan(main.main, [tree], db_url, tmp_path)
    sha = scan(main.main, [tree], db_url, tmp_path, "-a", "sha256")
    assert rel_groups(fast, tree) == rel_groups(sha, tree)
    assert sha["algorithm"] == "sha256" and all(len(g["hash"]) == 64 for g in sha["groups"])
    assert all(len(g["hash"]) == 32 for g in fast["groups"])
    back = scan(main.main, [tree], db_url, tmp_path)
    assert back["groups"] == fast["groups"]


def test_both_entry_points_agree_on_a_corpus_like_tree(tmp_path, db_url):
    root = tmp_path / "mix"
    for i in range(300):
        size = [100, 4096, 8192, 8193, 70_000][i % 5]
        write(root / f"d{i % 7}" / f"f{i}.bin", blob(i % 40, size))
    one = scan(main.main, [root], db_url, tmp_path)
    many = scan(main_mul.main, [root], f"sqlite:///{tmp_path / 'other.db'}", tmp_path)
    assert one["groups"] == many["groups"] and len(one["groups"]) == 40


def test_non_utf8_names_survive_into_json(tree, tmp_path):
    report = scan(main.main, [tree], f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    names = {os.fsencode(p.rsplit("/", 1)[1]) for g in report["groups"] for p in g["files"]}
    assert b"latin1-\xe9t\xe9.txt" in names   # lossless: surrogateescape, written as \udcXX (contract v2)
    assert b"new\nline.txt" in names


def test_one_file_system_stays_on_the_root_device(tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the temporary directory")
    root = tmp_path / "root"
    data = blob(9, 3000)
    write(root / "here.bin", data)
    elsewhere = Path(tempfile.mkdtemp(dir=other))
    try:
        write(elsewhere / "there.bin", data)
        os.symlink(elsewhere, root / "mounted")          # a directory on another device
        url = f"sqlite:///{tmp_path / 'c.db'}"
        crossed = scan(main.main, [root], url, tmp_path, "--follow-symlinks")
        assert rel_groups(crossed, root) == [["here.bin", "mounted/there.bin"]]
        stayed = scan(main.main, [root], url, tmp_path, "--follow-symlinks", "--one-file-system")
        assert stayed["groups"] == [] and stayed["summary"]["files_scanned"] == 1
    finally:
        shutil.rmtree(elsewhere)


def test_a_linked_root_is_scanned(tree, tmp_path):
    link = tmp_path / "linked-root"
    os.symlink(tree, link)
    report = scan(main.main, [link], f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    assert rel_groups(report, link) == sorted(EXPECTED_DEFAULT)


def test_report_all_files_lists_every_file(tree, tmp_path):
    page = tmp_path / "all.html"
    assert main.main([str(tree), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "-q", "-r", str(page),
                      "--report-all-files"]) == 0
    html = page.read_text(encoding="utf-8")
    assert "solo-hardlink.bin" in html and "differ_by_size" in html    # files in no group are listed too
