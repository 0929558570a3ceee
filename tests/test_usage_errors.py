"""Command lines and setups that cannot work (cli-contract.md, exit codes): bad usage exits 2 with argparse's
usage and one error line, before anything is touched; a scan that cannot run (a root, a database URL, a
config or an output that cannot work) exits 1 with one `error:` line naming the problem. Never a traceback,
nothing on stdout. Run in this process: the exit code is main()'s return value."""
from __future__ import annotations

import json
import os

import pytest
from sqlalchemy.engine import make_url

from _run import SCRIPTS, assert_clean_failure, assert_usage_error, sqlite_url
from _trees import blob, write
from utilities.hashing import PARTIAL_BLOCK

BIG = 2 * PARTIAL_BLOCK + 5000   # needs a full hash: the read buffer (-c) is used

BAD_USAGE = [
    ("--min-size", "-5"), ("--min-size=-5",), ("--max-size", "-1K"), ("--min-size", "10XB"), ("--min-size", ""),
    ("--min-size", "1.2.3"), ("--min-size", "ten"), ("--min-size", "1e3"), ("--min-size", "nan"),
    ("--max-size", "inf"), ("--min-size", "0x10"), ("--min-size", "9" * 400), ("--max-size", "1" + "0" * 330 + "K"),
    ("-c", "0"), ("-c", "1K"), ("-c", "-4M"), ("-c", "9" * 400), ("-b", "0"), ("-b", "-3"), ("-b", "many"),
    ("-a", "md4"), ("-a", ""), ("--algorithm", "crc32"), ("--no-such-option",),
]


@pytest.mark.parametrize("args", BAD_USAGE, ids=lambda a: " ".join(a)[:40])
def test_bad_options_are_usage_errors(cli, args, tmp_path):
    assert_usage_error(cli("main.py", tmp_path, "--db-url", sqlite_url(tmp_path), "--skip-html", *args))
    assert not (tmp_path / "catalog.db").exists()     # refused before touching anything


@pytest.mark.parametrize("args", [("-p", "0"), ("-p", "-1"), ("-p", "two"), ("-p", "1.5"), ("-b", "0"),
                                  ("-p", "99999999999"), ("-c", "100G")],
                         ids=lambda a: " ".join(a))
def test_bad_worker_options_are_usage_errors(cli, args, tmp_path):
    write(tmp_path / "t" / "a", blob(1, BIG))     # a pair that needs a full hash: the read buffer is used
    write(tmp_path / "t" / "b", blob(1, BIG))
    assert_usage_error(cli("main_mul.py", tmp_path / "t", "--db-url", sqlite_url(tmp_path), "--skip-html", "-q",
                           *args))
    assert not (tmp_path / "catalog.db").exists()


def test_no_arguments_and_main_py_has_no_processes_option(cli, tmp_path):
    assert "the following arguments are required: PATH" in assert_usage_error(cli("main.py"))
    line = assert_usage_error(cli("main.py", tmp_path, "-p", "2", "--db-url", sqlite_url(tmp_path)))
    assert "unrecognized arguments: -p 2" in line


def test_max_size_below_min_size_is_a_usage_error(cli, tmp_path):
    line = assert_usage_error(cli("main.py", tmp_path, "--db-url", sqlite_url(tmp_path), "--min-size", "2K",
                                  "--max-size", "1K"))
    assert "--max-size (1,000 bytes) is below --min-size (2,000 bytes)" in line
    assert not (tmp_path / "catalog.db").exists()


@SCRIPTS
def test_roots_that_cannot_be_scanned(cli, script, tmp_path):
    url = sqlite_url(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    os.symlink("loop", tmp_path / "loop")
    write(tmp_path / "file", b"data")
    cases = {tmp_path / "missing": "No such file", tmp_path / "fifo": "not a directory or regular file",
             tmp_path / "loop": "symbolic links", tmp_path / "file" / "below": "Not a directory", "": "No such file"}
    for root, words in cases.items():
        msg = assert_clean_failure(cli(script, root, "--db-url", url, "--skip-html"))
        assert words in msg, msg


@pytest.mark.parametrize("url,words", [
    ("mysql://user@localhost/db", "unsupported database"),
    ("oracle://scott@db/orcl", "unsupported database"),
    ("mongodb://localhost/x", "unsupported database"),
    ("postgresql+asyncpg://postgres@127.0.0.1/x", "driver"),
    ("sqlite://", "in-memory"),
    ("not a url", "not a database URL"),
    ("postgresql://postgres@127.0.0.1:1/nowhere", "is the PostgreSQL server running"),
])
def test_database_urls_that_cannot_work(cli, url, words, tmp_path):
    msg = assert_clean_failure(cli("main.py", tmp_path, "--db-url", url, "--skip-html"))
    assert words in msg, msg


@pytest.mark.postgres
def test_missing_postgres_database_says_how_to_create_it(cli, pg_url, tmp_path):
    url = make_url(pg_url).set(database="dupfinder_no_such_db").render_as_string(hide_password=False)
    msg = assert_clean_failure(cli("main.py", tmp_path, "--db-url", url, "--skip-html"))
    assert "createdb dupfinder_no_such_db" in msg


def test_sqlite_file_that_cannot_be_made(cli, tmp_path):
    write(tmp_path / "a-file", b"x")
    msg = assert_clean_failure(cli("main.py", tmp_path, "--db-url", f"sqlite:///{tmp_path / 'a-file' / 'c.db'}",
                                   "--skip-html"))
    assert "a-file" in msg
    bad = write(tmp_path / "not-a-db.db", b"this is not an SQLite database, just text " * 100)
    msg = assert_clean_failure(cli("main.py", tmp_path, "--db-url", f"sqlite:///{bad}", "--skip-html"))
    assert "database" in msg


@pytest.mark.parametrize("content,words", [
    ({"database": {"type": "postgresql", "host": "127.0.0.1", "port": "5432", "database": "x"}},
     "database.port must be an integer"),
    ({"database": {"type": "postgresql", "host": "127.0.0.1", "port": True, "database": "x"}}, "database.port"),
    ({"database": {"type": "sqlite", "path": 42}}, "database.path must be a string"),
    ({"database": {"type": "mongodb", "path": "x"}}, "database.type"),
    ({"database": {"type": "sqlite"}}, "database.path is required"),
    ({"database": "sqlite:///x.db"}, "must be an object"),
    ({"database": {"type": "sqlite", "path": "x.db", "pasword": "typo"}}, "unknown key database.pasword"),
    ({"db": {}}, "unknown key"),
    (["database"], "top level must be an object"),
    ("{not json", "invalid JSON"),
    (b"\xff\xfe\x00garbage", "cannot read config"),
])
def test_configs_of_the_wrong_shape(cli, content, words, tmp_path):
    cfg = tmp_path / "config.json"
    if isinstance(content, bytes):
        cfg.write_bytes(content)
    else:
        cfg.write_text(content if isinstance(content, str) else json.dumps(content))
    msg = assert_clean_failure(cli("main.py", tmp_path, "--config", cfg, "--skip-html"))
    assert words in msg and "config.json" in msg, msg


def test_missing_config_file(cli, tmp_path):
    msg = assert_clean_failure(cli("main.py", tmp_path, "--config", tmp_path / "nope.json"))
    assert "config file not found" in msg and str(tmp_path / "nope.json") in msg


def test_outputs_that_cannot_be_written(cli, tmp_path):
    write(tmp_path / "t" / "a", b"x")
    blocker = write(tmp_path / "blocker", b"x")
    for opt in ("--json", "--csv", "-r"):
        args = [tmp_path / "t", "--db-url", sqlite_url(tmp_path), opt, blocker / "out"]
        if opt != "-r":
            args.append("--skip-html")
        assert "blocker" in assert_clean_failure(cli("main.py", *args))
