"""The scan pipeline shared by main.py and main_mul.py; only the runner of hash batches differs.

walk -> sync with the catalog -> candidates by size -> partial hash -> full hash -> groups from the DB
"""
from __future__ import annotations

import logging
import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from . import database, walk
from .database import StoredFile, file_row, signed64
from .hashing import PARTIAL_BLOCK, Job, Outcome
from .progress import stage_bar
from .workers import Runner, Task, hash_batch

log = logging.getLogger(__name__)

RACY_WINDOW_NS = 2_000_000_000   # a hash taken less than 2 s after the file's mtime is not trusted later
BATCH_BYTES = 64 * 2**20         # at most this many bytes of full hashing per batch (and per commit)
PARTIAL_TASK_FILES = 256         # files per partial-hash task: small tasks, as they do no database writes

Unit = tuple[int, int]           # (device, inode): one file, however many paths (hard links) name it


@dataclass
class ScanOptions:
    roots: list[str]
    algorithm: str
    walk: walk.WalkOptions
    include_empty: bool = False
    hard_links: bool = False
    batch_size: int = 1000
    chunk_size: int = 4 * 2**20


@dataclass
class Group:
    size: int
    digest: str
    paths: list[str]

    @property
    def wasted(self) -> int:
        return self.size * (len(self.paths) - 1)


@dataclass
class ScanResult:
    scan_id: int
    roots: list[str]
    algorithm: str
    finished: bool = False
    groups: list[Group] = field(default_factory=list)
    errors: walk.ErrorLog = field(default_factory=walk.ErrorLog)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stage_seconds: dict[str, float] = field(default_factory=dict)


class _Stages:
    """Times named stages and logs one INFO line for each."""
    def __init__(self, result: ScanResult) -> None:
        self.result = result
        self.t0 = time.perf_counter()

    def done(self, name: str, message: str, *args: object) -> None:
        now = time.perf_counter()
        self.result.stage_seconds[name] = elapsed = now - self.t0
        self.t0 = now
        log.info("%s: " + message + " (%.2fs)", name, *args, elapsed)


def _same_stat(row: StoredFile, e: walk.FileEntry) -> bool:
    return (row.size, row.mtime_ns, row.ctime_ns, row.device, row.inode) == \
           (e.size, e.mtime_ns, e.ctime_ns, signed64(e.device), signed64(e.inode))


def _trusted(row: StoredFile | None, e: walk.FileEntry, algorithm: str) -> bool:
    """A stored hash counts only if the file, and the way it was hashed, are both unchanged, and it
    was not taken within RACY_WINDOW of the file's mtime (the file may have changed again in the
    same timestamp tick: git's "racy" rule, borg's and dvc's too)."""
    return (row is not None and _same_stat(row, e) and row.algorithm == algorithm
            and row.partial_bytes == PARTIAL_BLOCK and row.partial_hash is not None
            and row.hashed_at is not None and row.hashed_at * 1e9 - row.mtime_ns >= RACY_WINDOW_NS)


def run_scan(opts: ScanOptions, sessions: sessionmaker[Session], runner: Runner) -> ScanResult:
    """Returns the scan's groups and counts; the catalog is updated as it goes, batch by batch.

    Ctrl-C during hashing stops the scan after the batches in hand are committed; the result then has
    finished=False and groups from what was hashed, and KeyboardInterrupt is not re-raised.
    """
    algo = opts.algorithm
    scan_id = database.in_transaction(sessions, lambda s: database.start_scan(s, opts.roots, algo))
    result = ScanResult(scan_id, opts.roots, algo)
    counts, errors = result.counts, result.errors
    stages = _Stages(result)

    # 1. walk
    entries: dict[str, walk.FileEntry] = {}
    with stage_bar("1/5 walk") as bar:
        for e in walk.iter_files(opts.roots, opts.walk, errors):
            entries[e.path] = e
            bar.update()
    counts["files_scanned"] = len(entries)
    counts["bytes_scanned"] = sum(e.size for e in entries.values())
    stages.done("walk", "%d files, %d bytes", len(entries), counts["bytes_scanned"])

    # 2. sync with the catalog
    known: dict[str, StoredFile] = {}
    with sessions() as s:
        for root in opts.roots:
            known.update(database.load_known(s, root))
    counts["catalog_rows"] = len(known)
    changed: list[walk.FileEntry] = []
    trusted: dict[str, StoredFile] = {}
    for path, e in entries.items():
        row = known.pop(path, None)
        if row is None or not _same_stat(row, e):
            changed.append(e)
            if row is not None:
                log.debug("CHANGED: %s", path)
        elif _trusted(row, e, algo):
            trusted[path] = row
    vanished = [p for p in known if not _is_regular_file(p)]   # rows of files filtered out this time stay
    del known
    counts["new_or_changed"] = len(changed)
    counts["vanished"] = len(vanished)
    if vanished:
        database.in_transaction(sessions, lambda s: database.delete_paths(s, vanished, opts.batch_size))
    stages.done("sync", "%d unchanged, %d new or changed, %d vanished rows deleted",
                len(entries) - len(changed), len(changed), len(vanished))

    # 3. candidates: files sharing their size with another file
    units: dict[Unit, list[str]] = defaultdict(list)
    for path, e in entries.items():
        if e.size or opts.include_empty:
            units[(e.device, e.inode)].append(path)
    for paths in units.values():
        paths.sort()
    by_size: dict[int, list[Unit]] = defaultdict(list)
    for unit, paths in units.items():
        by_size[entries[paths[0]].size].append(unit)
    candidates = [u for group in _surviving(by_size.values(), units, opts.hard_links) for u in group]
    counts["candidates"] = len(candidates)
    candidate_paths = {p for u in candidates for p in units[u]}
    stages.done("size", "%d candidates in %d files", len(candidates), len(entries))

    # Rows of new or changed files that no hash stage will write (those stages write their own).
    _write(sessions, opts, [_meta_row(e) for e in changed if e.path not in candidate_paths])

    interrupted = False
    partial: dict[Unit, str] = {}
    full: dict[Unit, str] = {}
    written: set[Unit] = set()       # units of this run whose rows (with hashes) are committed
    try:
        # 4. partial hash
        jobs = []
        for u in candidates:
            rows = [trusted.get(p) for p in units[u]]
            if all(rows) and len({(r.partial_hash, r.full_hash) for r in rows}) == 1:   # type: ignore[union-attr]
                partial[u] = rows[0].partial_hash                                    # type: ignore[union-attr]
                if rows[0].full_hash:                                                 # type: ignore[union-attr]
                    full[u] = rows[0].full_hash                                       # type: ignore[union-attr]
            else:
                jobs.append(u)
        counts["partial_reused"] = len(candidates) - len(jobs)
        fresh_partial: set[Unit] = set()
        with stage_bar("2/5 partial hash", total=len(jobs)) as bar:
            tasks = (Task("partial", algo, opts.chunk_size, False, [_job(entries, units, u, None) for u in chunk])
                     for chunk in database.batched(jobs, PARTIAL_TASK_FILES))
            for outcomes in runner(hash_batch, tasks):
                for o in outcomes:
                    u = _unit(entries[o.path])
                    _count(counts, errors, o)
                    if o.digest:
                        partial[u] = o.digest
                        fresh_partial.add(u)
                        if o.complete:
                            full[u] = o.digest
                bar.update(len(outcomes))
        by_partial: dict[tuple[int, str], list[Unit]] = defaultdict(list)
        for u in candidates:
            if u in partial:
                by_partial[(entries[units[u][0]].size, partial[u])].append(u)
        survivors = [u for g in _surviving(by_partial.values(), units, opts.hard_links) for u in g]
        need_full = sorted((u for u in survivors if u not in full), key=lambda u: u[1])   # inode order
        counts["partial_hashed"] = len(jobs)
        stages.done("partial hash", "%d hashed, %d reused, %d candidates left, %d need a full hash",
                    len(jobs), counts["partial_reused"], len(survivors), len(need_full))

        # Rows for what the partial stage settled: files it hashed that need no full hash.
        settled = fresh_partial - set(need_full)
        _write(sessions, opts, [_hash_row(entries, p, algo, partial[u], full.get(u))
                                for u in settled for p in units[u]])
        written |= settled

        # 5. full hash of the survivors, recorded batch by batch by whoever hashed them
        total_bytes = sum(entries[units[u][0]].size for u in need_full)
        with stage_bar("3/5 full hash", total=total_bytes, unit="B") as bar:
            tasks = (Task("full", algo, opts.chunk_size, True, [_job(entries, units, u, partial[u]) for u in chunk])
                     for chunk in _byte_batches(need_full, entries, units, opts.batch_size))
            for outcomes in runner(hash_batch, tasks):
                for o in outcomes:
                    _count(counts, errors, o)
                    if o.digest:
                        full[_unit(entries[o.path])] = o.digest
                        written.add(_unit(entries[o.path]))
                    bar.update(entries[o.path].size)
        counts["full_hashed"] = len(need_full)
        stages.done("full hash", "%d hashed, %d bytes read in all", len(need_full), counts["bytes_read"])
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: committed batches are kept; a rerun hashes only what is missing")

    if not interrupted:   # new files that could not be hashed still belong in the catalog, without hashes
        _write(sessions, opts, [_meta_row(e) for e in changed
                                if e.path in candidate_paths and _unit(e) not in written])

    # 6. groups, read back from the catalog and kept only where this run vouches for the digest
    result.groups = _groups_from_catalog(sessions, opts, entries, units, full)
    counts["duplicate_groups"] = len(result.groups)
    counts["duplicate_files"] = sum(len(g.paths) for g in result.groups)
    counts["wasted_bytes"] = sum(g.wasted for g in result.groups)
    counts["errors"] = len(errors)
    stages.done("groups", "%d groups, %d bytes wasted", len(result.groups), counts["wasted_bytes"])
    result.finished = not interrupted
    return result


def record_end(sessions: sessionmaker[Session], result: ScanResult, status: str) -> None:
    """Stores how the scan ended in its ScanMetadata row."""
    counts = dict(result.counts, files_hashed=result.counts.get("full_hashed", 0))
    database.in_transaction(sessions, lambda s: database.finish_scan(s, result.scan_id, status, counts))


def _surviving(groups: Iterable[list[Unit]], units: dict[Unit, list[str]], hard_links: bool) -> Iterator[list[Unit]]:
    """Yields the groups that can still hold duplicates: two files, or with --hard-links two paths."""
    for g in groups:
        if len(g) > 1 or (hard_links and len(units[g[0]]) > 1):
            yield g


def _unit(e: walk.FileEntry) -> Unit:
    return (e.device, e.inode)


def _job(entries: dict[str, walk.FileEntry], units: dict[Unit, list[str]], u: Unit,
         partial: str | None) -> tuple[Job, tuple[str, ...]]:
    first, *aliases = units[u]
    e = entries[first]
    return Job(e.path, e.size, e.mtime_ns, e.ctime_ns, e.device, e.inode, partial), tuple(aliases)


def _byte_batches(order: list[Unit], entries: dict[str, walk.FileEntry], units: dict[Unit, list[str]],
                  max_files: int) -> Iterator[list[Unit]]:
    """Yields batches of at most max_files files and about BATCH_BYTES bytes (one commit each)."""
    batch: list[Unit] = []
    size = 0
    for u in order:
        batch.append(u)
        size += entries[units[u][0]].size
        if len(batch) >= max_files or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _count(counts: dict[str, int], errors: walk.ErrorLog, o: Outcome) -> None:
    counts["bytes_read"] += o.bytes_read
    if o.problem:
        errors.add(o.path, o.problem)
        if o.problem.startswith("changed"):
            counts["changed_during_scan"] += 1


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _meta_row(e: walk.FileEntry) -> dict:
    return file_row(e.path, e.size, e.mtime_ns, e.ctime_ns, e.device, e.inode, time.time())


def _hash_row(entries: dict[str, walk.FileEntry], path: str, algo: str, partial: str, full: str | None) -> dict:
    e = entries[path]
    now = time.time()
    return file_row(path, e.size, e.mtime_ns, e.ctime_ns, e.device, e.inode, now, algo, PARTIAL_BLOCK,
                    partial, full, now)


def _write(sessions: sessionmaker[Session], opts: ScanOptions, rows: list[dict]) -> None:
    """Upserts rows in statements of opts.batch_size rows, in one transaction.

    These rows cost no file reading to redo (stat records, partial hashes), so one commit per call is
    enough; on SQLite each commit can trigger a WAL checkpoint with an fsync, ~10 ms apiece. The full
    hashes, which do cost reading, are committed batch by batch by the workers (workers.hash_batch).
    """
    if rows:
        database.in_transaction(sessions, lambda s: database.upsert_files(s, rows, opts.batch_size))


def _groups_from_catalog(sessions: sessionmaker[Session], opts: ScanOptions, entries: dict[str, walk.FileEntry],
                         units: dict[Unit, list[str]], full: dict[Unit, str]) -> list[Group]:
    """Returns the catalog's groups under the roots, restricted to files this run walked and whose
    full digest it computed or trusted (a concurrent scanner or a stale row cannot slip in)."""
    with sessions() as s:
        stored = database.duplicate_groups(s, opts.roots, opts.algorithm)
    out = []
    for rows in stored:
        members: dict[Unit, list[str]] = {}
        for r in rows:
            e = entries.get(r.path)
            if e is None or full.get(_unit(e)) != r.full_hash or r.size != e.size:
                continue
            members.setdefault(_unit(e), units[_unit(e)])
        if opts.hard_links:
            paths = sorted(p for ps in members.values() for p in ps)
        else:
            paths = sorted(ps[0] for ps in members.values())
        if len(paths) > 1:
            out.append(Group(rows[0].size, rows[0].full_hash or "", paths))
    out.sort(key=lambda g: (-g.wasted, g.paths[0]))
    return out
