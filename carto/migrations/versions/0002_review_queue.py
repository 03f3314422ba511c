"""Review queue of linkage (issue 3): table ``review_pairs``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Pairs of actors whose linkage score falls in the uncertain band wait there for
a person's decision (« même acteur » / « différents » / « passer »).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from carto.store import JSONType, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``review_pairs`` (same definition as ``carto.store.review_pairs``)."""
    op.create_table(
        "review_pairs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("actor_a_id", sa.Integer, nullable=False),
        sa.Column("actor_b_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("details", JSONType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16)),
        sa.Column("who", sa.String(128)),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("merge_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_review_pairs"),
        sa.ForeignKeyConstraint(["actor_a_id"], ["actors.id"], name="fk_review_pairs_actor_a_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_b_id"], ["actors.id"], name="fk_review_pairs_actor_b_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["merge_id"], ["merges.id"], name="fk_review_pairs_merge_id",
                                ondelete="SET NULL"),
        sa.UniqueConstraint("actor_a_id", "actor_b_id", name="uq_review_pairs_actor_a_id_actor_b_id"),
        sa.CheckConstraint("actor_a_id < actor_b_id", name="ck_review_pairs_ordered"),
        sa.CheckConstraint("kind IS NULL OR kind IN ('personne', 'organisation')", name="ck_review_pairs_kind"),
        sa.CheckConstraint("status IS NULL OR status IN ('pending', 'decided')", name="ck_review_pairs_status"),
        sa.CheckConstraint("decision IS NULL OR decision IN ('meme', 'differents')",
                           name="ck_review_pairs_decision"),
        sa.CheckConstraint("score >= 0 AND score <= 1", name="ck_review_pairs_score"),
        sa.CheckConstraint(
            "(status = 'pending' AND decision IS NULL AND decided_at IS NULL)"
            " OR (status = 'decided' AND decision IS NOT NULL AND decided_at IS NOT NULL AND who IS NOT NULL)",
            name="ck_review_pairs_decided",
        ),
        comment=(
            "Pairs of actors linkage is unsure about (smaller id first), waiting for a person's"
            " decision (meme / differents); queued_at orders the queue (« passer » moves a pair to the end)."
        ),
    )
    op.create_index("ix_review_pairs_actor_b_id", "review_pairs", ["actor_b_id"])
    op.create_index("ix_review_pairs_merge_id", "review_pairs", ["merge_id"])
    op.create_index("ix_review_pairs_status_queued_at", "review_pairs", ["status", "queued_at"])


def downgrade() -> None:
    """Drop ``review_pairs``."""
    op.drop_table("review_pairs")
