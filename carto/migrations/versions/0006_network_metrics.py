"""Network metrics (issue 6): each actor's metrics in a community's graph, stored for reuse.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

``network_metrics`` keeps what :func:`carto.network.store_metrics` computed
for a community (``community_id``; NULL: the whole base): one row per actor
with its degree, betweenness, PageRank, reach, Burt's constraint and
effective size, core number and group (Leiden cluster), the date of the data
and the parameters of the computation. They are derived data: each
computation replaces the previous one of its community.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carto.store import JSONType, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``network_metrics``."""
    op.create_table(
        "network_metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("community_id", sa.Integer),
        sa.Column("actor_id", sa.Integer, nullable=False),
        sa.Column("computed_at", UTCDateTime, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("parameters", JSONType, nullable=False),
        sa.Column("degree", sa.Integer),
        sa.Column("weighted_degree", sa.Float),
        sa.Column("betweenness", sa.Float),
        sa.Column("pagerank", sa.Float),
        sa.Column("reach_2", sa.Integer),
        sa.Column("burt_constraint", sa.Float),
        sa.Column("effective_size", sa.Float),
        sa.Column("core", sa.Integer),
        sa.Column("cluster", sa.Integer),
        sa.Column("cluster_name", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_network_metrics"),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], name="fk_network_metrics_community_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["actors.id"], name="fk_network_metrics_actor_id", ondelete="CASCADE"),
        comment="Network metrics of each actor, stored for reuse (carto.network.store_metrics): one set per "
                "community (community_id NULL: the whole base), replaced at each computation; derived data.",
    )
    op.create_index("ix_network_metrics_actor_id", "network_metrics", ["actor_id"])
    op.create_index("ix_network_metrics_community_id_computed_at", "network_metrics", ["community_id", "computed_at"])


def downgrade() -> None:
    """Back to revision 0005 (the stored metrics are dropped: they can be computed again)."""
    op.drop_index("ix_network_metrics_community_id_computed_at", "network_metrics")
    op.drop_index("ix_network_metrics_actor_id", "network_metrics")
    op.drop_table("network_metrics")
