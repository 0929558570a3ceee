"""Runners of hash batches: in this process (main.py), or in worker processes that each open their own
Catalog and commit their own batches (main_mul.py)."""
from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
import time
from array import array
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from typing import NamedTuple, Protocol

from . import database
from .catalog import Catalog, forget_inherited
from .hashing import PARTIAL_BLOCK
from .readers import hash_files
from .records import Hashes, Stat
from .upserts import upsert_files


class Task(NamedTuple):
    """A batch of files to hash, in columns (cheap to pickle); with record=True its digests are
    committed before it returns."""
    kind: str                               # "partial" or "full"
    algorithm: str
    chunk_size: int
    threads: int                            # files read at once (readers.hash_files)
    record: bool
    units: array[int]                            # the parent's file indices, echoed back in the Result
    paths: list[str]
    stats: list[Stat]
    partials: list[str | None] | None       # full stage: the partial digests, carried into the rows
    aliases: dict[int, tuple[str, ...]]     # position -> the other paths of that inode (hard links)


class Result(NamedTuple):
    units: array[int]                            # as sent
    digests: list[str | None]               # None where the file could not be hashed
    complete: bytes                         # 1 where the digest covers the whole file
    bytes_read: int
    problems: list[tuple[int, str]]         # (position, why it could not be hashed)


class Run(Protocol):
    """Results of tasks as they finish; drain() after Ctrl-C returns those of the tasks already running."""

    def __iter__(self) -> Iterator[Result]: ...

    def drain(self) -> list[Result]: ...


class Runner(Protocol):
    def run(self, tasks: Iterable[Task]) -> Run: ...


def hash_batch(task: Task, catalog: Catalog | None) -> Result:
    """Returns the batch's digests; for record tasks they are committed first (every path of each inode).

    Errors of single files come back as data; a database failure is raised as DatabaseError.
    """
    digests: list[str | None] = []
    complete = bytearray(len(task.paths))
    problems: list[tuple[int, str]] = []
    read = 0
    rows = []
    now = time.time()
    outcomes = hash_files(task.paths, task.stats, task.kind, task.algorithm, task.chunk_size, task.threads)
    for k, (path, stat, out) in enumerate(zip(task.paths, task.stats, outcomes, strict=True)):
        digests.append(out.digest)
        read += out.bytes_read
        if out.digest is None:
            problems.append((k, out.problem or "unreadable"))
            continue
        complete[k] = out.complete
        if not task.record:
            continue
        partial = task.partials[k] if task.partials else out.digest
        hashes = Hashes(task.algorithm, PARTIAL_BLOCK, partial or out.digest, out.digest if out.complete else None,
                        now)
        rows += [database.file_row(p, stat, scanned_at=now, hashes=hashes) for p in (path, *task.aliases.get(k, ()))]
    if rows:
        assert catalog is not None, "a task that records needs a catalog"
        catalog.transaction(lambda s: upsert_files(s, rows, len(rows), host=catalog.host))
    return Result(task.units, digests, bytes(complete), read, problems)


# ------------------------------------------------------------------------------------- in process
class _InProcessRun:
    """main.py's run: plain map. Ctrl-C interrupts the batch in hand, which is not committed."""

    def __init__(self, catalog: Catalog, tasks: Iterable[Task]) -> None:
        self._results = (hash_batch(t, catalog) for t in tasks)

    def __iter__(self) -> Iterator[Result]:
        return self._results

    def drain(self) -> list[Result]:
        return []


class InProcessRunner:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def run(self, tasks: Iterable[Task]) -> Run:
        return _InProcessRun(self._catalog, tasks)


@contextlib.contextmanager
def in_process(catalog: Catalog) -> Iterator[Runner]:
    """The runner of main.py: batches hashed and recorded by this process, through its own catalog."""
    yield InProcessRunner(catalog)


# ----------------------------------------------------------------------------- worker processes
_worker_catalog: Catalog | None = None     # set in each worker process by _init_worker


def _init_worker(db_url: str, host: str) -> None:
    """ProcessPoolExecutor initializer: a Catalog of this process' own, writing as the parent's host.

    The parent's pooled connections came along with fork: drop them unclosed (closing would end the
    parent's sessions on the server), ignore Ctrl-C (the parent decides when to stop and waits for the
    batch in hand to commit), and die with the parent if it is killed.
    """
    global _worker_catalog
    forget_inherited()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:   # Linux: PR_SET_PDEATHSIG, so that kill -9 of the scanner leaves no orphaned workers
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    _worker_catalog = Catalog(db_url, host=host)


def _hash_in_worker(task: Task) -> Result:
    return hash_batch(task, _worker_catalog)


class _PoolRun:
    """Tasks run in a process pool, at most in_flight queued at a time, results as they come."""

    def __init__(self, pool: ProcessPoolExecutor, in_flight: int, tasks: Iterable[Task]) -> None:
        self._pool, self._tasks = pool, iter(tasks)
        self._pending: set[Future[Result]] = {pool.submit(_hash_in_worker, t) for t in islice(self._tasks, in_flight)}

    def __iter__(self) -> Iterator[Result]:
        while self._pending:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            for t in islice(self._tasks, len(done)):
                self._pending.add(self._pool.submit(_hash_in_worker, t))
            for f in done:
                try:
                    yield f.result()
                except Exception:     # a worker's error (the database went away): Ctrl-C is the caller's
                    self.drain()      # let the running batches commit before the error goes up
                    raise

    def drain(self) -> list[Result]:
        """Cancels what has not started, waits for the running tasks (their batches commit) and
        returns their results; called on Ctrl-C so that the scan can say exactly what was saved."""
        for f in self._pending:
            f.cancel()
        wait(self._pending)
        done = [f for f in self._pending if not f.cancelled() and f.exception() is None]
        self._pending = set()
        return [f.result() for f in done]


class PoolRunner:
    def __init__(self, pool: ProcessPoolExecutor, in_flight: int) -> None:
        self._pool, self._in_flight = pool, in_flight

    def run(self, tasks: Iterable[Task]) -> Run:
        return _PoolRun(self._pool, self._in_flight, tasks)


@contextlib.contextmanager
def process_pool(catalog: Catalog, processes: int) -> Iterator[Runner]:
    """The runner of main_mul.py: -p forked worker processes, each with its own Catalog."""
    catalog.close()     # no pooled connection may cross the fork; the parent reconnects when it needs to
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork"),
                             initializer=_init_worker, initargs=(catalog.url_for_workers(), catalog.host)) as pool:
        pool.submit(int)   # start the workers now: they set up while this process walks the tree
        yield PoolRunner(pool, in_flight=2 * processes)
