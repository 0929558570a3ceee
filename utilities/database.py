"""Catalog schema (SQLAlchemy 2.0 ORM models) and the set-based reads and writes of a scan."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Index,
    Integer,
    String,
    Text,
    and_,
    case,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .paths import db_path, from_db_path
from .records import Hashes, ScanCounts, Stat, StoredFile

T = TypeVar("T")

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
    # The stat record (records.Stat): what decides whether a stored hash is still valid.
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    ctime_ns: Mapped[int] = mapped_column(BigInteger)
    device: Mapped[int] = mapped_column(BigInteger)
    inode: Mapped[int] = mapped_column(BigInteger)
    # How the hashes were made (records.Hashes): the algorithm of both, the block size of the partial one.
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


# ------------------------------------------------------------------------------------------ reads
_STORED_COLUMNS = (FileHash.absolute_path, FileHash.file_size, FileHash.mtime_ns, FileHash.ctime_ns,
                   FileHash.device, FileHash.inode, FileHash.algorithm, FileHash.partial_bytes,
                   FileHash.partial_hash, FileHash.hash_value, FileHash.hashed_at)


def _under(root: str) -> ColumnElement[bool]:
    """SQL condition for the rows at root or below it: a range on the unique path index."""
    key = db_path(root.rstrip("/"))
    # '0' follows '/' in byte order, so [key + '/', key + '0') is exactly "starts with key/".
    return or_(FileHash.absolute_path == key,
               and_(FileHash.absolute_path >= key + "/", FileHash.absolute_path < key + "0"))


def iter_known(session: Session, roots: Sequence[str], chunk: int = 5000) -> Iterator[StoredFile]:
    """Yields the stored rows at or under each of roots (which do not overlap): one query per root,
    streamed in chunks (a server-side cursor on PostgreSQL), never all in memory at once."""
    for root in roots:
        rows = session.execute(select(*_STORED_COLUMNS).where(_under(root)).execution_options(yield_per=chunk))
        for path, size, mtime_ns, ctime_ns, device, inode, algorithm, block, partial, full, hashed_at in rows:
            hashes = None
            if partial is not None and algorithm is not None and block is not None and hashed_at is not None:
                hashes = Hashes(algorithm, block, partial, full, hashed_at)
            yield StoredFile(from_db_path(path), Stat(size, mtime_ns, ctime_ns, device, inode), hashes)


# ----------------------------------------------------------------------------------------- writes
_STAT = ("file_size", "mtime_ns", "ctime_ns", "device", "inode")
_HASHES = ("algorithm", "partial_bytes", "partial_hash", "hash_value", "hashed_at")
_OTHERS = ("filename", "scan_date", "modified_time")


def file_row(path: str, stat: Stat, *, scanned_at: float, hashes: Hashes | None = None) -> dict[str, Any]:
    """Returns the row upsert_files takes for one file: its stat record and, when given, its hashes."""
    row: dict[str, Any] = {
        "absolute_path": path, "filename": os.path.basename(path), "scan_date": scanned_at,
        "modified_time": stat.mtime_ns / 1e9, "file_size": stat.size, "mtime_ns": stat.mtime_ns,
        "ctime_ns": stat.ctime_ns, "device": stat.device, "inode": stat.inode}
    if hashes is None:
        row.update(dict.fromkeys(_HASHES))
    else:
        row.update(algorithm=hashes.algorithm, partial_bytes=hashes.partial_bytes, partial_hash=hashes.partial,
                   hash_value=hashes.full, hashed_at=hashes.hashed_at)
    return row


def _upsert_statement(dialect: str) -> sqlite.Insert | postgresql.Insert:
    """INSERT ... ON CONFLICT (absolute_path) DO UPDATE, keeping a stored hash that still holds.

    A row sent without a full hash (a new stat record, or a partial hash only) must not wipe a full hash
    that another scanner recorded for the very same stat record in the meantime; a row that carries a
    full hash, or describes a changed file, replaces everything.
    """
    stmt = sqlite.insert(FileHash) if dialect == "sqlite" else postgresql.insert(FileHash)
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
    """Inserts or updates file rows (file_row's dicts, plain paths); returns the number sent.

    This is the ORM bulk idiom in its executemany form: one compiled statement, the rows passed as a
    list of dicts in the second argument of session.execute(). Not per-row session.merge() (the plan's
    suggestion), which SELECTs each row before writing it, and not .values(rows), which compiles one
    giant statement per batch. bench/upsert_forms.py measures the three (figures in README).
    """
    bind = session.get_bind()
    stmt = _upsert_statement(bind.dialect.name)
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
        gone += getattr(result, "rowcount", 0) or 0
    return gone


def start_scan(session: Session, roots: Sequence[str], algorithm: str) -> int:
    """Records a scan as running; returns its id."""
    scan = ScanMetadata(started_at=time.time(), status="running", roots=json.dumps(list(roots)), algorithm=algorithm)
    session.add(scan)
    session.flush()
    return scan.id


def finish_scan(session: Session, scan_id: int, status: str, counts: ScanCounts, *, duplicate_groups: int,
                wasted_bytes: int, errors: int) -> None:
    """Records how a scan ended (finished, interrupted or failed) and what it counted."""
    now = time.time()
    session.execute(update(ScanMetadata).where(ScanMetadata.id == scan_id).values(
        status=status, finished_at=now, last_scan_timestamp=now if status == "finished" else None,
        files_scanned=counts.files_scanned, bytes_scanned=counts.bytes_scanned, bytes_read=counts.bytes_read,
        files_hashed=counts.full_hashed, duplicate_groups=duplicate_groups, wasted_bytes=wasted_bytes,
        errors=errors), execution_options={"synchronize_session": False})
