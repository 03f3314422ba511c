"""Incremental linkage (issue 16): saved models, runs and blocking keys.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

``linkage_models`` keeps each trained Splink model (JSON) per kind of actor,
the active one scoring the records of later imports; ``link_runs`` records
each run of :func:`carto.linkage.link` and the last import batch it linked;
``link_keys`` indexes the blocking keys of every unit of linkage, so that a
new record's candidates are found without reading the base. An existing base
gets its first model and its keys at its next ``carto link`` (a full run).
``actors.updated_at`` is indexed: actors made by hand since the last run are
found without a scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carto.store import JSONType, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``linkage_models``, ``link_runs``, ``link_keys``; index ``actors.updated_at``."""
    op.create_table(
        "linkage_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trained_at", UTCDateTime, nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("columns", JSONType, nullable=False),
        sa.Column("model", JSONType, nullable=False),
        sa.Column("n_units", sa.Integer, nullable=False),
        sa.Column("n_labels", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_linkage_models"),
        sa.CheckConstraint("kind IS NULL OR kind IN ('personne', 'organisation')", name="kind"),
        comment="Trained linkage models (Splink JSON) per kind of actor: the active one scores new records; "
                "older ones are kept to compare parameters after a retraining (carto.linkage.model_drift).",
    )
    op.create_index("ix_linkage_models_kind_active", "linkage_models", ["kind", "active"])
    op.create_table(
        "link_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("who", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("last_batch_id", sa.Integer, nullable=False),
        sa.Column("report", JSONType, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_link_runs"),
        sa.CheckConstraint("mode IN ('incremental', 'full')", name="mode"),
        comment="Runs of carto.linkage.link: the import batches up to last_batch_id are linked; later ones are new.",
    )
    op.create_table(
        "link_keys",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.BigInteger, nullable=False),
        sa.Column("unit", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "unit", name="pk_link_keys"),
        sqlite_with_rowid=False,
        comment="Blocking keys of the units of linkage (64-bit hashes of blocking-rule values; unit: source record "
                "id, or minus the id of an actor made by hand): the candidates of new records, found by index.",
    )
    op.create_index("ix_link_keys_unit", "link_keys", ["unit"])
    op.create_index("ix_actors_updated_at", "actors", ["updated_at"])


def downgrade() -> None:
    """Back to revision 0006 (models and keys are dropped: the next link run trains and indexes again)."""
    op.drop_index("ix_actors_updated_at", table_name="actors")
    op.drop_index("ix_link_keys_unit", table_name="link_keys")
    op.drop_table("link_keys")
    op.drop_table("link_runs")
    op.drop_index("ix_linkage_models_kind_active", table_name="linkage_models")
    op.drop_table("linkage_models")
