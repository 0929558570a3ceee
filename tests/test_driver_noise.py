"""The driver's own lines about a session the server ended are dropped (utilities/driver_noise.py): the
failure is said once, as dupFinder's one line; anything else written meanwhile still reaches stderr."""
from __future__ import annotations

import io
import os
import sys
import threading
import time

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from _db import PG_ADMIN_URL
from utilities.driver_noise import libpq_lines_dropped, psycopg2_chain_dropped


def test_libpq_fatal_lines_of_a_failure_are_dropped_and_the_rest_kept(capfd):
    with pytest.raises(RuntimeError), libpq_lines_dropped():
        os.write(2, b"FATAL:  terminating connection due to administrator command\nsomething else\n")
        raise RuntimeError("connect failed")
    assert capfd.readouterr().err == "something else\n"
    with libpq_lines_dropped():
        os.write(2, b"FATAL:  a line of a connect that worked\n")
    assert capfd.readouterr().err == "FATAL:  a line of a connect that worked\n"


def test_python_level_prints_of_a_failure_are_dropped(capsys):
    with pytest.raises(ValueError), psycopg2_chain_dropped():
        print("psycopg2.errors.AdminShutdown: ...", file=sys.stderr)
        raise ValueError
    assert capsys.readouterr().err == ""
    with psycopg2_chain_dropped():
        print("kept", file=sys.stderr)
    assert capsys.readouterr().err == "kept\n"


@pytest.mark.postgres
def test_a_copy_cut_by_the_server_prints_nothing(pg_url, capfd):
    """The case itself: the server ends the session in the middle of a COPY. psycopg2 prints the error's
    chain to sys.stderr before raising it; with psycopg2_chain_dropped only the raised error remains."""
    u = make_url(PG_ADMIN_URL)
    dsn = dict(host=u.host, port=u.port or 5432, user=u.username, password=u.password, dbname=u.database)
    conn = psycopg2.connect(**dsn)
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE t (a text, b text)")
    pid = conn.get_backend_pid()

    class Slow(io.StringIO):
        def read(self, n: int | None = -1) -> str:
            time.sleep(0.001)
            return super().read(100)

    def end_it() -> None:
        time.sleep(0.3)
        admin = psycopg2.connect(**dsn)
        admin.autocommit = True
        admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
        admin.close()
    threading.Thread(target=end_it).start()
    with pytest.raises(psycopg2.Error), psycopg2_chain_dropped():
        cur.copy_expert("COPY t FROM STDIN", Slow("x\ty\n" * 100_000))
    assert conn.closed
    assert capfd.readouterr().err == ""
