"""What the PostgreSQL driver would print on its own when the server ends a session under it: dupFinder
reports that end as one line (DatabaseError), so the driver's own lines about it are dropped.

- libpq writes "FATAL:  terminating connection ..." straight to file descriptor 2 when the server ends a
  session while it is being set up (pg_terminate_backend, a restart, a proxy closing);
- psycopg2 prints the chain of the error it raises when the session ends in the middle of a COPY
  ("... returned a result with an exception set", its issue #551) to sys.stderr, then raises it anyway.
Anything else written meanwhile is passed on, in order.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def libpq_lines_dropped() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file while inside; its lines are written back on leaving,
    but for libpq's "FATAL:" lines, and those of a failure only (a connect that worked keeps them all)."""
    try:
        saved = os.dup(2)
    except OSError:              # no stderr at all: nothing to protect
        yield
        return
    failed = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().splitlines(keepends=True)
            kept = b"".join(ln for ln in lines if not (failed and ln.startswith((b"FATAL:", b"DETAIL:", b"HINT:"))))
            if kept:
                os.write(2, kept)


@contextlib.contextmanager
def psycopg2_chain_dropped() -> Iterator[None]:
    """sys.stderr goes to memory while inside; on success what was written there goes on to stderr, on a
    failure (reported in one line by the caller) it is dropped."""
    real, held = sys.stderr, io.StringIO()
    sys.stderr = held
    try:
        yield
    except BaseException:
        sys.stderr = real
        raise
    sys.stderr = real
    if held.getvalue():
        real.write(held.getvalue())
