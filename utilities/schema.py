"""The catalog's schema revision: a cheap check at start-up, and the upgrade through Alembic (imported only
when the catalog is not at HEAD), under the schema lock, on the scanner's own connection.

    python3 -m utilities.schema URL [--host NAME]    (installed: python3 -m dupfinder.schema ...)

upgrades a catalog without scanning: for the catalog's owner when the scanners' roles may not (README,
"One catalog for all your machines").
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

BASELINE = "0001"          # the first release's schema, which create_all made before Alembic
HEAD = "0004"              # the newest revision in migrations/versions (a test keeps the two in step)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMA_LOCK = 0x6475_7046_696E       # "dupFin": PostgreSQL advisory lock serializing schema changes
# The columns of the baseline: a file_hashes table without them was not made by a dupFinder release.
BASELINE_COLUMNS = {
    "file_hashes": ("id", "filename", "absolute_path", "hash_value", "file_size", "scan_date", "modified_time",
                    "mtime_ns", "ctime_ns", "device", "inode", "algorithm", "partial_bytes", "partial_hash",
                    "hashed_at"),
    "scan_metadata": ("id", "last_scan_timestamp", "started_at", "finished_at", "status", "roots", "algorithm",
                      "files_scanned", "bytes_scanned", "bytes_read", "files_hashed", "duplicate_groups",
                      "wasted_bytes", "errors"),
}
INSUFFICIENT_PRIVILEGE = "42501"     # PostgreSQL's SQLSTATE for "must be owner", "permission denied"


class SchemaError(Exception):
    """The catalog's schema cannot be brought to this program's revision; the message says why."""


def current_revision(conn: Connection) -> str | None:
    """Returns the catalog's Alembic revision; None when it has none (an empty or a pre-Alembic catalog)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    versions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(versions) > 1:
        raise SchemaError(f"the catalog has several schema revisions ({', '.join(sorted(versions))}); "
                          "it was not made by dupFinder")
    return versions[0] if versions else None


def is_current(engine: Engine) -> bool:
    """True when the catalog is at HEAD: the check of every start, without importing Alembic."""
    with engine.connect() as conn:
        return current_revision(conn) == HEAD


def upgrade(engine: Engine, host: str, new_from_models: bool = True) -> str | None:
    """Brings the catalog to HEAD, in one transaction under the schema lock; returns the revision it had
    (None: empty or pre-Alembic). Rows that exist before the host column belong to `host`. A new catalog
    gets the models' tables directly unless new_from_models is False (then every migration runs).

    Raises SchemaError for a catalog newer than this program, a table that no release made, or a
    role that may not change the schema; SQLAlchemy's errors otherwise.
    """
    with engine.connect() as conn, conn.begin():
        _lock(conn)
        current = current_revision(conn)
        if current == HEAD:
            return current              # another scanner upgraded it while this one waited for the lock
        if new_from_models and current is None and not inspect(conn).has_table("file_hashes"):
            _create_from_models(conn)     # a new catalog: the models' tables, as the migrations would make them
            return None
        from alembic import command  # 0.08 s to import: only here, never when the catalog is new or current
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes.update(connection=conn, host=host)
        known = {script.revision for script in ScriptDirectory.from_config(cfg).walk_revisions()}
        if current is not None and current not in known:
            raise SchemaError(f"the catalog's schema (revision {current}) is newer than this dupFinder, which "
                              f"knows revisions up to {HEAD}: upgrade dupFinder")
        try:
            if current is None and inspect(conn).has_table("file_hashes"):
                _check_baseline(conn)
                command.stamp(cfg, BASELINE)      # a catalog made before Alembic: the first release's schema
            command.upgrade(cfg, "head")
        except DBAPIError as e:
            if getattr(e.orig, "pgcode", None) == INSUFFICIENT_PRIVILEGE:
                raise SchemaError(
                    f"the catalog's schema must be upgraded (revision {current or 'none'} to {HEAD}) and role "
                    f"{engine.url.username!r} may not change it: have the catalog's owner run the upgrade once "
                    f"(python3 -m {__package__}.schema URL --host NAME; README, \"One catalog for all your "
                    "machines\")") from e
            raise
        return current


def _create_from_models(conn: Connection) -> None:
    """Makes a new catalog's tables from the ORM models and records it at HEAD, without Alembic: importing it
    and running every migration cost about 0.5 s, a whole first scan of the bigfiles corpus. The result is
    the same: tests/test_schema_upgrade.py checks that the migrations from nothing make exactly the models'
    schema."""
    from .database import Base

    Base.metadata.create_all(conn)
    conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                      "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))     # Alembic's own DDL
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD})


def _lock(conn: Connection) -> None:
    """Takes the schema lock for the rest of conn's transaction: one scanner at a time checks and upgrades."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
    else:
        # SQLite: the write lock, taken now rather than at the first write (another scanner starting at the
        # same moment waits here, up to the busy timeout, and then finds the catalog current).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _check_baseline(conn: Connection) -> None:
    """Raises SchemaError unless the pre-Alembic tables have the first release's columns."""
    insp = inspect(conn)
    for table, columns in BASELINE_COLUMNS.items():
        have = {c["name"] for c in insp.get_columns(table)} if insp.has_table(table) else set()
        missing = [c for c in columns if c not in have]
        if missing:
            raise SchemaError(f"table {table} lacks columns {', '.join(missing)} (made by an older dupFinder); "
                              "scan into a new database or drop the table")


# --------------------------------------------------------------------------------------------- command
def main(argv: Sequence[str] | None = None) -> int:
    """Upgrades the catalog at URL; returns the exit code (1 when it cannot, with one line on stderr)."""
    from .arguments import host_name
    from .catalog import Catalog
    from .config import parse_db_url
    from .errors import ConfigError, DatabaseError
    from .hosts import machine_host

    parser = argparse.ArgumentParser(prog=f"python3 -m {__package__}.schema",
                                     description="Upgrade a dupFinder catalog's schema to this version's.")
    parser.add_argument("url", metavar="URL", help="the catalog, connecting as the owner of its tables")
    parser.add_argument("--host", type=host_name, metavar="NAME",
                        help="the host the rows of a catalog from before hosts belong to (default: this machine's)")
    args = parser.parse_args(argv)
    try:
        catalog = Catalog(parse_db_url(args.url, "URL"), host=args.host or machine_host())
        try:
            before = catalog.upgrade()
        finally:
            catalog.close()
    except (ConfigError, DatabaseError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    state = "already current" if before == HEAD else f"upgraded from revision {before or 'none'}"
    print(f"{catalog.masked_url}: schema at revision {HEAD} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
