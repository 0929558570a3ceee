"""Several scanners on one catalog at the same time (real processes started together): no deadlock, no
error, and the same rows and groups as the same scans one after the other."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from _db import assert_sqlite_intact, catalog_rows, drop_tables, scans
from _run import kill_tree, run_cli, start_cli
from _trees import age, blob, groups, oracle, read_json, write

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scanner-processes")]   # see test_interruptions


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


def _start_together(commands: list[tuple], url: str, tmp_path: Path) -> list[tuple[subprocess.Popen, Path]]:
    """Starts main_mul.py once per command; the harness holds each until all have imported everything."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for k, roots in enumerate(commands):
        out = tmp_path / f"concurrent-{k}.json"
        procs.append((start_cli("tests/_harness.py", "main_mul.py", *roots, "-p", "2", "--db-url", url,
                                "--skip-html", "--json", out, "-q",
                                env={"DUPFINDER_TEST_BARRIER": f"{barrier}:{len(commands)}"}), out))
    return procs


def _finish(procs: list[tuple[subprocess.Popen, Path]], timeout: float = 90) -> list[dict]:
    reports = []
    deadline = time.monotonic() + timeout
    try:
        for proc, out in procs:
            try:
                _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail("a concurrent scanner hung (deadlock?)")
            assert proc.returncode == 0, err
            assert err.strip() == "", err          # -q: no retry, deadlock or serialization error escaped
            reports.append(read_json(out))
    finally:
        for p, _ in procs:
            kill_tree(p)
    return reports


def assert_overlapped(history: list) -> None:
    """No scan ran alone: each one's time in the catalog (start_scan to finish_scan) overlapped another's."""
    spans = [(s.started_at, s.finished_at) for s in history]
    for k, (start, end) in enumerate(spans):
        assert any(start < other_end and other_start < end
                   for j, (other_start, other_end) in enumerate(spans) if j != k), spans


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
    assert_overlapped(history)

    drop_tables(pg_url)
    serial_reports = _serial(commands, pg_url, tmp_path)
    serial_rows = catalog_rows(pg_url)

    assert len(concurrent_rows) == len(serial_rows) == 1200
    assert concurrent_rows == serial_rows
    for (roots,), conc, ser in zip(((r[0],) for r in commands), reports, serial_reports, strict=True):
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
    # (one SQLite file has one writer at a time: the second scanner may wait out the first, so the two
    # scans' spans need not overlap; the harness started both at once)
    assert [s.status for s in scans(url)] == ["finished"] * 2

    serial_url = f"sqlite:///{tmp_path / 'serial.db'}"
    serial_reports = _serial(commands, serial_url, tmp_path)
    assert concurrent_rows == catalog_rows(serial_url)
    expected = oracle([t])
    for conc, ser in zip(reports, serial_reports, strict=True):
        assert groups(conc) == groups(ser) == expected
