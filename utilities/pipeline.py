"""The scan pipeline shared by main.py and main_mul.py; only the runner of hash batches differs.

walk -> candidates by size -> sync with the catalog -> partial hash -> full hash -> groups from the DB
"""
from __future__ import annotations

import logging
import os
import stat
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby

from sqlalchemy.orm import Session, sessionmaker

from . import database, walk
from .candidates import Candidates
from .catalog_writer import RowWriter, write_rows
from .database import StoredFile, file_row
from .hashing import PARTIAL_BLOCK
from .progress import stage_bar
from .workers import Result, Runner, Task, hash_batch

log = logging.getLogger(__name__)

RACY_WINDOW_NS = 2_000_000_000   # a hash taken less than 2 s after the file's mtime is not trusted later
BATCH_BYTES = 64 * 2**20         # at most this many bytes of full hashing per batch (and per commit)


@dataclass
class ScanOptions:
    roots: list[str]
    algorithm: str
    walk: walk.WalkOptions
    include_empty: bool = False
    hard_links: bool = False
    batch_size: int = 1000
    chunk_size: int = 4 * 2**20
    processes: int = 1             # worker processes hashing (main_mul.py's -p); 1 in main.py


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
    stopped_by: KeyboardInterrupt | None = None     # what interrupted the hashing, if anything


def run_scan(opts: ScanOptions, sessions: sessionmaker[Session], runner: Runner) -> ScanResult:
    """Returns the scan's groups and counts; the catalog is updated as it goes, batch by batch.

    Ctrl-C (or SIGTERM) during hashing stops the scan once the batches in hand are committed; the
    result then has finished=False and the groups of what was hashed. It is not re-raised.
    """
    scan_id = database.in_transaction(sessions, lambda s: database.start_scan(s, opts.roots, opts.algorithm))
    scan = _Scan(opts, sessions, runner, ScanResult(scan_id, opts.roots, opts.algorithm))
    writer = None
    try:
        scan.walk()
        scan.find_candidates()
        scan.sync_with_catalog()
        # The parent's own rows are written by a thread, overlapping the hashing, where that pays: when
        # the parent only waits for its workers, or when the writes wait on a PostgreSQL server (the
        # GIL is free meanwhile: medium corpus, main.py, 3.5 s against 4.4 s inline). On SQLite in one
        # process the writes are this process' own CPU work, and inline is faster (catalog_writer).
        threaded = opts.processes > 1 or sessions.kw["bind"].dialect.name != "sqlite"
        scan.writer = writer = RowWriter(sessions, opts.batch_size, threaded=threaded)
        scan.write_stat_records()
        scan.partial_hash()
        scan.full_hash()
    except KeyboardInterrupt as stop:
        scan.result.stopped_by = stop
    finally:
        if writer is not None:
            writer.close()
    if scan.result.stopped_by is None:
        scan.write_unhashable()
    if writer is not None:       # the catalog was read: its groups can be, even after an interruption
        scan.read_groups()
    scan.result.finished = scan.result.stopped_by is None
    return scan.result


def record_end(sessions: sessionmaker[Session], result: ScanResult, status: str) -> None:
    """Stores how the scan ended in its ScanMetadata row."""
    counts = dict(result.counts, files_hashed=result.counts.get("full_hashed", 0))
    database.in_transaction(sessions, lambda s: database.finish_scan(s, result.scan_id, status, counts))


def _trusted(row: StoredFile, algorithm: str) -> bool:
    """A stored hash counts only if it was made the way this scan makes them, and not within
    RACY_WINDOW of the file's mtime (the file may have changed again within the same timestamp tick:
    git's "racy" rule, borg's and dvc's too). The caller has checked the stat record is unchanged."""
    return (row.algorithm == algorithm and row.partial_bytes == PARTIAL_BLOCK and row.partial_hash is not None
            and row.hashed_at is not None and row.hashed_at * 1e9 - row.mtime_ns >= RACY_WINDOW_NS)


class _Scan:
    """The state one scan carries from stage to stage; each method is one stage.

    Files are indices into the walk's FileTable; a candidate "unit" is the index of the first path of
    an inode (candidates.Candidates). Digests are kept in lists by index, not dicts: most files are
    candidates, and a list slot costs 8 bytes.
    """

    def __init__(self, opts: ScanOptions, sessions: sessionmaker[Session], runner: Runner,
                 result: ScanResult) -> None:
        self.opts, self.sessions, self.runner, self.result = opts, sessions, runner, result
        self.counts, self.errors = result.counts, result.errors
        self.files = walk.FileTable()
        self.cands: Candidates
        self.writer: RowWriter
        self._t0 = time.perf_counter()

    def _done(self, name: str, message: str, *args: object) -> None:
        """Times the stage that just ended and logs one INFO line for it."""
        now = time.perf_counter()
        self.result.stage_seconds[name] = elapsed = now - self._t0
        self._t0 = now
        log.info("%s: " + message + " (%.2fs)", name, *args, elapsed)

    # 1 ---------------------------------------------------------------------------------------------
    def walk(self) -> None:
        files, too_long = self.files, database.max_path_bytes(self.sessions)
        with stage_bar("1/5 walk") as bar:
            for e in walk.iter_files(self.opts.roots, self.opts.walk, self.errors):
                # 4 bytes a character at most, stored: the exact length is worked out for long paths only
                if too_long and 4 * len(e.path) > too_long and database.path_bytes(e.path) > too_long:
                    self.errors.add(e.path, f"path too long for the catalog (over {too_long} bytes)")
                    continue
                files.add(e)
                bar.update()
        self.counts["files_scanned"] = len(files)
        self.counts["bytes_scanned"] = sum(files.size)
        self._done("walk", "%d files, %d bytes", len(files), self.counts["bytes_scanned"])

    # 2 ---------------------------------------------------------------------------------------------
    def find_candidates(self) -> None:
        self.cands = Candidates(self.files, self.opts.include_empty, self.opts.hard_links)
        self.counts["candidates"] = len(self.cands.reps)
        self._done("size", "%d candidates among %d files", len(self.cands.reps), len(self.files))

    # 3 ---------------------------------------------------------------------------------------------
    def sync_with_catalog(self) -> None:
        """Which files are unchanged, which stored digests still hold, which rows lost their file."""
        files, n = self.files, len(self.files)
        self.unchanged = bytearray(n)
        self.partial: list[str | None] = [None] * n     # stored digests that hold, then those computed
        self.full: list[str | None] = [None] * n
        self.written = bytearray(n)                       # 1 for units whose rows this run writes
        maybe_gone: list[str] = []
        with self.sessions() as s:
            for root in self.opts.roots:
                for row in database.iter_known(s, root):
                    i = files.lookup(row.path)
                    if i is None:
                        maybe_gone.append(row.path)
                    elif (row.size, row.mtime_ns, row.ctime_ns, row.device, row.inode) == files.stat_key(i):
                        self.unchanged[i] = 1
                        if self.cands.member[i] and _trusted(row, self.opts.algorithm):
                            self.partial[i], self.full[i] = row.partial_hash, row.full_hash
                    else:
                        log.debug("CHANGED: %s", row.path)
        vanished = [p for p in maybe_gone if not _is_regular_file(p)]   # rows of files filtered out stay
        if vanished:
            database.in_transaction(self.sessions,
                                    lambda s: database.delete_paths(s, vanished, self.opts.batch_size))
        changed = n - sum(self.unchanged)
        self.counts["new_or_changed"], self.counts["vanished"] = changed, len(vanished)
        self._done("sync", "%d unchanged, %d new or changed, %d vanished rows deleted", n - changed, changed,
                   len(vanished))

    def write_stat_records(self) -> None:
        """Rows of new or changed files that no hash stage will write (those write their own)."""
        member, unchanged = self.cands.member, self.unchanged
        self.writer.put(self._row(i) for i in range(len(self.files)) if not unchanged[i] and not member[i])

    # 4 ---------------------------------------------------------------------------------------------
    def partial_hash(self) -> None:
        cands, partial, full = self.cands, self.partial, self.full
        jobs = array("i")
        for u in cands.reps:
            if partial[u] is None or (u in cands.aliases and any(   # all names of a file must agree
                    (partial[i], full[i]) != (partial[u], full[u]) for i in cands.aliases[u])):
                partial[u] = full[u] = None
                jobs.append(u)
        self.counts["partial_reused"] = len(cands.reps) - len(jobs)
        # Who writes the partial stage's rows: with worker processes, each commits its own batches, so
        # building and sending rows spreads over the cores (medium corpus, -p 2: SQLite 2.1 s against
        # 2.25 s through the parent's writer thread, PostgreSQL 2.9 s against 3.8 s). In one process,
        # the writer takes them as they come, COMMIT_ROWS to a commit. Survivors are written again,
        # with their full hash, by the full stage; with 64 KiB partial blocks they are few.
        workers_write = self.opts.processes > 1
        with stage_bar("2/5 partial hash", total=len(jobs)) as bar:
            def took(res: Result) -> None:
                self._absorb(res, partial)
                for k, u in enumerate(res.units):
                    if res.complete[k]:
                        full[u] = res.digests[k]
                    self.written[u] = res.digests[k] is not None
                if not workers_write:
                    self.writer.put(self._row(i, partial=d, full=d if res.complete[k] else None)
                                    for k, (u, d) in enumerate(zip(res.units, res.digests)) if d is not None
                                    for i in cands.indices(u))
                bar.update(len(res.units))
            self._run_stage((self._task("partial", chunk, record=workers_write)
                             for chunk in database.batched(jobs, self.opts.batch_size)), took)
        self.counts["partial_hashed"] = len(jobs)
        survivors = cands.regroup(partial, self.opts.hard_links)
        self.need_full = sorted((u for u in survivors if full[u] is None),
                                key=self.files.inode.__getitem__)       # disk order, roughly
        self._done("partial hash", "%d hashed, %d reused, %d candidates left, %d need a full hash",
                   len(jobs), self.counts["partial_reused"], len(survivors), len(self.need_full))

    # 5 ---------------------------------------------------------------------------------------------
    def full_hash(self) -> None:
        """Full hashes of the survivors, committed batch by batch by whoever hashed them."""
        size = self.files.size
        with stage_bar("3/5 full hash", total=sum(size[u] for u in self.need_full), unit="B") as bar:
            def took(res: Result) -> None:
                self._absorb(res, self.full)
                for u in res.units:
                    self.written[u] = self.full[u] is not None
                self.counts["full_hashed"] += len(res.units) - len(res.problems)   # committed by hash_batch
                bar.update(sum(size[u] for u in res.units))
            self._run_stage((self._task("full", chunk, record=True, with_partial=True)
                             for chunk in self._byte_batches(self.need_full)), took)
        self._done("full hash", "%d hashed, %d bytes read in all", self.counts["full_hashed"],
                   self.counts["bytes_read"])

    def write_unhashable(self) -> None:
        """New files that could not be hashed still belong in the catalog, without hashes."""
        cands, written, unchanged = self.cands, self.written, self.unchanged
        write_rows(self.sessions, (self._row(i) for i in range(len(self.files))
                                   if cands.member[i] and not unchanged[i] and not written[cands.rep_of.get(i, i)]),
                   self.opts.batch_size)

    # 6 ---------------------------------------------------------------------------------------------
    def read_groups(self) -> None:
        """The catalog's groups under the roots, restricted to files this run walked and whose full
        digest it computed or trusted (a concurrent scanner or a stale row cannot slip in)."""
        files, cands, full, opts = self.files, self.cands, self.full, self.opts
        out = []
        with self.sessions() as s:
            rows = database.iter_duplicate_rows(s, opts.roots, opts.algorithm)
            for (size, digest), group in groupby(rows, key=lambda r: (r.size, r.full_hash)):
                members: set[int] = set()
                for r in group:
                    i = files.lookup(r.path)
                    if i is not None and files.size[i] == size and full[cands.rep_of.get(i, i)] == digest:
                        members.add(cands.rep_of.get(i, i))
                if opts.hard_links:
                    paths = sorted(files.path(i) for u in members for i in cands.indices(u))
                else:
                    paths = sorted(files.path(u) for u in members)
                if len(paths) > 1:
                    out.append(Group(size, digest or "", paths))
        out.sort(key=lambda g: (-g.wasted, g.paths[0]))
        self.result.groups = out
        c = self.counts
        c["duplicate_groups"] = len(out)
        c["duplicate_files"] = sum(len(g.paths) for g in out)
        c["wasted_bytes"] = sum(g.wasted for g in out)
        c["errors"] = len(self.errors)
        self._done("groups", "%d groups, %d bytes wasted", len(out), c["wasted_bytes"])

    # helpers ---------------------------------------------------------------------------------------
    def _task(self, kind: str, units: Iterable[int], record: bool, with_partial: bool = False) -> Task:
        files, cands = self.files, self.cands
        units = array("i", units)
        aliases = {k: tuple(files.path(i) for i in cands.aliases[u])
                   for k, u in enumerate(units) if u in cands.aliases}
        return Task(kind, self.opts.algorithm, self.opts.chunk_size, record, units,
                    [files.path(u) for u in units], [files.stat_key(u) for u in units],
                    [self.partial[u] for u in units] if with_partial else None, aliases)

    def _run_stage(self, tasks: Iterable[Task], took: Callable[[Result], None]) -> None:
        """Runs tasks, handing each result to took(); on Ctrl-C, first takes the results of the batches
        that were already running (they commit all the same), so the counts say what was saved."""
        run = self.runner(hash_batch, tasks)
        try:
            for res in run:
                took(res)
        except KeyboardInterrupt:
            for res in run.drain():
                took(res)
            raise

    def _absorb(self, res: Result, digests: list[str | None]) -> None:
        """Takes a batch's digests into digests[] and its problems into the error log."""
        self.counts["bytes_read"] += res.bytes_read
        for k, u in enumerate(res.units):
            d = res.digests[k]
            if d is not None:
                digests[u] = d
        for k, problem in res.problems:
            self.errors.add(self.files.path(res.units[k]), problem)
            if problem.startswith("changed"):
                self.counts["changed_during_scan"] += 1

    def _byte_batches(self, order: list[int]) -> Iterator[list[int]]:
        """Yields batches of at most -b files and about BATCH_BYTES bytes (one commit each)."""
        batch: list[int] = []
        size = 0
        for u in order:
            batch.append(u)
            size += self.files.size[u]
            if len(batch) >= self.opts.batch_size or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _row(self, i: int, partial: str | None = None, full: str | None = None) -> dict:
        """Returns the catalog row of file i: its stat record, and its hashes when given."""
        now = time.time()
        return file_row(self.files.path(i), *self.files.stat_key(i), now,
                        self.opts.algorithm if partial else None, PARTIAL_BLOCK if partial else None,
                        partial, full, now if partial else None)


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
