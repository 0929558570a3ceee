"""Catalog schema (SQLAlchemy 2.0 ORM models) and the set-based reads and writes of a scan."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    ColumnExpressionArgument,
    Float,
    Index,
    Integer,
    String,
    Text,
    and_,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.expression import Grouping

from .hosts import MAX_HOST_CHARS as HOST_CHARS
from .paths import db_path, from_db_path
from .records import Hashes, ScanCounts, Stat, StoredFile

T = TypeVar("T")

# Path key the range queries compare on: byte order on both backends (SQLite's default BINARY
# collation; "C" on PostgreSQL, whose default linguistic collation would break prefix ranges).
PathType = String().with_variant(String(collation="C"), "postgresql")
# PostgreSQL: characters of a path that its unique index holds. A btree entry holds at most 2704 bytes,
# so a path of any length cannot be a key itself: the key is (host, the first 256 characters, the md5 of
# a path longer than that, else ''), at most 255 * 4 + 256 * 4 + 33 bytes. The prefix keeps range reads
# under a root on the index; the md5 tells apart long paths that share their first 256 characters, and
# only those pay for it (an md5 on every key made the index 65% larger: 94 MB for 1M rows, not 57 MB).
PATH_PREFIX_CHARS = 256


class Base(DeclarativeBase):
    pass


class FileHash(Base):
    """One regular file of the catalog, its stat record and, once computed, its hashes."""
    __tablename__ = "file_hashes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(HOST_CHARS))                # the machine the file is on (hosts.py)
    filename: Mapped[str] = mapped_column(PathType)
    absolute_path: Mapped[str] = mapped_column(PathType)                 # unique per host: see the indexes
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

    # Indexes cost time on every upsert, so only what the queries use: the unique (host, path) index
    # (ON CONFLICT, range reads under a root, rows by host; declared below the class, one per backend)
    # and (size, hash) for the duplicate GROUP BY and look-ups by size, across all hosts. No query looks
    # up a hash alone (one more index cost 6% of a first scan of the large corpus), and partial hashes
    # are grouped in memory, never in SQL.
    __table_args__ = (Index("ix_file_hashes_size_hash", "file_size", "hash_value"),)


class ScanMetadata(Base):
    """One run of the scanner: what it scanned, how, and whether it finished."""
    __tablename__ = "scan_metadata"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(HOST_CHARS))                # the machine that ran the scan
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


class DedupeAction(Base):
    """One operation of --apply or --apply-plan: what was done to which file, for which kept copy, and how
    it ended (cli-contract.md, "Acting on duplicates"); a move's entry is what --undo-move works from."""
    __tablename__ = "dedupe_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)           # what --undo-move ID names
    run: Mapped[str] = mapped_column(String(32))                         # one apply (a random hex token)
    seq: Mapped[int] = mapped_column(Integer)                            # the entry's number in its run
    host: Mapped[str] = mapped_column(String(HOST_CHARS))
    at: Mapped[float] = mapped_column(Float)                             # epoch seconds
    action: Mapped[str] = mapped_column(String(16))                      # delete, hardlink, symlink, reflink, move
    path: Mapped[str] = mapped_column(PathType)                          # stored as paths.db_path
    kept: Mapped[str] = mapped_column(PathType)
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))                     # started, done, skipped, failed
    reason: Mapped[str] = mapped_column(Text, default="")
    moved_to: Mapped[str | None] = mapped_column(PathType)               # move: the file in the quarantine
    # move, once done: the quarantined file's stat record, which undo checks before putting it back
    moved_size: Mapped[int | None] = mapped_column(BigInteger)
    moved_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    moved_ctime_ns: Mapped[int | None] = mapped_column(BigInteger)
    moved_device: Mapped[int | None] = mapped_column(BigInteger)
    moved_inode: Mapped[int | None] = mapped_column(BigInteger)
    undone_at: Mapped[float | None] = mapped_column(Float)               # when --undo-move put it back

    __table_args__ = (Index("ux_dedupe_actions_run_seq", "run", "seq", unique=True),
                      Index("ix_dedupe_actions_host_action", "host", "action"))


def path_prefix(path: ColumnExpressionArgument[str]) -> ColumnElement[str]:
    """SQL: the first PATH_PREFIX_CHARS characters of path (PostgreSQL's left(); a constant, not a bound
    parameter, so that the expression is the very one of the index)."""
    return func.left(path, literal_column(str(PATH_PREFIX_CHARS)))


def path_digest(path: ColumnExpressionArgument[str]) -> ColumnElement[str]:
    """SQL: the md5 of a path longer than PATH_PREFIX_CHARS characters, '' for the others (whose prefix is
    the whole path). In parentheses, as an index or ON CONFLICT expression must be."""
    n: ColumnElement[int] = literal_column(str(PATH_PREFIX_CHARS))
    return Grouping(case((func.length(path) > n, func.md5(path)), else_=literal_column("''")))


# The unique key of a row, (host, path), per backend; the migrations make the same (a test compares them).
# SQLite indexes keys of any length: the path itself.
Index("ux_file_hashes_host_path", FileHash.host, path_prefix(FileHash.absolute_path),
      path_digest(FileHash.absolute_path), unique=True).ddl_if(dialect="postgresql")
Index("ux_file_hashes_host_path", FileHash.host, FileHash.absolute_path, unique=True).ddl_if(dialect="sqlite")


@cache
def declare_postgresql_indexes() -> None:
    """Declares the PostgreSQL-only index of the model (called when a PostgreSQL catalog is opened): its
    postgresql_* options load SQLAlchemy's PostgreSQL dialect, which a SQLite scan should not pay for.

    --catalog counts other hosts' rows without a full hash, by size (catalog_lookups.unhashed_elsewhere): on
    PostgreSQL from this partial index alone (an index-only scan; migration 0004). Only rows without a full
    hash are in it.
    """
    Index("ix_file_hashes_unhashed", FileHash.file_size, FileHash.host,
          postgresql_include=["partial_hash", "algorithm", "partial_bytes"],
          postgresql_where=FileHash.hash_value.is_(None)).ddl_if(dialect="postgresql")


def conflict_target(dialect: str) -> list[Any]:
    """The columns and expressions of the unique (host, path) index, for ON CONFLICT."""
    if dialect == "postgresql":
        return [FileHash.host, path_prefix(FileHash.absolute_path), path_digest(FileHash.absolute_path)]
    return [FileHash.host, FileHash.absolute_path]


# ------------------------------------------------------------------------------------------ reads
_STORED_COLUMNS = (FileHash.absolute_path, FileHash.file_size, FileHash.mtime_ns, FileHash.ctime_ns,
                   FileHash.device, FileHash.inode, FileHash.algorithm, FileHash.partial_bytes,
                   FileHash.partial_hash, FileHash.hash_value, FileHash.hashed_at)


def under_root(root: str, host: str | None, dialect: str) -> ColumnElement[bool]:
    """SQL condition for host's rows at root or below it: a range on the unique (host, path) index; host None:
    every host's rows there (the same condition on the path, which the index cannot find without a host)."""
    path = FileHash.absolute_path
    key = db_path(root.rstrip("/"))
    # '0' follows '/' in byte order, so [key, key + '0') holds key, everything under key/, and siblings
    # such as key + '.txt' that the second condition leaves out.
    end = key + "0"
    cond = and_(path >= key, path < end, or_(path == key, path >= key + "/"))
    if host is not None:
        cond = and_(FileHash.host == host, cond)
    if dialect == "postgresql":
        # The index holds the first PATH_PREFIX_CHARS characters only. A prefix of a string sorts no
        # later than the string (byte order), so this range on the prefixes holds every row wanted and
        # lets PostgreSQL find them on the index; the condition above then decides exactly.
        prefix = path_prefix(path)
        cond = and_(cond, prefix >= key[:PATH_PREFIX_CHARS], prefix <= end[:PATH_PREFIX_CHARS])
    return cond


def iter_known(session: Session, roots: Sequence[str], chunk: int = 5000, *, host: str) -> Iterator[StoredFile]:
    """Yields host's stored rows at or under each of roots (which do not overlap): one query per root,
    streamed in chunks (a server-side cursor on PostgreSQL), never all in memory at once."""
    dialect = session.get_bind().dialect.name
    for root in roots:
        query = select(*_STORED_COLUMNS).where(under_root(root, host, dialect))
        # Core execution on the session's connection: plain rows, half the cost of the ORM's result
        # processing for 50,000 rows (0.11 s against 0.20 s), streamed all the same
        rows = session.connection().execute(query.execution_options(yield_per=chunk))
        for path, size, mtime_ns, ctime_ns, device, inode, algorithm, block, partial, full, hashed_at in rows:
            hashes = None
            if partial is not None and algorithm is not None and block is not None and hashed_at is not None:
                hashes = Hashes(algorithm, block, partial, full, hashed_at)
            yield StoredFile(from_db_path(path), Stat(size, mtime_ns, ctime_ns, device, inode), hashes)


# ----------------------------------------------------------------------------------------- writes
HASH_COLUMNS = (  # the columns of records.Hashes; upserts keeps a stored set whole
    "algorithm", "partial_bytes", "partial_hash", "hash_value", "hashed_at")


def file_row(path: str, stat: Stat, *, scanned_at: float, hashes: Hashes | None = None) -> dict[str, Any]:
    """Returns the row upserts.upsert_files takes for one file: its stat record and, when given, its hashes
    (upsert_files adds the host)."""
    row: dict[str, Any] = {
        "absolute_path": path, "filename": os.path.basename(path), "scan_date": scanned_at,
        "modified_time": stat.mtime_ns / 1e9, "file_size": stat.size, "mtime_ns": stat.mtime_ns,
        "ctime_ns": stat.ctime_ns, "device": stat.device, "inode": stat.inode}
    if hashes is None:
        row.update(dict.fromkeys(HASH_COLUMNS))
    else:
        row.update(algorithm=hashes.algorithm, partial_bytes=hashes.partial_bytes, partial_hash=hashes.partial,
                   hash_value=hashes.full, hashed_at=hashes.hashed_at)
    return row


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yields lists of at most size items (itertools.batched is 3.12+)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def delete_paths(session: Session, paths: Iterable[str], batch_size: int = 1000, *, host: str) -> int:
    """Deletes host's rows of these paths (files that vanished); returns how many rows went."""
    postgres = session.get_bind().dialect.name == "postgresql"
    gone = 0
    for batch in batched(sorted(paths), batch_size):
        keys = [db_path(p) for p in batch]
        cond = and_(FileHash.host == host, FileHash.absolute_path.in_(keys))
        if postgres:   # finds the rows on the index, which holds the prefixes (see under_root)
            cond = and_(cond, path_prefix(FileHash.absolute_path).in_(sorted({k[:PATH_PREFIX_CHARS] for k in keys})))
        result = session.execute(delete(FileHash).where(cond), execution_options={"synchronize_session": False})
        gone += getattr(result, "rowcount", 0) or 0
    return gone


def start_scan(session: Session, roots: Sequence[str], algorithm: str, *, host: str) -> int:
    """Records a scan of host's roots as running; returns its id."""
    scan = ScanMetadata(host=host, started_at=time.time(), status="running", roots=json.dumps(list(roots)),
                        algorithm=algorithm)
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
