"""The installed commands: `pip install` of the checkout into a fresh virtual environment gives `dupfinder` and
`dupfinder-mul`, which scan from any working directory into the user's data folder (XDG), read their config
from the user's config folder, and write nothing into their own package folder or the working directory."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from _db import scans
from _run import FOREIGN_ENV, IN_CI
from _trees import ROOT, age, blob, groups, oracle, read_json, write
from utilities import __version__

# What a checkout holds that is not for the package: left out of the copy that pip builds from (an in-tree
# build would leave build/ and *.egg-info in the checkout).
NOT_SOURCE = shutil.ignore_patterns(".git", ".hypothesis", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                                    ".benchmarks", "__pycache__", "*.egg-info", "build", "outputs", ".venv", "results")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv")]   # one worker builds the environment once
OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "No matching distribution found")


def _cannot(why: str) -> None:
    """Locally a machine without venv or without the package index skips; with CI=true that fails."""
    if IN_CI:
        pytest.fail(f"CI=true: {why}", pytrace=False)
    pytest.skip(why)


def _run(cmd: list[str | Path], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([os.fspath(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under folder with its size and mtime."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the checkout pip-installed into it; returns its bin/ folder."""
    base = tmp_path_factory.mktemp("install")
    src, env_dir = base / "src", base / "venv"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE, symlinks=True)
    try:
        venv.create(env_dir, with_pip=True)
    except Exception as e:         # no ensurepip (Debian's python3-venv missing), ...
        _cannot(f"cannot create a virtual environment: {type(e).__name__}: {e}")
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", src], env, base,
                timeout=480)
    if proc.returncode != 0:
        if any(word in proc.stdout + proc.stderr for word in OFFLINE):
            _cannot(f"pip cannot reach the package index:\n{proc.stderr[-2000:]}")
        pytest.fail(f"pip install of the checkout failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return env_dir / "bin"


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user whose home, data and config folders are under tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if k not in (*FOREIGN_ENV, "PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("XDG_")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg-data"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    return env


@pytest.mark.timeout(600)
def test_installed_commands_scan_into_the_user_data_folder(installed, user_env, tmp_path):
    package = next((installed.parent / "lib").glob("python3*/site-packages/dupfinder"))
    assert (package / "cli.py").is_file() and (package / "report_assets").is_dir()
    assert not list((installed.parent / "lib").glob("python3*/site-packages/utilities")), \
        "the code is installed as the package dupfinder, not as a generic 'utilities'"
    before = _snapshot(package)
    data = tmp_path / "xdg-data" / "dupfinder"
    tree = tmp_path / "tree"
    write(tree / "a" / "one.bin", blob(1, 300_000))
    write(tree / "b" / "one-copy.bin", blob(1, 300_000))
    write(tree / "c" / "small.txt", b"same small text\n")
    write(tree / "small-copy.txt", b"same small text\n")
    write(tree / "unique.bin", blob(2, 5000))
    age(tree)

    for command in ("dupfinder", "dupfinder-mul"):
        proc = _run([installed / command, "--version"], user_env, tmp_path)
        assert (proc.returncode, proc.stdout) == (0, f"{command} (dupFinder) {__version__}\n"), proc.stderr

    # dupfinder from one working directory, dupfinder-mul from another: one catalog, in the data folder
    reports = {}
    for command, extra in (("dupfinder", []), ("dupfinder-mul", ["-p", "2"])):
        work = tmp_path / f"work-{command}"
        work.mkdir()
        out = tmp_path / f"{command}.json"
        proc = _run([installed / command, tree, "--json", out, *extra], user_env, work)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert f"database:         sqlite:///{data / 'file_hashes.db'}" in proc.stderr
        assert f"{data / 'hash_report.html'}" in proc.stderr        # the summary says where the report is
        assert list(work.iterdir()) == [], f"{command} wrote into its working directory"
        reports[command] = read_json(out)
    for report in reports.values():
        assert groups(report) == oracle([tree]) and len(report["groups"]) == 2
    assert (data / "hash_report.html").read_text(encoding="utf-8").lower().startswith("<!doctype html>")
    history = scans(f"sqlite:///{data / 'file_hashes.db'}")
    assert [s.status for s in history] == ["finished", "finished"]
    assert history[1].bytes_read == 0          # the second command found the first one's catalog
    assert not (tmp_path / "xdg-config").exists() or not any((tmp_path / "xdg-config").rglob("*"))
    assert _snapshot(package) == before, "the installed commands wrote into their package folder"

    # --help names the folders: the config file in the config folder, the catalog and report in the data folder
    for command in ("dupfinder", "dupfinder-mul"):
        proc = _run([installed / command, "--help"], user_env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        text = re.sub(r"\s+", "", proc.stdout)          # argparse wraps (and may break) long paths
        for path in (tmp_path / "xdg-config" / "dupfinder" / "config.json", data / "file_hashes.db",
                     data / "hash_report.html"):
            assert re.sub(r"\s+", "", str(path)) in text, (path, proc.stdout)


def test_installed_command_reads_the_config_of_the_user_config_folder(installed, user_env, tmp_path):
    catalog = tmp_path / "elsewhere" / "catalog.db"
    write(tmp_path / "xdg-config" / "dupfinder" / "config.json",
          json.dumps({"database": {"type": "sqlite", "path": str(catalog)}}).encode())
    catalog.parent.mkdir()
    tree = tmp_path / "tree"
    write(tree / "x", b"twice")
    write(tree / "y", b"twice")
    proc = _run([installed / "dupfinder", tree, "--skip-html", "-q"], user_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [s.status for s in scans(f"sqlite:///{catalog}")] == ["finished"]
    assert not (tmp_path / "xdg-data" / "dupfinder" / "file_hashes.db").exists()

