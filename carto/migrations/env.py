"""Alembic environment: run by :func:`carto.store.init_base` with its own connection.

It runs inside the caller's transaction (``config.attributes["connection"]``), so
an upgrade and its audit row are committed together or not at all.
"""

from __future__ import annotations

from alembic import context


def run_migrations() -> None:
    """Run the migrations on the connection given by :mod:`carto.store`."""
    config = context.config
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=config.attributes["target_metadata"],
        render_as_batch=True,
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "_proxy", None) is not None:  # only when Alembic runs this file
    run_migrations()
