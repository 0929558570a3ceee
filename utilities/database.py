"""Catalog database: ORM models, a config-driven engine, and set-based reads and writes."""
from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby, islice
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (BigInteger, Float, Index, Integer, String, Text, and_, case, create_engine, delete, event, or_,
                        func, inspect, select, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .config import mask_url
from .paths import db_path, from_db_path

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 60      # seconds a writer waits for another process' transaction on the same file
PG_CONNECT_TIMEOUT_S = 10       # seconds; a server that does not answer fails fast instead of hanging
PG_POOL_SIZE = 2                # connections per process (see make_engine)
PG_MAX_OVERFLOW = 2
RETRIES = 6                     # attempts of one transaction on deadlock / serialization failure
# PostgreSQL's btree index entries hold at most 2704 bytes (a third of a page, less headers): a longer
# path, once compression fails, cannot go into the unique index on absolute_path, and its INSERT fails
# the whole scan. Such files are skipped and counted as errors instead (pipeline, walk stage).
PG_MAX_PATH_BYTES = 2600
RETRYABLE_SQLSTATES = {"40001", "40P01"}   # serialization_failure, deadlock_detected
_ADVISORY_LOCK_KEY = 0x6475_7046_696E      # "dupFin": serializes schema creation between scanners

T = TypeVar("T")
_ENGINES: list[Engine] = []    # made in this process; a forked worker must drop them (see workers.init_worker)

# Path key the range queries compare on: byte order on both backends (SQLite's default BINARY
# collation; "C" on PostgreSQL, whose default linguistic collation would break prefix ranges).
PathType = String().with_variant(String(collation="C"), "postgresql")


class Base(DeclarativeBase):
    pass


class FileHash(Base):
    """One regular file of the catalog, its stat record and, once computed, its hashes."""
    __tablename__ = "file_hashes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(PathType)
    absolute_path: Mapped[str] = mapped_column(PathType, unique=True)   # the ON CONFLICT target
    hash_value: Mapped[str | None] = mapped_column(String(128))         # full-content hash, hex
    file_size: Mapped[int] = mapped_column(BigInteger)
    scan_date: Mapped[float] = mapped_column(Float)                     # when this row was last written
    modified_time: Mapped[float | None] = mapped_column(Float)         # st_mtime, seconds (for people)
    # What decides whether a stored hash is still valid (st_mtime_ns as an int: floats don't compare exactly).
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    ctime_ns: Mapped[int] = mapped_column(BigInteger)                  # catches an edit with mtime restored
    device: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    # How the hashes were made: the algorithm of both, and the block size of the partial one.
    algorithm: Mapped[str | None] = mapped_column(String(16))
    partial_bytes: Mapped[int | None] = mapped_column(Integer)
    partial_hash: Mapped[str | None] = mapped_column(String(128))
    hashed_at: Mapped[float | None] = mapped_column(Float)             # for the "racy mtime" rule

    # Indexes cost time on every upsert, so only what the queries use: the unique path index (range
    # reads under a root, ON CONFLICT) and (size, hash) for the duplicate GROUP BY and look-ups by size.
    # No query looks up a hash alone (one more index cost 6% of a first scan of the large corpus), and
    # partial hashes are grouped in memory, never in SQL.
    __table_args__ = (Index("ix_file_hashes_size_hash", "file_size", "hash_value"),)


class ScanMetadata(Base):
    """One run of the scanner: what it scanned, how, and whether it finished."""
    __tablename__ = "scan_metadata"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_scan_timestamp: Mapped[float | None] = mapped_column(Float)   # = finished_at, as in the plan
    started_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))                    # running, finished, interrupted, failed
    roots: Mapped[str] = mapped_column(Text)                           # JSON list of absolute roots
    algorithm: Mapped[str] = mapped_column(String(16))
    files_scanned: Mapped[int | None] = mapped_column(BigInteger)
    bytes_scanned: Mapped[int | None] = mapped_column(BigInteger)
    bytes_read: Mapped[int | None] = mapped_column(BigInteger)
    files_hashed: Mapped[int | None] = mapped_column(BigInteger)
    duplicate_groups: Mapped[int | None] = mapped_column(BigInteger)
    wasted_bytes: Mapped[int | None] = mapped_column(BigInteger)
    errors: Mapped[int | None] = mapped_column(BigInteger)


class DatabaseError(Exception):
    """The database cannot be used; the message is one line with the masked URL and a hint."""


class StoredFile(NamedTuple):
    """What the scanner needs of a stored row (decoded path), without ORM identity overhead."""
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    device: int
    inode: int
    algorithm: str | None
    partial_bytes: int | None
    partial_hash: str | None
    full_hash: str | None
    hashed_at: float | None


# ----------------------------------------------------------------------------------------- engine
def make_engine(url: URL) -> Engine:
    """Returns an engine for url, tuned per backend; call once per process (never share across fork).

    PostgreSQL: every process (the parent and each worker) owns its engine and uses one connection at
    a time, two while a read overlaps a write. So 2 + 2 overflow per process, not the plan's 20 + 30:
    four scanners with -p 8 then need at most 4 * 9 * 4 = 144 connections in theory and 36 in practice,
    while 50 per process would exhaust the server's default max_connections=100 with two scanners.
    """
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "dupFinder",
                          # a server that vanishes mid-scan is noticed within ~25 s instead of the OS' 2 hours
                          "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3})
    _ENGINES.append(engine)
    return engine


def dispose_inherited_engines() -> None:
    """In a forked child: forget the parent's pooled connections without closing them (pooling.rst)."""
    for engine in _ENGINES:
        engine.dispose(close=False)
    _ENGINES.clear()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside one writer; NORMAL sync is safe with WAL; busy_timeout makes
    processes sharing the file wait their turn instead of failing with "database is locked"."""
    cur = dbapi_conn.cursor()
    for attempt in range(100):
        # Two scanners opening a new file at the same moment: switching it to WAL needs a lock that
        # SQLite does not wait for (it answers "database is locked" at once), so wait here.
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == 99:
                raise
            time.sleep(0.02 + 0.03 * random.random())
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.close()


def initialize_database(engine: Engine) -> None:
    """Creates the schema if needed and checks the server answers; raises DatabaseError otherwise."""
    for attempt in range(RETRIES):
        started = time.monotonic()
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    # Four scanners starting at once would race in CREATE TABLE; one at a time instead.
                    conn.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
                Base.metadata.create_all(conn)
                conn.execute(select(1))
            break
        except (OperationalError, DBAPIError) as e:
            # SQLite has no such lock: another process may create a table between check and create.
            racing = engine.dialect.name == "sqlite" and (
                "already exists" in str(e) or is_retryable(e, time.monotonic() - started))
            if not racing or attempt == RETRIES - 1:
                raise DatabaseError(describe_error(e, engine.url)) from e
            time.sleep(0.05 * (1 + random.random()))
    _check_schema(engine)


def _check_schema(engine: Engine) -> None:
    """Tables made by an older dupFinder lack columns; create_all never alters, so say so plainly."""
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        have = {c["name"] for c in insp.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:
            raise DatabaseError(f"{mask_url(engine.url)}: table {table.name} lacks columns {', '.join(missing)} "
                                "(made by an older dupFinder); scan into a new database or drop the table")


def describe_error(e: BaseException, url: URL) -> str:
    """Returns one line saying what went wrong with the database and how to fix it."""
    where = mask_url(url)
    msg = str(getattr(e, "orig", e) or e).strip().splitlines()
    first = msg[0] if msg else type(e).__name__
    low = " ".join(msg).lower()
    if "does not exist" in low and "database" in low:
        hint = f"create it first: createdb {url.database}"
    elif "password authentication failed" in low or "no password supplied" in low:
        hint = "check the user and password (config.json, --db-url, or $PGPASSWORD)"
    elif "connection refused" in low or "could not connect" in low or "timeout expired" in low \
            or "could not translate host" in low:
        hint = "is the PostgreSQL server running and reachable?"
    elif "database is locked" in low:
        hint = "database is busy: another process kept it locked too long; try again later"
    elif "unable to open database file" in low:
        hint = "check that the directory exists and is writable"
    elif "server closed the connection" in low or "terminating connection" in low \
            or "connection already closed" in low or "ssl syscall" in low:
        hint = "the server went away during the scan; what was committed is kept, rerun when it is back"
    else:
        hint = ""
    return f"database {where}: {first}" + (f" ({hint})" if hint else "")


def max_path_bytes(sessions: sessionmaker[Session]) -> int | None:
    """Returns the longest stored path, in UTF-8 bytes, the catalog can index; None if any will do."""
    return PG_MAX_PATH_BYTES if sessions.kw["bind"].dialect.name == "postgresql" else None


def path_bytes(path: str) -> int:
    """Returns the length in bytes of path as stored (paths.db_path, UTF-8)."""
    return len(db_path(path).encode("utf-8"))


def is_retryable(e: BaseException, waited: float = 0.0) -> bool:
    """True for errors worth running the transaction again: a deadlock or serialization failure on
    PostgreSQL; on SQLite a "database is locked" that came at once rather than after the busy
    timeout (SQLite refuses without waiting where waiting could deadlock, e.g. a stale snapshot)."""
    orig = getattr(e, "orig", None)
    if getattr(orig, "pgcode", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig) \
        and waited < SQLITE_BUSY_TIMEOUT_S / 2


def in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Returns work(session) run in one committed transaction, retried when the server asks for it."""
    for attempt in range(RETRIES):
        started = time.monotonic()
        try:
            with sessions.begin() as session:
                return work(session)
        except DBAPIError as e:
            if not is_retryable(e, time.monotonic() - started) or attempt == RETRIES - 1:
                raise
            log.debug("RETRY: %s (attempt %d)", getattr(e, "orig", e), attempt + 1)
            time.sleep(0.05 * 2 ** attempt * (1 + random.random()))
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------ reads
_STORED_COLUMNS = (FileHash.absolute_path, FileHash.file_size, FileHash.mtime_ns, FileHash.ctime_ns,
                   FileHash.device, FileHash.inode, FileHash.algorithm, FileHash.partial_bytes,
                   FileHash.partial_hash, FileHash.hash_value, FileHash.hashed_at)


def _under(root: str):
    """SQL condition for the rows at root or below it: a range on the unique path index."""
    key = db_path(root.rstrip("/"))
    # '0' follows '/' in byte order, so [key + '/', key + '0') is exactly "starts with key/".
    return (FileHash.absolute_path == key) | and_(FileHash.absolute_path >= key + "/",
                                                  FileHash.absolute_path < key + "0")


def iter_known(session: Session, root: str, chunk: int = 5000) -> Iterator[StoredFile]:
    """Yields the stored rows at or under root: one query, streamed in chunks (a server-side cursor on
    PostgreSQL), so that 200,000 rows are never all in memory at once."""
    rows = session.execute(select(*_STORED_COLUMNS).where(_under(root)).execution_options(yield_per=chunk))
    for r in rows:
        yield StoredFile(from_db_path(r[0]), *r[1:])


def load_known(session: Session, root: str) -> dict[str, StoredFile]:
    """Returns the stored rows at or under root, keyed by path, read in one query."""
    return {f.path: f for f in iter_known(session, root)}


def iter_duplicate_rows(session: Session, roots: Sequence[str], algorithm: str,
                        chunk: int = 5000) -> Iterator[StoredFile]:
    """Yields the stored rows that share size and full hash (of algorithm) with another row under roots,
    ordered by (size, hash) so that each group's rows come together; streamed, one query."""
    under = or_(*(_under(r) for r in roots))
    dup = (select(FileHash.file_size, FileHash.hash_value)
           .where(under, FileHash.algorithm == algorithm, FileHash.hash_value.is_not(None))
           .group_by(FileHash.file_size, FileHash.hash_value)
           .having(func.count() > 1)
           .subquery())
    stmt = (select(*_STORED_COLUMNS)
            .join(dup, and_(FileHash.file_size == dup.c.file_size, FileHash.hash_value == dup.c.hash_value))
            .where(under, FileHash.algorithm == algorithm)
            .order_by(FileHash.file_size, FileHash.hash_value)
            .execution_options(yield_per=chunk))
    for r in session.execute(stmt):
        yield StoredFile(from_db_path(r[0]), *r[1:])


def duplicate_groups(session: Session, roots: Sequence[str], algorithm: str) -> list[list[StoredFile]]:
    """Returns the stored groups (same size and full hash of algorithm, two rows or more) under roots,
    largest wasted space first; files within a group by path."""
    out = [sorted(g, key=lambda f: f.path)
           for _, g in groupby(iter_duplicate_rows(session, roots, algorithm), key=lambda f: (f.size, f.full_hash))]
    out.sort(key=lambda g: (-g[0].size * (len(g) - 1), g[0].path))
    return out


def scan_history(session: Session, limit: int = 10) -> list[ScanMetadata]:
    """Returns the most recent scans, newest first."""
    return list(session.scalars(select(ScanMetadata).order_by(ScanMetadata.id.desc()).limit(limit)))


# ----------------------------------------------------------------------------------------- writes
_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_STAT = ("file_size", "mtime_ns", "ctime_ns", "device", "inode")
_HASHES = ("algorithm", "partial_bytes", "partial_hash", "hash_value", "hashed_at")
_OTHERS = ("filename", "scan_date", "modified_time")
ROW_KEYS = ("absolute_path",) + _OTHERS + _STAT + _HASHES


def _upsert_statement(dialect: str):
    """INSERT ... ON CONFLICT (absolute_path) DO UPDATE, keeping a stored hash that still holds.

    A row sent without a full hash (a new stat record, or a partial hash only) must not wipe a full hash
    that another scanner recorded for the very same stat record in the meantime; a row that carries a
    full hash, or describes a changed file, replaces everything.
    """
    stmt = _INSERT[dialect](FileHash)
    new = stmt.excluded
    same_file = and_(*(getattr(FileHash, c) == getattr(new, c) for c in _STAT))
    keep = and_(same_file, new.hash_value.is_(None), FileHash.hash_value.is_not(None))
    set_: dict[str, Any] = {c: getattr(new, c) for c in _STAT + _OTHERS}
    set_.update({c: case((keep, getattr(FileHash, c)), else_=getattr(new, c)) for c in _HASHES})
    # render_nulls: rows whose NULL columns differ would otherwise each become a separate statement.
    return stmt.on_conflict_do_update(index_elements=[FileHash.absolute_path], set_=set_) \
               .execution_options(render_nulls=True)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yields lists of at most size items (itertools.batched is 3.12+)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def upsert_files(session: Session, rows: Iterable[dict[str, Any]], batch_size: int = 1000) -> int:
    """Inserts or updates file rows (dicts with ROW_KEYS, plain paths); returns the number sent.

    This is the ORM bulk idiom in its executemany form: one compiled statement, the rows passed as a
    list of dicts in the second argument of session.execute(). Not per-row session.merge() (the plan's
    suggestion), which SELECTs each row before writing it, and not .values(rows), which compiles one
    giant statement per batch. bench/upsert_forms.py measures the three (figures in README).
    """
    stmt = _upsert_statement(session.get_bind().dialect.name)
    sent = 0
    for batch in batched(rows, batch_size):
        # One row per path (PostgreSQL refuses to update a row twice in one statement), in path order
        # so that concurrent scanners lock rows in the same order and cannot deadlock each other.
        unique = {r["absolute_path"]: r for r in batch}
        params = [{**unique[p], "absolute_path": db_path(p), "filename": db_path(unique[p]["filename"])}
                  for p in sorted(unique)]
        session.execute(stmt, params)
        sent += len(params)
    return sent


def delete_paths(session: Session, paths: Iterable[str], batch_size: int = 1000) -> int:
    """Deletes the rows of these paths (files that vanished); returns how many rows went."""
    gone = 0
    for batch in batched(sorted(paths), batch_size):
        result = session.execute(delete(FileHash).where(FileHash.absolute_path.in_([db_path(p) for p in batch])),
                                 execution_options={"synchronize_session": False})
        gone += result.rowcount or 0
    return gone


def start_scan(session: Session, roots: Sequence[str], algorithm: str) -> int:
    """Records a scan as running; returns its id."""
    now = time.time()
    scan = ScanMetadata(started_at=now, status="running", roots=json.dumps(list(roots)), algorithm=algorithm)
    session.add(scan)
    session.flush()
    return scan.id


def finish_scan(session: Session, scan_id: int, status: str, counts: dict[str, int]) -> None:
    """Records how a scan ended (finished, interrupted or failed) and its counts."""
    now = time.time()
    known = {c.name for c in ScanMetadata.__table__.columns}
    values = {k: v for k, v in counts.items() if k in known}
    session.execute(update(ScanMetadata).where(ScanMetadata.id == scan_id)
                    .values(status=status, finished_at=now,
                            last_scan_timestamp=now if status == "finished" else None, **values),
                    execution_options={"synchronize_session": False})


def file_row(path: str, size: int, mtime_ns: int, ctime_ns: int, device: int, inode: int, now: float,
             algorithm: str | None = None, partial_bytes: int | None = None, partial_hash: str | None = None,
             full_hash: str | None = None, hashed_at: float | None = None) -> dict[str, Any]:
    """Returns the dict upsert_files takes for one file (device and inode already signed: walk.signed64)."""
    return {"absolute_path": path, "filename": os.path.basename(path), "scan_date": now,
            "modified_time": mtime_ns / 1e9, "file_size": size, "mtime_ns": mtime_ns, "ctime_ns": ctime_ns,
            "device": device, "inode": inode, "algorithm": algorithm,
            "partial_bytes": partial_bytes, "partial_hash": partial_hash, "hash_value": full_hash,
            "hashed_at": hashed_at}


__all__ = ["Base", "FileHash", "ScanMetadata", "DatabaseError", "StoredFile", "make_engine", "initialize_database",
           "describe_error", "in_transaction", "load_known", "duplicate_groups", "iter_duplicate_rows", "scan_history", "upsert_files",
           "delete_paths", "start_scan", "finish_scan", "file_row", "dispose_inherited_engines", "iter_known"]
