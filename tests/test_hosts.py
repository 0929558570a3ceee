"""Hosts (issue 12): where a scan's host comes from, rows unique per (host, path), every read, write and deletion
of a scan scoped to its own host, and several scanners acting as several machines on one catalog at once."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import main
import main_mul
from _catalogs import rows_by_host, scan_rows, scan_windows
from _db import drop_tables
from _run import ENTRIES, assert_clean_failure, assert_usage_error, kill_tree, scan, start_cli
from _trees import age, blob, copies_tree, groups, oracle, read_json, write
from utilities.hosts import check_host, qualified_path, split_qualified


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copies_tree(tmp_path / "tree", ("a", "b", "c/deep"), 200_000, {"alone.bin": blob(3, 1234)})




def paths_of(rows: dict, host: str) -> set[str]:
    return {path for (h, path) in rows if h == host}


# --------------------------------------------------------------------------------- where the host comes from
def config_with_host(tmp_path: Path, url: str, host: object) -> Path:
    path = tmp_path / "with-host.json"
    path.write_text(json.dumps({"database": {"type": "sqlite", "path": url.removeprefix("sqlite:///")},
                                "host": host}))
    return path


def test_host_from_option_then_config_then_machine(tree, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    config = config_with_host(tmp_path, url, "from-config")
    assert main.main([str(tree / "a"), "--config", str(config), "--skip-html", "-q"]) == 0
    assert main.main([str(tree / "b"), "--config", str(config), "--host", "from-option", "--skip-html", "-q"]) == 0
    assert main.main([str(tree / "c"), "--db-url", url, "--skip-html", "-q"]) == 0    # no host in ROOT/config.json
    rows = rows_by_host(url)
    assert {h for h, _ in rows} == {"from-config", "from-option", socket.gethostname()}
    assert {p for h, p in rows if h == "from-config"} == {str(tree / "a" / "small.bin"), str(tree / "a" / "big.bin")}
    assert [s[0] for s in scan_rows(url)] == ["from-config", "from-option", socket.gethostname()]


@pytest.mark.parametrize("host, message", [
    (5, '"host" must be a string, not int 5'),
    ("", "a host name cannot be empty"),
    ("nas:backup", "cannot contain ':'"),
    (" padded", "cannot begin or end with a space"),
])
def test_bad_host_in_config_is_one_line_exit_1(cli, tree, tmp_path, host, message):
    config = config_with_host(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", host)
    proc = cli("main.py", tree, "--config", config, "--skip-html")
    err = assert_clean_failure(proc)
    assert str(config) in err and message in err


@pytest.mark.parametrize("host", ["", "a:b", "x" * 256, "tab\there"])
def test_bad_host_option_is_a_usage_error(cli, tree, tmp_path, host):
    proc = cli("main.py", tree, "--db-url", f"sqlite:///{tmp_path / 'c.db'}", "--host", host, "--skip-html")
    assert "--host" in assert_usage_error(proc)


def test_host_names_and_the_host_path_notation():
    assert check_host("Ann's laptop.local") == "Ann's laptop.local"
    assert qualified_path("nas", "/srv/x:y") == "nas:/srv/x:y"
    assert split_qualified("nas:/srv/x:y") == ("nas", "/srv/x:y")
    assert split_qualified("/plain/a:b") == (None, "/plain/a:b")
    assert split_qualified("relative:path") == (None, "relative:path")


# ------------------------------------------------------------------------------------- scoped to the host
@ENTRIES
def test_same_tree_as_two_hosts_gives_two_sets_of_rows_and_deletions_stay_home(entry, tree, db_url, tmp_path):
    report_a = scan(entry, [tree], db_url, tmp_path, "--host", "a")
    report_b = scan(entry, [tree], db_url, tmp_path, "--host", "b")
    rows = rows_by_host(db_url)
    assert len(paths_of(rows, "a")) == 7 and paths_of(rows, "a") == paths_of(rows, "b")
    assert all(rows[("a", p)] == rows[("b", p)] for p in paths_of(rows, "a"))
    assert groups(report_a) == groups(report_b) == oracle([tree])
    # b reused none of a's hashes (another machine's rows, even at the same paths); a's rescan reuses its own
    read_a, read_b = (s[2] for s in scan_rows(db_url))
    assert read_a == read_b > 0
    scan(entry, [tree], db_url, tmp_path, "--host", "a")
    assert scan_rows(db_url)[-1][2] == 0

    gone = tree / "b" / "big.bin"
    gone.unlink()
    report = scan(entry, [tree], db_url, tmp_path, "--host", "a")
    after = rows_by_host(db_url)
    assert paths_of(after, "a") == paths_of(rows, "a") - {str(gone)}
    assert {k: v for k, v in after.items() if k[0] == "b"} == {k: v for k, v in rows.items() if k[0] == "b"}
    assert groups(report) == oracle([tree])


# ----------------------------------------------------------------------------- four machines at once
@pytest.fixture(scope="module")
def overlapping_tree(tmp_path_factory) -> Path:
    """T with s1 and s2 and files at the top; contents repeat within and across them."""
    t = tmp_path_factory.mktemp("hosts") / "T"
    sizes = [10, 3000, 5000, 70_000]
    for i in range(400):
        where = ("s1", "s2", "top", "s1/deep")[i % 4]
        write(t / where / f"f{i:04d}.bin", blob(i % 53, sizes[i % 53 % 4]))
    age(t)
    return t


@pytest.mark.slow
@pytest.mark.xdist_group("scanner-processes")      # timed against running scanners: see test_interruptions
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_four_hosts_scanning_at_once_equal_four_serial_scans(overlapping_tree, pg_url, tmp_path):
    t = overlapping_tree
    commands = [("a", t), ("b", t), ("c", t / "s1"), ("d", t)]     # overlapping paths on every host
    barrier = tmp_path / "barrier"         # the harness holds each scanner until all four have started
    barrier.mkdir()
    procs = []
    for host, root in commands:
        out = tmp_path / f"concurrent-{host}.json"
        procs.append((start_cli("tests/_harness.py", "main_mul.py", root, "-p", "2", "--db-url", pg_url, "--host",
                                host, "--skip-html", "--json", out, "-q",
                                env={"DUPFINDER_TEST_BARRIER": f"{barrier}:{len(commands)}"}), out))
    try:
        errors = [p.communicate(timeout=150)[1] for p, _ in procs]
    finally:
        for p, _ in procs:
            kill_tree(p)
    assert [p.returncode for p, _ in procs] == [0] * 4, errors
    assert errors == [""] * 4                   # -q: no deadlock or serialization error escaped
    concurrent = rows_by_host(pg_url)
    concurrent_groups = [groups(read_json(out)) for _, out in procs]
    assert sorted(s[:2] for s in scan_rows(pg_url)) == [(h, "finished") for h in "abcd"]
    windows = scan_windows(pg_url)
    assert max(start for start, _ in windows) < min(end for _, end in windows)   # all four were running at once

    drop_tables(pg_url)
    serial_groups = []
    for host, root in commands:
        serial_groups.append(groups(scan(main_mul.main, [root], pg_url, tmp_path, "--host", host)))
    serial = rows_by_host(pg_url)
    assert len(concurrent) == len(serial) == 400 + 400 + 200 + 400     # s1 holds s1/ and s1/deep/
    assert concurrent == serial
    assert concurrent_groups == serial_groups == [oracle([root]) for _, root in commands]


# ------------------------------------------------------------------------------------ paths of any length
def deep_dir(base: Path, length: int) -> Path:
    """Makes and returns base/<name>/<name>/... exactly `length` bytes long: names of 200 bytes, every other one
    of 2-byte characters (so that characters and bytes differ), the last one shorter."""
    path, k = str(base), 0
    while len(os.fsencode(path)) < length:
        room = length - len(os.fsencode(path)) - 1
        name = ("é" * 100 if k % 2 else "x" * 200) if room >= 250 else "y" * room
        path, k = f"{path}/{name}", k + 1
    Path(path).mkdir(parents=True)
    assert len(os.fsencode(path)) == length
    return Path(path)


@pytest.mark.timeout(120)
@ENTRIES
def test_a_4000_byte_path_is_scanned_stored_found_again_and_deleted(entry, db_url, tmp_path):
    root = tmp_path / "long"
    deep = deep_dir(root, 4000 - len("/dup-1.bin"))      # ~3,000 characters: the md5 part of the key is used
    data = blob(9, 50_000)
    long_a, long_b = write(deep / "dup-1.bin", data), write(deep / "dup-2.bin", data)
    write(root / "top.bin", data)
    age(root)
    assert len(os.fsencode(str(long_a))) == 4000
    report = scan(entry, [root], db_url, tmp_path, "--host", "h")
    assert groups(report) == [sorted([str(long_a), str(long_b), str(root / "top.bin")])]
    assert report["summary"]["errors"] == 0
    assert {str(long_a), str(long_b)} <= paths_of(rows_by_host(db_url), "h")

    again = scan(entry, [root], db_url, tmp_path, "--host", "h")
    assert groups(again) == groups(report) and scan_rows(db_url)[-1][2] == 0     # found again, nothing read

    long_b.unlink()
    after = scan(entry, [root], db_url, tmp_path, "--host", "h")
    assert paths_of(rows_by_host(db_url), "h") == {str(long_a), str(root / "top.bin")}
    assert groups(after) == [sorted([str(long_a), str(root / "top.bin")])]
