#!/usr/bin/env python3
"""Time five ways of upserting file rows into file_hashes, on SQLite and PostgreSQL.

    python bench/upsert_forms.py [--rows 100000] [--merge-rows 10000] [--batch-size 1000]
                                 [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
                                 [--backends sqlite,postgresql] [--out FILE.md]

Forms, each on an empty table ("insert") and then again with the same rows ("update": every
row conflicts on absolute_path and is rewritten):

  (a) utilities.upserts.upsert_files(session, rows, batch_size, host=): what dupFinder ships, the
      INSERT ... ON CONFLICT DO UPDATE built from the ORM model, run by the driver's executemany on
      SQLite, and on PostgreSQL as INSERT ... SELECT from a temporary table filled by COPY;
  (o) the ORM bulk idiom, session.execute(statement, list of dicts): what dupFinder shipped before;
  (b) the same statement with .values(batch): one multi-row statement compiled per batch;
  (c) a naive port of the plan's per-row session.merge(): SELECT the row by absolute_path, then
      update its attributes or add a new FileHash (merge() itself only matches on the primary key).
      Run on --merge-rows rows only; its per-row cost is also extrapolated to --rows (labelled);
  (d) raw DBAPI cursor.executemany() of the equivalent SQL (compiled from the same statement), the
      floor; on PostgreSQL also psycopg2.extras.execute_values, psycopg2's own fast path, because
      plain psycopg2 executemany() does one round trip per row and is no floor at all.

Every form commits once per batch. SQLite runs in a temporary file (WAL, synchronous=NORMAL, as
catalog.make_engine sets up); PostgreSQL in a scratch database dupfinder_bench_<random> created through the
maintenance database at --pg-url and dropped afterwards (skipped with a note if unreachable).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import sqlalchemy  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from utilities import upserts  # noqa: E402
from utilities.catalog import Catalog  # noqa: E402
from utilities.database import Base, FileHash, batched, file_row  # noqa: E402
from utilities.paths import db_path  # noqa: E402
from utilities.records import Hashes, Stat  # noqa: E402
from utilities.upserts import upsert_files  # noqa: E402

HOST = "bench"          # the host every benchmark row belongs to

FORMS = {
    "a": "(a) upsert_files (SQLite: driver executemany; PostgreSQL: COPY, then INSERT ... SELECT)",
    "o": "(o) ORM bulk, session.execute(statement, rows)",
    "b": "(b) .values(batch), one statement per batch",
    "c": "(c) per-row SELECT + update/add (naive merge)",
    "d": "(d) raw DBAPI executemany",
    "d2": "(d') raw psycopg2 execute_values",
}


# ------------------------------------------------------------------------------------------- rows
def make_rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """n realistic rows: /data/dirD/file_I.bin, heavy-tailed sizes, ns times, inodes, xxh3-128 hex."""
    rng = random.Random(seed)
    now = time.time()
    dev = 64769
    rows = []
    for i in range(n):
        path = f"/data/dir{i // 100}/file_{i}.bin"
        size = max(1, int(rng.lognormvariate(9.0, 2.2)))
        mtime_ns = 1_700_000_000_000_000_000 + rng.randrange(10**17)
        ctime_ns = mtime_ns + rng.randrange(10**9)
        full = rng.getrandbits(128).to_bytes(16, "big").hex()
        partial = rng.getrandbits(128).to_bytes(16, "big").hex()
        rows.append(file_row(path, Stat(size, mtime_ns, ctime_ns, dev, 1_000_000 + i), scanned_at=now,
                             hashes=Hashes("xxh3_128", 4096, partial, full, now)))
    return rows


def prepared(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What upsert_files does to a batch before sending it: one row per path, the host, stored paths, path order."""
    unique = {r["absolute_path"]: r for r in batch}
    return [{**unique[p], "host": HOST, "absolute_path": db_path(p), "filename": db_path(unique[p]["filename"])}
            for p in sorted(unique)]


def upsert_stmt(dialect: str):
    """The statement upsert_files sends (built as dupFinder builds it)."""
    return upserts.upsert_statement(sqlite.insert(FileHash) if dialect == "sqlite" else postgresql.insert(FileHash))


# ------------------------------------------------------------------------------------------ forms
def form_a(engine: Engine, rows: list[dict[str, Any]], batch_size: int) -> None:
    with Session(engine) as s:
        for batch in batched(rows, batch_size):
            upsert_files(s, batch, batch_size, host=HOST)
            s.commit()


def form_o(engine: Engine, rows: list[dict[str, Any]], batch_size: int) -> None:
    stmt = upsert_stmt(engine.dialect.name).execution_options(render_nulls=True)
    with Session(engine) as s:
        for batch in batched(rows, batch_size):
            s.execute(stmt, prepared(batch))
            s.commit()


def form_b(engine: Engine, rows: list[dict[str, Any]], batch_size: int) -> None:
    stmt = upsert_stmt(engine.dialect.name)
    with Session(engine) as s:
        for batch in batched(rows, batch_size):
            s.execute(stmt.values(prepared(batch)))
            s.commit()


def form_c(engine: Engine, rows: list[dict[str, Any]], batch_size: int) -> None:
    with Session(engine) as s:
        for batch in batched(rows, batch_size):
            for r in prepared(batch):
                existing = s.scalar(select(FileHash).where(FileHash.host == HOST,
                                                           FileHash.absolute_path == r["absolute_path"]))
                if existing is None:
                    s.add(FileHash(**r))
                else:
                    for k, v in r.items():
                        setattr(existing, k, v)
            s.commit()


def raw_sql(engine: Engine) -> str:
    """The upsert compiled for the DBAPI: named parameters (:name for sqlite3, %(name)s for psycopg2)."""
    stmt = upsert_stmt(engine.dialect.name)
    dialect = sqlite.dialect(paramstyle="named") if engine.dialect.name == "sqlite" else postgresql.psycopg2.dialect()
    keys = [*file_row("/k", Stat(0, 0, 0, 0, 0), scanned_at=0.0), "host"]
    return str(stmt.compile(dialect=dialect, column_keys=keys))


def form_d(engine: Engine, rows: list[dict[str, Any]], batch_size: int) -> None:
    sql = raw_sql(engine)
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        for batch in batched(rows, batch_size):
            cur.executemany(sql, prepared(batch))
            conn.commit()
        cur.close()
    finally:
        conn.close()


def form_d2(engine: Engine, rows: list[dict[str, Any]], batch_size: int) -> None:
    from psycopg2.extras import execute_values
    sql = raw_sql(engine)
    # execute_values wants "VALUES %s" and a template for one row.
    head, _, tail = sql.partition(" VALUES ")
    values, _, rest = tail.partition(") ")
    template = values + ")"
    sql_v = f"{head} VALUES %s {rest}"
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        for batch in batched(rows, batch_size):
            execute_values(cur, sql_v, prepared(batch), template=template, page_size=batch_size)
            conn.commit()
        cur.close()
    finally:
        conn.close()


RUNNERS: dict[str, Callable[[Engine, list[dict[str, Any]], int], None]] = {
    "a": form_a, "o": form_o, "b": form_b, "c": form_c, "d": form_d, "d2": form_d2}


# --------------------------------------------------------------------------------------- backends
@contextlib.contextmanager
def sqlite_engine() -> Iterator[Catalog]:
    with tempfile.TemporaryDirectory(prefix="dupfinder_upsert_") as d:
        catalog = Catalog(f"sqlite:///{d}/bench.db", host=HOST)
        try:
            yield catalog
        finally:
            catalog.close()


@contextlib.contextmanager
def pg_engine(maint_url: str) -> Iterator[Catalog]:
    name = f"dupfinder_bench_{secrets.token_hex(4)}"
    maint = sqlalchemy.create_engine(maint_url, isolation_level="AUTOCOMMIT",
                                     connect_args={"connect_timeout": 5})
    with maint.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    catalog = Catalog(make_url(maint_url).set(database=name), host=HOST)
    try:
        yield catalog
    finally:
        catalog.close()
        with maint.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        maint.dispose()


def pg_reachable(maint_url: str) -> str | None:
    """None when the server answers, else the reason."""
    try:
        eng = sqlalchemy.create_engine(maint_url, connect_args={"connect_timeout": 5})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as e:  # any failure means: skip PostgreSQL
        return str(getattr(e, "orig", e)).strip().splitlines()[0]


def fresh_table(catalog: Catalog) -> None:
    engine = catalog.engine
    Base.metadata.drop_all(engine)
    with engine.begin() as c:          # the schema's revision goes too: initialize() makes it all again
        c.execute(text("DROP TABLE IF EXISTS alembic_version"))
    catalog.initialize()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE file_hashes"))


def count_rows(engine: Engine) -> int:
    with engine.connect() as c:
        return c.scalar(text("SELECT count(*) FROM file_hashes"))


def bench_backend(catalog: Catalog, backend: str, rows: list[dict[str, Any]], args, out: list[dict]) -> None:
    engine = catalog.engine
    forms = ["a", "o", "b", "c", "d"] + (["d2"] if backend == "postgresql" else [])
    for form in forms:
        n = min(args.merge_rows, len(rows)) if form == "c" else len(rows)
        data = rows[:n]
        fresh_table(catalog)
        for phase in ("insert", "update"):
            t0 = time.perf_counter()
            RUNNERS[form](engine, data, args.batch_size)
            secs = time.perf_counter() - t0
            have = count_rows(engine)
            if have != n:
                raise SystemExit(f"upsert_forms: {backend} form {form} {phase}: {have} rows in the table, expected {n}")
            out.append(dict(backend=backend, form=form, phase=phase, rows=n, seconds=secs, extrapolated=False))
            print(f"  {backend:10} {form:3} {phase:6} {n:>8,} rows {secs:8.2f} s", file=sys.stderr, flush=True)
            if form == "c" and n < len(rows):
                out.append(dict(backend=backend, form=form, phase=phase, rows=len(rows),
                                seconds=secs / n * len(rows), extrapolated=True))


# ----------------------------------------------------------------------------------------- report
def table(results: list[dict]) -> str:
    base = {(r["backend"], r["phase"]): r["seconds"] / r["rows"] for r in results if r["form"] == "a"}
    lines = ["| backend | form | phase | rows | seconds | rows/s | ratio to (a) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        label = FORMS[r["form"]] + (" — **extrapolated** from the row above" if r["extrapolated"] else "")
        per_row = r["seconds"] / r["rows"]
        ratio = per_row / base[(r["backend"], r["phase"])]
        secs = f"~{r['seconds']:.1f}" if r["extrapolated"] else f"{r['seconds']:.2f}"
        lines.append(f"| {r['backend']} | {label} | {r['phase']} | {r['rows']:,} | {secs} | "
                     f"{r['rows'] / r['seconds']:,.0f} | {ratio:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--merge-rows", type=int, default=10_000, help="rows for form (c) (default 10000)")
    ap.add_argument("--batch-size", type=int, default=1000, help="rows per statement batch and commit")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="maintenance database used to create and drop the scratch database")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", help="also write the markdown report here")
    args = ap.parse_args()

    rows = make_rows(args.rows)
    results: list[dict] = []
    notes: list[str] = []
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "sqlite" in backends:
        with sqlite_engine() as catalog:
            bench_backend(catalog, "sqlite", rows, args, results)
    if "postgresql" in backends:
        why = pg_reachable(args.pg_url)
        if why:
            notes.append(f"PostgreSQL skipped: {args.pg_url} unreachable ({why}).")
            print(f"NOTE: {notes[-1]}", file=sys.stderr)
        else:
            with pg_engine(args.pg_url) as catalog:
                with catalog.engine.connect() as c:
                    ver = c.scalar(text("SHOW server_version"))
                bench_backend(catalog, "postgresql", rows, args, results)
            notes.append(f"PostgreSQL {ver} on {make_url(args.pg_url).host}.")

    import sqlite3
    report = "\n".join([
        f"## Upsert forms: {args.rows:,} rows of file_hashes, batches of {args.batch_size:,}, commit per batch",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}. "
        + " ".join(notes),
        "'insert' = empty table; 'update' = the same rows again, every one a conflict that rewrites the row. "
        "Ratio = seconds per row / seconds per row of (a) for the same backend and phase.",
        "",
        table(results),
        "",
    ])
    print(report)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)


if __name__ == "__main__":
    main()
