"""Helpers of the reliability, hostile-input and property tests: trees, subprocess runs, catalog reads, an oracle."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
PAST = time.time() - 3600          # older than the racy window: a rescan may trust stored hashes
PG_ADMIN_URL = os.environ.get("DUPFINDER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

from utilities.database import FileHash, ScanMetadata  # noqa: E402


# ------------------------------------------------------------------------------------------- trees
def blob(seed: int, size: int) -> bytes:
    """Returns size pseudo-random bytes, the same for the same seed (fast: MBs in milliseconds)."""
    return random.Random(seed).randbytes(size)


def write(path: Path | str, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def age(root: Path | str, when: float = PAST) -> None:
    """Sets the mtime of every file and directory under root (not following symlinks) to `when`."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            try:
                os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
            except OSError:
                pass


# ------------------------------------------------------------------------------------ subprocesses
def script_cmd(script: str, *args: Any) -> list[str]:
    return [sys.executable, str(ROOT / script), *map(os.fsdecode, map(os.fspath, map(_pathish, args)))]


def _pathish(a: Any) -> Any:
    return a if isinstance(a, (str, bytes, os.PathLike)) else str(a)


def run_cli(script: str, *args: Any, timeout: float = 60, env: dict[str, str] | None = None,
            cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    """Runs `python script args` to completion (killing it after timeout) and returns the result."""
    proc = start_cli(script, *args, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, err = proc.communicate()
        raise AssertionError(f"{script} {args} did not finish within {timeout} s; stderr:\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def start_cli(script: str, *args: Any, env: dict[str, str] | None = None,
              cwd: Path | str | None = None) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DUPFINDER_DB_URL",)}
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.Popen(script_cmd(script, *args), cwd=cwd or ROOT, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)


def children(pid: int) -> list[int]:
    """Returns the pids of pid's direct children (Linux /proc)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_tree(proc: subprocess.Popen) -> None:
    """Kills the process group started for proc (start_new_session=True): the scanner and its workers."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def assert_clean_failure(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    """Asserts exit `code` with a short message on stderr and no traceback; returns the message."""
    err = proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}; stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, "no message on stderr"
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    return err


# ---------------------------------------------------------------------------------------- results
def groups(report: dict) -> list[list[str]]:
    """Returns the report's groups as sorted lists of paths, sorted."""
    return sorted(sorted(g["files"]) for g in report["groups"])


def read_json(path: Path | str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


ROW_COLUMNS = (FileHash.absolute_path, FileHash.filename, FileHash.file_size, FileHash.mtime_ns, FileHash.ctime_ns,
               FileHash.device, FileHash.inode, FileHash.algorithm, FileHash.partial_bytes, FileHash.partial_hash,
               FileHash.hash_value)


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


def wait_for(cond: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(interval)
    return cond()


# ------------------------------------------------------------------------------------------ oracle
def oracle(roots: Iterable[Path | str], hard_links: bool = False, include_empty: bool = False) -> list[list[str]]:
    """Brute force: every regular non-symlink file under roots, grouped by its bytes. Without hard_links one
    path per inode (the first in path order) and a group needs two inodes; with it every path counts.
    Paths as the JSON export (version 2) writes them: os.fsdecode'd, undecodable bytes as surrogates."""
    paths: set[str] = set()
    stack = [os.path.abspath(r) for r in roots]
    while stack:                                    # iterative: os.walk recurses (1,000-level trees)
        top = stack.pop()
        if not os.path.isdir(top) or os.path.islink(top):
            paths.add(top)
            continue
        with os.scandir(top) as it:
            for e in it:
                (stack.append if e.is_dir(follow_symlinks=False) else paths.add)(e.path)
    by_content: dict[bytes, dict[tuple[int, int], list[str]]] = {}
    for p in paths:
        try:
            st = os.lstat(p)
        except OSError:                             # ENAMETOOLONG: beyond PATH_MAX, unreadable by path
            continue
        if not stat.S_ISREG(st.st_mode) or (st.st_size == 0 and not include_empty):
            continue
        with open(p, "rb") as f:
            data = f.read()
        by_content.setdefault(data, {}).setdefault((st.st_dev, st.st_ino), []).append(p)
    out = []
    for inodes in by_content.values():
        if hard_links:
            g = sorted(p for ps in inodes.values() for p in ps)
        else:
            g = sorted(min(ps) for ps in inodes.values())
        if len(g) > 1:
            out.append(sorted(g))
    return sorted(out)


# -------------------------------------------------------------------------------------- PostgreSQL
def admin_engine():
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg2")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@contextmanager
def extra_pg_database():
    """Yields the URL of one more scratch database, dropped afterwards."""
    engine = admin_engine()
    name = f"dupfinder_test_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg2", database=name) \
            .render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
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
            for op in (lambda: s.shutdown(socket.SHUT_RDWR), s.close):
                try:
                    op()
                except OSError:
                    pass


# ------------------------------------------------------------------------------------------ sabotage
class Sabotage:
    """Runs action() once, when the scanner reaches the nth `hook` on `path`, in-process or in a forked worker:

    - "open":  just before the nth os.open(path);
    - "fstat": just after the nth os.fstat of an fd open on path (the first one of a hash is its check
               that the file is still the one the walk saw; the reads follow);
    - "read":  just after the first read of the nth full hash of path (utilities.hashing's open()).

    Counts are kept as marker files in state_dir so that forked workers share them.
    """

    def __init__(self, monkeypatch, path: Path | str, hook: str, nth: int, action: Callable[[], None],
                 state_dir: Path | str) -> None:
        import utilities.hashing as hashing
        self.path, self.hook, self.nth, self.action = os.fspath(path), hook, nth, action
        self.state = Path(state_dir)
        self.state.mkdir(parents=True, exist_ok=True)
        self._real_open, self._real_fstat = os.open, os.fstat
        if hook == "open":
            monkeypatch.setattr(os, "open", self._open)
        elif hook == "fstat":
            monkeypatch.setattr(os, "fstat", self._fstat)
        elif hook == "read":
            monkeypatch.setattr(hashing, "open", self._file_open, raising=False)
        else:
            raise ValueError(hook)

    @property
    def fired(self) -> bool:
        return (self.state / "fired").exists()

    def _tick(self) -> bool:
        """Counts one event; returns True when it is the nth."""
        for k in range(1, self.nth + 1):
            try:
                fd = self._real_open(str(self.state / f"{self.hook}-{k}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.close(fd)
            return k == self.nth
        return False

    def _fire(self) -> None:
        self.action()
        fd = self._real_open(str(self.state / "fired"), os.O_CREAT | os.O_WRONLY)
        os.close(fd)

    def _is_target_fd(self, fd: int) -> bool:
        try:
            return os.readlink(f"/proc/self/fd/{fd}") == self.path
        except OSError:
            return False

    def _open(self, path, flags, *args, **kwargs):
        if os.fspath(path) == self.path and self._tick():
            self._fire()
        return self._real_open(path, flags, *args, **kwargs)

    def _fstat(self, fd):
        st = self._real_fstat(fd)
        if isinstance(fd, int) and self._is_target_fd(fd) and self._tick():
            self._fire()
        return st

    def _file_open(self, file, *args, **kwargs):
        import builtins
        f = builtins.open(file, *args, **kwargs)
        if isinstance(file, int) and self._is_target_fd(file) and self._tick():
            return _FireAfterFirstRead(f, self._fire)
        return f


class _FireAfterFirstRead:
    def __init__(self, f, fire: Callable[[], None]) -> None:
        self._f, self._fire, self._done = f, fire, False

    def readinto(self, b):
        n = self._f.readinto(b)
        if not self._done:
            self._done = True
            self._fire()
        return n

    def read(self, *a):
        data = self._f.read(*a)
        if not self._done:
            self._done = True
            self._fire()
        return data

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
