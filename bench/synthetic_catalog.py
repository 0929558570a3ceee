#!/usr/bin/env python3
"""Builds a synthetic catalog in PostgreSQL for the scale benchmark (catalog_scale.py): N rows (default 5,000,000)
over H hosts (default 5) in a database of its own, dupfinder_bench_<name>, made with the program's real schema
(Catalog.initialize), loaded by COPY with the two secondary indexes dropped and built again afterwards, then
VACUUM ANALYZE (so that the visibility map is set and the grouping query's index-only scan needs no heap
fetches: straight after a load it made 15 million of them on 5 million rows, 15-24 s instead of 1.3-2.4 s).

The rows: sizes log-normal (median about 60 KB, a long tail to gigabytes), about 25% of the rows in duplicate
groups of 2 to 10 copies spread over the hosts, the other files unique; of these, as a scan leaves them, only
those sharing a size with another file carry a hash (here: about half, at random).

    python3 bench/synthetic_catalog.py --rows 5000000 --hosts 5 --name 5m
"""
from __future__ import annotations

import argparse
import io
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from utilities.catalog import Catalog  # noqa: E402

PG_ADMIN = os.environ.get("DUPFINDER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DUP_SHARE = 0.25               # rows in duplicate groups
COPIES = [2] * 70 + [3] * 17 + [4] * 7 + [5] * 3 + [6, 8, 10]   # copies of a duplicated file, weighted
HASHED_UNIQUE = 0.5            # unique files that carry a hash anyway (they shared a size when scanned)
CHUNK = 50_000                 # rows per COPY buffer
COLUMNS = ("host", "filename", "absolute_path", "hash_value", "file_size", "scan_date", "modified_time", "mtime_ns",
           "ctime_ns", "device", "inode", "algorithm", "partial_bytes", "partial_hash", "hashed_at")
FOLDERS = ("home", "srv/media", "data/archive", "var/backups", "mnt/photos")
EXTS = ("jpg", "mp4", "pdf", "txt", "tar.gz", "flac", "docx", "png", "iso", "bin")


@dataclass
class Built:
    url: str                   # the database's URL
    rows: int
    hosts: int
    copy_s: float
    index_s: float
    vacuum_s: float
    size_bytes: int            # table and indexes


def bench_url(name: str) -> str:
    return make_url(PG_ADMIN).set(drivername="postgresql+psycopg2", database=f"dupfinder_bench_{name}") \
        .render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    engine = create_engine(make_url(PG_ADMIN).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def drop(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "dupfinder_bench_{name}" WITH (FORCE)')


def _size(rng: random.Random) -> int:
    return max(1, min(int(rng.lognormvariate(math.log(60_000), 2.2)), 50 * 10**9))


def rows(n: int, hosts: int, seed: int, now: float) -> Iterator[tuple]:
    """Yields n rows (COLUMNS' order, host names host1..hostH): duplicated contents first drawn until about
    DUP_SHARE of n, each copy on a random host, then unique files."""
    rng = random.Random(seed)
    names = [f"host{i + 1}" for i in range(hosts)]
    made = 0
    content = 0

    def row(host: str, size: int, digest: str | None) -> tuple:
        nonlocal made
        made += 1
        folder = FOLDERS[made % len(FOLDERS)]
        path = (f"/{folder}/user{made % 97}/dir{(made // 97) % 1000}/sub{made % 13}/"
                f"file{made}.{EXTS[made % len(EXTS)]}")
        mtime = now - rng.random() * 3e8
        seen = now - rng.random() * 8.64e6
        return (host, path.rsplit("/", 1)[1], path, digest, size, seen, mtime, int(mtime * 1e9), int(mtime * 1e9),
                2049 + names.index(host), made, "xxh128" if digest else None, 65536 if digest else None,
                f"{rng.getrandbits(128):032x}" if digest else None, seen if digest else None)

    dup_rows = int(n * DUP_SHARE)
    while made < dup_rows:
        content += 1
        size, digest = _size(rng), f"{rng.getrandbits(128):032x}"
        for _ in range(min(rng.choice(COPIES), n - made)):
            yield row(rng.choice(names), size, digest)
    while made < n:
        content += 1
        digest = f"{rng.getrandbits(128):032x}" if rng.random() < HASHED_UNIQUE else None
        yield row(rng.choice(names), _size(rng), digest)


def _copy_text(batch: list[tuple]) -> io.StringIO:
    out = io.StringIO()
    for r in batch:
        out.write("\t".join("\\N" if v is None else str(v) for v in r))
        out.write("\n")
    out.seek(0)
    return out


def build(name: str, n: int, hosts: int, seed: int = 42, quiet: bool = False) -> Built:
    """Makes dupfinder_bench_<name> anew and loads it; returns the timings."""
    drop(name)
    _admin(f'CREATE DATABASE "dupfinder_bench_{name}"')
    url = bench_url(name)
    catalog = Catalog(url, host="bench")
    catalog.initialize()                       # the real schema, by the program's own migrations
    catalog.close()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:           # the secondary indexes, dropped for the load and made again after
            defs = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'file_hashes' "
                                     "AND indexname <> 'file_hashes_pkey'")).all()
            for index, _ in defs:
                conn.execute(text(f'DROP INDEX "{index}"'))
        started = time.monotonic()
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            batch: list[tuple] = []
            sql = f"COPY file_hashes ({', '.join(COLUMNS)}) FROM STDIN"
            for r in rows(n, hosts, seed, time.time()):
                batch.append(r)
                if len(batch) == CHUNK:
                    cur.copy_expert(sql, _copy_text(batch))
                    batch = []
            if batch:
                cur.copy_expert(sql, _copy_text(batch))
            raw.commit()
        finally:
            raw.close()
        copy_s = time.monotonic() - started
        if not quiet:
            print(f"COPY {n:,} rows: {copy_s:.1f} s ({n / copy_s:,.0f} rows/s)", file=sys.stderr)
        started = time.monotonic()
        with engine.begin() as conn:
            for _, ddl in defs:
                conn.execute(text(ddl))
        index_s = time.monotonic() - started
        started = time.monotonic()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE file_hashes"))
            size = int(conn.execute(text("SELECT pg_total_relation_size('file_hashes')")).scalar_one())
        vacuum_s = time.monotonic() - started
    finally:
        engine.dispose()
    if not quiet:
        print(f"indexes: {index_s:.1f} s; VACUUM ANALYZE: {vacuum_s:.1f} s; {size / 2**30:.2f} GiB with indexes",
              file=sys.stderr)
    return Built(url, n, hosts, copy_s, index_s, vacuum_s, size)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--hosts", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--name", default="5m", help="the database is dupfinder_bench_NAME (made anew)")
    args = p.parse_args(argv)
    built = build(args.name, args.rows, args.hosts, args.seed)
    print(built.url.replace(make_url(built.url).password or "\0", "***"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
