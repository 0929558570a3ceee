"""Schema upgrades (issue 12, utilities/schema.py and utilities/migrations): a catalog of the released schema is
upgraded in place and keeps its hashes; an empty database gets the models' schema through the same migrations; a
catalog newer than the program is refused in one line; a current catalog costs no Alembic import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

import main
from _catalogs import execute, make_released_catalog, rows_by_host, scalar, scan_rows
from _run import assert_clean_failure, kill_tree, scan, start_cli
from _trees import ROOT, blob, copies_tree, groups, oracle
from utilities import schema
from utilities.catalog import Catalog
from utilities.database import Base


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two groups (one needing a full hash), a file of its own size, a file sharing a size but not content."""
    return copies_tree(tmp_path / "tree", ("a", "b/deep", "c"), 300_000,
                       {"alone.bin": blob(3, 1234), "same-size.bin": blob(4, 3000)})


def released_catalog_with_rows(tree: Path, url: str, tmp_path: Path) -> dict:
    """Makes url a catalog of the released schema holding a real scan of tree; returns its rows by path."""
    donor = f"sqlite:///{tmp_path / 'donor.db'}"
    scan(main.main, [tree], donor, tmp_path, "--host", "donor")
    rows = {path: content for (_, path), content in rows_by_host(donor).items()}
    assert make_released_catalog(url, rows_from=donor) == len(rows) == 8
    return rows


def test_head_is_the_newest_migration():
    """The start-up check compares with schema.HEAD: a migration added without moving HEAD would never run."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    cfg = Config()
    cfg.set_main_option("script_location", str(schema.MIGRATIONS))
    scripts = ScriptDirectory.from_config(cfg)
    assert scripts.get_heads() == [schema.HEAD]
    assert scripts.get_base() == schema.BASELINE


def test_released_catalog_is_upgraded_in_place_and_keeps_its_hashes(tree, db_url, tmp_path):
    before = released_catalog_with_rows(tree, db_url, tmp_path)
    report = scan(main.main, [tree], db_url, tmp_path, "--host", "upgrader")

    assert scalar(db_url, "SELECT version_num FROM alembic_version") == schema.HEAD
    # every row survived, hashes included, and belongs to the host that upgraded the catalog
    assert rows_by_host(db_url) == {("upgrader", path): content for path, content in before.items()}
    history = scan_rows(db_url)
    assert [h[:2] for h in history] == [("upgrader", "finished")] * 2       # the released scan, then this one
    assert history[-1][2:] == (0, 0)                                        # nothing read, nothing hashed
    assert groups(report) == oracle([tree]) and len(report["groups"]) == 2
    # the host column kept no default: a row cannot be written without its host
    with pytest.raises(IntegrityError):
        execute(db_url, "INSERT INTO file_hashes (filename, absolute_path, file_size, scan_date, mtime_ns, "
                        "ctime_ns, device, inode) VALUES ('x', '/x', 1, 0, 0, 0, 0, 0)")


@pytest.mark.slow
@pytest.mark.xdist_group("scanner-processes")      # timed against running scanners: see test_interruptions
@pytest.mark.timeout(120)
def test_two_scanners_starting_at_once_upgrade_a_released_catalog_once(tree, db_url, tmp_path):
    before = released_catalog_with_rows(tree, db_url, tmp_path)
    barrier = tmp_path / "barrier"         # the harness holds each scanner until both have started
    barrier.mkdir()
    procs = [start_cli("tests/_harness.py", script, tree, "--db-url", db_url, "--host", "upgrader", "--skip-html",
                       "-q", env={"DUPFINDER_TEST_BARRIER": f"{barrier}:2"})
             for script in ("main.py", "main_mul.py")]
    try:
        results = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            kill_tree(p)
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and err == "", err
    assert scalar(db_url, "SELECT version_num FROM alembic_version") == schema.HEAD
    assert rows_by_host(db_url) == {("upgrader", path): content for path, content in before.items()}
    assert [h[:3] for h in scan_rows(db_url)[1:]] == [("upgrader", "finished", 0)] * 2


def test_catalog_newer_than_the_program_is_refused_in_one_line(cli, tree, db_url, tmp_path):
    catalog = Catalog(db_url, host="h")
    catalog.initialize()
    catalog.close()
    execute(db_url, "UPDATE alembic_version SET version_num = '0099_future'")
    proc = cli("main.py", tree, "--db-url", db_url, "--skip-html")
    message = assert_clean_failure(proc)
    assert "revision 0099_future" in message and "newer than this dupFinder" in message
    assert scan_rows(db_url) == []                # refused before the scan began


def test_a_table_no_release_made_is_refused_not_stamped(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    execute(url, "CREATE TABLE file_hashes (id INTEGER PRIMARY KEY, absolute_path TEXT UNIQUE, md5 TEXT)")
    proc = cli("main.py", tmp_path, "--db-url", url, "--skip-html")
    assert "lacks columns filename" in assert_clean_failure(proc)
    engine = create_engine(url)
    assert not inspect(engine).has_table("alembic_version")       # left as it was
    engine.dispose()


def snapshot(url: str) -> dict:
    """The schema as the database reports it: columns, indexes (with expressions), unique constraints."""
    engine = create_engine(url)
    insp = inspect(engine)
    out = {}
    for table in ("file_hashes", "scan_metadata"):
        out[table] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"], c.get("default")) for c in insp.get_columns(table)},
            "indexes": sorted((i["name"], bool(i["unique"]), tuple(i["column_names"]), tuple(i.get("expressions", ())))
                              for i in insp.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "primary": insp.get_pk_constraint(table)["constrained_columns"],
        }
    engine.dispose()
    return out


def test_migrations_from_nothing_make_the_models_schema(db_url):
    """An empty database goes to HEAD through every migration; the result is what the ORM models declare (which
    is how a new catalog is made: schema._create_from_models)."""
    catalog = Catalog(db_url, host="h")        # declares the PostgreSQL-only index of the models
    assert schema.upgrade(catalog.engine, "h", new_from_models=False) is None
    catalog.close()
    migrated = snapshot(db_url)
    assert "host" in migrated["file_hashes"]["columns"] and "host" in migrated["scan_metadata"]["columns"]
    indexes = [i[0] for i in migrated["file_hashes"]["indexes"]]
    assert indexes == ["ix_file_hashes_size_hash"] + (["ix_file_hashes_unhashed"] if db_url.startswith("postgresql")
                                                       else []) + ["ux_file_hashes_host_path"]

    engine = create_engine(db_url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE alembic_version"))
        Base.metadata.create_all(conn)
    engine.dispose()
    assert snapshot(db_url) == migrated


def test_a_new_or_current_catalog_starts_without_importing_alembic(db_url):
    """A new catalog is made from the models and stamped at HEAD; a current one costs one query."""
    code = ("import sys; from utilities.catalog import Catalog; c = Catalog(sys.argv[1], host='h'); "
            "c.initialize(); print(any(m.split('.')[0] == 'alembic' for m in sys.modules))")
    run = [sys.executable, "-c", code, db_url]
    first = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60)
    again = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (first.stdout, again.stdout) == ("False\n", "False\n"), first.stderr + again.stderr
    assert scalar(db_url, "SELECT count(*) FROM alembic_version") == 1
    assert scalar(db_url, "SELECT version_num FROM alembic_version") == schema.HEAD
