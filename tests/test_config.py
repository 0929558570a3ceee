"""config.py: loading config.json, URL precedence, passwords from the environment, masking; and how the
command line reports a config or URL that cannot work."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from _run import assert_clean_failure
from _trees import ROOT
from utilities import config
from utilities.config import ConfigError, load_config, resolve_database


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DUPFINDER_DB_URL", "DUPFINDER_DB_PASSWORD", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)


def cfg(tmp_path: Path, content: object, raw: bool = False) -> Path:
    p = tmp_path / "cfg.json"
    p.write_text(content if raw else json.dumps(content))  # type: ignore[arg-type]
    return p


PG = {"type": "postgresql", "host": "db.example", "port": 5433, "user": "scan", "password": "s3cr@t:/x",
      "database": "file_hashes"}


def test_shipped_config_is_sqlite_under_outputs():
    data = load_config(ROOT / "config.json")
    assert data == {"database": {"type": "sqlite", "path": "./outputs/file_hashes.db"}}
    db = config.url_from_section(ROOT / "config.json", data["database"])
    assert db.get_backend_name() == "sqlite"
    assert Path(db.database) == ROOT / "outputs" / "file_hashes.db"   # relative to the config file


def test_postgresql_section_builds_url_with_quoted_password(tmp_path):
    settings = resolve_database(None, str(cfg(tmp_path, {"database": PG})))
    url = settings.url
    assert (url.drivername, url.host, url.port, url.username, url.database) == \
           ("postgresql+psycopg2", "db.example", 5433, "scan", "file_hashes")
    assert url.password == "s3cr@t:/x"
    assert "s3cr" not in settings.masked and "***" in settings.masked


@pytest.mark.parametrize("env", ["DUPFINDER_DB_PASSWORD", "PGPASSWORD"])
def test_empty_password_comes_from_environment(tmp_path, monkeypatch, env):
    monkeypatch.setenv(env, "from-env")
    settings = resolve_database(None, str(cfg(tmp_path, {"database": dict(PG, password="")})))
    assert settings.url.password == "from-env"
    assert "from-env" not in settings.masked


@pytest.mark.parametrize("content, expected", [
    ('{"database": {"type": "sqlite",\n "path": }}', "invalid JSON at line 2, column"),
    ('[1, 2]', "top level must be an object"),
    ('{"database": {"type": "mysql"}}', "database.type must be \"sqlite\" or \"postgresql\", not 'mysql'"),
    ('{"database": {"type": "sqlite"}}', "database.path is required"),
    ('{"database": {"type": "postgresql", "database": "x"}}', "database.host is required"),
    ('{"database": {"type": "postgresql", "host": "h", "database": "x", "port": "5432"}}',
     "database.port must be an integer, not str '5432'"),
    ('{"database": {"type": "postgresql", "host": "h", "database": "x", "port": true}}',
     "database.port must be an integer"),
    ('{"database": {"type": "postgresql", "host": "h", "database": "x", "port": 70000}}',
     "between 1 and 65535"),
    ('{"database": {"type": "sqlite", "path": "x.db", "pool": 3}}', "unknown key database.pool"),
    ('{"database": {"type": "sqlite", "path": "x.db"}, "extra": 1}', "unknown key 'extra'"),
    ('{"scan": {}}', "unknown key 'scan'"),
    ('{}', "missing the \"database\" section"),
    ('{"database": "sqlite"}', "\"database\" must be an object"),
])
def test_broken_config_names_file_and_problem(tmp_path, content, expected):
    path = cfg(tmp_path, content, raw=True)
    with pytest.raises(ConfigError) as err:
        resolve_database(None, str(path))
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_config_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_database(None, str(tmp_path / "nope.json"))


def test_db_url_beats_environment_beats_file(tmp_path, monkeypatch):
    path = str(cfg(tmp_path, {"database": {"type": "sqlite", "path": "from-file.db"}}))
    assert resolve_database(None, path).url.database.endswith("from-file.db")
    monkeypatch.setenv("DUPFINDER_DB_URL", "sqlite:///from-env.db")
    assert resolve_database(None, path).url.database == "from-env.db"
    assert resolve_database(None, path).source == "$DUPFINDER_DB_URL"
    got = resolve_database("postgresql://u:pw@h/db", path)
    assert (got.url.drivername, got.url.database, got.source) == ("postgresql+psycopg2", "db", "--db-url")


def test_db_url_override_ignores_a_broken_config_file(tmp_path):
    broken = cfg(tmp_path, "{not json", raw=True)
    assert resolve_database("sqlite:///x.db", str(broken)).url.database == "x.db"


@pytest.mark.parametrize("url, expected", [
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("postgresql+asyncpg://u@h/db", "driver 'asyncpg' is not installed"),
    ("sqlite://", "in-memory SQLite"),
    ("not a url", "not a database URL"),
])
def test_bad_db_urls(url, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve_database(url, None)


def test_bad_url_message_hides_password():
    with pytest.raises(ConfigError) as err:
        resolve_database("mysql://user:topsecret@h/db", None)
    assert "topsecret" not in str(err.value)


def test_mask_url_never_shows_password():
    assert config.mask_url("postgresql://u:hunter2@h:5432/d") == "postgresql://u:***@h:5432/d"


def test_cli_broken_config_exits_1_with_one_line(cli, tmp_path):
    path = cfg(tmp_path, '{"database": {"type": "sqlite", "path": 1}}', raw=True)
    proc = cli("main.py", tmp_path, "--config", path, "--skip-html")
    assert assert_clean_failure(proc) == f"error: {path}: database.path must be a string, not int 1"


def test_cli_verbose_shows_traceback(cli, tmp_path):
    path = cfg(tmp_path, "{", raw=True)
    proc = cli("main.py", tmp_path, "--config", path, "--skip-html", "-v")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "invalid JSON at line 1, column 2" in proc.stderr


def test_cli_unreachable_server_is_one_masked_line(cli, tmp_path):
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    proc = cli("main.py", tmp_path, "--db-url", "postgresql://scan:hunter2@127.0.0.1:1/file_hashes", "--skip-html")
    assert_clean_failure(proc)
    assert "hunter2" not in proc.stderr + proc.stdout
    assert proc.stderr.count("\n") == 1
    assert "postgresql+psycopg2://scan:***@127.0.0.1:1/file_hashes" in proc.stderr
    assert "is the PostgreSQL server running" in proc.stderr
