"""Alembic migrations of Terreau's base (driven by :mod:`carto.store`, no ``alembic.ini``).

A new base is created from :data:`carto.store.metadata` and stamped at the head
revision; revisions after ``0001`` upgrade older bases. To add one, change
:data:`carto.store.metadata` and write ``versions/NNNN_what.py`` with
``down_revision`` set to the current head (use ``op.batch_alter_table`` so
that SQLite can follow); :func:`carto.store.init_base` applies it.
"""
