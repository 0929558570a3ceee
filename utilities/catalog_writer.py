"""The scanning process' own catalog writes: stat records and partial hashes, in large transactions,
in the caller's thread or in a thread that overlaps the hashing (pipeline.Writers decides)."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from . import database
from .catalog import Catalog
from .upserts import upsert_files

Row = dict[str, Any]             # database.file_row's rows
COMMIT_ROWS = 5_000              # rows per commit of these writes (stat records, partial hashes)


class RowWriter:
    """Upserts the rows it is given, COMMIT_ROWS to a transaction; used as a context manager, whose
    exit commits what is left (also on Ctrl-C) and re-raises a failure of the writing thread.

    These rows cost no file reading to redo, so they go in larger transactions: on SQLite each commit
    may checkpoint the WAL with an fsync. The full hashes, which do cost reading, are committed batch
    by batch by whoever computed them (workers.hash_batch).

    With threaded=True a thread does the writing while the caller goes on; put() then takes an
    iterable that is evaluated in the thread (building the row dicts is off the caller's path too).
    """

    def __init__(self, catalog: Catalog, batch_size: int, threaded: bool) -> None:
        self._catalog, self._batch_size = catalog, batch_size
        self._pending: list[Row] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[Iterable[Row] | None] = queue.SimpleQueue()
        if threaded:
            self._thread = threading.Thread(target=self._run, name="catalog-writer", daemon=True)
            self._thread.start()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def put(self, rows: Iterable[Row]) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is not None:
            self._queue.put(rows)
        else:
            self._take(rows)

    def close(self) -> None:
        """Commits what is left; raises the writing thread's error, if any."""
        if self._thread is None:
            self._flush()
            return
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _take(self, rows: Iterable[Row]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= COMMIT_ROWS:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for chunk in database.batched(pending, max(COMMIT_ROWS, self._batch_size)):
            self._commit(chunk)

    def _commit(self, rows: list[Row]) -> None:
        self._catalog.transaction(lambda s: upsert_files(s, rows, self._batch_size, host=self._catalog.host))

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
