"""Rows belong to a host: file_hashes and scan_metadata get a host column, and a file's row is unique per
(host, path) instead of per path, through an index that holds paths of any length (issue 12)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

HOST_CHARS = 255
PATH_PREFIX_CHARS = 256      # database.PATH_PREFIX_CHARS when this revision was written
# Names SQLite's unnamed UNIQUE (absolute_path) so that batch mode can drop it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    context = op.get_context()
    host = context.config.attributes["host"] if context.config is not None else None
    if not host:
        raise RuntimeError("the upgrade to revision 0002 needs the host that the existing rows belong to")
    for table in ("file_hashes", "scan_metadata"):
        # The rows already there belong to the machine that upgrades the catalog. A constant default fills
        # them (PostgreSQL 11+ and SQLite store it once, without rewriting the table) and then goes, so
        # that no row can be written later without its host.
        op.add_column(table, sa.Column("host", sa.String(HOST_CHARS), nullable=False, server_default=host))
    if bind.dialect.name == "postgresql":
        for table in ("file_hashes", "scan_metadata"):
            op.alter_column(table, "host", server_default=None)
        for unique in sa.inspect(bind).get_unique_constraints("file_hashes"):
            if unique["column_names"] == ["absolute_path"] and unique["name"]:
                op.drop_constraint(unique["name"], "file_hashes", type_="unique")
        # A btree entry holds at most 2704 bytes: the key is the host, the path's first characters (for
        # range reads under a root) and the md5 of a longer path (database.PATH_PREFIX_CHARS).
        n = PATH_PREFIX_CHARS
        op.create_index("ux_file_hashes_host_path", "file_hashes",
                        ["host", sa.text(f"left(absolute_path, {n})"),
                         sa.text(f"(CASE WHEN length(absolute_path) > {n} THEN md5(absolute_path) ELSE '' END)")],
                        unique=True)
    else:
        with op.batch_alter_table("scan_metadata") as batch:
            batch.alter_column("host", server_default=None)
        with op.batch_alter_table("file_hashes", naming_convention=NAMING) as batch:
            batch.alter_column("host", server_default=None)
            batch.drop_constraint("uq_file_hashes_absolute_path", type_="unique")
            batch.create_index("ux_file_hashes_host_path", ["host", "absolute_path"], unique=True)


def downgrade() -> None:
    raise NotImplementedError("rows of several hosts cannot go back to one row per path; restore a backup instead")
