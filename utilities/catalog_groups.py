"""The duplicate groups already in the catalog (--from-catalog), in SQL: the rows kept by a filter (host, path
prefixes, sizes), grouped by (file_size, hash_value), streamed group by group, most wasted space first.

A group is the rows with one (file_size, hash_value), hash_value not null, holding at least two files. A file is
one (host, device, inode): rows of one host that share an inode are names of one file (hard links), which waste
no space and are counted once, as a scan counts them (cli-contract.md); with hard_links every row is a file.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from .database import FileHash
from .database import _under as under

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


@dataclass(frozen=True)
class Row:
    """One catalog row of a group, as the stream yields it (path as stored: paths.db_path)."""
    size: int
    digest: str
    host: str
    path: str
    scan_date: float
    device: int
    inode: int


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
    cond = and_(sizes, FileHash.host == f.host) if f.host is not None else sizes
    if f.prefixes:
        cond = and_(cond, or_(*(under(p, f.host, dialect) for p in f.prefixes)))
    return cond


def _groups(f: Filter, dialect: str) -> Select[tuple[int, str, int]]:
    """SQL: (file_size, hash_value, files) of every group, files >= 2."""
    hashed = and_(_kept(f, dialect), FileHash.hash_value.is_not(None))
    # Same size and hash, two rows at least: on PostgreSQL an index-only scan of ix_file_hashes_size_hash when
    # no path prefix is given (the visibility map set: see bench/synthetic_catalog.py).
    pairs = (select(FileHash.file_size, FileHash.hash_value).where(hashed)
             .group_by(FileHash.file_size, FileHash.hash_value).having(func.count() >= 2))
    if f.hard_links:
        return pairs.add_columns(func.count().label("files"))
    cands = pairs.cte("candidates")
    # One row per file of those candidates: (host, device, inode) once however many names it has here.
    files = (select(FileHash.file_size, FileHash.hash_value)
             .join(cands, and_(FileHash.file_size == cands.c.file_size, FileHash.hash_value == cands.c.hash_value))
             .where(hashed)
             .group_by(FileHash.file_size, FileHash.hash_value, FileHash.host, FileHash.device, FileHash.inode)
             .subquery("files"))
    return (select(files.c.file_size, files.c.hash_value, func.count().label("files"))
            .group_by(files.c.file_size, files.c.hash_value).having(func.count() >= 2))


def totals(session: Session, f: Filter) -> Totals:
    """Returns the summary figures of every group the filter keeps (two aggregate queries, nothing streamed)."""
    dialect = session.get_bind().dialect.name
    conn = session.connection()
    n_rows, n_bytes = conn.execute(select(func.count(), func.coalesce(func.sum(FileHash.file_size), 0))
                                   .where(_kept(f, dialect))).one()
    g = _groups(f, dialect).subquery("groups")
    groups, files, wasted = conn.execute(select(
        func.count(), func.coalesce(func.sum(g.c.files), 0),
        func.coalesce(func.sum(g.c.file_size * (g.c.files - 1)), 0))).one()
    return Totals(rows=int(n_rows), bytes=int(n_bytes), groups=int(groups), files=int(files),
                  redundant=int(files) - int(groups), wasted=int(wasted))


_StreamRow = tuple[int, str | None, str, str, float, int, int]


def stream_query(f: Filter, dialect: str, limit: int | None = None) -> Select[_StreamRow]:
    """SQL: every row of every group, ordered by the group's wasted bytes descending, then size and hash (one
    group's rows are together); limit: only the rows of the first `limit` groups in that order."""
    g = _groups(f, dialect)
    if limit is not None:
        c = g.selected_columns
        wasted = (c.file_size * (c.files - 1)).label("wasted")
        g = g.add_columns(wasted).order_by(wasted.desc(), c.file_size, c.hash_value).limit(limit)
    groups = g.subquery("groups")
    key = (groups.c.file_size * (groups.c.files - 1)).desc()
    return (select(FileHash.file_size, FileHash.hash_value, FileHash.host, FileHash.absolute_path,
                   FileHash.scan_date, FileHash.device, FileHash.inode)
            .join(groups, and_(FileHash.file_size == groups.c.file_size,
                               FileHash.hash_value == groups.c.hash_value))
            .where(_kept(f, dialect))
            .order_by(key, FileHash.file_size, FileHash.hash_value))


def group_rows(session: Session, f: Filter, limit: int | None = None) -> Iterator[list[Row]]:
    """Yields the groups' rows, one group (a list of its rows) at a time, most wasted space first; the rows
    come through a server-side cursor on PostgreSQL, so that one group, not the catalog, is in memory."""
    dialect = session.get_bind().dialect.name
    rows = session.connection().execute(stream_query(f, dialect, limit).execution_options(yield_per=STREAM_CHUNK))
    current: list[Row] = []
    for size, digest, host, path, scan_date, device, inode in rows:
        if current and (current[0].size != size or current[0].digest != digest):
            yield current
            current = []
        current.append(Row(size, digest, host, path, scan_date, device, inode))
    if current:
        yield current


def explain(session: Session, f: Filter, analyze: bool = True) -> str:
    """Returns PostgreSQL's plan (EXPLAIN ANALYZE, BUFFERS) of the totals' grouping and of the stream."""
    if session.get_bind().dialect.name != "postgresql":
        return "(EXPLAIN is shown for PostgreSQL only)"
    conn = session.connection()
    out = []
    opts = "ANALYZE, BUFFERS" if analyze else "COSTS"
    g = _groups(f, "postgresql").subquery("groups")
    for title, query in (("totals (groups)", select(func.count(), func.sum(g.c.files))),
                         ("stream (every grouped row, wasted desc)", stream_query(f, "postgresql"))):
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = conn.exec_driver_sql(f"EXPLAIN ({opts}) {sql}").scalars().all()
        out.append(f"-- {title}\n" + "\n".join(plan))
    return "\n\n".join(out)
