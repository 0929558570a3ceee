"""The scan pipeline shared by main.py and main_mul.py; only the runner of hash batches differs.

walk -> sync with the catalog -> candidates by size -> partial hash -> full hash -> groups from the DB
"""
from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from . import database, walk
from .database import StoredFile, file_row
from .hashing import PARTIAL_BLOCK
from .progress import stage_bar
from .workers import Result, Runner, Task, hash_batch

log = logging.getLogger(__name__)

RACY_WINDOW_NS = 2_000_000_000   # a hash taken less than 2 s after the file's mtime is not trusted later
BATCH_BYTES = 64 * 2**20         # at most this many bytes of full hashing per batch (and per commit)
COMMIT_ROWS = 5_000              # rows per commit of the parent's own writes (stat records, partial hashes)


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


def _trusted(row: StoredFile, algorithm: str) -> bool:
    """A stored hash counts only if it was made the way this scan makes them, and not within
    RACY_WINDOW of the file's mtime (the file may have changed again within the same timestamp tick:
    git's "racy" rule, borg's and dvc's too). The caller has checked the stat record is unchanged."""
    return (row.algorithm == algorithm and row.partial_bytes == PARTIAL_BLOCK and row.partial_hash is not None
            and row.hashed_at is not None and row.hashed_at * 1e9 - row.mtime_ns >= RACY_WINDOW_NS)


class _Candidates:
    """Files that share their size with another file, one unit per inode (hard links are one file)."""

    def __init__(self, files: walk.FileTable, opts: ScanOptions) -> None:
        self.reps = array("i")                    # one index per unit, the alphabetically first path
        self.aliases: dict[int, list[int]] = {}   # rep -> the other paths of its inode, when it has any
        self.rep_of: dict[int, int] = {}          # alias -> rep
        self.member = bytearray(len(files))       # 1 for every path of every candidate unit
        self.size = size = files.size
        order = sorted((i for i in range(len(files)) if size[i] or opts.include_empty), key=size.__getitem__)
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and size[order[end]] == size[order[start]]:
                end += 1
            if end - start > 1:
                self._add_run(files, order[start:end], opts.hard_links)
            start = end

    def _add_run(self, files: walk.FileTable, run: list[int], hard_links: bool) -> None:
        """Adds one size's files; reps therefore stay in size order (regroup relies on it)."""
        by_inode: dict[tuple[int, int], list[int]] = {}
        for i in run:
            by_inode.setdefault((files.device[i], files.inode[i]), []).append(i)
        if len(by_inode) < 2 and not hard_links:
            return                                  # all names of one file: nothing to compare
        for idx in by_inode.values():
            idx.sort(key=files.path)
            rep = idx[0]
            self.reps.append(rep)
            for i in idx:
                self.member[i] = 1
            if len(idx) > 1:
                self.aliases[rep] = idx[1:]
                for i in idx[1:]:
                    self.rep_of[i] = rep

    def indices(self, rep: int) -> list[int]:
        return [rep, *self.aliases.get(rep, ())]

    def regroup(self, digests: list[str | None], hard_links: bool) -> list[int]:
        """Returns the units still sharing (size, digest) with another: two files, or with --hard-links
        two paths. reps are in size order, so each size is regrouped on its own (small dicts only)."""
        out: list[int] = []
        for _, run in groupby(self.reps, key=self.size.__getitem__):
            by_digest: dict[str, list[int]] = {}
            for u in run:
                d = digests[u]
                if d is not None:
                    by_digest.setdefault(d, []).append(u)
            for g in by_digest.values():
                if len(g) > 1 or (hard_links and g[0] in self.aliases):
                    out.extend(g)
        return out


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
    files = walk.FileTable()
    too_long = database.max_path_bytes(sessions)
    with stage_bar("1/5 walk") as bar:
        for e in walk.iter_files(opts.roots, opts.walk, errors):
            # (4 bytes a character at most, stored: the exact length is worked out only for long paths)
            if too_long and 4 * len(e.path) > too_long and database.path_bytes(e.path) > too_long:
                errors.add(e.path, f"path too long for the catalog (over {too_long} bytes)")
                continue
            files.add(e)
            bar.update()
    counts["files_scanned"] = len(files)
    counts["bytes_scanned"] = sum(files.size)
    stages.done("walk", "%d files, %d bytes", len(files), counts["bytes_scanned"])

    # 2. candidates: files sharing their size with another file
    cands = _Candidates(files, opts)
    counts["candidates"] = len(cands.reps)
    stages.done("size", "%d candidates among %d files", len(cands.reps), len(files))

    # 3. sync with the catalog: which files are unchanged, which stored hashes still hold, what vanished
    unchanged = bytearray(len(files))
    # Digests by file index: lists, not dicts, since most files are candidates (8 bytes a slot).
    # Filled first with the stored digests that still hold, then with those computed.
    partial: list[str | None] = [None] * len(files)
    full: list[str | None] = [None] * len(files)
    maybe_gone: list[str] = []
    with sessions() as s:
        for root in opts.roots:
            for row in database.iter_known(s, root):
                i = files.lookup(row.path)
                if i is None:
                    maybe_gone.append(row.path)
                elif (row.size, row.mtime_ns, row.ctime_ns, row.device, row.inode) == files.stat_key(i):
                    unchanged[i] = 1
                    if cands.member[i] and _trusted(row, algo):
                        partial[i], full[i] = row.partial_hash, row.full_hash
                else:
                    log.debug("CHANGED: %s", row.path)
    vanished = [p for p in maybe_gone if not _is_regular_file(p)]   # rows of files filtered out this time stay
    if vanished:
        database.in_transaction(sessions, lambda s: database.delete_paths(s, vanished, opts.batch_size))
    n_changed = len(files) - sum(unchanged)
    counts["new_or_changed"], counts["vanished"] = n_changed, len(vanished)
    stages.done("sync", "%d unchanged, %d new or changed, %d vanished rows deleted",
                len(files) - n_changed, n_changed, len(vanished))
    # The parent's own rows go through a thread, so that writing them overlaps the hashing. First the
    # new or changed files that no hash stage will write.
    writer = _RowWriter(sessions, opts)
    writer.put(_row(files, i) for i in range(len(files)) if not unchanged[i] and not cands.member[i])

    interrupted = False
    written = bytearray(len(files))     # 1 for units whose rows (with hashes) this run committed
    try:
        # 4. partial hash
        jobs = array("i")
        for u in cands.reps:
            if partial[u] is None or (u in cands.aliases and any(   # all names of a file must agree
                    (partial[i], full[i]) != (partial[u], full[u]) for i in cands.aliases[u])):
                partial[u] = full[u] = None
                jobs.append(u)
        counts["partial_reused"] = len(cands.reps) - len(jobs)
        # Who writes the partial stage's rows: with worker processes, each commits its own batches, so
        # building and sending rows spreads over the cores (medium corpus, -p 2: SQLite 2.1 s against
        # 2.25 s through the parent's writer thread, PostgreSQL 2.9 s against 3.8 s). In one process,
        # the writer thread takes them as they come. Survivors are written again, with their full
        # hash, by the full stage; with 64 KiB partial blocks they are few.
        workers_write = opts.processes > 1
        with stage_bar("2/5 partial hash", total=len(jobs)) as bar:
            tasks = (_task("partial", opts, files, cands, chunk, None, record=workers_write)
                     for chunk in database.batched(jobs, opts.batch_size))
            def took_partial(res: Result) -> None:
                _absorb(res, files, counts, errors, partial)
                for k, u in enumerate(res.units):
                    if res.complete[k]:
                        full[u] = res.digests[k]
                    written[u] = res.digests[k] is not None
                if not workers_write:
                    writer.put(_row(files, i, algo, d, d if res.complete[k] else None)
                               for k, (u, d) in enumerate(zip(res.units, res.digests)) if d is not None
                               for i in cands.indices(u))
                bar.update(len(res.units))
            _run_stage(runner, tasks, took_partial)
        counts["partial_hashed"] = len(jobs)
        survivors = cands.regroup(partial, opts.hard_links)
        need_full = sorted((u for u in survivors if full[u] is None), key=files.inode.__getitem__)  # disk order
        stages.done("partial hash", "%d hashed, %d reused, %d candidates left, %d need a full hash",
                    counts["partial_hashed"], counts["partial_reused"], len(survivors), len(need_full))
        del jobs

        # 5. full hash of the survivors, committed batch by batch by whoever hashed them
        with stage_bar("3/5 full hash", total=sum(files.size[u] for u in need_full), unit="B") as bar:
            tasks = (_task("full", opts, files, cands, chunk, partial)
                     for chunk in _byte_batches(need_full, files, opts.batch_size))
            def took_full(res: Result) -> None:
                _absorb(res, files, counts, errors, full)
                for u in res.units:
                    written[u] = full[u] is not None
                counts["full_hashed"] += len(res.units) - len(res.problems)   # committed by hash_batch
                bar.update(sum(files.size[u] for u in res.units))
            _run_stage(runner, tasks, took_full)
        stages.done("full hash", "%d hashed, %d bytes read in all", counts["full_hashed"], counts["bytes_read"])
    except KeyboardInterrupt as stop:   # Ctrl-C, or SIGTERM (cli raises a subclass for it)
        interrupted = True
        result.stopped_by = stop
    finally:
        writer.close()

    if not interrupted:   # new files that could not be hashed still belong in the catalog, without hashes
        _write(sessions, opts, (_row(files, i) for i in range(len(files))
                                if cands.member[i] and not unchanged[i] and not written[cands.rep_of.get(i, i)]))

    # 6. groups, read back from the catalog and kept only where this run vouches for the digest
    result.groups = _groups_from_catalog(sessions, opts, files, cands, full)
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


def _task(kind: str, opts: ScanOptions, files: walk.FileTable, cands: _Candidates, units: Iterable[int],
          partial: list[str | None] | None, record: bool = True) -> Task:
    units = array("i", units)
    aliases = {k: tuple(files.path(i) for i in cands.aliases[u]) for k, u in enumerate(units) if u in cands.aliases}
    return Task(kind, opts.algorithm, opts.chunk_size, record, units, [files.path(u) for u in units],
                [files.stat_key(u) for u in units], [partial[u] for u in units] if partial else None, aliases)


def _run_stage(runner: Runner, tasks: Iterable[Task], took: Callable[[Result], None]) -> None:
    """Runs tasks, handing each result to took(); on Ctrl-C, first takes the results of the batches
    that were already running (they commit all the same), so the counts say what was saved."""
    run = runner(hash_batch, tasks)
    try:
        for res in run:
            took(res)
    except KeyboardInterrupt:
        for res in run.drain():
            took(res)
        raise


def _absorb(res: Result, files: walk.FileTable, counts: dict[str, int], errors: walk.ErrorLog,
            digests: list[str | None]) -> None:
    """Takes a batch's digests into digests[] and its problems into the error log."""
    counts["bytes_read"] += res.bytes_read
    for k, u in enumerate(res.units):
        d = res.digests[k]
        if d is not None:
            digests[u] = d
    for k, problem in res.problems:
        errors.add(files.path(res.units[k]), problem)
        if problem.startswith("changed"):
            counts["changed_during_scan"] += 1


class _RowWriter:
    """A thread that upserts the rows it is given, COMMIT_ROWS to a transaction, while the caller goes on.

    put() takes an iterable, evaluated in the thread (so building the row dicts is off the caller's
    path too). close() commits what is left and re-raises the thread's error, if any.
    """

    def __init__(self, sessions: sessionmaker[Session], opts: ScanOptions) -> None:
        self._sessions, self._opts = sessions, opts
        self._queue: queue.SimpleQueue[Iterable[dict] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="catalog-writer", daemon=True)
        self._thread.start()

    def put(self, rows: Iterable[dict]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(rows)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        pending: list[dict] = []
        closed = False
        try:
            while (rows := self._queue.get()) is not None:
                pending.extend(rows)
                if len(pending) >= COMMIT_ROWS:
                    _write(self._sessions, self._opts, pending)
                    pending = []
            closed = True                 # close() has put its None: the last write must not wait for another
            _write(self._sessions, self._opts, pending)
        except BaseException as e:   # handed to the main thread by put() and close()
            self._error = e
            while not closed and self._queue.get() is not None:   # let close() return
                pass


def _byte_batches(order: list[int], files: walk.FileTable, max_files: int) -> Iterator[list[int]]:
    """Yields batches of at most max_files files and about BATCH_BYTES bytes (one commit each)."""
    batch: list[int] = []
    size = 0
    for u in order:
        batch.append(u)
        size += files.size[u]
        if len(batch) >= max_files or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _row(files: walk.FileTable, i: int, algo: str | None = None, partial: str | None = None,
         full: str | None = None) -> dict:
    """Returns the catalog row of file i: its stat record, and its hashes when given."""
    now = time.time()
    return file_row(files.path(i), *files.stat_key(i), now, algo, PARTIAL_BLOCK if partial else None,
                    partial, full, now if partial else None)


def _write(sessions: sessionmaker[Session], opts: ScanOptions, rows: Iterable[dict]) -> None:
    """Upserts rows in statements of opts.batch_size rows, committing every COMMIT_ROWS rows.

    These rows cost no file reading to redo (stat records, partial hashes), so they are committed
    in larger transactions: on SQLite each commit may checkpoint the WAL with an fsync. The full
    hashes, which do cost reading, are committed batch by batch by the workers (workers.hash_batch).
    """
    for chunk in database.batched(rows, max(COMMIT_ROWS, opts.batch_size)):
        database.in_transaction(sessions, lambda s: database.upsert_files(s, chunk, opts.batch_size))


def _groups_from_catalog(sessions: sessionmaker[Session], opts: ScanOptions, files: walk.FileTable,
                         cands: _Candidates, full: list[str | None]) -> list[Group]:
    """Returns the catalog's groups under the roots, restricted to files this run walked and whose
    full digest it computed or trusted (a concurrent scanner or a stale row cannot slip in)."""
    out = []
    with sessions() as s:
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
    return out
