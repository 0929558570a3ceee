"""Odd file names: control characters, quotes, globs, bytes that are not UTF-8, both spellings of an escape,
NFC and NFD, right-to-left marks, 255-byte names. Each stays its own file through the catalog, the rescan,
deletions, and the JSON, CSV and HTML outputs."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from _db import catalog_rows, scans
from _run import ENTRIES, scan, sqlite_url
from _trees import age, blob, groups, oracle, read_json, write
from utilities.paths import display_path


def _fs(name: bytes | str) -> str:
    return os.fsdecode(name) if isinstance(name, bytes) else name


ODD_NAMES = [
    "new\nline.bin", "carriage\rreturn.bin", "tab\there.bin", " leading space", "trailing space ", "-dash.bin",
    "--help", "quote'\"`$(x).bin", "glob*?[x].bin", "percent%s%n.bin", "back\\slash.bin",
    b"latin1-\xe9t\xe9.bin", b"\xff\xfe", b"lone-\x80-byte", "\\xff",            # the escape's own spelling
    b"\\x80" + b"\x80",                                                         # both spellings at once
    "caf\u00e9.bin", "cafe\u0301.bin",                                          # NFC and NFD: two names
    "emoji-\U0001F600.bin", "rtl-\u202egnp.exe", "ls\u2028ps.bin", "nul-ish-\u0001.bin", ".hidden", "..dots",
    "x" * 255, ("\u00e9" * 127 + "x"), "\U0001F600" * 63 + "abc",               # 255-byte names
]


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    for k, name in enumerate(ODD_NAMES):
        assert len(os.fsencode(_fs(name))) <= 255
        write(root / "same" / _fs(name), blob(1, 3000))        # all one group
        write(root / "pairs" / _fs(name), blob(100 + k, 1000 + k))
        write(root / "pairs" / "twin" / _fs(name), blob(100 + k, 1000 + k))   # one group per name
    age(root)
    return root


@ENTRIES
def test_odd_names_round_trip_through_the_catalog(entry, odd_tree, db_url, tmp_path):
    report = scan(entry, [odd_tree], db_url, tmp_path)
    expected = oracle([odd_tree])
    assert len(expected) == 1 + len(ODD_NAMES)
    assert groups(report) == expected
    rows = catalog_rows(db_url)
    assert len(rows) == 3 * len(ODD_NAMES)              # distinct names stay distinct rows
    # the catalog maps back to the very same files: a rescan reads nothing and finds the same groups
    again = scan(entry, [odd_tree], db_url, tmp_path)
    assert groups(again) == expected
    assert scans(db_url)[-1].bytes_read == 0
    # and deletions are seen for odd names too
    for name in ODD_NAMES[::2]:
        os.unlink(odd_tree / "pairs" / "twin" / _fs(name))
    after = scan(entry, [odd_tree], db_url, tmp_path)
    assert groups(after) == oracle([odd_tree])
    assert len(catalog_rows(db_url)) == 3 * len(ODD_NAMES) - len(ODD_NAMES[::2])


def _json_names(report: dict) -> set[str]:
    return {p.rsplit("/", 1)[1] for g in report["groups"] for p in g["files"]}


def test_odd_names_in_json_csv_and_html(cli, odd_tree, tmp_path):
    out_json, out_csv, out_html = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.html"
    p = cli("main.py", odd_tree, "--db-url", sqlite_url(tmp_path), "--json", out_json, "--csv", out_csv,
            "-r", out_html, "-q")
    assert p.returncode == 0, p.stderr
    report = read_json(out_json)                     # valid UTF-8 JSON whatever the names
    assert {_fs(n) for n in ODD_NAMES} <= _json_names(report)
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["group", "hash", "size", "path", "hard_links"]
    assert sorted(r[3] for r in rows[1:]) == sorted(display_path(p) for g in report["groups"] for p in g["files"])
    assert out_html.read_text(encoding="utf-8")
