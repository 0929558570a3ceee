"""The journal of acting on duplicates: dedupe_actions, one row per operation of --apply (issue 11)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

HOST_CHARS = 255


def upgrade() -> None:
    path = sa.String().with_variant(sa.String(collation="C"), "postgresql")
    op.create_table(
        "dedupe_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("host", sa.String(HOST_CHARS), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("path", path, nullable=False),
        sa.Column("kept", path, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("moved_to", path),
        sa.Column("moved_size", sa.BigInteger),
        sa.Column("moved_mtime_ns", sa.BigInteger),
        sa.Column("moved_ctime_ns", sa.BigInteger),
        sa.Column("moved_device", sa.BigInteger),
        sa.Column("moved_inode", sa.BigInteger),
        sa.Column("undone_at", sa.Float),
    )
    op.create_index("ux_dedupe_actions_run_seq", "dedupe_actions", ["run", "seq"], unique=True)
    op.create_index("ix_dedupe_actions_host_action", "dedupe_actions", ["host", "action"])


def downgrade() -> None:
    op.drop_table("dedupe_actions")
