"""Initial schema of Terreau (foundation issue).

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Baseline: a new base is created by ``carto.store.metadata.create_all`` and
stamped at the head revision, so this revision has nothing to do. Later
revisions upgrade bases stamped ``0001`` to the schema of their time.
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing: the schema of revision 0001 is created from the metadata."""


def downgrade() -> None:
    """Nothing to undo."""
