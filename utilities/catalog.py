"""The catalog as the scanner uses it: one engine and its sessions, retried transactions, and every
database failure turned into one password-free line (DatabaseError)."""
from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from . import database, schema
from .config import mask_url
from .driver_noise import libpq_lines_dropped
from .errors import DatabaseError
from .hosts import machine_host

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 60      # seconds a writer waits for another process' transaction on the same file
PG_CONNECT_TIMEOUT_S = 10       # seconds; a server that does not answer fails fast instead of hanging
PG_POOL_SIZE = 2                # connections per process (see make_engine)
PG_MAX_OVERFLOW = 2
RETRIES = 6                     # attempts of one transaction on deadlock / serialization failure
RETRYABLE_SQLSTATES = {"40001", "40P01"}   # serialization_failure, deadlock_detected

T = TypeVar("T")
_ENGINES: list[Engine] = []    # made in this process; a forked worker must drop them (forget_inherited)


class Catalog:
    """The catalog database as one host uses it: made once by the CLI (once per worker process) and handed
    down. `host` names the machine whose rows this scanner reads, writes and deletes (hosts.py); by
    default this machine's host name.

    Its methods raise DatabaseError, never SQLAlchemy's exceptions, so callers need no translation.
    """

    def __init__(self, url: URL | str, create_folder: bool = False, host: str | None = None) -> None:
        """create_folder: an SQLite file's missing folder may be made (the configured default catalog);
        a folder named by the user (--db-url) must exist (cli-contract.md)."""
        self._url = make_url(url) if isinstance(url, str) else url
        self._create_folder = create_folder
        self.host = host or machine_host()
        self.engine = make_engine(self._url)
        if self.engine.dialect.name == "postgresql":
            database.declare_postgresql_indexes()
        self._sessions = sessionmaker(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden: for messages, logs and reports."""
        return mask_url(self._url)

    def url_for_workers(self) -> str:
        """The URL with its password, for a worker process to open its own Catalog; never print it."""
        return self._url.render_as_string(hide_password=False)

    def own_files(self) -> frozenset[str]:
        """The files an SQLite catalog keeps (the database and its journals): a scan of a tree that holds
        them must not hash them, since the scan itself writes them."""
        if self.dialect != "sqlite" or not self._url.database:
            return frozenset()
        db = os.path.abspath(self._url.database)
        return frozenset({db, db + "-wal", db + "-shm", db + "-journal"})

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turns SQLAlchemy's exceptions raised inside into DatabaseError (one line, password masked)."""
        try:
            yield
        except SQLAlchemyError as e:
            raise DatabaseError(describe_error(e, self._url)) from e

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads (also streamed ones); nothing it does is committed."""
        with self.errors(), self._sessions() as s:
            yield s

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Returns work(session) run in one committed transaction, run again when the server asks for it
        (deadlock, serialization failure, SQLite's immediate "database is locked")."""
        return self._retried(self._sessions.begin, work)

    def core_transaction(self, work: Callable[[Connection], T]) -> T:
        """transaction() on a bare connection, without a session: for many small transactions of prebuilt
        statements (the apply journal's two a batch), where making a session each time is most of the cost."""
        return self._retried(self.engine.begin, work)

    def _retried(self, begin: Callable[[], contextlib.AbstractContextManager[Any]], work: Callable[[Any], T]) -> T:
        with self.errors():
            for attempt in range(RETRIES):
                started = time.monotonic()
                try:
                    with begin() as handle:
                        return work(handle)
                except DBAPIError as e:
                    if not is_retryable(e, time.monotonic() - started) or attempt == RETRIES - 1:
                        raise
                    log.debug("RETRY: %s (attempt %d)", getattr(e, "orig", e), attempt + 1)
                    time.sleep(0.05 * 2 ** attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    def initialize(self) -> None:
        """Brings the schema to this program's revision if needed (an empty database gets it whole) and
        checks the server answers; raises DatabaseError otherwise. A catalog already current costs one
        query, and Alembic is not even imported."""
        if self.dialect == "sqlite" and self._url.database:
            folder = Path(self._url.database).parent
            if self._create_folder:
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise DatabaseError(f"database {self.masked_url}: the folder {folder} does not exist "
                                    "(create it first)")
        with self.errors(), self._schema_errors():
            if not schema.is_current(self.engine):
                self.upgrade()

    def upgrade(self) -> str | None:
        """Upgrades the schema to HEAD (schema.upgrade); returns the revision it had."""
        with self.errors(), self._schema_errors():
            for attempt in range(RETRIES):
                started = time.monotonic()
                try:
                    return schema.upgrade(self.engine, self.host)
                except DBAPIError as e:
                    # SQLite answers "database is locked" at once, without waiting, where waiting could
                    # deadlock (e.g. a scanner whose snapshot went stale): start over.
                    if not is_retryable(e, time.monotonic() - started) or attempt == RETRIES - 1:
                        raise
                    time.sleep(0.05 * (1 + random.random()))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _schema_errors(self) -> Iterator[None]:
        try:
            yield
        except schema.SchemaError as e:
            raise DatabaseError(f"database {self.masked_url}: {e}") from e

    def close(self) -> None:
        """Closes the pooled connections (they are opened again when needed)."""
        self.engine.dispose()


# ----------------------------------------------------------------------------------------- engine
def make_engine(url: URL) -> Engine:
    """Returns an engine for url, tuned per backend; call once per process (never share across fork).

    PostgreSQL: every process (the parent and each worker) owns its engine and uses one connection at
    a time, two while a read overlaps a write. So 2 + 2 overflow per process, not the plan's 20 + 30:
    four scanners with -p 8 then need at most 4 * 9 * 4 = 144 connections in theory and 36 in practice,
    while 50 per process would exhaust the server's default max_connections=100 with two scanners.
    """
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW, pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "dupFinder",
                          # a server that vanishes mid-scan is noticed within ~25 s instead of the OS' 2 hours
                          "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3})
        event.listen(engine, "do_connect", _connect_quietly)
    _ENGINES.append(engine)
    return engine


def _connect_quietly(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
    """Connects as SQLAlchemy would, with libpq's own "FATAL:" line of a failed connect dropped: the
    failure becomes one line (describe_error) instead."""
    with libpq_lines_dropped():
        return dialect.connect(*cargs, **cparams)


def forget_inherited() -> None:
    """In a forked child: drop the parent's pooled connections without closing them (pooling.rst)."""
    for engine in _ENGINES:
        engine.dispose(close=False)
    _ENGINES.clear()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside one writer; NORMAL sync is safe with WAL; busy_timeout makes
    processes sharing the file wait their turn instead of failing with "database is locked"."""
    cur = dbapi_conn.cursor()
    for attempt in range(100):
        # Two scanners opening a new file at the same moment: switching it to WAL needs a lock that
        # SQLite does not wait for (it answers "database is locked" at once), so wait here.
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == 99:
                raise
            time.sleep(0.02 + 0.03 * random.random())
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.close()


# ----------------------------------------------------------------------------------------- errors
def describe_error(e: BaseException, url: URL) -> str:
    """Returns one line saying what went wrong with the database and how to fix it."""
    where = mask_url(url)
    msg = str(getattr(e, "orig", e) or e).strip().splitlines()
    first = msg[0] if msg else type(e).__name__
    low = " ".join(msg).lower()
    if "does not exist" in low and "database" in low:
        hint = f"create it first: createdb {url.database}"
    elif "password authentication failed" in low or "no password supplied" in low:
        hint = "check the user and password (config.json, --db-url, or $PGPASSWORD)"
    elif "connection refused" in low or "could not connect" in low or "timeout expired" in low \
            or "could not translate host" in low:
        hint = "is the PostgreSQL server running and reachable?"
    elif "row-level security" in low:
        hint = ("this database role may not write this host's rows: check --host (or \"host\" in config.json) "
                "against the table dupfinder_host_roles (sql/roles.sql)")
    elif "permission denied" in low:
        hint = "the database role lacks privileges on the catalog (sql/roles.sql grants them)"
    elif "database is locked" in low:
        hint = "database is busy: another process kept it locked too long; try again later"
    elif "unable to open database file" in low:
        hint = "check that the directory exists and is writable"
    elif "server closed the connection" in low or "terminating connection" in low \
            or "connection already closed" in low or "ssl syscall" in low:
        hint = "the server went away during the scan; what was committed is kept, rerun when it is back"
    else:
        hint = ""
    return f"database {where}: {first}" + (f" ({hint})" if hint else "")


def is_retryable(e: BaseException, waited: float = 0.0) -> bool:
    """True for errors worth running the transaction again: a deadlock or serialization failure on
    PostgreSQL; on SQLite a "database is locked" that came at once rather than after the busy
    timeout (SQLite refuses without waiting where waiting could deadlock, e.g. a stale snapshot)."""
    orig = getattr(e, "orig", None)
    if getattr(orig, "pgcode", None) in RETRYABLE_SQLSTATES:
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig) \
        and waited < SQLITE_BUSY_TIMEOUT_S / 2
