"""The look-ups of --catalog and --unique: catalog rows "elsewhere" (another host's, or this host's outside this
run's roots) that may be copies of the files under the roots.

Set-based: the sizes, or (size, digest) pairs, of this walk go in batches of IN lists, and each query finds its
rows on the index ix_file_hashes_size_hash (file_size first). Nothing is asked per file, and the catalog is
never read whole: only the rows of sizes that this walk holds.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, and_, case, distinct, func, literal, not_, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from .database import FileHash, ScanMetadata, batched, under_root
from .paths import from_db_path

BATCH = 1000            # values per IN list


@dataclass(frozen=True)
class Place:
    """Who asks: this host, this run's roots, and how this run hashes (a digest of another algorithm or
    partial block size cannot be compared with this run's)."""
    host: str
    roots: tuple[str, ...]
    algorithm: str
    partial_bytes: int


@dataclass(frozen=True)
class Copy:
    """A row elsewhere whose size and full digest are those of a file under the roots."""
    host: str
    path: str
    size: int
    digest: str
    device: int
    inode: int
    written_at: float        # the row's scan_date


@dataclass(frozen=True)
class Unhashed:
    """Rows elsewhere of one size, on one host, that have no full digest this run can compare with; partial is
    their comparable partial digest, None when they have none."""
    host: str
    size: int
    partial: str | None
    rows: int


def _elsewhere(place: Place, dialect: str) -> ColumnElement[bool]:
    """SQL: a row that is not this host's under one of this run's roots (those are this walk's own)."""
    return not_(or_(*(under_root(r, place.host, dialect) for r in place.roots)))


def _comparable_partial(place: Place) -> ColumnElement[Any]:
    return case((and_(FileHash.algorithm == place.algorithm, FileHash.partial_bytes == place.partial_bytes),
                 FileHash.partial_hash), else_=None)


def sizes_elsewhere(session: Session, place: Place, sizes: Iterable[int]) -> dict[int, bool]:
    """Returns, for each of sizes that has rows elsewhere, whether one of them lacks a comparable partial digest
    (a file of that size must then be hashed whole to be decided)."""
    dialect = session.get_bind().dialect.name
    out: dict[int, bool] = {}
    for batch in batched(sorted(set(sizes)), BATCH):
        if dialect == "postgresql":
            # per size two EXISTS probes on the index, each stopping at its first row: a size that the catalog
            # holds thousands of times costs a row or two, not all of them (a GROUP BY would read them all)
            # (the second probe is a scalar subquery with LIMIT 1: as an EXISTS in the select list, PostgreSQL 15
            # chose a hashed subplan that read the whole table, 2.6 s a batch on 5M rows)
            given = func.unnest(literal(batch, ARRAY(BigInteger))).table_valued("size").render_derived(name="given")
            here = (FileHash.file_size == given.c.size, _elsewhere(place, dialect))
            lacks = select(literal(1)).where(*here, _comparable_partial(place).is_(None)).limit(1).scalar_subquery()
            query = select(given.c.size, lacks.is_not(None)).where(select(literal(1)).where(*here).exists())
        else:
            lacking = func.max(case((_comparable_partial(place).is_(None), 1), else_=0))
            query = select(FileHash.file_size, lacking).where(FileHash.file_size.in_(batch),
                                                              _elsewhere(place, dialect)).group_by(FileHash.file_size)
        out.update((size, bool(flag)) for size, flag in session.connection().execute(query))
    return out


def partial_matches(session: Session, place: Place, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Returns those of the (size, partial digest) pairs that a row elsewhere has, hashed the way this run hashes."""
    dialect = session.get_bind().dialect.name
    out: set[tuple[int, str]] = set()
    for batch in batched(sorted(set(pairs)), BATCH):
        wanted = set(batch)
        query = select(distinct(FileHash.file_size), FileHash.partial_hash).where(
            FileHash.file_size.in_({s for s, _ in batch}), FileHash.partial_hash.in_({p for _, p in batch}),
            FileHash.algorithm == place.algorithm, FileHash.partial_bytes == place.partial_bytes,
            _elsewhere(place, dialect))
        out.update(pair for pair in ((s, p) for s, p in session.connection().execute(query)) if pair in wanted)
    return out


def copies_elsewhere(session: Session, place: Place, pairs: Iterable[tuple[int, str]]) -> list[Copy]:
    """Returns the rows elsewhere whose (size, full digest) is one of pairs, of this run's algorithm."""
    dialect = session.get_bind().dialect.name
    out: list[Copy] = []
    columns = (FileHash.host, FileHash.absolute_path, FileHash.file_size, FileHash.hash_value, FileHash.device,
               FileHash.inode, FileHash.scan_date)
    for batch in batched(sorted(set(pairs)), BATCH):
        wanted = set(batch)
        cond = (FileHash.algorithm == place.algorithm, _elsewhere(place, dialect))
        if dialect == "postgresql":
            # the pairs joined to the rows: one probe of (file_size, hash_value) on the index per pair (two IN
            # lists made PostgreSQL 15 read every row of the sizes, the digests only filtered)
            given = func.unnest(literal([s for s, _ in batch], ARRAY(BigInteger)),
                                literal([d for _, d in batch], ARRAY(String))) \
                .table_valued("size", "digest").render_derived(name="given")
            query = select(*columns).join_from(given, FileHash, and_(FileHash.file_size == given.c.size,
                                                                     FileHash.hash_value == given.c.digest)) \
                .where(*cond)
        else:
            query = select(*columns).where(FileHash.file_size.in_({s for s, _ in batch}),
                                           FileHash.hash_value.in_({d for _, d in batch}), *cond)
        for host, path, size, digest, device, inode, written in session.connection().execute(query):
            if (size, digest) in wanted:
                out.append(Copy(host, from_db_path(path), size, digest, device, inode, written))
    return out


def unhashed_elsewhere(session: Session, place: Place, partials: dict[int, set[str]]) -> list[Unhashed]:
    """Returns the rows elsewhere of these sizes without a full digest of this run's algorithm, whose partial
    digest is unknown (or not comparable) or one of those given for their size, counted per (host, size,
    comparable partial digest): the rows that could be copies and that only their own host can hash."""
    dialect = session.get_bind().dialect.name
    partial = _comparable_partial(place)
    out: list[Unhashed] = []
    for batch in batched(sorted(partials), BATCH):
        digests = sorted({p for size in batch for p in partials[size]})
        query = select(FileHash.host, FileHash.file_size, partial.label("partial"), func.count()).where(
            FileHash.file_size.in_(batch), _elsewhere(place, dialect),
            or_(FileHash.hash_value.is_(None), FileHash.algorithm != place.algorithm, FileHash.algorithm.is_(None)),
            or_(partial.is_(None), FileHash.partial_hash.in_(digests))) \
            .group_by(FileHash.host, FileHash.file_size, partial)
        for host, size, p, n in session.connection().execute(query):
            if p is None or p in partials[size]:
                out.append(Unhashed(host, size, p, n))
    return out


def last_scans(session: Session, hosts: Iterable[str]) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
    """Returns, per host, its finished scans as (finished_at, roots), latest first: when it last saw a path."""
    out: dict[str, list[tuple[float, tuple[str, ...]]]] = {}
    wanted = sorted(set(hosts))
    if not wanted:
        return out
    query = select(ScanMetadata.host, ScanMetadata.finished_at, ScanMetadata.roots).where(
        ScanMetadata.host.in_(wanted), ScanMetadata.status == literal("finished"),
        ScanMetadata.finished_at.is_not(None)).order_by(ScanMetadata.finished_at.desc())
    for host, finished, roots in session.connection().execute(query):
        out.setdefault(host, []).append((finished, tuple(json.loads(roots))))
    return out


def seen_at(path: str, written_at: float, scans: list[tuple[float, tuple[str, ...]]]) -> float:
    """When the host last saw path: its latest finished scan of a root that holds path, or when its row was
    written, whichever is later (an unchanged file's row is not written again)."""
    for finished, roots in scans:                       # latest first
        if any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots):
            return max(finished, written_at)
    return written_at
