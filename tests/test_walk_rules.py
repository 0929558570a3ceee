"""What the walk lists (cli-contract.md): gitignore-style --exclude, --follow-symlinks to folders and files
with one listed path per file whatever the order on disk, and the size filters with --include-empty."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import main
import main_mul
from _run import ENTRIES
from _trees import blob, write


def scan(entry, roots, tmp_path, *extra, db: str | None = None) -> dict:
    out = tmp_path / f"out-{time.monotonic_ns()}.json"
    args = [os.fspath(r) for r in roots] + ["--db-url", db or f"sqlite:///{tmp_path / 'c.db'}", "--json", str(out),
                                            "--skip-html", "-q", *extra]
    if entry is main_mul.main:
        args += ["-p", "2"]
    assert entry(args) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def listed(report: dict) -> set[str]:
    return {p for g in report["groups"] for p in g["files"]}


# ----------------------------------------------------------------------------------------- --exclude
@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    for rel in ("a/x.log", "a/sub/y.log", "b/a/z.log", "keep/k.log", "keep/k2.log", "a/sub/deep/w.log", "tmp/t.log",
                "c/tmp/u.log"):
        write(root / rel, b"the same log line\n")
    return root


@pytest.mark.parametrize("patterns, excluded", [
    (["a/*.log"], {"a/x.log"}),                                   # '*' does not cross '/'; anchored at the root
    (["a/**/*.log"], {"a/x.log", "a/sub/y.log", "a/sub/deep/w.log"}),   # '**' does
    (["tmp"], {"tmp/t.log", "c/tmp/u.log"}),                      # no '/': a name at any depth
    (["/tmp"], {"tmp/t.log"}),                                    # a leading '/' anchors at the root
    (["./a/sub"], {"a/sub/y.log", "a/sub/deep/w.log"}),           # './' too
    (["tmp/"], {"tmp/t.log", "c/tmp/u.log"}),                     # a trailing '/' matches folders
    (["*.log", "!keep/k*.log"], {"a/x.log", "a/sub/y.log", "b/a/z.log", "a/sub/deep/w.log", "tmp/t.log",
                                 "c/tmp/u.log"}),                 # gitignore's negation
])
def test_exclude_is_gitignore_style(patterns, excluded, logs, tmp_path):
    args = [a for p in patterns for a in ("--exclude", p)]
    report = scan(main.main, [logs], tmp_path, *args)
    everything = {str(p) for p in logs.rglob("*.log")}
    assert listed(report) == everything - {str(logs / e) for e in excluded}


def test_exclude_an_absolute_path_under_a_root(logs, tmp_path):
    report = scan(main.main, [logs], tmp_path, "--exclude", str(logs / "a" / "sub"))
    assert str(logs / "a" / "sub" / "y.log") not in listed(report)
    assert str(logs / "a" / "x.log") in listed(report)


def test_a_pattern_that_cannot_match_is_warned_about(logs, tmp_path, caplog):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code = main.main([str(logs), "--db-url", db, "--skip-html", "--exclude", "sub/*.log",       # sub is in a/
                      "--exclude", "/elsewhere/file", "--exclude", "*.tmp"])
    assert code == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2, warnings              # '*.tmp' may match anywhere: no warning
    assert "'sub/*.log' cannot match anything under" in warnings[0]
    assert "'/elsewhere/file' cannot match anything under" in warnings[1]


def test_exclude_applies_to_file_roots_by_name(tmp_path):
    write(tmp_path / "x.log", b"same")
    write(tmp_path / "y.txt", b"same")
    write(tmp_path / "z.txt", b"same")
    report = scan(main.main, [tmp_path / "x.log", tmp_path / "y.txt", tmp_path / "z.txt"], tmp_path,
                  "--exclude", "*.log")
    assert listed(report) == {str(tmp_path / "y.txt"), str(tmp_path / "z.txt")}


# ---------------------------------------------------------------------------------- --follow-symlinks
@ENTRIES
def test_links_to_files_are_followed_and_listed_once(entry, tmp_path):
    """Issue 10, item 2: t/r/linkdir -> out/x and t/r/linkfile -> out/g; jdupes -s, fdupes -s and rmlint -f
    list the file behind linkfile too."""
    out = tmp_path / "out"
    for p in ("x/f1", "x/f2", "g"):
        write(out / p, b"same\n")
    root = tmp_path / "t" / "r"
    root.mkdir(parents=True)
    os.symlink(out / "x", root / "linkdir")
    os.symlink(out / "g", root / "linkfile")
    os.symlink(out / "g", root / "linkfile2")                 # a second way to the same file: listed once
    report = scan(entry, [root], tmp_path, "--follow-symlinks")
    assert [g["files"] for g in report["groups"]] == \
        [[str(root / "linkdir" / "f1"), str(root / "linkdir" / "f2"), str(root / "linkfile")]]
    plain = scan(entry, [root], tmp_path)
    assert plain["groups"] == [] and plain["summary"]["files_scanned"] == 0   # links are not followed by default


def test_a_link_to_a_file_under_the_roots_is_that_file(tmp_path):
    """A link and its target are one file, listed under the real path: never a duplicate of itself."""
    root = tmp_path / "r"
    write(root / "real" / "a", b"content")
    write(root / "copy", b"content")
    os.symlink(root / "real" / "a", root / "0-link-sorts-first")
    os.symlink("real", root / "0-dirlink-sorts-first")
    report = scan(main.main, [root], tmp_path, "--follow-symlinks")
    assert [g["files"] for g in report["groups"]] == [[str(root / "copy"), str(root / "real" / "a")]]


@ENTRIES
def test_the_listed_path_never_depends_on_the_order_on_disk(entry, tmp_path):
    """Issue 10, item 3: twelve aliases of one folder; the real path inside the root is listed, scan after
    scan, and the catalog's rows do not switch between alias sets."""
    root = tmp_path / "t"
    write(root / "real" / "f1", b"abc\n")
    write(root / "real" / "f2", b"abc\n")
    for n in "abcdefghijkl":
        os.symlink("real", root / f"L{n}")
    db = f"sqlite:///{tmp_path / 'c.db'}"
    for _ in range(3):
        report = scan(entry, [root], tmp_path, "--follow-symlinks", db=db)
        assert [g["files"] for g in report["groups"]] == [[str(root / "real" / "f1"), str(root / "real" / "f2")]]
        assert report["summary"]["files_scanned"] == 2
    import sqlite3
    con = sqlite3.connect(tmp_path / "c.db")
    stored = sorted(r[0] for r in con.execute("SELECT absolute_path FROM file_hashes"))
    con.close()
    assert stored == [str(root / "real" / "f1"), str(root / "real" / "f2")]


def test_a_folder_outside_the_roots_is_listed_under_its_first_alias(tmp_path):
    out = tmp_path / "out"
    write(out / "f1", b"xyz")
    write(out / "f2", b"xyz")
    root = tmp_path / "r"
    root.mkdir()
    for name in ("zz", "mm", "bb"):
        os.symlink(out, root / name)
    report = scan(main.main, [root], tmp_path, "--follow-symlinks")
    assert [g["files"] for g in report["groups"]] == [[str(root / "bb" / "f1"), str(root / "bb" / "f2")]]


def test_a_root_that_is_a_link_into_another_root_adds_nothing(tmp_path):
    root = tmp_path / "r"
    write(root / "sub" / "a", b"same")
    write(root / "sub" / "b", b"same")
    os.symlink(root / "sub", tmp_path / "alias")
    report = scan(main.main, [tmp_path / "alias", root], tmp_path)
    assert [g["files"] for g in report["groups"]] == [[str(root / "sub" / "a"), str(root / "sub" / "b")]]
    assert report["roots"] == [str(root)]


# ---------------------------------------------------------------------------------------- sizes
@pytest.fixture
def sizes(tmp_path: Path) -> Path:
    root = tmp_path / "s"
    for name in ("e1", "e2"):
        write(root / name, b"")
    for name in ("small1", "small2"):
        write(root / name, blob(1, 5))
    for name in ("big1", "big2"):
        write(root / name, blob(2, 5000))
    return root


def test_include_empty_overrides_min_size(sizes, tmp_path):
    report = scan(main.main, [sizes], tmp_path, "--include-empty", "--min-size", "1K")
    assert sorted(g["size"] for g in report["groups"]) == [0, 5000]


def test_only_the_empty_files(sizes, tmp_path):
    """--include-empty --max-size 0 was refused as max below min (issue 10, item 10)."""
    report = scan(main.main, [sizes], tmp_path, "--include-empty", "--max-size", "0")
    assert [g["files"] for g in report["groups"]] == [[str(sizes / "e1"), str(sizes / "e2")]]


def test_max_below_min_is_a_usage_error(sizes, tmp_path, capsys):
    code = main.main([str(sizes), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "--min-size", "2K",
                      "--max-size", "1K"])
    err = capsys.readouterr().err
    assert code == 2 and "usage:" in err and "--max-size (1,000 bytes) is below --min-size (2,000 bytes)" in err
    assert not (tmp_path / "c.db").exists()
