"""Communities and cercles (issue 4): working-group meetings and the community's newsletter list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

- ``events.kind`` accepts « groupe de travail »: a working group's meetings are
  events with a sign-in sheet, and taking part in one puts a member in cercle 1;
- ``communities.newsletter_list``: the name of the community's monthly
  newsletter list (Brevo), whose subscribers are at least in cercle 3;
- ``memberships.history_hash``: fingerprint of the member's computed history, so
  that a recomputation rewrites only the histories that changed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD_KINDS = (
    "rencontre de communauté", "rencontre régionale annuelle", "formation-action", "commission citoyenne",
    "concertation", "atelier de cartographie", "webinaire", "lancement", "autre",
)
_NEW_KINDS = (*_OLD_KINDS[:-1], "groupe de travail", "autre")


def _kind_check(kinds: tuple[str, ...]) -> str:
    listed = ", ".join("'" + k.replace("'", "''") + "'" for k in kinds)
    return f"kind IS NULL OR kind IN ({listed})"


def upgrade() -> None:
    """Widen the event kinds; add the newsletter list of communities."""
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_events_kind"), _kind_check(_NEW_KINDS))
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("newsletter_list", sa.Text))
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("history_hash", sa.BigInteger))


def downgrade() -> None:
    """Back to revision 0003 (working-group meetings become « autre »)."""
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("history_hash")
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("newsletter_list")
    op.execute("UPDATE events SET kind = 'autre' WHERE kind = 'groupe de travail'")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_events_kind"), _kind_check(_OLD_KINDS))
