"""database.py against both backends: schema, bulk upserts, reads under a root, groups, scan records."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from utilities import database as db
from utilities.database import FileHash, ScanMetadata


@pytest.fixture
def sessions(db_url):
    engine = db.make_engine(make_url(db_url))
    db.initialize_database(engine)
    yield sessionmaker(engine)
    engine.dispose()


def row(path: str, size: int = 10, full: str | None = None, partial: str | None = None, mtime_ns: int = 1_000,
        ino: int = 1, algorithm: str | None = "xxh128") -> dict:
    return db.file_row(path, size, mtime_ns, mtime_ns, 7, ino, 1.0, algorithm if (full or partial) else None,
                       4096 if partial or full else None, partial or full, full, 2.0 if full else None)


def all_rows(sessions) -> dict[str, tuple]:
    with sessions() as s:
        return {r.absolute_path: (r.file_size, r.hash_value, r.partial_hash, r.mtime_ns, r.filename)
                for r in s.scalars(select(FileHash))}


def test_schema_has_plan_columns_and_incremental_ones(sessions):
    insp = inspect(sessions.kw["bind"])
    cols = {c["name"] for c in insp.get_columns("file_hashes")}
    assert {"id", "filename", "absolute_path", "hash_value", "file_size", "scan_date", "modified_time",
            "mtime_ns", "ctime_ns", "device", "inode", "partial_hash", "algorithm", "hashed_at"} <= cols
    assert {"id", "last_scan_timestamp", "status", "roots", "started_at", "finished_at"} <= \
           {c["name"] for c in insp.get_columns("scan_metadata")}
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("file_hashes")}
    indexed |= {tuple(u["column_names"]) for u in insp.get_unique_constraints("file_hashes")}
    assert ("file_size", "hash_value") in indexed and ("absolute_path",) in indexed


def test_initialize_twice_is_harmless(sessions):
    db.initialize_database(sessions.kw["bind"])
    assert all_rows(sessions) == {}


def test_upsert_is_idempotent(sessions):
    rows = [row(f"/d/f{i}", size=i, full=f"{i:032x}") for i in range(50)]
    for _ in range(2):
        with sessions.begin() as s:
            assert db.upsert_files(s, rows, 7) == 50
    stored = all_rows(sessions)
    assert len(stored) == 50
    assert stored["/d/f3"] == (3, f"{3:032x}", f"{3:032x}", 1000, "f3")


def test_upsert_batch_edges(sessions):
    with sessions.begin() as s:
        assert db.upsert_files(s, [], 1000) == 0
        assert db.upsert_files(s, [row("/one")], 1) == 1
    with pytest.raises(ValueError, match="at least 1"):
        with sessions.begin() as s:
            db.upsert_files(s, [row("/x")], 0)
    # 15 columns x 40,000 rows is far past SQLite's 32,766 bound parameters per statement.
    many = [row(f"/big/{i:06d}", size=i % 97) for i in range(40_000)]
    with sessions.begin() as s:
        assert db.upsert_files(s, many, 40_000) == 40_000
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(FileHash)) == 40_001


def test_repeated_path_in_one_batch_keeps_the_last(sessions):
    with sessions.begin() as s:
        assert db.upsert_files(s, [row("/p", size=1), row("/p", size=2)], 10) == 1
    assert all_rows(sessions)["/p"][0] == 2


def test_new_stat_record_without_hash_keeps_a_hash_for_the_same_stat(sessions):
    with sessions.begin() as s:
        db.upsert_files(s, [row("/same", full="aa" * 16), row("/changed", full="bb" * 16)])
    with sessions.begin() as s:   # e.g. a concurrent scanner that saw these files as new
        db.upsert_files(s, [row("/same"), row("/changed", mtime_ns=2_000)])
    stored = all_rows(sessions)
    assert stored["/same"][1] == "aa" * 16           # same stat record: the hash still holds
    assert stored["/changed"][1] is None             # the file changed: its old hash must go
    assert stored["/changed"][3] == 2_000


def test_load_known_reads_a_root_and_nothing_beside_it(sessions):
    paths = ["/a/b", "/a/b/c", "/a/b/d/e", "/a/bc", "/a/b0", "/a/b.txt", "/a"]
    with sessions.begin() as s:
        db.upsert_files(s, [row(p) for p in paths])
    with sessions() as s:
        assert sorted(db.load_known(s, "/a/b")) == ["/a/b", "/a/b/c", "/a/b/d/e"]
        assert sorted(db.load_known(s, "/a/b/")) == ["/a/b", "/a/b/c", "/a/b/d/e"]
        assert len(db.load_known(s, "/")) == len(paths)


def test_non_utf8_and_backslash_names_round_trip(sessions):
    odd = os.fsdecode(b"/r/caf\xe9 \\x41\\\\.txt")   # Latin-1 byte plus literal backslashes
    with sessions.begin() as s:
        db.upsert_files(s, [row(odd, full="cc" * 16), row("/r/plain", full="cc" * 16)])
    with sessions() as s:
        known = db.load_known(s, "/r")
        assert odd in known and os.fsencode(odd) == b"/r/caf\xe9 \\x41\\\\.txt"
        groups = db.duplicate_groups(s, ["/r"], "xxh128")
    assert [[f.path for f in g] for g in groups] == [sorted([odd, "/r/plain"])]


def test_delete_paths(sessions):
    with sessions.begin() as s:
        db.upsert_files(s, [row(f"/v/{i}") for i in range(5)])
    with sessions.begin() as s:
        assert db.delete_paths(s, ["/v/1", "/v/3", "/v/missing"], batch_size=2) == 2
    assert sorted(all_rows(sessions)) == ["/v/0", "/v/2", "/v/4"]


def test_duplicate_groups_by_wasted_space_and_algorithm(sessions):
    rows = [
        row("/g/small1", 10, "11" * 16), row("/g/small2", 10, "11" * 16), row("/g/small3", 10, "11" * 16),
        row("/g/big1", 1000, "22" * 16), row("/g/big2", 1000, "22" * 16),
        row("/g/lone", 1000, "33" * 16),
        row("/g/samehash_other_size", 11, "11" * 16),
        row("/g/sha1", 1000, "22" * 16, algorithm="sha256"),     # same digest text, other algorithm
        row("/g/nohash", 10), row("/other/big3", 1000, "22" * 16),
    ]
    with sessions.begin() as s:
        db.upsert_files(s, rows)
    with sessions() as s:
        groups = db.duplicate_groups(s, ["/g"], "xxh128")
        both = db.duplicate_groups(s, ["/g", "/other"], "xxh128")
    assert [[f.path for f in g] for g in groups] == [["/g/big1", "/g/big2"],
                                                     ["/g/small1", "/g/small2", "/g/small3"]]
    assert [f.path for f in both[0]] == ["/g/big1", "/g/big2", "/other/big3"]


def test_scan_metadata_records_running_then_finished(sessions):
    scan_id = db.in_transaction(sessions, lambda s: db.start_scan(s, ["/r"], "xxh128"))
    with sessions() as s:
        assert s.get(ScanMetadata, scan_id).status == "running"
    db.in_transaction(sessions, lambda s: db.finish_scan(s, scan_id, "finished", {"files_scanned": 3,
                                                                                  "not_a_column": 1}))
    with sessions() as s:
        scan = db.scan_history(s)[0]
    assert (scan.id, scan.status, scan.files_scanned, scan.roots) == (scan_id, "finished", 3, '["/r"]')
    assert scan.last_scan_timestamp == scan.finished_at and scan.finished_at >= scan.started_at


def test_unreachable_server_gives_one_line_with_masked_url():
    engine = db.make_engine(make_url("postgresql+psycopg2://u:hunter2@127.0.0.1:1/file_hashes"))
    with pytest.raises(db.DatabaseError) as err:
        db.initialize_database(engine)
    msg = str(err.value)
    assert "\n" not in msg and "hunter2" not in msg and "u:***@127.0.0.1:1" in msg
    assert "is the PostgreSQL server running" in msg


@pytest.mark.postgres
def test_missing_database_hints_createdb(pg_scratch_url):
    url = make_url(pg_scratch_url).set(database="dupfinder_no_such_db")
    with pytest.raises(db.DatabaseError, match="createdb dupfinder_no_such_db"):
        db.initialize_database(db.make_engine(url))


def test_sqlite_connections_use_wal_and_busy_timeout(tmp_path):
    engine = db.make_engine(make_url(f"sqlite:///{tmp_path / 'sub' / 'x.db'}"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1    # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_S * 1000
    engine.dispose()


def test_old_schema_is_reported_not_silently_used(tmp_path):
    engine = db.make_engine(make_url(f"sqlite:///{tmp_path / 'old.db'}"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE file_hashes (id INTEGER PRIMARY KEY, absolute_path TEXT UNIQUE)")
    with pytest.raises(db.DatabaseError, match="lacks columns .*older dupFinder"):
        db.initialize_database(engine)
