"""Scans stopped in the middle of full hashing: kill -9, Ctrl-C (to the scanner or its whole process group),
SIGTERM, a database that goes away or whose sessions are terminated. What was committed stays sound, the
exit code and the one line on stderr say what happened, and a rerun finishes reading less than a fresh
scan. Every scanner here is a real subprocess: signals and process deaths are the point."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from _db import TcpProxy, assert_sqlite_intact, count_hashed, scans, terminate_backends
from _run import alive, assert_clean_failure, children, kill_tree, run_cli, start_cli, wait_for
from _trees import age, blob, groups, oracle, read_json, write

# One xdist worker runs the scanner-process tests one after another (with test_concurrent_scanners): they
# time signals against a running scan, and share the module's 400 MB tree.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scanner-processes")]

MiB = 2**20
FULL_DELAY = "0.03"       # seconds per full hash in the harness: ~200 files / 2 workers -> ~3 s of full hashing


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    """200 files of 1-3 MiB in identical pairs: every file needs a full hash."""
    root = tmp_path_factory.mktemp("big") / "big"
    for i in range(200):
        seed = i // 2
        size = (1 + seed % 3) * MiB + seed
        write(root / f"d{i % 4}" / f"f{i:03d}.bin", blob(seed, size))
    age(root)
    return root


@pytest.fixture(scope="module")
def big_reference(big_tree, tmp_path_factory) -> dict:
    """A fresh, uninterrupted scan of big_tree into its own database: its groups and bytes read."""
    tmp = tmp_path_factory.mktemp("bigref")
    url = f"sqlite:///{tmp / 'fresh.db'}"
    out = tmp / "fresh.json"
    p = run_cli("main_mul.py", big_tree, "-p", "2", "-b", "5", "--db-url", url, "--skip-html", "--json", out, "-q")
    assert p.returncode == 0, p.stderr
    report = read_json(out)
    assert groups(report) == oracle([big_tree]) and len(report["groups"]) == 100
    return {"groups": groups(report), "bytes_read": scans(url)[-1].bytes_read}


def slow_scan(root: Path, url: str, *extra) -> subprocess.Popen:
    # --io-depth 2: one file at a time per worker, so that FULL_DELAY stretches the stage as computed above
    return start_cli("tests/_harness.py", "main_mul.py", root, "-p", "2", "-b", "5", "--io-depth", "2", "--db-url", url,
                     "--skip-html", "-q", *extra, env={"DUPFINDER_TEST_FULL_DELAY": FULL_DELAY})


def wait_until_hashing(proc: subprocess.Popen, url: str, at_least: int = 10) -> None:
    """Waits until the catalog holds at_least full hashes while proc still runs (fails otherwise)."""
    ok = wait_for(lambda: count_hashed(url) >= at_least or proc.poll() is not None, timeout=60)
    if proc.poll() is not None:
        _, err = proc.communicate()
        pytest.fail(f"the scan ended (exit {proc.returncode}) before it could be interrupted:\n{err}")
    assert ok, "no full hash was committed within 60 s"


def check_rerun(root: Path, url: str, reference: dict, tmp_path: Path) -> dict:
    """Reruns main_mul.py to completion: exit 0, the right groups, fewer bytes read than a fresh scan."""
    out = tmp_path / "rerun.json"
    p = run_cli("main_mul.py", root, "-p", "2", "-b", "5", "--db-url", url, "--skip-html", "--json", out, "-q")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    report = read_json(out)
    assert report["finished"] is True
    assert groups(report) == reference["groups"]
    last = scans(url)[-1]
    assert last.status == "finished"
    assert last.bytes_read < reference["bytes_read"], (last.bytes_read, reference["bytes_read"])
    if url.startswith("sqlite"):
        assert_sqlite_intact(url)
    return report


@pytest.mark.timeout(180)
def test_kill_9_mid_hashing_then_rerun(big_tree, big_reference, db_url, tmp_path):
    proc = slow_scan(big_tree, db_url)
    try:
        wait_until_hashing(proc, db_url)
        workers = children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        kill_tree(proc)
    assert proc.returncode == -signal.SIGKILL
    # the workers die with their parent (no orphan keeps hashing or holding a connection)
    assert wait_for(lambda: not any(alive(w) for w in workers), timeout=10), workers
    history = scans(db_url)
    assert [s.status for s in history] == ["running"]
    committed = count_hashed(db_url)
    assert 0 < committed < 200
    if db_url.startswith("sqlite"):
        assert_sqlite_intact(db_url)
    check_rerun(big_tree, db_url, big_reference, tmp_path)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("target", ["scanner", "process_group"])
def test_ctrl_c_mid_hashing_saves_and_says_so(big_tree, big_reference, db_url, tmp_path, target):
    out = tmp_path / "interrupted.json"
    proc = slow_scan(big_tree, db_url, "--json", out)
    try:
        wait_until_hashing(proc, db_url)
        if target == "scanner":
            proc.send_signal(signal.SIGINT)
        else:                                   # a terminal's Ctrl-C reaches every process of the group
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        kill_tree(proc)
    _check_interrupted(proc, err, out, db_url, big_reference, expect_code=130)
    check_rerun(big_tree, db_url, big_reference, tmp_path)


@pytest.mark.timeout(180)
def test_sigterm_mid_hashing_exits_143(big_tree, big_reference, db_url, tmp_path):
    out = tmp_path / "terminated.json"
    proc = slow_scan(big_tree, db_url, "--json", out)
    try:
        wait_until_hashing(proc, db_url)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        kill_tree(proc)
    _check_interrupted(proc, err, out, db_url, big_reference, expect_code=143)
    check_rerun(big_tree, db_url, big_reference, tmp_path)


def _check_interrupted(proc, err, out, url, reference, expect_code):
    assert "Traceback" not in err, err
    assert proc.returncode == expect_code, f"exit {proc.returncode}, wanted {expect_code}; stderr:\n{err}"
    committed = count_hashed(url)
    assert 0 < committed < 200
    history = scans(url)
    assert [s.status for s in history] == ["interrupted"]
    report = read_json(out)
    assert report["finished"] is False
    assert all(g in reference["groups"] for g in groups(report))   # partial results, but never wrong ones
    # one line says what was saved: the number of full hashes committed, as the catalog holds them
    said = [int(n) for n in re.findall(r"(\d+) full hashes were committed", err)]
    assert said == [committed], err
    assert history[0].files_hashed == committed


# ------------------------------------------------------------------------------------ database away
@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_database_goes_away_mid_scan_then_comes_back(big_tree, big_reference, pg_url, tmp_path):
    proxy = TcpProxy(("127.0.0.1", make_url(pg_url).port or 5432)).start()
    via_proxy = make_url(pg_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        proc = slow_scan(big_tree, via_proxy)
        try:
            wait_until_hashing(proc, pg_url)
            proxy.close()                                     # the server is gone: resets, then refusals
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail("the scanner hung after the database went away")
        finally:
            kill_tree(proc)
        msg = assert_clean_failure(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        print(msg)
        assert "database" in msg and "postgresql" in msg
        proxy.start()                                         # the server is back, same address
        check_rerun(big_tree, via_proxy, big_reference, tmp_path)
    finally:
        proxy.close()


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_backends_terminated_repeatedly_mid_scan(big_tree, big_reference, pg_url, tmp_path):
    """pg_terminate_backend of the scanner's sessions, every 50 ms while it hashes: the scan either gets
    through on fresh connections (pool_pre_ping) or stops with one clear line; never a traceback or a hang."""
    dbname = make_url(pg_url).database
    proc = slow_scan(big_tree, pg_url)
    stop = threading.Event()
    killed = []

    def terminator():
        while not stop.is_set() and proc.poll() is None:
            killed.append(terminate_backends(dbname))
            time.sleep(0.05)
    try:
        wait_until_hashing(proc, pg_url, at_least=4)
        th = threading.Thread(target=terminator, daemon=True)
        th.start()
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the scanner hung while its connections were terminated")
        stop.set()
        th.join()
    finally:
        stop.set()
        kill_tree(proc)
    assert sum(killed) > 0
    print(f"exit {proc.returncode} after {sum(killed)} terminated sessions; stderr: {err.strip()!r}")
    # Which of the two outcomes comes depends on timing; each has its exact contract:
    if proc.returncode == 0:          # got through: a finished scan, and with -q nothing on stderr
        assert err.strip() == "" and out == "", err
        assert scans(pg_url)[-1].status == "finished"
    else:                             # stopped: exit 1 and one line saying what went wrong
        msg = assert_clean_failure(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        assert "server" in msg or "connection" in msg, msg
    check_rerun(big_tree, pg_url, big_reference, tmp_path)
