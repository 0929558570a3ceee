"""Fixtures of the whole suite: catalogs on both backends (a scratch PostgreSQL database per test session),
the in-process command line, and the Hypothesis profiles."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import _db
from _run import IN_CI, InProcess

# Hypothesis: "dev" (random examples, remembered in .hypothesis/) for local runs; "ci" (derandomized: the same
# examples every run, nothing remembered) with CI=true; "long" (many more examples) when
# DUPFINDER_HYPOTHESIS_PROFILE=long. Every example runs whole scans: no deadline.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, print_blob=True, **_COMMON)
settings.register_profile("long", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("DUPFINDER_HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


@pytest.fixture(scope="session")
def pg_scratch_url() -> Iterator[str]:
    """A database dupfinder_test_<random> created for this test session (each xdist worker has its own) and
    dropped after it. Skips without a server, except with CI=true, where that fails."""
    why = _db.unreachable()
    if why:
        if IN_CI:
            pytest.fail("CI=true: " + why, pytrace=False)
        pytest.skip(why)
    with _db.scratch_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_scratch_url: str) -> str:
    """The scratch PostgreSQL database, emptied of dupFinder's tables."""
    _db.drop_tables(pg_scratch_url)
    return pg_scratch_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def cli(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> InProcess:
    """Runs main.py or main_mul.py in this process: cli("main.py", *args) -> CompletedProcess (see _run)."""
    work = tmp_path / "cwd"
    work.mkdir()
    return InProcess(capfd, monkeypatch, work)


@pytest.fixture
def skipped(caplog: pytest.LogCaptureFixture):
    """skipped() -> {path: reason} of the files that runs through _run.scan() skipped, from their SKIPPED lines
    (logged at INFO by the parent process, whichever process hashed; -q does not hide them from this
    capture). Runs through the cli fixture log to their stderr instead."""
    caplog.set_level(logging.INFO, logger="utilities.walk")

    def read() -> dict[str, str]:
        return {r.args[0]: r.args[1] for r in caplog.records
                if isinstance(r.args, tuple) and r.getMessage().startswith("SKIPPED: ")}
    return read
