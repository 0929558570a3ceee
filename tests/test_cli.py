"""The command line's output: --version and --help, the summary, progress bars only on a terminal, JSON on
stdout, exports written atomically, the default report in ./outputs/ of the working directory."""
from __future__ import annotations

import csv
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _run import SCRIPTS
from _trees import ROOT, write
from utilities import __version__


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    root = tmp_path / "t"
    for i in range(6):
        write(root / f"d{i % 2}" / f"f{i}", bytes([i % 3]) * 200_000)
    return root


def run_on_tty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Runs main.py with stderr (and stdout) on a pseudo-terminal; returns (exit code, what it showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], stdout=follower, stderr=follower,
                            cwd=cwd, env={**os.environ, "COLUMNS": "120"})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:      # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow   # three runs on a pseudo-terminal, each a new interpreter
def test_progress_bars_on_a_terminal_only(small_tree, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    code, shown = run_on_tty([str(small_tree), "--db-url", db, "--skip-html"], tmp_path)
    assert code == 0
    assert "1/6 walk" in shown and "4/6 partial hash" in shown
    assert "duplicate groups: 3 (6 files)" in shown           # the summary
    code, quiet = run_on_tty([str(small_tree), "--db-url", db, "--skip-html", "-q"], tmp_path)
    assert code == 0 and quiet.strip() == ""
    piped = subprocess.run([sys.executable, str(ROOT / "main.py"), str(small_tree), "--db-url", db, "--skip-html"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert piped.returncode == 0 and "1/6 walk" not in piped.stderr and "\r" not in piped.stderr
    assert "duplicate groups: 3 (6 files), wasted space 585.9 KiB" in piped.stderr
    assert piped.stdout == ""                                   # stdout is kept for --json -


def test_json_to_stdout_and_csv(cli, small_tree, tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    out = tmp_path / "deep" / "er" / "groups.csv"
    out.parent.mkdir(parents=True)          # folders named by the user must exist (cli-contract.md)
    proc = cli("main_mul.py", small_tree, "--db-url", db, "--skip-html", "--json", "-", "--csv", out, "-p", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["duplicate_groups"] == 3 and report["summary"]["wasted_bytes"] == 3 * 200_000
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["group", "hash", "size", "path", "hard_links"] and len(rows) == 7
    assert {r[3] for r in rows[1:]} == {p for g in report["groups"] for p in g["files"]}
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert not list(out.parent.glob(".*tmp"))                    # no temporary file left behind


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_default_report_lands_in_outputs_of_the_working_directory(small_tree, tmp_path):
    """`python main.py` run from another folder than the checkout (a real process in that folder)."""
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), str(small_tree), "--db-url",
                           f"sqlite:///{tmp_path / 'c.db'}", "-q"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "outputs" / "hash_report.html").read_text(encoding="utf-8")
    assert "<!doctype html>" in page.lower() and str(small_tree) in page


@SCRIPTS
def test_version(cli, script):
    proc = cli(script, "--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{script} (dupFinder) {__version__}\n", "")


@SCRIPTS
def test_help_says_where_config_catalog_and_report_are(cli, script):
    proc = cli(script, "--help")
    assert proc.returncode == 0 and proc.stderr == ""
    text = re.sub(r"\s+", " ", proc.stdout)
    assert text.startswith(f"usage: {script} ")
    assert "./config.json, else the config.json beside main.py" in text
    assert "reports go to ./outputs/hash_report.html" in text
    assert ("--processes" in text) == (script == "main_mul.py")


@pytest.mark.parametrize("entry", ["main", "main_mul"])
def test_a_sqlite_scan_loads_only_what_it_uses(entry: str, small_tree: Path, tmp_path: Path):
    """Start-up (issue 13): a scan of a SQLite catalog (made by an earlier scan: creating one runs the
    migrations, which load Alembic) without a report or an action imports neither the PostgreSQL dialect nor
    its driver, nor the report generator, nor the modules that act on duplicates."""
    first = subprocess.run([sys.executable, str(ROOT / "main.py"), str(small_tree), "--db-url",
                            f"sqlite:///{tmp_path}/c.db", "--skip-html", "-q"], capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    code = ("import sys; from utilities import cli; "
            f"rc = cli.main([{str(small_tree)!r}, '--db-url', 'sqlite:///{tmp_path}/c.db', '--skip-html', '-q', "
            f"'--json', '{tmp_path}/o.json'], prog='x', parallel={entry == 'main_mul'}); "
            "print(rc, sorted(m for m in sys.modules if m.startswith(('psycopg2', 'sqlalchemy.dialects.postgresql', "
            "'utilities.html_generator', 'utilities.act_command', 'utilities.dedupe.apply'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0 []"
    assert len(json.loads((tmp_path / "o.json").read_text())["groups"]) == 3
