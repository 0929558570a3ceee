#!/usr/bin/env python3
"""The catalog at scale: builds a synthetic catalog in PostgreSQL (synthetic_catalog.py; 5,000,000 rows over 5
hosts by default) and prints a table of what it costs:

- COPY and index times of the load (VACUUM ANALYZE after it);
- the groups' query (catalog_groups.groups) up to its first row, which brings the totals, in this process;
- `--from-catalog --json` of the whole catalog: wall time and the child's peak RSS (os.wait4), and its groups
  checked against a recount (every group, in Python, for catalogs of up to RECOUNT_ROWS rows; the number of
  groups, by plain SQL, above that);
- with --corpus DIR: a `--catalog` scan of DIR against this catalog and against an empty one (their ratio), and
  `--unique` of DIR.

    python3 bench/catalog_scale.py --corpus /work/corpora/medium            # 5M rows: several minutes
    python3 bench/catalog_scale.py --rows 20000 --hosts 3 --json-out f.json # the smoke test's size
    python3 bench/catalog_scale.py --reuse 5m --explain                     # the plans (EXPLAIN ANALYZE)
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

import synthetic_catalog  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from utilities import catalog_groups  # noqa: E402
from utilities.catalog import Catalog  # noqa: E402
from utilities.hosts import machine_host, qualified_path  # noqa: E402

RECOUNT_ROWS = 200_000         # up to this many rows, every group is recounted in Python
SCAN_HOST = "bench-scanner"    # the host the corpus scans store their rows under (deleted after each)


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
LAST_CPU = [0.0]               # CPU seconds of the last run_child


def run_child(argv: list[str]) -> tuple[float, float, int, str]:
    """Runs argv; returns (wall seconds, peak RSS in MB, exit code, stderr), and keeps its CPU seconds (user +
    system) in LAST_CPU, which a busy machine changes less than the wall time. The peak comes from GNU time when
    there is one: a child's own ru_maxrss (os.wait4) starts from this process' size at the fork, which the
    in-process query above has made large."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = os.path.join(tmp, "peak")
        if GNU_TIME:
            argv = [GNU_TIME, "-f", "%U %S %M", "-o", peak_file, *argv]
        started = time.monotonic()
        with open(os.path.join(tmp, "err"), "w+b") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            text = err.read().decode(errors="replace")
        peak_kb = float(usage.ru_maxrss)
        LAST_CPU[0] = usage.ru_utime + usage.ru_stime
        if GNU_TIME and os.path.exists(peak_file):
            with open(peak_file) as f:
                user, system, peak = f.read().split()[-3:]
            peak_kb, LAST_CPU[0] = float(peak), float(user) + float(system)
        return wall, peak_kb / 1024, proc.returncode, text


def main_py(*args: str) -> list[str]:
    return [sys.executable, os.path.join(REPO, "main.py"), *args]


def recount(url: str, this_host: str) -> set[frozenset[str]]:
    """Every group of the catalog recounted from its rows in Python: paths as the export writes them."""
    by_key: dict[tuple[int, str], list[str]] = defaultdict(list)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for host, path, size, digest in conn.execute(text(
                    "SELECT host, absolute_path, file_size, hash_value FROM file_hashes "
                    "WHERE hash_value IS NOT NULL AND file_size > 0")):
                by_key[(size, digest)].append(qualified_path(host, path, this_host))
    finally:
        engine.dispose()
    return {frozenset(paths) for paths in by_key.values() if len(paths) >= 2}


def sql_group_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM (SELECT 1 FROM file_hashes WHERE hash_value IS NOT NULL AND file_size > 0 "
                "GROUP BY file_size, hash_value HAVING count(*) >= 2) g")).scalar_one())
    finally:
        engine.dispose()


def delete_host(url: str, host: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM file_hashes WHERE host = :h"), {"h": host})
            conn.execute(text("DELETE FROM scan_metadata WHERE host = :h"), {"h": host})
    finally:
        engine.dispose()


def scan_seconds(url: str, corpus: str, repeat: int, *extra: str) -> tuple[float, float]:
    """Median wall time and peak RSS of `main.py corpus` first scans (the scanner's rows deleted after each)."""
    walls, peaks = [], []
    for _ in range(repeat):
        wall, peak, code, err = run_child(main_py(corpus, "--db-url", url, "--host", SCAN_HOST, "--skip-html",
                                                  "-q", *extra))
        delete_host(url, SCAN_HOST)
        if code != 0:
            raise SystemExit(f"scan {extra} failed ({code}): {err.strip()[-500:]}")
        walls.append(wall)
        peaks.append(peak)
    return statistics.median(walls), max(peaks)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if args.reuse:
        url = synthetic_catalog.bench_url(args.reuse)
        figures.update(rows=None, copy_s=None, index_s=None, vacuum_s=None)
    else:
        built = synthetic_catalog.build(args.name, args.rows, args.hosts, args.seed, quiet=args.quiet)
        url = built.url
        figures.update(rows=built.rows, hosts=built.hosts, copy_s=round(built.copy_s, 2),
                       index_s=round(built.index_s, 2), vacuum_s=round(built.vacuum_s, 2),
                       size_mb=round(built.size_bytes / 2**20, 1))
    this_host = machine_host()       # the export's own host: none of the synthetic hosts (host1..hostH)
    catalog = Catalog(url, host=this_host)
    try:
        started = time.monotonic()
        with catalog.session() as s:
            totals, _ = catalog_groups.groups(s, catalog_groups.Filter(), limit=1)
        figures["totals_s"] = round(time.monotonic() - started, 2)
        figures.update(groups=totals.groups, grouped_rows=totals.files, catalog_rows=totals.rows)
        if args.explain:
            with catalog.session() as s:
                figures["explain"] = catalog_groups.explain(s, catalog_groups.Filter())
    finally:
        catalog.close()

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "from-catalog.json")
        wall, peak, code, err = run_child(main_py("--from-catalog", "--db-url", url, "--json", out, "--skip-html",
                                                  "-q"))
        if code != 0:
            raise SystemExit(f"--from-catalog failed ({code}): {err.strip()[-500:]}")
        figures.update(from_catalog_s=round(wall, 2), from_catalog_peak_mb=round(peak, 1),
                       from_catalog_cpu_s=round(LAST_CPU[0], 2), load_average=round(os.getloadavg()[0], 2))
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
    exported = {frozenset(g["files"]) for g in doc["groups"]}
    wasted = [g["wasted_bytes"] for g in doc["groups"]]
    figures["json_groups"] = len(doc["groups"])
    figures["json_sorted"] = all(a >= b for a, b in itertools.pairwise(wasted))
    figures["summary_agrees"] = (doc["summary"]["duplicate_groups"] == len(doc["groups"])
                                 and doc["summary"]["wasted_bytes"] == sum(wasted))
    del doc
    if (figures.get("catalog_rows") or 0) <= RECOUNT_ROWS:
        figures["recount"] = "every group" if exported == recount(url, this_host) else "DIFFERS"
    else:
        figures["recount"] = "group count" if len(exported) == sql_group_count(url) else "DIFFERS"
    del exported

    figures.update(catalog_scan_s=None, empty_scan_s=None, catalog_ratio=None, unique_s=None)
    if args.corpus:
        corpus = os.path.abspath(args.corpus)
        empty = "empty"
        synthetic_catalog.drop(empty)
        synthetic_catalog._admin(f'CREATE DATABASE "dupfinder_bench_{empty}"')
        try:
            empty_url = synthetic_catalog.bench_url(empty)
            figures["empty_scan_s"], _ = scan_seconds(empty_url, corpus, args.repeat, "--catalog")
            figures["catalog_scan_s"], figures["catalog_scan_peak_mb"] = \
                scan_seconds(url, corpus, args.repeat, "--catalog")
            figures["catalog_ratio"] = round(figures["catalog_scan_s"] / figures["empty_scan_s"], 2)
        finally:
            synthetic_catalog.drop(empty)
        figures["unique_s"], figures["unique_peak_mb"] = scan_seconds(url, corpus, args.repeat, "--unique")
    if not args.keep and not args.reuse:
        synthetic_catalog.drop(args.name)
    return figures


def table(f: dict[str, Any]) -> str:
    def v(key: str, unit: str = "") -> str:
        x = f.get(key)
        if x is None:
            return "n/a"
        if isinstance(x, float):
            return f"{x:,.2f}{unit}"
        return f"{x:,}{unit}" if isinstance(x, int) and not isinstance(x, bool) else f"{x}{unit}"
    lines = [
        "| what | figure |", "|---|---|",
        f"| catalog rows (hosts) | {v('catalog_rows')} ({v('hosts')}) |",
        f"| table + indexes | {v('size_mb', ' MB')} |",
        f"| generate + COPY | {v('copy_s', ' s')} |",
        f"| indexes | {v('index_s', ' s')} |",
        f"| VACUUM ANALYZE | {v('vacuum_s', ' s')} |",
        f"| duplicate groups (rows in them) | {v('groups')} ({v('grouped_rows')}) |",
        f"| the groups' query, to its first row (in process) | {v('totals_s', ' s')} |",
        f"| `--from-catalog --json`, whole catalog | {v('from_catalog_s', ' s')}, "
        f"peak {v('from_catalog_peak_mb', ' MB')}, its CPU {v('from_catalog_cpu_s', ' s')} "
        f"(load average {v('load_average')}) |",
        f"| JSON: groups, sorted, summary agrees, recount | {v('json_groups')}, {v('json_sorted')}, "
        f"{v('summary_agrees')}, {v('recount')} |",
        f"| `--catalog` scan of the corpus: empty catalog / this one | {v('empty_scan_s', ' s')} / "
        f"{v('catalog_scan_s', ' s')} (ratio {v('catalog_ratio')}) |",
        f"| `--unique` of the corpus | {v('unique_s', ' s')} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--hosts", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--name", default="scale", help="database dupfinder_bench_NAME (made anew, dropped after)")
    p.add_argument("--reuse", metavar="NAME", help="measure dupfinder_bench_NAME as it is (built earlier)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--corpus", metavar="DIR", help="a tree for the --catalog and --unique scans")
    p.add_argument("--repeat", type=int, default=3, help="scans of the corpus per figure (median)")
    p.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the grouping queries")
    p.add_argument("--json-out", metavar="PATH", help="also write the figures as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    figures = measure(args)
    print(table(figures))
    if figures.get("explain"):
        print("\n" + figures["explain"])
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1)
    return 0 if figures["recount"] != "DIFFERS" and figures["json_sorted"] and figures["summary_agrees"] else 1


if __name__ == "__main__":
    sys.exit(main())
