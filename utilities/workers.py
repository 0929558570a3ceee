"""Hash batches, in this process (main.py) or in worker processes with their own ORM sessions (main_mul.py)."""
from __future__ import annotations

import ctypes
import signal
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from itertools import islice
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from . import database
from .hashing import DEFAULT_CHUNK, PARTIAL_BLOCK, Job, hash_one

T = TypeVar("T")
R = TypeVar("R")
Runner = Callable[[Callable[[T], R], Iterable[T]], "InProcessRun[T, R] | PoolRun[T, R]"]

_sessions: sessionmaker[Session] | None = None   # this process' own; set by init_worker or use_sessions
_buffer = bytearray(0)


class Task(NamedTuple):
    """A batch of files to hash, in columns (cheap to pickle); with record=True its digests are
    committed before it returns."""
    kind: str                               # "partial" or "full"
    algorithm: str
    chunk_size: int
    record: bool
    units: array                            # the parent's file indices, echoed back in the Result
    paths: list[str]
    stats: list[tuple[int, int, int, int, int]]   # (size, mtime_ns, ctime_ns, device, inode) per file
    partials: list[str | None] | None       # full stage: the partial digests, carried into the rows
    aliases: dict[int, tuple[str, ...]]     # position -> the other paths of that inode (hard links)


class Result(NamedTuple):
    units: array                            # as sent
    digests: list[str | None]               # None where the file could not be hashed
    complete: bytes                         # 1 where the digest covers the whole file
    bytes_read: int
    problems: list[tuple[int, str]]         # (position, why it could not be hashed)


def init_worker(db_url: str) -> None:
    """ProcessPoolExecutor initializer: a new engine and sessionmaker in this process.

    The parent's pooled connections came along with fork: drop them unclosed (closing would end the
    parent's sessions on the server), ignore Ctrl-C (the parent decides when to stop and waits for the
    batch in hand to commit), and die with the parent if it is killed.
    """
    global _sessions
    database.dispose_inherited_engines()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:   # Linux: PR_SET_PDEATHSIG, so that kill -9 of the scanner leaves no orphaned workers
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    _sessions = sessionmaker(database.make_engine(make_url(db_url)))


def use_sessions(sessions: sessionmaker[Session]) -> None:
    """In-process mode (main.py): batches record through the parent's own sessions."""
    global _sessions
    _sessions = sessions


def hash_batch(task: Task) -> Result:
    """Returns the batch's digests; for record tasks they are committed first (every path of each inode).

    Top-level and picklable for ProcessPoolExecutor. Errors of single files come back as data; a
    database failure is raised as DatabaseError with a one-line, password-free message.
    """
    global _buffer
    if len(_buffer) != task.chunk_size:
        _buffer = bytearray(task.chunk_size or DEFAULT_CHUNK)
    digests: list[str | None] = []
    complete = bytearray(len(task.paths))
    problems: list[tuple[int, str]] = []
    read = 0
    rows = []
    now = time.time()
    for k, (path, st) in enumerate(zip(task.paths, task.stats)):
        out = hash_one(Job(path, *st, None), task.kind, task.algorithm, _buffer)
        digests.append(out.digest)
        read += out.bytes_read
        if out.digest is None:
            problems.append((k, out.problem or "unreadable"))
            continue
        complete[k] = out.complete
        if not task.record:
            continue
        part = task.partials[k] if task.partials else out.digest
        for p in (path, *task.aliases.get(k, ())):
            rows.append(database.file_row(p, *st, now, task.algorithm, PARTIAL_BLOCK, part,
                                          out.digest if out.complete else None, now))
    if rows:
        assert _sessions is not None, "init_worker or use_sessions first"
        try:
            database.in_transaction(_sessions, lambda s: database.upsert_files(s, rows, len(rows)))
        except SQLAlchemyError as e:
            raise database.DatabaseError(database.describe_error(e, _sessions.kw["bind"].url)) from None
    return Result(task.units, digests, bytes(complete), read, problems)


class InProcessRun(Generic[T, R]):
    """The runs of main.py: plain map. Ctrl-C interrupts the batch in hand, which is not committed."""

    def __init__(self, fn: Callable[[T], R], tasks: Iterable[T]) -> None:
        self._results = map(fn, tasks)

    def __iter__(self) -> Iterator[R]:
        return self._results

    def drain(self) -> list[R]:
        return []


def in_process(fn: Callable[[T], R], tasks: Iterable[T]) -> InProcessRun[T, R]:
    """The runner of main.py."""
    return InProcessRun(fn, tasks)


class PoolRun(Generic[T, R]):
    """Tasks run in a process pool, at most in_flight queued at a time, results as they come."""

    def __init__(self, pool: Executor, in_flight: int, fn: Callable[[T], R], tasks: Iterable[T]) -> None:
        self._pool, self._fn, self._tasks = pool, fn, iter(tasks)
        self._pending: set[Future[R]] = {pool.submit(fn, t) for t in islice(self._tasks, in_flight)}

    def __iter__(self) -> Iterator[R]:
        while self._pending:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            for t in islice(self._tasks, len(done)):
                self._pending.add(self._pool.submit(self._fn, t))
            for f in done:
                try:
                    yield f.result()
                except Exception:     # a worker's error (the database went away): Ctrl-C is the caller's
                    self.drain()      # let the running batches commit before the error goes up
                    raise

    def drain(self) -> list[R]:
        """Cancels what has not started, waits for the running tasks (their batches commit) and
        returns their results; called on Ctrl-C so that the scan can say exactly what was saved."""
        for f in self._pending:
            f.cancel()
        wait(self._pending)
        done = [f for f in self._pending if not f.cancelled() and f.exception() is None]
        self._pending = set()
        return [f.result() for f in done]


def pool_runner(pool: Executor, in_flight: int) -> Runner:
    """Returns the runner of main_mul.py over pool."""
    return lambda fn, tasks: PoolRun(pool, in_flight, fn, tasks)
