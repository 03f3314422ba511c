"""Undone merges indexed (issue 16).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

Every linkage run reads the merges a person undid (they are never redone
automatically). ``merges.undone_at`` comes after the large ``snapshot``
column: without an index, finding the few undone merges reads every
snapshot of the merge log (seconds at a million merges).
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index ``merges.undone_at``."""
    op.create_index("ix_merges_undone_at", "merges", ["undone_at"])


def downgrade() -> None:
    """Back to revision 0007."""
    op.drop_index("ix_merges_undone_at", table_name="merges")
