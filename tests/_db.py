"""Databases for the tests: scratch PostgreSQL databases, reads of a catalog, and ways to make the server go away."""
from __future__ import annotations

import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from utilities.database import Base, FileHash, ScanMetadata

PG_ADMIN_URL = os.environ.get("DUPFINDER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# -------------------------------------------------------------------------------------- PostgreSQL
def admin_engine() -> Engine:
    """An AUTOCOMMIT engine on the server's admin database (CREATE and DROP DATABASE cannot run in a transaction)."""
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg2")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def unreachable() -> str | None:
    """Returns why the PostgreSQL server cannot be used, or None when it can."""
    engine = admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except OperationalError as e:
        return (f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}: "
                f"{str(e.orig).strip().splitlines()[0]}")
    finally:
        engine.dispose()


@contextmanager
def scratch_database() -> Iterator[str]:
    """Yields the URL (password included) of a new database dupfinder_test_<random>, dropped afterwards."""
    engine = admin_engine()
    name = f"dupfinder_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg2", database=name) \
            .render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def drop_tables(url: str) -> None:
    """Empties a catalog of dupFinder's tables and its schema revision."""
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:     # the schema's revision goes with the tables (utilities/schema.py)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def terminate_backends(dbname: str) -> int:
    """Terminates every other session on dbname; returns how many."""
    engine = admin_engine()
    try:
        with engine.connect() as conn:
            return len(conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                         "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname}).all())
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------ catalog reads
ROW_COLUMNS = (FileHash.absolute_path, FileHash.filename, FileHash.file_size, FileHash.mtime_ns, FileHash.ctime_ns,
               FileHash.device, FileHash.inode, FileHash.algorithm, FileHash.partial_bytes, FileHash.partial_hash,
               FileHash.hash_value)
SIZE, HASH = 2, 10      # positions in ROW_COLUMNS


def catalog_rows(url: str) -> dict[str, tuple]:
    """Returns the catalog as {stored path: the row's columns that do not depend on when it was written}."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(*ROW_COLUMNS)).all()
            n = conn.scalar(select(func.count()).select_from(FileHash))
    finally:
        engine.dispose()
    out = {r[0]: tuple(r) for r in rows}
    assert len(out) == n == len(rows), "duplicate rows for one path"
    return out


def scans(url: str) -> list[ScanMetadata]:
    """Returns the ScanMetadata rows, oldest first (detached)."""
    engine = create_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            out = list(s.scalars(select(ScanMetadata).order_by(ScanMetadata.id)))
            s.expunge_all()
    finally:
        engine.dispose()
    return out


def count_hashed(url: str) -> int:
    """Returns how many catalog rows carry a full hash (0 while the table does not exist yet)."""
    engine = create_engine(url, connect_args={"timeout": 1} if url.startswith("sqlite") else {})
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(FileHash).where(FileHash.hash_value.is_not(None)))
    except Exception:
        return 0
    finally:
        engine.dispose()


def assert_sqlite_intact(url: str) -> None:
    """Asserts that SQLite finds the catalog file sound (PRAGMA integrity_check)."""
    con = sqlite3.connect(make_url(url).database)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()


# ------------------------------------------------------------------------------ the server goes away
class TcpProxy:
    """A TCP forwarder on 127.0.0.1 to a target: close() drops every connection and stops listening
    (the database "goes away"); start() listens again on the same port (it "is back")."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def start(self) -> TcpProxy:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.port = ls.getsockname()[1]
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()
        return self

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not ls:      # closed meanwhile
                    client.close()
                    upstream.close()
                    return
                self._socks |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            ls, self._listener = self._listener, None
            socks, self._socks = self._socks, set()
        if ls is not None:
            try:
                ls.shutdown(socket.SHUT_RDWR)     # wakes the accept() thread: new connections are refused
            except OSError:
                pass
            ls.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

