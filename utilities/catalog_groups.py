"""The duplicate groups already in the catalog (--from-catalog), in SQL: the rows kept by a filter (host, path
prefixes, sizes), grouped by (file_size, hash_value), streamed group by group, most wasted space first.

A group is the rows with one (file_size, hash_value), hash_value not null, holding at least two files. A file is
one (host, device, inode): rows of one host that share an inode are names of one file (hard links), which waste
no space and are counted once, as a scan counts them (cli-contract.md); with hard_links every row is a file.

One query a pass: the candidates (size and hash shared by two rows: the (size, hash) index alone), the rows joined
to them and grouped (files counted, rows gathered into arrays), sorted by wasted bytes, the totals of all groups
alongside as window functions. The server does the sorting (on disk if it must): the client holds one group.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from .database import FileHash
from .database import under_root as under

STREAM_CHUNK = 2000            # rows a server-side cursor hands over at a time


@dataclass(frozen=True)
class Filter:
    """Which catalog rows count: host None for every host; prefixes (absolute, normalized) at or under which
    a path must be (folder boundaries: /a/b keeps /a/b and /a/b/c, never /a/bc); sizes both bounds inclusive,
    zero-byte files only with include_empty (as for a scan)."""
    host: str | None = None
    prefixes: tuple[str, ...] = ()
    min_size: int = 1
    max_size: int | None = None
    include_empty: bool = False
    hard_links: bool = False       # every row its own file (--hard-links)


@dataclass(frozen=True)
class Totals:
    """The figures of the summary, for every group the filter keeps."""
    rows: int                  # catalog rows kept by the filter (hashed or not)
    bytes: int                 # their bytes
    groups: int
    files: int                 # files in groups
    redundant: int             # sum of (files - 1)
    wasted: int                # sum of size * (files - 1)


def _kept(f: Filter, dialect: str) -> ColumnElement[bool]:
    """SQL: the rows the filter keeps, hashed or not."""
    size = FileHash.file_size
    sizes: ColumnElement[bool] = size >= f.min_size
    if f.max_size is not None:
        sizes = and_(sizes, size <= f.max_size)
    if f.include_empty:
        sizes = or_(sizes, size == 0)
    else:
        sizes = and_(sizes, size > 0)
    if f.prefixes:                    # under() holds the host condition too (on the (host, path) index)
        return and_(sizes, or_(*(under(p, f.host, dialect) for p in f.prefixes)))
    return and_(sizes, FileHash.host == f.host) if f.host is not None else sizes


PG_WORK_MEM = "256MB"          # the server's memory for this transaction's sorts and hashes (default 4MB)


def _query(f: Filter, dialect: str, limit: int | None) -> Select[Any]:
    """SQL: one row a group, most wasted space first: size, hash, files, the arrays of its rows' hosts, paths,
    scan dates, devices and inodes (PostgreSQL arrays, SQLite JSON arrays: the same order in each), and the
    totals of every group (window functions, evaluated before any LIMIT)."""
    size, digest = FileHash.file_size, FileHash.hash_value
    hashed = and_(_kept(f, dialect), digest.is_not(None))
    # The candidates: a size and hash that two rows share. On PostgreSQL an index-only scan of
    # ix_file_hashes_size_hash when no prefix is given (the visibility map set: see bench/synthetic_catalog.py),
    # which the rows are then joined to (a hash join: one pass over the table).
    cands = (select(size, digest).where(hashed).group_by(size, digest).having(func.count() >= 2)
             .subquery("candidates"))
    if f.hard_links:
        files: ColumnElement[int] = func.count()
    elif dialect == "postgresql":   # a file is one (host, device, inode): its other names are hard links
        files = func.count(distinct(tuple_(FileHash.host, FileHash.device, FileHash.inode)))
    else:
        key = FileHash.host + literal_column("':'") + cast(FileHash.device, String) + literal_column("':'") \
            + cast(FileHash.inode, String)
        files = func.count(distinct(key))
    wasted = size * (files - 1)

    def agg(column: Any) -> ColumnElement[Any]:
        # psycopg2 makes the lists of a PostgreSQL array; NullType spares SQLAlchemy's pass over every item
        if dialect == "postgresql":
            return type_coerce(func.array_agg(column), NullType())
        return func.json_group_array(column)

    def when_links(column: Any) -> ColumnElement[Any]:
        # devices and inodes only for a group where some file has two names (so rarely that the arrays of the
        # others are not worth making and reading: 40% of the fetch of 485,000 groups)
        return case((files != func.count(), agg(column)), else_=null())

    query = (select(size, digest, files, agg(FileHash.host), agg(FileHash.absolute_path), agg(FileHash.scan_date),
                    when_links(FileHash.device), when_links(FileHash.inode),
                    func.count().over(), func.sum(files).over(), func.sum(wasted).over())
             .join(cands, and_(size == cands.c.file_size, digest == cands.c.hash_value))
             .where(hashed)
             .group_by(size, digest).having(files >= 2)
             .order_by(wasted.desc(), size, digest))
    return query if limit is None else query.limit(limit)


def count_rows(session: Session, f: Filter) -> tuple[int, int]:
    """Returns (rows, bytes) of the catalog rows the filter keeps, hashed or not."""
    dialect = session.get_bind().dialect.name
    n, total = session.connection().execute(select(func.count(), func.coalesce(func.sum(FileHash.file_size), 0))
                                            .where(_kept(f, dialect))).one()
    return int(n), int(total)


def _count_rows_apart(engine: Engine, f: Filter) -> tuple[int, int]:
    with engine.connect() as conn, Session(conn) as session:
        return count_rows(session, f)


def groups(session: Session, f: Filter, limit: int | None = None) -> tuple[Totals, Iterator[GroupRows]]:
    """Returns the totals of every group the filter keeps and an iterator of the groups (all, or the first
    `limit`), most wasted space first, one at a time through a server-side cursor on PostgreSQL: memory holds
    one group, not the catalog. The server sorts them all before the first comes, so the totals come with it."""
    dialect = session.get_bind().dialect.name
    conn = session.connection()
    if dialect == "postgresql":
        # 1.25 million grouped rows of 5 million: with the default 4MB, the sorts went to disk (seconds more)
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
    query = _query(f, dialect, limit)
    rows: Iterator[Any]
    if dialect == "postgresql":
        # The rows' count, on a connection of its own, while the server sorts the groups (0.7 s of 5 million
        # rows that the client would otherwise wait for first).
        with ThreadPoolExecutor(1) as pool:
            counted = pool.submit(_count_rows_apart, conn.engine, f)
            rows = _pg_rows(conn, query)
            first = next(rows, None)
            n_rows, n_bytes = counted.result()
    else:
        n_rows, n_bytes = count_rows(session, f)
        rows = iter(conn.execute(query.execution_options(yield_per=STREAM_CHUNK)))
        first = next(rows, None)
    if first is None:
        return Totals(n_rows, n_bytes, 0, 0, 0, 0), iter(())
    n_groups, n_files, n_wasted = (int(x) for x in first[8:11])
    totals = Totals(n_rows, n_bytes, n_groups, n_files, n_files - n_groups, n_wasted)

    def each() -> Iterator[GroupRows]:
        if dialect == "postgresql":     # psycopg2 gives the arrays as lists
            for row in itertools.chain([first], rows):
                yield GroupRows(*row[:8])
            return
        for size, digest, files, hosts, paths, dates, devices, inodes, *_ in itertools.chain([first], rows):
            yield GroupRows(size, digest, files, json.loads(hosts), json.loads(paths), json.loads(dates),
                            json.loads(devices) if devices is not None else None,
                            json.loads(inodes) if inodes is not None else None)
    return totals, each()


def _pg_rows(conn: Connection, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """Yields the query's rows from a psycopg2 server-side (named) cursor of the session's connection, as
    psycopg2's tuples: SQLAlchemy's result rows cost half the client's reading of 485,000 groups (4.5 s against
    2.9 s). Driver errors become SQLAlchemy's DBAPIError, as through the engine (Catalog.errors says them)."""
    compiled = query.compile(dialect=conn.dialect)
    sql, params = str(compiled), compiled.params
    dbapi = conn.dialect.loaded_dbapi
    raw: Any = conn.connection.dbapi_connection
    try:
        cursor = raw.cursor(name="dupfinder_groups")
        try:
            cursor.itersize = STREAM_CHUNK
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(STREAM_CHUNK):
                yield from batch
        finally:
            try:
                cursor.close()
            except dbapi.Error:     # the connection is gone: the error that said so is the one to tell
                pass
    except dbapi.Error as e:
        # as SQLAlchemy does for its own statements: a lost connection is invalidated, so that the session's
        # rollback does not fail on it in turn (and say "connection already closed" instead of this error)
        gone = bool(conn.dialect.is_disconnect(e, raw, None))
        if gone:
            conn.invalidate(e)
        raise DBAPIError.instance(sql, params, e, dbapi.Error, connection_invalidated=gone,
                                  dialect=conn.dialect) from e


@dataclass(frozen=True, slots=True)
class GroupRows:
    """One group as the catalog holds it: its rows' columns, row i of the group at index i of each."""
    size: int
    digest: str
    files: int
    hosts: list[str]
    paths: list[str]               # as stored (paths.db_path)
    dates: list[float]             # scan_date: when the row was last written
    devices: list[int] | None      # None when every row is a file of its own (files == len(rows))
    inodes: list[int] | None


def explain(session: Session, f: Filter) -> str:
    """Returns PostgreSQL's plan (EXPLAIN ANALYZE, BUFFERS) of the query of the groups."""
    if session.get_bind().dialect.name != "postgresql":
        return "(EXPLAIN is shown for PostgreSQL only)"
    conn = session.connection()
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
    sql = str(_query(f, "postgresql", None).compile(conn, compile_kwargs={"literal_binds": True}))
    return "\n".join(conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").scalars().all())
