"""Shared fixtures: a scratch PostgreSQL database per test session, SQLite files per test, file trees."""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utilities.database import Base  # noqa: E402

PG_ADMIN_URL = os.environ.get("DUPFINDER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server (skips locally without one, "
                                       "fails with CI=true)")
    config.addinivalue_line("markers", "browser: drives headless Chromium")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def _admin_engine():
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg2")
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@pytest.fixture(scope="session")
def pg_scratch_url() -> str:
    """A database dupfinder_test_<random> created for this test session and dropped after it."""
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as e:
        engine.dispose()
        msg = f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)}: " \
              f"{str(e.orig).strip().splitlines()[0]}"
        if IN_CI:
            pytest.fail("CI=true: " + msg, pytrace=False)
        pytest.skip(msg)
    name = f"dupfinder_test_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg2", database=name)
    yield url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _reset_pg(url: str) -> None:
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:     # the schema's revision goes with the tables (utilities/schema.py)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture
def pg_url(pg_scratch_url: str) -> str:
    """The scratch PostgreSQL database, emptied of dupFinder's tables."""
    _reset_pg(pg_scratch_url)
    return pg_scratch_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("pg_url")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def config_file(tmp_path: Path, db: dict) -> Path:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"database": db}))
    return p


def as_report(data: dict):
    """A report.Report from a dict shaped like the JSON export (plus the page's extras: database,
    duration_seconds, error_paths, all_files), for the report tests to write compactly."""
    from utilities.report import Group, ListedFile, Report, Summary
    groups = [Group(g["size"], g["hash"], list(g["files"]), dict(g.get("hard_links", {})))
              for g in data.get("groups", [])]
    summary = dict(data["summary"])
    summary.setdefault("redundant_files", sum(g.count - 1 for g in groups))
    return Report(
        roots=list(data.get("roots", [])), algorithm=data.get("algorithm", ""), finished=data.get("finished", True),
        summary=Summary(**summary), groups=groups,
        unreadable=[(e["path"], e["error"]) for e in data.get("error_paths", [])],
        generated_at=data.get("generated_at", 0.0), database=data.get("database", ""),
        duration_seconds=data.get("duration_seconds"),
        all_files=None if data.get("all_files") is None else
        [ListedFile(f["path"], f["size"], f["hash"]) for f in data["all_files"]],
        interruption=data.get("interruption"))
