"""Helpers of the host, schema-upgrade and roles tests: catalogs made with the released schema, reads of the
catalog by (host, path), plain SQL."""
from __future__ import annotations

from sqlalchemy import create_engine, select, text

from utilities.database import FileHash, ScanMetadata

# What Base.metadata.create_all made at d23e443, the release whose catalogs users have (compiled from that
# commit's models for each dialect; the released program makes exactly these tables).
RELEASED_DDL = {
    "sqlite": [
        """CREATE TABLE file_hashes (
            id INTEGER NOT NULL, filename VARCHAR NOT NULL, absolute_path VARCHAR NOT NULL,
            hash_value VARCHAR(128), file_size BIGINT NOT NULL, scan_date FLOAT NOT NULL, modified_time FLOAT,
            mtime_ns BIGINT NOT NULL, ctime_ns BIGINT NOT NULL, device BIGINT NOT NULL, inode BIGINT NOT NULL,
            algorithm VARCHAR(16), partial_bytes INTEGER, partial_hash VARCHAR(128), hashed_at FLOAT,
            PRIMARY KEY (id), UNIQUE (absolute_path))""",
        "CREATE INDEX ix_file_hashes_size_hash ON file_hashes (file_size, hash_value)",
        """CREATE TABLE scan_metadata (
            id INTEGER NOT NULL, last_scan_timestamp FLOAT, started_at FLOAT NOT NULL, finished_at FLOAT,
            status VARCHAR(16) NOT NULL, roots TEXT NOT NULL, algorithm VARCHAR(16) NOT NULL, files_scanned BIGINT,
            bytes_scanned BIGINT, bytes_read BIGINT, files_hashed BIGINT, duplicate_groups BIGINT,
            wasted_bytes BIGINT, errors BIGINT, PRIMARY KEY (id))""",
    ],
    "postgresql": [
        """CREATE TABLE file_hashes (
            id SERIAL NOT NULL, filename VARCHAR COLLATE "C" NOT NULL, absolute_path VARCHAR COLLATE "C" NOT NULL,
            hash_value VARCHAR(128), file_size BIGINT NOT NULL, scan_date FLOAT NOT NULL, modified_time FLOAT,
            mtime_ns BIGINT NOT NULL, ctime_ns BIGINT NOT NULL, device BIGINT NOT NULL, inode BIGINT NOT NULL,
            algorithm VARCHAR(16), partial_bytes INTEGER, partial_hash VARCHAR(128), hashed_at FLOAT,
            PRIMARY KEY (id), UNIQUE (absolute_path))""",
        "CREATE INDEX ix_file_hashes_size_hash ON file_hashes (file_size, hash_value)",
        """CREATE TABLE scan_metadata (
            id SERIAL NOT NULL, last_scan_timestamp FLOAT, started_at FLOAT NOT NULL, finished_at FLOAT,
            status VARCHAR(16) NOT NULL, roots TEXT NOT NULL, algorithm VARCHAR(16) NOT NULL, files_scanned BIGINT,
            bytes_scanned BIGINT, bytes_read BIGINT, files_hashed BIGINT, duplicate_groups BIGINT,
            wasted_bytes BIGINT, errors BIGINT, PRIMARY KEY (id))""",
    ],
}
RELEASED_COLUMNS = {
    "file_hashes": ("filename", "absolute_path", "hash_value", "file_size", "scan_date", "modified_time", "mtime_ns",
                    "ctime_ns", "device", "inode", "algorithm", "partial_bytes", "partial_hash", "hashed_at"),
    "scan_metadata": ("last_scan_timestamp", "started_at", "finished_at", "status", "roots", "algorithm",
                      "files_scanned", "bytes_scanned", "bytes_read", "files_hashed", "duplicate_groups",
                      "wasted_bytes", "errors"),
}
# A row's content, as rows_by_host gives it (what does not depend on when it was written).
CONTENT = (FileHash.file_size, FileHash.mtime_ns, FileHash.ctime_ns, FileHash.device, FileHash.inode,
           FileHash.algorithm, FileHash.partial_bytes, FileHash.partial_hash, FileHash.hash_value)


def execute(url: str, *statements: str, params: dict | None = None) -> list:
    """Runs statements in one transaction; returns the rowcount of each."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return [conn.execute(text(s), params or {}).rowcount for s in statements]
    finally:
        engine.dispose()


def scalar(url: str, query: str):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar()
    finally:
        engine.dispose()


def make_released_catalog(url: str, rows_from: str | None = None) -> int:
    """Creates the released schema at url (empty database), with the rows and scans of the catalog at
    rows_from (a catalog of the current schema) when given; returns the number of file rows copied."""
    target = create_engine(url)
    dialect = target.dialect.name
    copied = 0
    try:
        with target.begin() as conn:
            for ddl in RELEASED_DDL[dialect]:
                conn.exec_driver_sql(ddl)
            if rows_from:
                source = create_engine(rows_from)
                try:
                    with source.connect() as src:
                        for table in ("file_hashes", "scan_metadata"):
                            cols = RELEASED_COLUMNS[table]
                            query = text(f"SELECT {', '.join(cols)} FROM {table}")
                            rows = [dict(r._mapping) for r in src.execute(query)]
                            if rows:
                                conn.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                                  f"({', '.join(':' + c for c in cols)})"), rows)
                            copied += len(rows) if table == "file_hashes" else 0
                finally:
                    source.dispose()
    finally:
        target.dispose()
    return copied


def rows_by_host(url: str) -> dict[tuple[str, str], tuple]:
    """Returns the catalog as {(host, stored path): its content columns}; asserts one row per (host, path)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(FileHash.host, FileHash.absolute_path, *CONTENT)).all()
    finally:
        engine.dispose()
    out = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    assert len(out) == len(rows), "two rows for one (host, path)"
    return out


def scan_rows(url: str) -> list[tuple]:
    """Returns (host, status, bytes_read, files_hashed) of every scan, oldest first."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(ScanMetadata.host, ScanMetadata.status,
                                                         ScanMetadata.bytes_read, ScanMetadata.files_hashed)
                                                  .order_by(ScanMetadata.id))]
    finally:
        engine.dispose()


def scan_windows(url: str) -> list[tuple[float, float]]:
    """Returns (started_at, finished_at) of every finished scan, oldest first: whether scans overlapped."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(select(ScanMetadata.started_at, ScanMetadata.finished_at)
                                                       .where(ScanMetadata.finished_at.is_not(None))
                                                       .order_by(ScanMetadata.id))]
    finally:
        engine.dispose()
