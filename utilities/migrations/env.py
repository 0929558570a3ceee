"""Alembic's environment for dupFinder's migrations: they run on the connection that schema.upgrade hands in
(inside its transaction, under the schema lock), never on a URL of their own."""
from alembic import context

connection = context.config.attributes["connection"]
# SQLite alters a table by copying it (batch mode); PostgreSQL alters it in place.
context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
