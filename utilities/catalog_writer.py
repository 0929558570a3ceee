"""The scanning process' own catalog writes: stat records and partial hashes, in large transactions,
from a thread so that they overlap the hashing."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from . import database

COMMIT_ROWS = 5_000              # rows per commit of these writes (stat records, partial hashes)


def write_rows(sessions: sessionmaker[Session], rows: Iterable[dict], batch_size: int) -> None:
    """Upserts rows in statements of batch_size rows, committing every COMMIT_ROWS rows.

    These rows cost no file reading to redo (stat records, partial hashes), so they are committed
    in larger transactions: on SQLite each commit may checkpoint the WAL with an fsync. The full
    hashes, which do cost reading, are committed batch by batch by the workers (workers.hash_batch).
    """
    for chunk in database.batched(rows, max(COMMIT_ROWS, batch_size)):
        database.in_transaction(sessions, lambda s: database.upsert_files(s, chunk, batch_size))


class RowWriter:
    """Upserts the rows it is given, COMMIT_ROWS to a transaction.

    With threaded=True a thread does the writing while the caller goes on; put() then takes an
    iterable that is evaluated in the thread (building the row dicts is off the caller's path too).
    That pays where the caller mostly waits (main_mul.py's parent, waiting for its workers) or the
    writes mostly wait (on a PostgreSQL server). Where both are this process' CPU work (main.py on
    SQLite, hashing 190,000 files with many short system calls), the GIL handover after each call
    costs more than the overlap gains (large corpus: partial stage 2.3 s inline, 9.8 s beside the
    thread), so threaded=False writes in the caller's thread.
    close() commits what is left and re-raises the thread's error, if any.
    """

    def __init__(self, sessions: sessionmaker[Session], batch_size: int, threaded: bool = True) -> None:
        self._sessions, self._batch_size = sessions, batch_size
        self._pending: list[dict] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue: queue.SimpleQueue[Iterable[dict] | None] = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name="catalog-writer", daemon=True)
            self._thread.start()

    def put(self, rows: Iterable[dict]) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is not None:
            self._queue.put(rows)
        else:
            self._take(rows)

    def close(self) -> None:
        if self._thread is None:
            self._flush()
            return
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _take(self, rows: Iterable[dict]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= COMMIT_ROWS:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        write_rows(self._sessions, pending, self._batch_size)

    def _run(self) -> None:
        closed = False
        try:
            while (rows := self._queue.get()) is not None:
                self._take(rows)
            closed = True                 # close() has put its None: the last write must not wait for another
            self._flush()
        except BaseException as e:   # handed to the main thread by put() and close()
            self._error = e
            while not closed and self._queue.get() is not None:   # let close() return
                pass
