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
    """A thread that upserts the rows it is given, COMMIT_ROWS to a transaction, while the caller goes on.

    put() takes an iterable, evaluated in the thread (so building the row dicts is off the caller's
    path too). close() commits what is left and re-raises the thread's error, if any.
    """

    def __init__(self, sessions: sessionmaker[Session], batch_size: int) -> None:
        self._sessions, self._batch_size = sessions, batch_size
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
                    write_rows(self._sessions, pending, self._batch_size)
                    pending = []
            closed = True                 # close() has put its None: the last write must not wait for another
            write_rows(self._sessions, pending, self._batch_size)
        except BaseException as e:   # handed to the main thread by put() and close()
            self._error = e
            while not closed and self._queue.get() is not None:   # let close() return
                pass
