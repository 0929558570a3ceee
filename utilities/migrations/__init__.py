"""The catalog's schema migrations (Alembic), run by schema.upgrade; versions/ holds one file per revision."""
