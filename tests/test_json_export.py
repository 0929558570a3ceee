"""The JSON export, version 2 of the contract, and the CSV beside it: finished, redundant_files, hard_links,
unreadable, lossless non-UTF-8 names, bytes counted once per file."""
from __future__ import annotations

import csv
import json
import os
import stat
import time
from pathlib import Path

import pytest

import main
import main_mul
from _run import ENTRIES
from _trees import blob, write


def scan(entry, roots, url, tmp_path, *extra) -> tuple[dict, str]:
    """Runs entry in this process; returns the JSON export and its raw text."""
    out = tmp_path / f"out-{time.monotonic_ns()}.json"
    args = [os.fspath(r) for r in roots] + ["--db-url", url, "--json", str(out), "--skip-html", "-q", *extra]
    if entry is main_mul.main:
        args += ["-p", "2", "-b", "3"]
    assert entry(args) == 0
    text = out.read_text(encoding="utf-8")
    return json.loads(text), text


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """a/d1, a copy b/d1, and b/d1hl hard-linked to b/d1 (issue 10, item 4)."""
    root = tmp_path / "t"
    write(root / "a" / "d1", blob(1, 5000))
    write(root / "b" / "d1", blob(1, 5000))
    os.link(root / "b" / "d1", root / "b" / "d1hl")
    write(root / "c" / "x", blob(2, 300))
    write(root / "c" / "y", blob(2, 300))
    return root


@ENTRIES
def test_version_2_fields(entry, linked, db_url, tmp_path):
    report, _ = scan(entry, [linked], db_url, tmp_path)
    assert report["version"] == 2 and report["finished"] is True
    assert list(report)[:2] == ["version", "finished"]
    s = report["summary"]
    assert (s["duplicate_groups"], s["duplicate_files"], s["redundant_files"]) == (2, 4, 2)
    assert s["wasted_bytes"] == 5000 + 300
    # files_scanned counts paths (5); bytes_scanned counts the hard-linked file once
    assert s["files_scanned"] == 5 and s["bytes_scanned"] == 2 * 5000 + 2 * 300
    big = report["groups"][0]
    assert big["files"] == [str(linked / "a" / "d1"), str(linked / "b" / "d1")]
    assert big["count"] == 2 and big["wasted_bytes"] == 5000
    assert big["hard_links"] == {str(linked / "b" / "d1"): [str(linked / "b" / "d1hl")]}
    assert "hard_links" not in report["groups"][1]          # present only where a file has other names
    assert report["unreadable"] == []


def test_hard_links_absent_with_the_hard_links_option(linked, tmp_path):
    report, _ = scan(main.main, [linked], f"sqlite:///{tmp_path / 'c.db'}", tmp_path, "--hard-links")
    big = report["groups"][0]
    assert big["files"] == sorted(str(linked / p) for p in ("a/d1", "b/d1", "b/d1hl"))
    assert "hard_links" not in big


def test_hard_links_in_the_csv(linked, tmp_path):
    out = tmp_path / "g.csv"
    assert main.main([str(linked), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "--csv", str(out),
                      "--skip-html", "-q"]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_path = {r["path"]: r for r in rows}
    assert json.loads(by_path[str(linked / "b" / "d1")]["hard_links"]) == [str(linked / "b" / "d1hl")]
    assert by_path[str(linked / "a" / "d1")]["hard_links"] == ""


def test_unreadable_files_are_listed_with_their_reason(tmp_path, monkeypatch):
    """We run as root, who reads every file, so unreadability is injected where the scanner opens files:
    the walk is real, the open fails for one path with EACCES, as it would for another user."""
    root = tmp_path / "t"
    write(root / "x", blob(3, 4000))
    write(root / "y", blob(3, 4000))
    locked = write(root / "z", blob(3, 4000))
    real_open = os.open

    def deny(path, flags, *a, **kw):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *a, **kw)
    monkeypatch.setattr(os, "open", deny)
    report, _ = scan(main.main, [root], f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    monkeypatch.undo()
    assert report["unreadable"] == [{"path": str(locked), "reason": "PermissionError: Permission denied"}]
    assert report["summary"]["errors"] == 1
    assert report["groups"][0]["files"] == [str(root / "x"), str(root / "y")]


def test_non_utf8_names_round_trip_to_the_exact_bytes(tmp_path):
    """A name with the raw byte 0xFF and a name that is literally 'n\\xff' (issue 10, item 7) stay two
    names in JSON (\\udcff escapes: os.fsencode gives the bytes back) and in the CSV (a backslash doubled)."""
    root = tmp_path / "t"
    os.makedirs(root)
    raw_names = [b"n\xff", b"n\\xff", b"caf\xe9 \xc3\xa9.txt", b"plain"]
    for name in raw_names:
        with open(os.path.join(os.fsencode(root), name), "wb") as f:
            f.write(b"same bytes in every file")
    csv_out = tmp_path / "g.csv"
    report, text = scan(main.main, [root], f"sqlite:///{tmp_path / 'c.db'}", tmp_path, "--csv", str(csv_out))
    files = report["groups"][0]["files"]
    assert sorted(os.fsencode(p) for p in files) == sorted(os.path.join(os.fsencode(root), n) for n in raw_names)
    assert files == sorted(files)                                  # sorted by the string as written
    assert "n\\udcff" in text and "caf\\udce9 é.txt" in text       # the escape in the file, valid UTF-8 around it
    text.encode("utf-8")
    with open(csv_out, newline="", encoding="utf-8") as f:
        shown = sorted(r["path"].rsplit("/", 1)[1] for r in csv.DictReader(f))
    assert shown == sorted(["n\\xff", "n\\\\xff", "caf\\xe9 é.txt", "plain"])
    assert len(set(shown)) == 4                                    # no two names print the same


def test_json_to_stdout_is_lossless_too(tmp_path, capfd):
    root = tmp_path / "t"
    os.makedirs(root)
    for name in (b"\xfe1", b"\xfe2"):
        with open(os.path.join(os.fsencode(root), name), "wb") as f:
            f.write(b"twins")
    assert main.main([str(root), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "--json", "-", "--skip-html",
                      "-q"]) == 0
    out = capfd.readouterr().out
    files = json.loads(out)["groups"][0]["files"]
    assert [os.fsencode(p)[-2:] for p in files] == [b"\xfe1", b"\xfe2"]


def test_file_modes_of_exports(linked, tmp_path):
    out = tmp_path / "r.json"
    assert main.main([str(linked), "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "--json", str(out),
                      "--skip-html", "-q"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) & 0o044 == 0o044     # readable by others, as any new file
