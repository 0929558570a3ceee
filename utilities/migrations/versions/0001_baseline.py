"""The first release's schema (what Base.metadata.create_all made at d23e443), column for column.

A catalog made before Alembic is stamped at this revision; an empty database is created through it."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Paths compare in byte order: collation "C" on PostgreSQL (SQLite's default BINARY does the same).
PATH = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "file_hashes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("filename", PATH, nullable=False),
        sa.Column("absolute_path", PATH, nullable=False),
        sa.Column("hash_value", sa.String(128)),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("scan_date", sa.Float(), nullable=False),
        sa.Column("modified_time", sa.Float()),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("ctime_ns", sa.BigInteger(), nullable=False),
        sa.Column("device", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("algorithm", sa.String(16)),
        sa.Column("partial_bytes", sa.Integer()),
        sa.Column("partial_hash", sa.String(128)),
        sa.Column("hashed_at", sa.Float()),
        # Unnamed, as the release made it: PostgreSQL calls it file_hashes_absolute_path_key, SQLite nothing.
        sa.UniqueConstraint("absolute_path"),
    )
    op.create_index("ix_file_hashes_size_hash", "file_hashes", ["file_size", "hash_value"])
    op.create_table(
        "scan_metadata",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_scan_timestamp", sa.Float()),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("roots", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("files_scanned", sa.BigInteger()),
        sa.Column("bytes_scanned", sa.BigInteger()),
        sa.Column("bytes_read", sa.BigInteger()),
        sa.Column("files_hashed", sa.BigInteger()),
        sa.Column("duplicate_groups", sa.BigInteger()),
        sa.Column("wasted_bytes", sa.BigInteger()),
        sa.Column("errors", sa.BigInteger()),
    )


def downgrade() -> None:
    op.drop_table("scan_metadata")
    op.drop_index("ix_file_hashes_size_hash", table_name="file_hashes")
    op.drop_table("file_hashes")
