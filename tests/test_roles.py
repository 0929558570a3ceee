"""Least privilege (issue 12, sql/roles.sql): one PostgreSQL role per host, with row-level security. A host's role
scans its own host, reads every row, and can neither alter nor delete another host's rows, through dupFinder or
through SQL; schema upgrades need the tables' owner, and say so in one line."""
from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from _catalogs import make_released_catalog, rows_by_host, scan_rows
from _db import admin_engine, scratch_database
from _run import assert_clean_failure, run_cli
from _trees import ROOT, copies_tree, groups, oracle, read_json
from utilities.catalog import Catalog

pytestmark = [pytest.mark.postgres, pytest.mark.slow]   # every test runs scanners as other roles
ROLES_SQL = ROOT / "sql" / "roles.sql"


def psql(url: str, *args: str) -> subprocess.CompletedProcess:
    u = make_url(url)
    psql_bin = shutil.which("psql")
    assert psql_bin, "psql (PostgreSQL's client) is needed to apply sql/roles.sql as README says"
    return subprocess.run([psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", u.host or "127.0.0.1",
                           "-p", str(u.port or 5432), "-U", u.username or "postgres", "-d", u.database or "", *args],
                          capture_output=True, text=True, timeout=60)


def as_role(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


class Site:
    """A catalog database set up as README says: tables made by the owner's first run, sql/roles.sql applied,
    and one login role per host (a and b) mapped in dupfinder_host_roles."""

    def __init__(self, url: str) -> None:
        self.url = url                                   # as postgres: the owner
        self.database = make_url(url).database
        tag = uuid.uuid4().hex[:8]
        self.roles = {"a": f"dupfinder_test_a_{tag}", "b": f"dupfinder_test_b_{tag}"}
        self.group = f"{self.database}_hosts"

    def set_up(self) -> None:
        catalog = Catalog(self.url, host="owner")
        catalog.initialize()
        catalog.close()
        for _ in range(2):                              # twice: applying it again changes nothing
            done = psql(self.url, "-f", str(ROLES_SQL))
            assert done.returncode == 0, done.stderr
        statements = []
        for host, role in self.roles.items():
            statements += [f'CREATE ROLE "{role}" LOGIN IN ROLE "{self.group}"',
                           f"INSERT INTO dupfinder_host_roles (host, role) VALUES ('{host}', '{role}')"]
        done = psql(self.url, *[arg for s in statements for arg in ("-c", s)])
        assert done.returncode == 0, done.stderr

    def url_of(self, host: str) -> str:
        return as_role(self.url, self.roles[host])

    def drop_roles(self) -> None:
        engine = admin_engine()
        with engine.connect() as conn:
            for role in [*self.roles.values(), self.group]:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()


@pytest.fixture
def site(pg_scratch_url) -> Iterator[Site]:
    """pg_scratch_url: PostgreSQL must be reachable (a failure under CI=true)."""
    made: Site | None = None
    try:
        with scratch_database() as url:
            made = Site(url)
            made.set_up()
            yield made
    finally:
        if made is not None:
            made.drop_roles()                            # after the database, which held their privileges


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copies_tree(tmp_path / "tree", ("x", "y", "z/deep"), 200_000)


def scan(url: str, tree: Path, host: str, tmp_path: Path, script: str = "main_mul.py"):
    out = tmp_path / f"{host}.json"
    return run_cli(script, tree, "--db-url", url, "--host", host, "--skip-html", "--json", out, "-q"), out


def test_each_role_scans_its_own_host_over_overlapping_paths(site, tree, tmp_path):
    done, out_b = scan(site.url_of("b"), tree, "b", tmp_path)
    assert done.returncode == 0, done.stderr
    done, out_a = scan(site.url_of("a"), tree, "a", tmp_path)
    assert done.returncode == 0, done.stderr
    assert groups(read_json(out_a)) == groups(read_json(out_b)) == oracle([tree])
    rows = rows_by_host(site.url)
    assert sorted(h for h, _ in rows) == ["a"] * 6 + ["b"] * 6

    (tree / "y" / "big.bin").unlink()
    done, _ = scan(site.url_of("a"), tree, "a", tmp_path, script="main.py")
    assert done.returncode == 0, done.stderr
    after = rows_by_host(site.url)
    assert {k: v for k, v in after.items() if k[0] == "b"} == {k: v for k, v in rows.items() if k[0] == "b"}
    assert len([k for k in after if k[0] == "a"]) == 5
    assert [s[:2] for s in scan_rows(site.url)] == [("b", "finished"), ("a", "finished"), ("a", "finished")]


def test_a_role_cannot_write_another_hosts_rows_through_dupfinder(site, tree, tmp_path):
    done, _ = scan(site.url_of("b"), tree, "b", tmp_path)
    assert done.returncode == 0, done.stderr
    before, scans_before = rows_by_host(site.url), scan_rows(site.url)
    (tree / "x" / "small.bin").unlink()                  # b's row of it would be deleted by a scan as b
    for script in ("main.py", "main_mul.py"):
        done, _ = scan(site.url_of("a"), tree, "b", tmp_path, script=script)
        err = assert_clean_failure(done)
        assert "row-level security" in err and "--host" in err
    assert rows_by_host(site.url) == before and scan_rows(site.url) == scans_before


def test_a_role_cannot_alter_or_delete_another_hosts_rows_through_sql(site, tree, tmp_path):
    for host in ("a", "b"):
        done, _ = scan(site.url_of(host), tree, host, tmp_path)
        assert done.returncode == 0, done.stderr
    before = rows_by_host(site.url)
    engine = create_engine(site.url_of("a"))
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM file_hashes WHERE host = 'b'")).scalar() == 6
            assert conn.execute(text("UPDATE file_hashes SET hash_value = 'x' WHERE host = 'b'")).rowcount == 0
            assert conn.execute(text("DELETE FROM file_hashes WHERE host = 'b'")).rowcount == 0
            assert conn.execute(text("DELETE FROM scan_metadata WHERE host = 'b'")).rowcount == 0
            assert conn.execute(text("UPDATE file_hashes SET scan_date = 1 WHERE host = 'a'")).rowcount == 6
        for forbidden in ("UPDATE file_hashes SET host = 'b' WHERE host = 'a'",
                          "INSERT INTO file_hashes (host, filename, absolute_path, file_size, scan_date, mtime_ns, "
                          "ctime_ns, device, inode) VALUES ('b', 'x', '/x', 1, 0, 0, 0, 0, 0)",
                          "UPDATE scan_metadata SET host = 'b'",
                          "TRUNCATE file_hashes",
                          "DROP TABLE file_hashes",
                          "INSERT INTO dupfinder_host_roles (host, role) VALUES ('b', current_user)"):
            with pytest.raises(DBAPIError) as err, engine.begin() as conn:
                conn.execute(text(forbidden))
            assert getattr(err.value.orig, "pgcode", None) == "42501", forbidden     # insufficient_privilege
    finally:
        engine.dispose()
    after = rows_by_host(site.url)
    assert {k: v for k, v in after.items() if k[0] == "b"} == {k: v for k, v in before.items() if k[0] == "b"}


def test_a_schema_upgrade_needs_the_owner_who_runs_it_once(pg_scratch_url, tree, tmp_path):
    """A site whose host roles were granted the released tables: the first scan as a host role after the
    program's upgrade is refused in one line; the owner upgrades once (python3 -m utilities.schema), then the
    host role scans, its old rows kept (assigned to the host the owner named)."""
    role = f"dupfinder_test_old_{uuid.uuid4().hex[:8]}"
    try:
        with scratch_database() as url:
            donor = f"sqlite:///{tmp_path / 'donor.db'}"
            assert run_cli("main.py", tree, "--db-url", donor, "--host", "a", "--skip-html", "-q").returncode == 0
            make_released_catalog(url, rows_from=donor)
            done = psql(url, "-c", f'CREATE ROLE "{role}" LOGIN',
                        "-c", f'GRANT SELECT, INSERT, UPDATE, DELETE ON file_hashes, scan_metadata TO "{role}"',
                        "-c", f'GRANT USAGE ON SEQUENCE file_hashes_id_seq, scan_metadata_id_seq TO "{role}"')
            assert done.returncode == 0, done.stderr
            done, _ = scan(as_role(url, role), tree, "a", tmp_path)
            err = assert_clean_failure(done)
            assert "must be upgraded" in err and "owner" in err and role in err

            owner = subprocess.run([sys.executable, "-m", "utilities.schema", url, "--host", "a"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60)
            assert owner.returncode == 0 and "upgraded from revision none" in owner.stdout, owner.stderr
            # what rerunning sql/roles.sql after an upgrade grants: the revision table is new here
            done = psql(url, "-c", f'GRANT SELECT ON alembic_version TO "{role}"')
            assert done.returncode == 0, done.stderr

            done, out = scan(as_role(url, role), tree, "a", tmp_path)
            assert done.returncode == 0, done.stderr
            assert groups(read_json(out)) == oracle([tree])
            assert [s[0] for s in scan_rows(url)] == ["a", "a"] and scan_rows(url)[-1][2] == 0   # nothing read
    finally:                                             # the role's privileges went with the database
        engine = admin_engine()
        with engine.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()
