"""Issue 6, reliability: concurrent scanners on one catalog, kill -9 / Ctrl-C / SIGTERM in the middle of
full hashing, and a database that goes away mid-scan. Every scanner here is a real subprocess."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from _trees import (TcpProxy, age, alive, assert_clean_failure, catalog_rows, children, count_hashed, groups,
                    kill_tree, oracle, read_json, run_cli, scans, start_cli, terminate_backends, wait_for, write,
                    blob)
from conftest import _reset_pg

MiB = 2**20
FULL_DELAY = "0.03"       # seconds per full hash in the harness: ~200 files / 2 workers -> ~3 s of full hashing


# --------------------------------------------------------------------------------------------- trees
@pytest.fixture(scope="module")
def shared_tree(tmp_path_factory) -> Path:
    """T with two subtrees s1 and s2 and files at the top; contents repeat within and across them."""
    base = tmp_path_factory.mktemp("shared")
    t = base / "T"
    sizes = [10, 3000, 5000, 9000, 70_000]
    for i in range(1200):
        where = ("s1", "s2", "top", "s1/deep", "s2/deep/er")[i % 5]
        seed, size = i % 97, sizes[i % 97 % 5]
        data = bytearray(blob(seed, size))
        if i % 11 == 0 and size > 20_000:      # same head and tail as its seed's file, different middle
            data[size // 2] ^= 0xFF
        write(t / where / f"f{i:04d}.bin", bytes(data))
    age(t)
    return t


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


def slow_scan(root: Path, url: str, *extra, script: str = "main_mul.py") -> subprocess.Popen:
    # --io-depth 2: one file at a time per worker, so that FULL_DELAY stretches the stage as computed above
    return start_cli("tests/_harness.py", script, root, "-p", "2", "-b", "5", "--io-depth", "2", "--db-url", url,
                     "--skip-html", "-q", *extra, env={"DUPFINDER_TEST_FULL_DELAY": FULL_DELAY})


def wait_until_hashing(proc: subprocess.Popen, url: str, at_least: int = 10) -> None:
    """Waits until the catalog holds at_least full hashes while proc still runs (fails otherwise)."""
    ok = wait_for(lambda: count_hashed(url) >= at_least or proc.poll() is not None, timeout=60)
    if proc.poll() is not None:
        out, err = proc.communicate()
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


def assert_sqlite_intact(url: str) -> None:
    con = sqlite3.connect(make_url(url).database)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


# --------------------------------------------------------------------------------------- concurrency
def _start_together(commands: list[tuple], url: str, tmp_path: Path) -> list[tuple[subprocess.Popen, Path]]:
    start_at = time.time() + 2.5      # after every interpreter has imported SQLAlchemy & co.
    procs = []
    for k, roots in enumerate(commands):
        out = tmp_path / f"concurrent-{k}.json"
        procs.append((start_cli("tests/_harness.py", "main_mul.py", *roots, "-p", "2", "--db-url", url,
                                "--skip-html", "--json", out, "-q",
                                env={"DUPFINDER_TEST_START_AT": str(start_at)}), out))
    return procs


def _finish(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 90) -> list[dict]:
    reports = []
    deadline = time.monotonic() + timeout
    for proc, out in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p, _ in procs:
                kill_tree(p)
            pytest.fail("a concurrent scanner hung (deadlock?)")
        assert proc.returncode == 0, err
        assert err.strip() == "", err          # -q: no retry, deadlock or serialization error escaped
        reports.append(read_json(out))
    return reports


def _serial(commands: list[tuple], url: str, tmp_path: Path) -> list[dict]:
    reports = []
    for k, roots in enumerate(commands):
        out = tmp_path / f"serial-{k}.json"
        p = run_cli("main_mul.py", *roots, "-p", "2", "--db-url", url, "--skip-html", "--json", out, "-q")
        assert p.returncode == 0, p.stderr
        reports.append(read_json(out))
    return reports


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_four_concurrent_scanners_on_postgres_equal_one_serial_scan(shared_tree, pg_url, tmp_path):
    t = shared_tree
    commands = [(t,), (t,), (t / "s1",), (t / "s2",)]   # the same tree twice, a subtree, its sibling
    reports = _finish(_start_together(commands, pg_url, tmp_path))
    concurrent_rows = catalog_rows(pg_url)
    history = scans(pg_url)
    assert [s.status for s in history] == ["finished"] * 4

    _reset_pg(pg_url)
    serial_reports = _serial(commands, pg_url, tmp_path)
    serial_rows = catalog_rows(pg_url)

    assert len(concurrent_rows) == len(serial_rows) == 1200
    assert concurrent_rows == serial_rows
    for (roots,), conc, ser in zip(((r[0],) for r in commands), reports, serial_reports):
        assert groups(conc) == groups(ser) == oracle([roots])
        assert conc["summary"] == ser["summary"]


@pytest.mark.timeout(240)
def test_two_concurrent_scanners_on_one_sqlite_file(shared_tree, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    t = shared_tree
    commands = [(t,), (t, t / "s1")]
    reports = _finish(_start_together(commands, url, tmp_path))
    assert_sqlite_intact(url)
    concurrent_rows = catalog_rows(url)
    assert [s.status for s in scans(url)] == ["finished"] * 2

    serial_url = f"sqlite:///{tmp_path / 'serial.db'}"
    serial_reports = _serial(commands, serial_url, tmp_path)
    assert concurrent_rows == catalog_rows(serial_url)
    expected = oracle([t])
    for conc, ser in zip(reports, serial_reports):
        assert groups(conc) == groups(ser) == expected


# ---------------------------------------------------------------------------------- kill, Ctrl-C, TERM
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
    assert proc.returncode in (0, 1), err
    assert "Traceback" not in err, err
    if proc.returncode == 1:
        assert_clean_failure(subprocess.CompletedProcess(proc.args, 1, out, err))
        assert "server" in err or "connection" in err, err
    check_rerun(big_tree, pg_url, big_reference, tmp_path)
