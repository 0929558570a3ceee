"""The catalog (catalog.py, database.py) on both backends: schema, bulk upserts, reads under roots, scan records,
errors."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from utilities import database as db
from utilities.catalog import SQLITE_BUSY_TIMEOUT_S, Catalog, DatabaseError
from utilities.database import FileHash, ScanMetadata
from utilities.records import Hashes, ScanCounts, Stat
from utilities.upserts import upsert_files

HOST = "tester"      # the host the rows of these tests belong to


@pytest.fixture
def catalog(db_url):
    cat = Catalog(db_url)
    cat.initialize()
    yield cat
    cat.close()


@pytest.fixture
def sessions(catalog):
    return sessionmaker(catalog.engine)


def row(path: str, size: int = 10, full: str | None = None, partial: str | None = None, mtime_ns: int = 1_000,
        ino: int = 1, algorithm: str = "xxh128") -> dict:
    hashes = Hashes(algorithm, 4096, partial or full, full, 2.0) if (partial or full) else None
    return db.file_row(path, Stat(size, mtime_ns, mtime_ns, 7, ino), scanned_at=1.0, hashes=hashes)


def known(session, *roots: str) -> dict:
    return {f.path: f for f in db.iter_known(session, roots, host=HOST)}


def all_rows(sessions) -> dict[str, tuple]:
    with sessions() as s:
        return {r.absolute_path: (r.file_size, r.hash_value, r.partial_hash, r.mtime_ns, r.filename)
                for r in s.scalars(select(FileHash))}


def test_schema_has_plan_columns_and_incremental_ones(catalog):
    insp = inspect(catalog.engine)
    cols = {c["name"] for c in insp.get_columns("file_hashes")}
    assert {"id", "filename", "absolute_path", "hash_value", "file_size", "scan_date", "modified_time",
            "mtime_ns", "ctime_ns", "device", "inode", "partial_hash", "algorithm", "hashed_at"} <= cols
    assert {"id", "last_scan_timestamp", "status", "roots", "started_at", "finished_at"} <= \
           {c["name"] for c in insp.get_columns("scan_metadata")}
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("file_hashes")}
    assert ("file_size", "hash_value") in indexed
    # unique per (host, path): the path itself on SQLite, its prefix and md5 on PostgreSQL (test_schema_upgrade.py)
    assert any(i["unique"] and i["column_names"][0] == "host" for i in insp.get_indexes("file_hashes"))


def test_initialize_twice_is_harmless(catalog, sessions):
    catalog.initialize()
    assert all_rows(sessions) == {}


def test_upsert_is_idempotent(sessions):
    rows = [row(f"/d/f{i}", size=i, full=f"{i:032x}") for i in range(50)]
    for _ in range(2):
        with sessions.begin() as s:
            assert upsert_files(s, rows, 7, host=HOST) == 50
    stored = all_rows(sessions)
    assert len(stored) == 50
    assert stored["/d/f3"] == (3, f"{3:032x}", f"{3:032x}", 1000, "f3")


@pytest.mark.slow   # 40,000 rows
def test_upsert_batch_edges(sessions):
    with sessions.begin() as s:
        assert upsert_files(s, [], 1000, host=HOST) == 0
        assert upsert_files(s, [row("/one")], 1, host=HOST) == 1
    with pytest.raises(ValueError, match="at least 1"), sessions.begin() as s:
        upsert_files(s, [row("/x")], 0, host=HOST)
    # 15 columns x 40,000 rows is far past SQLite's 32,766 bound parameters per statement.
    many = [row(f"/big/{i:06d}", size=i % 97) for i in range(40_000)]
    with sessions.begin() as s:
        assert upsert_files(s, many, 40_000, host=HOST) == 40_000
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(FileHash)) == 40_001


def test_repeated_path_in_one_batch_keeps_the_last(sessions):
    with sessions.begin() as s:
        assert upsert_files(s, [row("/p", size=1), row("/p", size=2)], 10, host=HOST) == 1
    assert all_rows(sessions)["/p"][0] == 2


def test_new_stat_record_without_hash_keeps_a_hash_for_the_same_stat(sessions):
    with sessions.begin() as s:
        upsert_files(s, [row("/same", full="aa" * 16), row("/changed", full="bb" * 16)], host=HOST)
    with sessions.begin() as s:   # e.g. a concurrent scanner that saw these files as new
        upsert_files(s, [row("/same"), row("/changed", mtime_ns=2_000)], host=HOST)
    stored = all_rows(sessions)
    assert stored["/same"][1] == "aa" * 16           # same stat record: the hash still holds
    assert stored["/changed"][1] is None             # the file changed: its old hash must go
    assert stored["/changed"][3] == 2_000


def test_iter_known_reads_its_roots_and_nothing_beside_them(sessions):
    paths = ["/a/b", "/a/b/c", "/a/b/d/e", "/a/bc", "/a/b0", "/a/b.txt", "/a", "/z/y"]
    with sessions.begin() as s:
        upsert_files(s, [row(p, full="ab" * 16) for p in paths], host=HOST)
    with sessions() as s:
        assert sorted(known(s, "/a/b")) == ["/a/b", "/a/b/c", "/a/b/d/e"]
        assert sorted(known(s, "/a/b/")) == ["/a/b", "/a/b/c", "/a/b/d/e"]
        assert sorted(known(s, "/a/b", "/z")) == ["/a/b", "/a/b/c", "/a/b/d/e", "/z/y"]
        assert len(known(s, "/")) == len(paths)
        stored = known(s, "/a/b")["/a/b/c"]
    assert stored.stat == Stat(10, 1_000, 1_000, 7, 1)
    assert stored.hashes == Hashes("xxh128", 4096, "ab" * 16, "ab" * 16, 2.0)


def test_non_utf8_and_backslash_names_round_trip(sessions):
    odd = os.fsdecode(b"/r/caf\xe9 \\x41\\\\.txt")   # Latin-1 byte plus literal backslashes
    with sessions.begin() as s:
        upsert_files(s, [row(odd, full="cc" * 16), row("/r/plain", full="cc" * 16)], host=HOST)
    with sessions() as s:
        stored = known(s, "/r")
    assert sorted(stored) == sorted([odd, "/r/plain"]) and os.fsencode(odd) == b"/r/caf\xe9 \\x41\\\\.txt"


def test_delete_paths(sessions):
    with sessions.begin() as s:
        upsert_files(s, [row(f"/v/{i}") for i in range(5)], host=HOST)
    with sessions.begin() as s:
        assert db.delete_paths(s, ["/v/1", "/v/3", "/v/missing"], batch_size=2, host=HOST) == 2
    assert sorted(all_rows(sessions)) == ["/v/0", "/v/2", "/v/4"]


def test_scan_metadata_records_running_then_finished(catalog, sessions):
    scan_id = catalog.transaction(lambda s: db.start_scan(s, ["/r"], "xxh128", host=HOST))
    with sessions() as s:
        assert s.get(ScanMetadata, scan_id).status == "running"
    counts = ScanCounts(files_scanned=3, bytes_scanned=30, full_hashed=2, bytes_read=20)
    catalog.transaction(lambda s: db.finish_scan(s, scan_id, "finished", counts, duplicate_groups=1,
                                                 wasted_bytes=10, errors=0))
    with sessions() as s:
        scan = s.get(ScanMetadata, scan_id)
    assert (scan.status, scan.files_scanned, scan.bytes_scanned, scan.files_hashed, scan.bytes_read, scan.roots) \
        == ("finished", 3, 30, 2, 20, '["/r"]')
    assert (scan.duplicate_groups, scan.wasted_bytes, scan.errors) == (1, 10, 0)
    assert scan.last_scan_timestamp == scan.finished_at and scan.finished_at >= scan.started_at


def test_unreachable_server_gives_one_line_with_masked_url():
    with pytest.raises(DatabaseError) as err:
        Catalog("postgresql+psycopg2://u:hunter2@127.0.0.1:1/file_hashes").initialize()
    msg = str(err.value)
    assert "\n" not in msg and "hunter2" not in msg and "u:***@127.0.0.1:1" in msg
    assert "is the PostgreSQL server running" in msg


@pytest.mark.postgres
def test_missing_database_hints_createdb(pg_scratch_url):
    url = make_url(pg_scratch_url).set(database="dupfinder_no_such_db")
    with pytest.raises(DatabaseError, match="createdb dupfinder_no_such_db"):
        Catalog(url).initialize()


def test_sqlite_connections_use_wal_and_busy_timeout(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'sub' / 'x.db'}", create_folder=True)
    cat.initialize()                        # the configured default's folder is made; --db-url's must exist
    with cat.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1    # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_S * 1000
    cat.close()


def test_old_schema_is_reported_not_silently_used(tmp_path):
    cat = Catalog(f"sqlite:///{tmp_path / 'old.db'}")
    with cat.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE file_hashes (id INTEGER PRIMARY KEY, absolute_path TEXT UNIQUE)")
    with pytest.raises(DatabaseError, match=r"lacks columns .*older dupFinder"):
        cat.initialize()
