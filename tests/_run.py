"""Running the scanner for the tests: in this process (fast; most tests), or as a real subprocess where the
process boundary is the point (signals, terminals, the working directory, kill -9, concurrent scanners)."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import main
import main_mul
from _trees import ROOT, read_json

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")    # then what cannot run fails, never skips
ENTRY_POINTS = {"main.py": main.main, "main_mul.py": main_mul.main}
ENTRIES = pytest.mark.parametrize("entry", [main.main, main_mul.main], ids=["main", "main_mul"])
SCRIPTS = pytest.mark.parametrize("script", ["main.py", "main_mul.py"])
# Variables of the developer's shell that would change what a run does: never passed on.
FOREIGN_ENV = ("DUPFINDER_DB_URL", "DUPFINDER_DB_PASSWORD", "PGPASSWORD")


def sqlite_url(folder: Path, name: str = "catalog.db") -> str:
    return f"sqlite:///{folder / name}"


def scan(entry: Callable[[list[str]], int], roots: list[Any], url: str, tmp_path: Path, *extra: Any,
         code: int = 0) -> dict:
    """Runs entry in this process with --json, -q and no HTML (main_mul.main: 2 workers and batches of 3
    rows, so that there are many commits; extra options come last and win); returns the report after
    asserting the exit code ({} unless 0)."""
    out = tmp_path / f"out-{time.monotonic_ns()}.json"
    args = [os.fspath(r) for r in roots] + ["--db-url", url, "--json", str(out), "--skip-html", "-q"]
    if entry is main_mul.main:
        args += ["-p", "2", "-b", "3"]
    rc = entry(args + [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in extra])
    assert rc == code
    return read_json(out) if code == 0 else {}


# ------------------------------------------------------------------------------------ in process
@contextmanager
def _logging_as_in_a_process() -> Iterator[None]:
    """Lets cli's logging.basicConfig install its stderr handler, as in a real process (pytest's own
    handlers on the root logger would make it a no-op), and takes it away afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield
    finally:
        root.handlers = handlers
        root.setLevel(level)


class InProcess:
    """cli(script, *args, env=...) runs main.py's or main_mul.py's main() in this process, from an empty
    folder of the test's as the working directory, and returns a CompletedProcess: the exit code main()
    returned, and what the run wrote to stdout and stderr (file descriptors 1 and 2, so forked workers'
    output is in it too)."""

    def __init__(self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
        self._capfd, self._monkeypatch, self._cwd = capfd, monkeypatch, cwd

    def __call__(self, script: str, *args: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        argv = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args]
        self._capfd.readouterr()
        with self._monkeypatch.context() as m, _logging_as_in_a_process():
            m.chdir(self._cwd)
            for name in FOREIGN_ENV:
                m.delenv(name, raising=False)
            for name, value in (env or {}).items():
                m.setenv(name, value)
            code = ENTRY_POINTS[script](argv)
        out, err = self._capfd.readouterr()
        return subprocess.CompletedProcess([script, *argv], code, out, err)


# --------------------------------------------------------------------------------- subprocesses
def script_cmd(script: str, *args: Any) -> list[str]:
    return [sys.executable, str(ROOT / script), *(os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a)
                                                  for a in args)]


def run_cli(script: str, *args: Any, timeout: float = 60, env: dict[str, str] | None = None,
            cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    """Runs `python script args` to completion (killing it after timeout) and returns the result."""
    proc = start_cli(script, *args, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{script} {args} did not finish within {timeout} s; stderr:\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def start_cli(script: str, *args: Any, env: dict[str, str] | None = None,
              cwd: Path | str | None = None) -> subprocess.Popen:
    """Starts `python script args` in a session of its own (kill_tree ends it and its workers)."""
    full_env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.Popen(script_cmd(script, *args), cwd=cwd or ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)


def children(pid: int) -> list[int]:
    """Returns the pids of pid's direct children (Linux /proc)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_tree(proc: subprocess.Popen) -> None:
    """Kills the process group started for proc (start_new_session=True): the scanner and its workers."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def wait_for(cond: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(interval)
    return cond()


# ------------------------------------------------------------------------------------- outcomes
def assert_clean_failure(proc: subprocess.CompletedProcess) -> str:
    """Asserts exit 1 (the scan could not run): one line `error: ...` on stderr, no traceback, nothing on
    stdout; returns the line."""
    err = proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode}, wanted 1; stderr:\n{err}"
    assert "Traceback" not in err, err
    assert proc.stdout == "", proc.stdout
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def assert_usage_error(proc: subprocess.CompletedProcess) -> str:
    """Asserts exit 2 (bad usage): argparse's usage, then one `PROG: error: ...` line naming the problem, no
    traceback, nothing on stdout; returns that line."""
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}, wanted 2; stderr:\n{err}"
    assert "Traceback" not in err and proc.stdout == "", err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("usage: "), err
    assert ": error: " in lines[-1] and sum(": error: " in ln for ln in lines) == 1, err
    return lines[-1]
