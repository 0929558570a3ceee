"""Hash batches, in this process (main.py) or in worker processes with their own ORM sessions (main_mul.py)."""
from __future__ import annotations

import ctypes
from array import array
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from itertools import islice
from typing import NamedTuple, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from . import database
from .hashing import DEFAULT_CHUNK, PARTIAL_BLOCK, Job, hash_one

T = TypeVar("T")
R = TypeVar("R")
Runner = Callable[[Callable[[T], R], Iterable[T]], Iterator[R]]

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


def in_process(fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
    """The runner of main.py: plain map."""
    return map(fn, tasks)


def pool_runner(pool: Executor, in_flight: int) -> Runner:
    """Returns a runner that keeps at most in_flight tasks queued in pool, yielding results as they come.

    On any exit (done, Ctrl-C, an error) queued tasks are cancelled and running ones are waited for,
    so every batch a worker started is committed before the scan reports what it saved.
    """
    def run(fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        it = iter(tasks)
        pending: set[Future[R]] = {pool.submit(fn, t) for t in islice(it, in_flight)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for t in islice(it, len(done)):
                    pending.add(pool.submit(fn, t))
                for f in done:
                    yield f.result()
        finally:
            for f in pending:
                f.cancel()
            wait(pending)
    return run
