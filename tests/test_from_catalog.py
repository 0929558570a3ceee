"""--from-catalog (issue 14): the duplicate groups already in the catalog, without a walk; every host or --host's,
under path prefixes; JSON and CSV streamed most wasted first, memory bounded by one group; the HTML report capped
and saying so; and the scale benchmark's smoke run."""
from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import tracemalloc
import uuid
import weakref
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from _db import PG_ADMIN_URL, admin_engine, terminate_backends
from _run import assert_clean_failure
from _trees import ROOT, read_json
from utilities import catalog_groups, exports, from_catalog, walk
from utilities.catalog import Catalog
from utilities.catalog_groups import Filter
from utilities.database import FileHash
from utilities.report import Group, Report, Summary

HOSTS = ("h1", "h2", "h3")
FOLDERS = ("/a/b", "/a/bc", "/a/b/deep", "/x", "/x/y z")


# ------------------------------------------------------------------------------------------- catalogs
def catalog_rows(n: int, seed: int = 1) -> list[dict]:
    """n random rows over HOSTS: sizes and hashes drawn from small sets (so that groups form), some rows
    unhashed, some zero-byte, and some hard links (a second path of one host's device and inode)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        host = rng.choice(HOSTS)
        size = rng.choice((0, 10, 10, 300, 4096, 70_000))
        content = rng.randrange(n // 4 + 2)
        digest = None if rng.random() < 0.15 else f"{content:032x}"
        inode = i
        if rows and rng.random() < 0.05:            # another name of an earlier file of this host
            prev = rng.choice(rows)
            host, size, digest, inode = prev["host"], prev["file_size"], prev["hash_value"], prev["inode"]
        path = f"{rng.choice(FOLDERS)}/f{i}.bin"
        rows.append(dict(host=host, absolute_path=path, filename=os.path.basename(path), hash_value=digest,
                         file_size=size, scan_date=1_700_000_000.0 + i, modified_time=1.0, mtime_ns=1, ctime_ns=1,
                         device=7, inode=inode, algorithm="xxh128" if digest else None,
                         partial_bytes=4096 if digest else None, partial_hash="p" if digest else None,
                         hashed_at=1.0 if digest else None))
    return rows


def make_catalog(url: str, rows: list[dict]) -> None:
    catalog = Catalog(url, host="maker")
    catalog.initialize()
    catalog.close()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for i in range(0, len(rows), 5000):
                conn.execute(insert(FileHash), rows[i:i + 5000])
    finally:
        engine.dispose()


def recount(rows: list[dict], this_host: str, host: str | None = None, prefixes: tuple[str, ...] = (),
            min_size: int = 1) -> list[dict]:
    """The groups the contract asks for, counted from the rows in plain Python: {size, hash, files, hard_links,
    last_seen} per group, files listed once per (host, device, inode)."""
    def kept(r: dict) -> bool:
        inside = not prefixes or any(r["absolute_path"] == p or r["absolute_path"].startswith(p + "/")
                                     for p in prefixes)
        return (r["hash_value"] is not None and r["file_size"] >= min_size and r["file_size"] > 0 and inside
                and (host is None or r["host"] == host))
    by_key: dict[tuple, dict[tuple, list[str]]] = defaultdict(lambda: defaultdict(list))
    seen: dict[str, float] = {}
    for r in filter(kept, rows):
        name = r["absolute_path"] if r["host"] == this_host else f"{r['host']}:{r['absolute_path']}"
        if r["host"] != this_host:
            seen[name] = r["scan_date"]
        by_key[(r["file_size"], r["hash_value"])][(r["host"], r["device"], r["inode"])].append(name)
    out = []
    for (size, digest), files in by_key.items():
        if len(files) < 2:
            continue
        names = [sorted(v) for v in files.values()]
        group: dict = {"hash": digest, "size": size, "count": len(names), "wasted_bytes": size * (len(names) - 1),
                       "files": sorted(n[0] for n in names)}
        links = {n[0]: n[1:] for n in names if len(n) > 1}
        if links:
            group["hard_links"] = links
        last = {n: seen[n] for v in names for n in v if n in seen}
        if last:
            group["last_seen"] = last
        out.append(group)
    return sorted(out, key=lambda g: (-g["wasted_bytes"], g["size"], g["hash"]))


def host_config(tmp_path: Path, host: str) -> Path:
    """A config file naming this run's host without filtering by it (--host would filter)."""
    path = tmp_path / "config-host.json"
    path.write_text(json.dumps({"database": {"type": "sqlite", "path": str(tmp_path / "unused.db")}, "host": host}))
    return path


def export_groups(cli, url: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"fc-{uuid.uuid4().hex[:8]}.json"
    proc = cli("main.py", "--from-catalog", "--db-url", url, "--json", out, "--skip-html", "-q", *extra)
    assert proc.returncode == 0, proc.stderr
    return read_json(out)


def assert_sorted(doc: dict) -> None:
    wasted = [g["wasted_bytes"] for g in doc["groups"]]
    assert wasted == sorted(wasted, reverse=True)


# ----------------------------------------------------------------------------------- groups = recount
@pytest.fixture
def catalog(db_url: str) -> tuple[str, list[dict]]:
    rows = catalog_rows(600)
    make_catalog(db_url, rows)
    return db_url, rows


def test_groups_equal_a_recount_for_every_host(catalog, cli, tmp_path):
    url, rows = catalog
    doc = export_groups(cli, url, tmp_path, "--config", host_config(tmp_path, "h1"))
    expected = recount(rows, this_host="h1")
    assert len(expected) > 20 and any("hard_links" in g for g in expected)
    assert sorted(doc["groups"], key=lambda g: (-g["wasted_bytes"], g["size"], g["hash"])) == expected
    assert_sorted(doc)
    s = doc["summary"]
    assert (s["duplicate_groups"], s["duplicate_files"], s["redundant_files"], s["wasted_bytes"]) == (
        len(expected), sum(g["count"] for g in expected), sum(g["count"] - 1 for g in expected),
        sum(g["wasted_bytes"] for g in expected))
    assert s["files_scanned"] == sum(1 for r in rows if r["file_size"] > 0)   # the rows the filter kept
    assert (doc["version"], doc["finished"], doc["roots"], doc["unreadable"]) == (2, True, [], [])


def test_groups_equal_a_recount_for_host(catalog, cli, tmp_path):
    url, rows = catalog
    doc = export_groups(cli, url, tmp_path, "--host", "h2")
    expected = recount(rows, this_host="h2", host="h2")
    assert expected
    assert sorted(doc["groups"], key=lambda g: (-g["wasted_bytes"], g["size"], g["hash"])) == expected
    assert all(p.startswith("/") for g in doc["groups"] for p in g["files"])     # its own paths: plain
    assert all("last_seen" not in g for g in doc["groups"])


def test_groups_equal_a_recount_under_prefixes(catalog, cli, tmp_path):
    url, rows = catalog
    doc = export_groups(cli, url, tmp_path, "/a/b", "/x/y z/", "--config", host_config(tmp_path, "h3"))
    expected = recount(rows, this_host="h3", prefixes=("/a/b", "/x/y z"))
    assert expected
    assert sorted(doc["groups"], key=lambda g: (-g["wasted_bytes"], g["size"], g["hash"])) == expected
    assert doc["roots"] == ["/a/b", "/x/y z"]
    assert_sorted(doc)


def test_both_entry_points_give_the_same_groups(catalog, cli, tmp_path):
    url, _ = catalog
    docs = [export_groups(cli, url, tmp_path, "--host", "h1") if script == "main.py" else
            _json_of(cli("main_mul.py", "--from-catalog", "--db-url", url, "--host", "h1", "--json",
                         tmp_path / "mul.json", "--skip-html", "-q", "-p", "2"), tmp_path / "mul.json")
            for script in ("main.py", "main_mul.py")]
    assert docs[0]["groups"] == docs[1]["groups"] and docs[0]["summary"] == docs[1]["summary"]


def _json_of(proc, path: Path) -> dict:
    assert proc.returncode == 0, proc.stderr
    return read_json(path)


def test_a_prefix_is_a_folder_not_a_string_prefix(db_url, cli, tmp_path):
    def row(host: str, path: str, inode: int) -> dict:
        return dict(catalog_rows(1)[0], host=host, absolute_path=path, filename=os.path.basename(path),
                    file_size=100, hash_value="ab" * 16, inode=inode)
    make_catalog(db_url, [row("h1", "/a/b/one", 1), row("h1", "/a/bc/two", 2), row("h2", "/a/b", 3),
                          row("h2", "/a/bc", 4), row("h2", "/a/b.txt", 5), row("h1", "/a/b/x/three", 6)])
    doc = export_groups(cli, db_url, tmp_path, "/a/b", "--config", host_config(tmp_path, "h1"))
    assert [g["files"] for g in doc["groups"]] == [["/a/b/one", "/a/b/x/three", "h2:/a/b"]]
    doc = export_groups(cli, db_url, tmp_path, "/a/b", "--host", "h1")
    assert [g["files"] for g in doc["groups"]] == [["/a/b/one", "/a/b/x/three"]]
    doc = export_groups(cli, db_url, tmp_path, "/a/bc", "--config", host_config(tmp_path, "h1"))
    assert [g["files"] for g in doc["groups"]] == [["/a/bc/two", "h2:/a/bc"]]


def test_other_hosts_are_written_host_path_with_last_seen(catalog, cli, tmp_path):
    url, rows = catalog
    doc = export_groups(cli, url, tmp_path, "--config", host_config(tmp_path, "h1"))
    when = {(r["host"], r["absolute_path"]): r["scan_date"] for r in rows}
    plain = qualified = 0
    for g in doc["groups"]:
        for p in g["files"] + [n for names in g.get("hard_links", {}).values() for n in names]:
            if p.startswith("/"):
                plain += 1
                assert ("h1", p) in when and p not in g.get("last_seen", {})
            else:
                qualified += 1
                host, _, path = p.partition(":")
                assert host in ("h2", "h3") and g["last_seen"][p] == when[(host, path)]
    assert plain and qualified


def test_size_filters_apply(catalog, cli, tmp_path):
    url, rows = catalog
    doc = export_groups(cli, url, tmp_path, "--min-size", "1000", "--config", host_config(tmp_path, "h1"))
    assert {g["size"] for g in doc["groups"]} == {4096, 70_000}
    assert sorted(doc["groups"], key=lambda g: (-g["wasted_bytes"], g["size"], g["hash"])) == \
        recount(rows, this_host="h1", min_size=1000)


def test_csv_has_the_scans_columns_and_last_seen_one_row_a_listed_file(catalog, cli, tmp_path):
    url, rows = catalog
    out = tmp_path / "fc.csv"
    proc = cli("main.py", "--from-catalog", "--db-url", url, "--csv", out, "--skip-html", "-q",
               "--config", host_config(tmp_path, "h1"))
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    expected = recount(rows, this_host="h1")
    assert table[0] == ["group", "hash", "size", "path", "hard_links", "last_seen"]
    assert len(table) - 1 == sum(g["count"] for g in expected)
    assert {r[3] for r in table[1:]} == {p for g in expected for p in g["files"]}
    # this host's files with no last_seen; another host's (host:/path) with when that host last saw it
    seen = {p: t for g in expected for p, t in g.get("last_seen", {}).items()}
    assert seen and all(p.startswith(("h2:", "h3:", "h4:", "h5:")) for p in seen)
    assert {r[3]: (float(r[5]) if r[5] else None) for r in table[1:]} == \
        {p: pytest.approx(seen[p], abs=1e-3) if p in seen else None for g in expected for p in g["files"]}
    assert int(table[-1][0]) == len(expected)


def test_no_walk_and_a_prefix_need_not_exist_here(catalog, cli, tmp_path, monkeypatch):
    url, rows = catalog
    def no_walk(*args, **kwargs):
        raise AssertionError("--from-catalog walked the file system")
    monkeypatch.setattr(walk, "iter_files", no_walk)
    assert not os.path.exists("/x/y z")
    doc = export_groups(cli, url, tmp_path, "/x/y z", "--config", host_config(tmp_path, "h1"))
    expected = recount(rows, this_host="h1", prefixes=("/x/y z",))
    assert expected
    assert sorted(doc["groups"], key=lambda g: (-g["wasted_bytes"], g["size"], g["hash"])) == expected


def test_summary_on_stderr_and_the_html_report(catalog, cli, tmp_path):
    url, _ = catalog
    report = tmp_path / "r.html"
    proc = cli("main.py", "--from-catalog", "--db-url", url, "-r", report, "--host", "h1")
    assert proc.returncode == 0, proc.stderr
    assert "duplicate groups:" in proc.stderr and "nothing scanned" in proc.stderr and str(report) in proc.stderr
    assert "groups-capped" not in report.read_text(encoding="utf-8")      # under the cap: all shown


def test_html_states_the_cap_when_groups_exceed_it(catalog, cli, tmp_path, monkeypatch):
    url, rows = catalog
    monkeypatch.setattr(from_catalog, "HTML_GROUPS", 3)
    report, out = tmp_path / "r.html", tmp_path / "all.json"
    proc = cli("main.py", "--from-catalog", "--db-url", url, "-r", report, "--json", out, "-q",
               "--config", host_config(tmp_path, "h1"))
    assert proc.returncode == 0, proc.stderr
    page = report.read_text(encoding="utf-8")
    n = len(recount(rows, this_host="h1"))
    assert f"Showing the 3 groups with the most wasted space of {n:,}." in page
    data = json.loads(page.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
    top = read_json(out)["groups"][:3]
    assert [[row[0], row[1]] for row in data["groups"]] == [[g["size"], g["hash"]] for g in top]
    assert f"{n:,}" in page.split('data-stat="groups"', 1)[1][:300]          # the totals are for all
    # other hosts' files show when their host last saw them
    others = [(gi, fi) for gi, g in enumerate(top) for fi, p in enumerate(g["files"]) if not p.startswith("/")]
    assert others and [row[:2] for row in data["seen"]] == [list(x) for x in others]
    assert all(row[2].startswith(f"last seen by {top[row[0]]['files'][row[1]].split(':', 1)[0]} 20")
               for row in data["seen"])


@pytest.mark.postgres
def test_the_server_going_away_mid_stream_is_one_line_and_no_export(pg_url, cli, tmp_path, monkeypatch):
    """The groups come from psycopg2's own named cursor: a failure while they stream is still the one-line
    database error of any other query (exit 1), and the export is not left half written."""
    make_catalog(pg_url, catalog_rows(600))
    monkeypatch.setattr(catalog_groups, "STREAM_CHUNK", 1)      # one group a fetch: many fetches
    real = from_catalog.as_group
    calls = []

    def then_terminate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            terminate_backends(make_url(pg_url).database)
        return real(*args, **kwargs)
    monkeypatch.setattr(from_catalog, "as_group", then_terminate)
    out = tmp_path / "gone.json"
    proc = cli("main.py", "--from-catalog", "--db-url", pg_url, "--json", out, "--skip-html")
    line = assert_clean_failure(proc)
    assert "server closed the connection" in line or "terminat" in line, line    # the cause, not a follow-on
    assert not out.exists() and len(calls) == 3


# --------------------------------------------------------------------------------------- memory bound
def test_the_json_writer_consumes_groups_as_they_come(tmp_path):
    """Each group is asked for once the ones before it are written and let go: a writer that gathered them
    first (list(groups)) would keep them all alive."""
    out = tmp_path / "stream.json"
    alive: list[int] = []
    refs: list[weakref.ref] = []

    def groups() -> Iterator[Group]:
        for i in range(50):
            alive.append(sum(r() is not None for r in refs))
            g = Group(size=10, digest=f"{i:032x}", paths=[f"/p/{i}/a", f"/p/{i}/b"], last_seen={"h:/q": 1.0})
            refs.append(weakref.ref(g))
            yield g
            del g
    report = Report(roots=[], algorithm="xxh128", finished=True, summary=Summary(0, 0, 50, 100, 50, 500, 0),
                    groups=[])
    exports.write_json(str(out), report, groups())
    assert max(alive) <= 1, alive
    doc = read_json(out)
    assert len(doc["groups"]) == 50 and doc["groups"][7]["last_seen"] == {"h:/q": 1.0}
    whole = tmp_path / "whole.json"              # the same document as one written at once
    exports.write_json(str(whole), replace(report, groups=list(groups())))
    assert doc == read_json(whole)
    streamed_empty, empty = tmp_path / "streamed-empty.json", tmp_path / "empty.json"
    exports.write_json(str(streamed_empty), report, iter(()))
    exports.write_json(str(empty), report)
    assert streamed_empty.read_text() == empty.read_text()


def test_streamed_json_is_lossless_for_names_that_are_not_utf8(tmp_path):
    name = os.fsdecode(b"/p/caf\xe9-\xff.bin")
    out = tmp_path / "odd.json"
    report = Report(roots=[], algorithm="x", finished=True, summary=Summary(0, 0, 1, 2, 1, 1, 0), groups=[])
    exports.write_json(str(out), report, iter([Group(size=1, digest="d", paths=[name, "/p/\u00e9"])]))
    assert "\\udce9" in out.read_text(encoding="utf-8")
    assert [os.fsencode(p) for p in read_json(out)["groups"][0]["files"]] == [b"/p/caf\xe9-\xff.bin",
                                                                            "/p/\u00e9".encode()]


def _peak_while_streaming(url: str, tmp_path: Path) -> tuple[int, int]:
    catalog = Catalog(url, host="h1")
    report = Report(roots=[], algorithm="x", finished=True, summary=Summary(0, 0, 0, 0, 0, 0, 0), groups=[])
    out = tmp_path / f"m-{uuid.uuid4().hex[:6]}.json"
    try:
        with catalog.session() as s:
            tracemalloc.start()
            try:
                _, groups = from_catalog.open_groups(s, Filter(), "h1")
                exports.write_json(str(out), report, groups)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    finally:
        catalog.close()
    return peak, len(read_json(out)["groups"])


def test_memory_stays_flat_from_5000_to_50000_rows(db_url, tmp_path):
    """Streaming: the Python heap's peak while writing the JSON of a catalog ten times larger stays about the
    same (a list of all groups would grow tenfold)."""
    def rows(n: int) -> list[dict]:
        base = catalog_rows(1)[0]
        return [dict(base, host=HOSTS[i % 3], absolute_path=f"/d/{i}/file-with-a-longish-name-{i}.bin",
                     filename=f"f{i}", file_size=1000 + i // 2, hash_value=f"{i // 2:032x}", inode=i)
                for i in range(n)]
    make_catalog(db_url, rows(5000))
    small, n_small = _peak_while_streaming(db_url, tmp_path)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(FileHash.__table__.delete())
    engine.dispose()
    make_catalog(db_url, rows(50_000))
    large, n_large = _peak_while_streaming(db_url, tmp_path)
    assert (n_small, n_large) == (2500, 25_000)
    assert large < 2 * small + 512 * 1024, (small, large)


# ------------------------------------------------------------------------------------- the benchmark
@pytest.mark.postgres
def test_catalog_scale_bench_smoke(pg_scratch_url, tmp_path):
    """bench/catalog_scale.py with 20,000 rows: its table's figures are sane and its JSON equals a recount."""
    del pg_scratch_url                  # the server is there (or the fixture skipped / failed)
    name = f"test_{uuid.uuid4().hex[:10]}"
    out = tmp_path / "figures.json"
    env = {**os.environ, "DUPFINDER_BENCH_PG_URL": PG_ADMIN_URL}
    try:
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "catalog_scale.py"), "--rows", "20000",
                               "--hosts", "3", "--name", name, "--json-out", str(out), "-q"], capture_output=True,
                              text=True, timeout=300, env=env)
    finally:                            # the script drops its database, unless it failed half-way
        engine = admin_engine()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "dupfinder_bench_{name}" WITH (FORCE)'))
        engine.dispose()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    f = json.loads(out.read_text())
    assert f["rows"] == f["catalog_rows"] == 20_000 and f["hosts"] == 3
    assert 0.15 * 20_000 < f["grouped_rows"] < 0.35 * 20_000 and f["groups"] > 1000
    assert f["json_groups"] == f["groups"] and f["recount"] == "every group"
    assert f["json_sorted"] and f["summary_agrees"]
    assert 0 < f["copy_s"] < 120 and 0 < f["index_s"] < 60 and 0 < f["from_catalog_s"] < 60
    assert 0 < f["from_catalog_peak_mb"] < 300
    assert "| `--from-catalog --json`, whole catalog |" in proc.stdout
