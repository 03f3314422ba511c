"""Consent statements (issue 5): every « I agree / I no longer agree to be shown on a map », dated, with its proof.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

``actors.consent_map`` said whether a person may be shown on a map, but not
who said so, when, nor on which document, and a merge kept the kept actor's
value whatever the other said. ``consent_statements`` keeps each statement
(sign-in sheet column, form, or one recorded by a jardinier with
:func:`carto.privacy.state_map_consent`); ``actors.consent_map`` becomes the
latest statement of the actor and of every actor merged into it.

A consent already in the base (``consent_map`` true, or a dated statement) is
kept as a statement whose proof says it predates this revision.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from carto.store import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PROOF = "déclaration enregistrée avant la version 0005 du schéma (preuve non conservée)"


def upgrade() -> None:
    """Create ``consent_statements`` and keep the consents already in the base as statements."""
    op.create_table(
        "consent_statements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("actor_id", sa.Integer, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("consent", sa.Boolean, nullable=False),
        sa.Column("stated_at", UTCDateTime, nullable=False),
        sa.Column("proof", sa.Text, nullable=False),
        sa.Column("source_record_id", sa.Integer),
        sa.Column("who", sa.String(128)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_statements"),
        sa.ForeignKeyConstraint(["actor_id"], ["actors.id"], name="fk_consent_statements_actor_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_record_id"], ["source_records.id"],
                                name="fk_consent_statements_source_record_id", ondelete="SET NULL"),
        sa.UniqueConstraint("source_record_id", "scope", name="uq_consent_statements_source_record_id_scope"),
        sa.CheckConstraint("scope IS NULL OR scope IN ('carte')", name="ck_consent_statements_scope"),
        comment="Every statement of an actor's consent (to be shown on a map…), with its date and proof; "
                "actors.consent_map is the latest one (carto.privacy).",
    )
    op.create_index("ix_consent_statements_actor_id", "consent_statements", ["actor_id"])
    op.create_index("ix_consent_statements_source_record_id", "consent_statements", ["source_record_id"])
    conn = op.get_bind()
    actors = sa.table("actors", sa.column("id", sa.Integer),
                      sa.column("consent_map", sa.Boolean), sa.column("consent_map_at", UTCDateTime),
                      sa.column("consent_proof", sa.Text), sa.column("created_at", UTCDateTime))
    rows = conn.execute(sa.select(actors.c.id, actors.c.consent_map, actors.c.consent_map_at, actors.c.consent_proof,
                                  actors.c.created_at)
                        .where(sa.or_(actors.c.consent_map.is_(True), actors.c.consent_map_at.is_not(None)))).all()
    if rows:
        now = datetime.now(timezone.utc)
        statements = sa.table("consent_statements", sa.column("actor_id", sa.Integer), sa.column("scope", sa.String),
                              sa.column("consent", sa.Boolean), sa.column("stated_at", UTCDateTime),
                              sa.column("proof", sa.Text), sa.column("who", sa.String),
                              sa.column("created_at", UTCDateTime))
        conn.execute(statements.insert(), [
            {"actor_id": r.id, "scope": "carte", "consent": bool(r.consent_map),
             "stated_at": r.consent_map_at or r.created_at or now, "proof": r.consent_proof or _PROOF,
             "who": "migration 0005", "created_at": now} for r in rows])


def downgrade() -> None:
    """Back to revision 0004 (``actors.consent_map`` keeps the latest statement)."""
    op.drop_index("ix_consent_statements_source_record_id", "consent_statements")
    op.drop_index("ix_consent_statements_actor_id", "consent_statements")
    op.drop_table("consent_statements")
