"""The (host, path) key of the catalog at the database level (database.py): paths of any length on both backends,
paths that share their first PATH_PREFIX_CHARS characters, ranges under long roots, and PostgreSQL plans that
find rows through the indexes."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import sessionmaker

from utilities import database as db
from utilities.catalog import Catalog
from utilities.database import PATH_PREFIX_CHARS, FileHash
from utilities.records import Hashes, Stat
from utilities.upserts import upsert_files

LONG_DIR = "/long/" + "/".join(["é" * 120, "x" * 250] * 21)       # 10,337 bytes, 7,817 characters


@pytest.fixture
def sessions(db_url):
    catalog = Catalog(db_url, host="h")
    catalog.initialize()
    yield sessionmaker(catalog.engine)
    catalog.close()


def row(path: str, size: int = 10, digest: str = "ab" * 16) -> dict:
    return db.file_row(path, Stat(size, 1_000, 1_000, 7, 1), scanned_at=1.0,
                       hashes=Hashes("xxh128", 4096, digest, digest, 2.0))


def stored(sessions, host: str, root: str) -> dict[str, int]:
    with sessions() as s:
        return {f.path: f.stat.size for f in db.iter_known(s, [root], host=host)}


def test_paths_of_10000_bytes_are_stored_found_updated_and_deleted(sessions):
    assert len(LONG_DIR.encode()) > 9_900 and len(LONG_DIR) > 2 * PATH_PREFIX_CHARS
    # a, b and c share far more than PATH_PREFIX_CHARS characters: only the md5 part of the key tells them apart
    paths = [f"{LONG_DIR}/a", f"{LONG_DIR}/b", f"{LONG_DIR}/c", f"{LONG_DIR}.txt", "/long/short"]
    with sessions.begin() as s:
        upsert_files(s, [row(p, size=k) for k, p in enumerate(paths)], host="h")
        upsert_files(s, [row(paths[0], size=99)], host="other")
    with sessions.begin() as s:     # the same keys again: updated in place, not inserted twice
        upsert_files(s, [row(p, size=10 + k) for k, p in enumerate(paths)], host="h")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(FileHash)) == 6
    assert stored(sessions, "h", LONG_DIR) == {paths[0]: 10, paths[1]: 11, paths[2]: 12}    # not the .txt sibling
    assert stored(sessions, "h", f"{LONG_DIR}/b") == {paths[1]: 11}                         # a long file root
    assert stored(sessions, "h", "/long") == dict(zip(paths, range(10, 15), strict=True))
    assert stored(sessions, "other", "/") == {paths[0]: 99}
    with sessions.begin() as s:
        assert db.delete_paths(s, [paths[1], paths[3], "/long/none"], host="h") == 2
    assert sorted(stored(sessions, "h", "/long")) == sorted([paths[0], paths[2], paths[4]])
    assert stored(sessions, "other", "/") == {paths[0]: 99}


def test_a_path_of_exactly_the_prefix_length_and_its_longer_neighbour_are_two_rows(sessions):
    exact = "/" + "p" * (PATH_PREFIX_CHARS - 1)
    longer = exact + "q"          # same first PATH_PREFIX_CHARS characters; '' and an md5 in the key
    with sessions.begin() as s:
        upsert_files(s, [row(exact, 1), row(longer, 2)], host="h")
        upsert_files(s, [row(exact, 3), row(longer, 4)], host="h")
    assert stored(sessions, "h", "/") == {exact: 3, longer: 4}


# --------------------------------------------------------------------------------------- query plans
def plan(session, statement) -> str:
    sql = statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return "\n".join(session.execute(text("EXPLAIN " + str(sql).replace("%", "%%"))).scalars())


@pytest.mark.postgres
def test_postgres_finds_rows_through_the_indexes(pg_url):
    """With sequential scans priced out (a tiny table would pick them anyway), each query the scan and the
    catalog-wide reports need must still be able to use an index: if it could not, PostgreSQL would fall
    back to a Seq Scan and this test would say so."""
    catalog = Catalog(pg_url, host="h")
    catalog.initialize()
    sessions = sessionmaker(catalog.engine)
    try:
        with sessions() as s:
            s.execute(text("SET enable_seqscan = off"))
            under = select(*db._STORED_COLUMNS).where(db.under_root("/home/ann", "h", "postgresql"))
            under_long = select(*db._STORED_COLUMNS).where(db.under_root(LONG_DIR, "h", "postgresql"))
            keys = ["/home/ann/a", f"{LONG_DIR}/a"]
            gone = delete(FileHash).where(FileHash.host == "h", FileHash.absolute_path.in_(keys),
                                          db.path_prefix(FileHash.absolute_path).in_([k[:PATH_PREFIX_CHARS]
                                                                                      for k in keys]))
            by_size = select(FileHash.host, FileHash.absolute_path).where(FileHash.file_size == 1234)
            by_host = select(func.count()).select_from(FileHash).where(FileHash.host == "h")
            for statement, index in [(under, "ux_file_hashes_host_path"), (under_long, "ux_file_hashes_host_path"),
                                     (gone, "ux_file_hashes_host_path"), (by_size, "ix_file_hashes_size_hash"),
                                     (by_host, "ux_file_hashes_host_path")]:
                got = plan(s, statement)
                assert index in got and "Seq Scan" not in got, got
            # the range reads on the prefix, not only on the host
            assert '"left"((absolute_path)::text, 256) >=' in plan(s, under)
    finally:
        catalog.close()


def test_is_under_compares_folders_not_string_prefixes():
    from utilities.paths import is_under
    assert is_under("/a/b", "/a") and is_under("/a/b", "/a/") and is_under("/a", "/a") and is_under("/x", "/")
    assert not is_under("/a/bc", "/a/b") and not is_under("/a", "/a/b")
