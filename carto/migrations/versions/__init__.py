"""Alembic revisions of the schema (files NNNN_what.py; see carto.migrations)."""
