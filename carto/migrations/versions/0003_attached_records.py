"""Records attached at import by a sure key (issue 3): ``source_records.actor_rule`` and ``organisation_rule``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

An import attaches a new row to the actor that already carries its e-mail
address (persons) or its SIREN / RNA (organisations) instead of creating a
provisional actor that linkage would merge at once; the rule is kept on the
record so that the attachment is traceable and can be undone
(:func:`carto.linkage.detach`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns (null: the record's actor was created for it)."""
    with op.batch_alter_table("source_records") as batch:
        batch.add_column(sa.Column("actor_rule", sa.String(16)))
        batch.add_column(sa.Column("organisation_rule", sa.String(16)))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("source_records") as batch:
        batch.drop_column("organisation_rule")
        batch.drop_column("actor_rule")
