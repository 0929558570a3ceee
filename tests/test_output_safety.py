"""What names and URLs cannot do to the outputs: file names built to inject markup into the HTML report or
formulas into a spreadsheet come out as inert text, and a database password never appears in the output,
the report, the exports or an error message."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from _html import Doc, as_report
from _run import assert_clean_failure, run_cli, sqlite_url
from _trees import read_json, write
from utilities import exports
from utilities.paths import display_path

HOSTILE = ["<img src=x onerror=alert(1)>.txt", "=cmd|'x'!A0.csv", "+1.txt", "-2.txt", "@x.txt", "\tTAB.txt",
           "a,b\"c\r\nd.txt", "<!--.txt", "]]>.txt", "\u2028.txt"]
HOSTILE_PATHS = [Path("=cmd|' ") / "C calc'!A0.csv",              # the classic payload, '/' and all
                 Path("x<") / "script><img src=y onerror=alert(2)>.txt"]   # a path holding "</script>"
PASSWORD = "S3cr3t-p@ss:w/rd%"


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    root = tmp_path / "hostile"
    for rel in [Path(n) for n in HOSTILE] + HOSTILE_PATHS:
        write(root / rel, b"the same bytes in every file\n")
    return root


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _render_html(cli, root: Path, tmp_path: Path, url: str, name: str) -> str:
    out = tmp_path / f"{name}.html"
    p = cli("main.py", root, "--db-url", url, "-r", out, "-q")
    assert p.returncode == 0, p.stderr
    return out.read_text(encoding="utf-8")


def test_html_report_has_no_markup_from_names(cli, hostile_tree, tmp_path):
    url = sqlite_url(tmp_path)
    page = _render_html(cli, hostile_tree, tmp_path, url, "hostile")
    benign = tmp_path / "benign"
    for k in range(len(HOSTILE) + len(HOSTILE_PATHS)):
        write(benign / f"d{k}" / f"file{k}.txt", b"the same bytes in every file\n")
    plain = _render_html(cli, benign, tmp_path, sqlite_url(tmp_path, "benign.db"), "benign")

    for needle in ("<img", "</script><img", "<!--.txt", "]]>.txt"):
        assert needle not in page, needle
    hostile_doc, benign_doc = Doc(page), Doc(plain)
    assert sorted({t for t, _ in hostile_doc.tags}) == sorted({t for t, _ in benign_doc.tags})
    assert len(hostile_doc.scripts) == len(benign_doc.scripts)
    for tag, attrs in hostile_doc.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
    # the names are in the page's data, intact
    data = next(json.loads(body) for _, body in hostile_doc.scripts if body.lstrip().startswith("{"))
    text = "\n".join(_strings(data))
    for rel in [Path(n) for n in HOSTILE] + HOSTILE_PATHS:
        assert str(rel) in text or rel.name in text, rel


def test_csv_quotes_per_rfc_4180_and_neutralizes_formulas(cli, hostile_tree, tmp_path):
    out_csv, out_json = tmp_path / "d.csv", tmp_path / "d.json"
    p = cli("main.py", hostile_tree, "--db-url", sqlite_url(tmp_path), "--csv", out_csv, "--json", out_json,
                "--skip-html", "-q")
    assert p.returncode == 0, p.stderr
    raw = out_csv.read_bytes()
    assert raw.endswith(b"\r\n")
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    report = read_json(out_json)
    assert rows[0] == ["group", "hash", "size", "path", "hard_links"]
    assert [r[3] for r in rows[1:]] == [display_path(p) for g in report["groups"] for p in g["files"]]
    assert len(rows) - 1 == len(HOSTILE) + len(HOSTILE_PATHS)
    for r in rows[1:]:
        assert not r[3].startswith(("=", "+", "-", "@", "\t", "\r")), r


def test_csv_writer_neutralizes_cells_that_a_spreadsheet_would_run(tmp_path):
    """Paths are absolute, so a formula can only start a cell if a path ever does not start with '/':
    the writer must still neutralize it (defense in depth), and quote per RFC 4180."""
    nasty = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tTAB", "\rCR", "plain", 'qu"ote,comma\r\nnl', "=1+1"]
    report = as_report({"groups": [{"hash": "ab", "size": 3, "files": nasty}],
                        "summary": {"files_scanned": 9, "bytes_scanned": 27, "duplicate_groups": 1,
                                    "duplicate_files": 9, "wasted_bytes": 24, "errors": 0}})
    out = tmp_path / "n.csv"
    exports.write_csv(str(out), report)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    cells = [r[3] for r in rows[1:]]
    for original, cell in zip(nasty, cells, strict=True):
        if original.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert cell == "'" + original
        else:
            assert cell == original
    assert len(cells) == len(nasty)


def _with_password(url: str) -> str:
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def _assert_no_password(*texts: str) -> None:
    for t in texts:
        for form in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD)):
            assert form not in t, f"password ({form}) leaked in:\n{t[:2000]}"


@pytest.mark.postgres
def test_password_never_appears_in_output_report_or_exports(cli, hostile_tree, pg_url, tmp_path):
    """A real main_mul.py process with -v (its workers' output included), then main.py in this process with
    the URL from the environment and from a config file."""
    url = _with_password(pg_url)                    # trust auth: the server ignores it
    out_json, out_csv, out_html = tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.html"
    p = run_cli("main_mul.py", hostile_tree, "--db-url", url, "-p", "2", "-v", "--json", out_json, "--csv", out_csv,
                "-r", out_html)
    assert p.returncode == 0, p.stderr
    assert "***" in p.stderr                       # the masked URL is shown
    _assert_no_password(p.stdout, p.stderr, out_json.read_text(), out_csv.read_text(), out_html.read_text())
    # the same through the environment and a config file
    env_run = cli("main.py", hostile_tree, "-v", "--skip-html", env={"DUPFINDER_DB_URL": url})
    assert env_run.returncode == 0, env_run.stderr
    u = make_url(pg_url)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"database": {"type": "postgresql", "host": u.host, "port": u.port or 5432,
                                            "user": u.username, "password": PASSWORD, "database": u.database}}))
    cfg_run = cli("main.py", hostile_tree, "--config", cfg, "-v", "--skip-html")
    assert cfg_run.returncode == 0, cfg_run.stderr
    _assert_no_password(env_run.stdout, env_run.stderr, cfg_run.stdout, cfg_run.stderr)


@pytest.mark.postgres
@pytest.mark.parametrize("verbose", [(), ("-v",), ("-vv",)], ids=["quiet", "v", "vv"])
def test_password_never_appears_in_failures(cli, pg_url, tmp_path, verbose):
    write(tmp_path / "t" / "a", b"x")
    for bad in (make_url(pg_url).set(database="dupfinder_no_such_db"), make_url(pg_url).set(port=1),
                make_url(pg_url).set(host="no-such-host.invalid")):
        url = _with_password(bad.render_as_string(hide_password=False))
        p = cli("main.py", tmp_path / "t", "--db-url", url, "--skip-html", *verbose)
        assert p.returncode == 1
        if not verbose:
            assert_clean_failure(p)
        _assert_no_password(p.stdout, p.stderr)
