"""Schema of the base: the tables of :data:`metadata`, their column types and allowed values.

The decisions behind it are told in :mod:`carto.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect

from carto._errors import StoreError

#: Value of ``schema_info.application`` in every Terreau base.
APPLICATION = "terreau"

ACTOR_KINDS = ("personne", "organisation")
ACTOR_STATUSES = ("active", "merged")
LOCATION_PRECISIONS = ("commune", "adresse")
RECORD_STATUSES = ("ok", "quarantined")
MERGE_METHODS = ("rule", "probabilistic", "manual")
#: What a consent statement is about: « carte » = to be shown by name on a map or in a directory.
CONSENT_SCOPES = ("carte",)
#: Cercles: 1 engagé·e·s, 2 impliqué·e·s, 3 informé·e·s.
CIRCLES = (1, 2, 3)
TRANSITIONS = ("entry", "promotion", "decline", "exit")
EVENT_KINDS = (
    "rencontre de communauté",
    "rencontre régionale annuelle",
    "formation-action",
    "commission citoyenne",
    "concertation",
    "atelier de cartographie",
    "webinaire",
    "lancement",
    "groupe de travail",
    "autre",
)
PARTICIPATION_ROLES = ("participant", "organisateur", "intervenant")
RELATION_PROVENANCES = ("workshop", "declared", "inferred")
INFLUENCE_STANCES = ("supports", "neutral", "opposes")
SUBSCRIPTION_STATUSES = ("subscribed", "unsubscribed", "blocklisted")
REVIEW_STATUSES = ("pending", "decided")
REVIEW_DECISIONS = ("meme", "differents")


# --------------------------------------------------------------------------- types


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware timestamp stored in UTC, read back as an aware UTC datetime.

    Naive datetimes are refused: say which time zone a timestamp is in.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> paris = timezone(timedelta(hours=1))
    >>> UTCDateTime().process_bind_param(datetime(2024, 1, 1, 12, tzinfo=paris), None)
    datetime.datetime(2024, 1, 1, 11, 0, tzinfo=datetime.timezone.utc)
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError(
                f"Horodatage sans fuseau horaire : « {value.isoformat()} ». "
                "Donnez un datetime avec fuseau (par exemple datetime.now(timezone.utc))."
            )
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps no zone: values are stored in UTC
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


JSONType = sa.JSON().with_variant(pg_dialect.JSONB(), "postgresql")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- schema

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: Sequence[str | int], name: str | None = None) -> sa.CheckConstraint:
    """CHECK constraint: ``column`` is NULL or one of ``values``."""
    listed = ", ".join(
        str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'" for v in values
    )
    return sa.CheckConstraint(f"{column} IS NULL OR {column} IN ({listed})", name=name or column)


def _fk_column(
    name: str, target: str, *, ondelete: str, nullable: bool = True, index: bool = True
) -> sa.Column[int]:
    """Integer foreign key to ``target`` (``table.column``), indexed by default."""
    return sa.Column(
        name, sa.Integer, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index
    )


def _timestamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", UTCDateTime, nullable=False, default=_utcnow),
        sa.Column("updated_at", UTCDateTime, nullable=False, default=_utcnow),
    ]


def _coordinates() -> list[Any]:
    return [
        sa.Column("commune_code", sa.String(5), index=True),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
        sa.CheckConstraint("commune_code IS NULL OR length(commune_code) = 5", name="commune_code"),
        sa.CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="lon"),
        sa.CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="lat"),
    ]


schema_info = sa.Table(
    "schema_info",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("application", sa.String(32), nullable=False),
    sa.Column("schema_revision", sa.String(32), nullable=False),
    sa.Column("terreau_version", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("upgraded_at", UTCDateTime),
    sa.CheckConstraint("id = 1", name="single_row"),
    comment="Which application and schema revision made this base (one row).",
)

import_batches = sa.Table(
    "import_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(64), nullable=False, index=True),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("file_sha256", sa.String(64), index=True),
    sa.Column("mapping", sa.Text),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("n_read", sa.Integer, nullable=False, default=0),
    sa.Column("n_new", sa.Integer, nullable=False, default=0),
    sa.Column("n_updated", sa.Integer, nullable=False, default=0),
    sa.Column("n_unchanged", sa.Integer, nullable=False, default=0),
    sa.Column("n_quarantined", sa.Integer, nullable=False, default=0),
    sa.Column("details", JSONType),
    sa.CheckConstraint(
        "n_read >= 0 AND n_new >= 0 AND n_updated >= 0 AND n_unchanged >= 0 AND n_quarantined >= 0",
        name="counts",
    ),
    comment="One run of an import of one file.",
)

actors = sa.Table(
    "actors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("name_key", sa.Text, index=True),
    sa.Column("first_name_key", sa.Text),
    sa.Column("last_name_key", sa.Text),
    sa.Column("organisation_name", sa.Text),
    _fk_column("organisation_id", "actors.id", ondelete="SET NULL"),
    sa.Column("acronym", sa.Text),
    sa.Column("org_type", sa.Text),
    sa.Column("siret", sa.String(14), index=True),
    sa.Column("siren", sa.String(9), index=True),
    sa.Column("rna", sa.String(10), index=True),
    sa.Column("email", sa.Text),
    sa.Column("email_key", sa.Text, index=True),
    sa.Column("phone", sa.String(20), index=True),
    sa.Column("url", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("postcode", sa.String(5)),
    *_coordinates(),
    sa.Column("location_precision", sa.String(16)),
    sa.Column("themes", JSONType, nullable=False, default=list),
    sa.Column("description", sa.Text),
    sa.Column("consent_map", sa.Boolean, nullable=False, default=False),
    sa.Column("consent_map_at", UTCDateTime),
    sa.Column("consent_newsletter", sa.Boolean, nullable=False, default=False),
    sa.Column("consent_newsletter_at", UTCDateTime),
    sa.Column("consent_proof", sa.Text),
    _fk_column("merged_into_id", "actors.id", ondelete="RESTRICT"),
    sa.Column("provenance", JSONType, nullable=False, default=dict),
    *_timestamps(),
    _one_of("kind", ACTOR_KINDS),
    _one_of("status", ACTOR_STATUSES),
    _one_of("location_precision", LOCATION_PRECISIONS),
    sa.CheckConstraint(
        "(status = 'merged' AND merged_into_id IS NOT NULL AND merged_into_id <> id)"
        " OR (status <> 'merged' AND merged_into_id IS NULL)",
        name="merged_into",
    ),
    sa.CheckConstraint("siret IS NULL OR length(siret) = 14", name="siret"),
    sa.CheckConstraint("siren IS NULL OR length(siren) = 9", name="siren"),
    sa.CheckConstraint("rna IS NULL OR (length(rna) = 10 AND rna LIKE 'W%')", name="rna"),
    sa.Index(None, "last_name_key", "first_name_key"),
    sa.Index(None, "kind", "status"),
    sa.Index(None, "updated_at"),
    comment="Golden records: one row per person or organisation (absorbed ones kept, status merged).",
)

source_records = sa.Table(
    "source_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("source_key", sa.Text, nullable=False),
    _fk_column("batch_id", "import_batches.id", ondelete="RESTRICT", nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("raw", JSONType, nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    sa.Column("fields", JSONType),
    sa.Column("status", sa.String(16), nullable=False, default="ok"),
    sa.Column("reason", sa.Text),
    _fk_column("actor_id", "actors.id", ondelete="RESTRICT"),
    _fk_column("organisation_actor_id", "actors.id", ondelete="RESTRICT"),
    # the sure key by which the import attached the record to an actor an earlier record had (null: the
    # actor was created for it): « email » for persons, « siren » / « rna » / « contact » for organisations
    sa.Column("actor_rule", sa.String(16)),
    sa.Column("organisation_rule", sa.String(16)),
    *_timestamps(),
    sa.UniqueConstraint("source", "source_key"),
    _one_of("status", RECORD_STATUSES),
    sa.CheckConstraint("status <> 'quarantined' OR reason IS NOT NULL", name="reason"),
    sa.CheckConstraint("line >= 1", name="line"),
    sa.Index(None, "status", "source"),
    sa.Index(None, "file_name", "line"),
    comment="Every imported row, raw values kept; never deleted by linkage.",
)

merges = sa.Table(
    "merges",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("kept_id", "actors.id", ondelete="RESTRICT", nullable=False),
    _fk_column("absorbed_id", "actors.id", ondelete="RESTRICT", nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("rule", sa.Text),
    sa.Column("score", sa.Float),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("merged_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("snapshot", JSONType, nullable=False),
    sa.Column("undone_at", UTCDateTime),
    sa.Column("undone_by", sa.String(128)),
    _one_of("method", MERGE_METHODS),
    sa.CheckConstraint("kept_id <> absorbed_id", name="distinct"),
    sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score"),
    sa.CheckConstraint("(undone_at IS NULL) = (undone_by IS NULL)", name="undone"),
    # an actor is absorbed by at most one merge in force
    sa.Index(
        "uq_merges_absorbed_in_force",
        "absorbed_id",
        unique=True,
        sqlite_where=sa.text("undone_at IS NULL"),
        postgresql_where=sa.text("undone_at IS NULL"),
    ),
    sa.Index(None, "undone_at"),  # the undone merges, found without reading every snapshot
    comment="Linkage decisions; snapshot holds every row the merge changed, for an exact undo.",
)

not_duplicates = sa.Table(
    "not_duplicates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("actor_a_id", "actors.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_b_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("actor_a_id", "actor_b_id"),
    sa.CheckConstraint("actor_a_id < actor_b_id", name="ordered"),
    comment="Pairs declared distinct by a person: never proposed again (smaller id first).",
)

review_pairs = sa.Table(
    "review_pairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("actor_a_id", "actors.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_b_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("details", JSONType, nullable=False, default=dict),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("decision", sa.String(16)),
    sa.Column("who", sa.String(128)),
    sa.Column("queued_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("decided_at", UTCDateTime),
    _fk_column("merge_id", "merges.id", ondelete="SET NULL"),
    sa.UniqueConstraint("actor_a_id", "actor_b_id"),
    sa.CheckConstraint("actor_a_id < actor_b_id", name="ordered"),
    _one_of("kind", ACTOR_KINDS),
    _one_of("status", REVIEW_STATUSES),
    _one_of("decision", REVIEW_DECISIONS),
    sa.CheckConstraint("score >= 0 AND score <= 1", name="score"),
    sa.CheckConstraint(
        "(status = 'pending' AND decision IS NULL AND decided_at IS NULL)"
        " OR (status = 'decided' AND decision IS NOT NULL AND decided_at IS NOT NULL AND who IS NOT NULL)",
        name="decided",
    ),
    sa.Index(None, "status", "queued_at"),
    comment=(
        "Pairs of actors linkage is unsure about (smaller id first), waiting for a person's"
        " decision (meme / differents); queued_at orders the queue (« passer » moves a pair to the end)."
    ),
)

communities = sa.Table(
    "communities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("theme", sa.String(64), index=True),
    sa.Column("directorate", sa.Text),
    sa.Column("jardinier_region", sa.Text),
    _fk_column("jardinier_acteurs_id", "actors.id", ondelete="SET NULL"),
    sa.Column("cultivateur", sa.Text),
    sa.Column("start_date", sa.Date),
    sa.Column("newsletter_list", sa.Text),
    sa.Column("description", sa.Text),
    *_timestamps(),
    comment="Communities of citizen engagement and their binôme of jardiniers.",
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("community_id", "communities.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("computed_circle", sa.SmallInteger),
    sa.Column("computed_at", UTCDateTime),
    sa.Column("override_circle", sa.SmallInteger),
    sa.Column("override_reason", sa.Text),
    sa.Column("override_by", sa.String(128)),
    sa.Column("override_at", UTCDateTime),
    sa.Column("circle_since", sa.Date),
    sa.Column("last_activity_on", sa.Date),
    # fingerprint of the member's computed history (carto.communities): a recomputation rewrites the history
    # of the members whose fingerprint changed, without reading the others'
    sa.Column("history_hash", sa.BigInteger),
    sa.Column("charter_signed", sa.Boolean, nullable=False, default=False),
    sa.Column("charter_signed_on", sa.Date),
    sa.Column("notes", sa.Text),
    *_timestamps(),
    sa.UniqueConstraint("community_id", "actor_id"),
    _one_of("computed_circle", CIRCLES),
    _one_of("override_circle", CIRCLES),
    sa.CheckConstraint(
        "override_circle IS NULL OR (override_reason IS NOT NULL AND override_by IS NOT NULL"
        " AND override_at IS NOT NULL)",
        name="override",
    ),
    sa.CheckConstraint("charter_signed_on IS NULL OR charter_signed", name="charter"),
    sa.Index(None, "community_id", "computed_circle"),
    comment=(
        "Actor × community: computed cercle (NULL: left every cercle), jardinier override"
        " (with reason, author, date; effective cercle = override if set), charter."
    ),
)

membership_history = sa.Table(
    "membership_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("community_id", "communities.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("changed_on", sa.Date, nullable=False),
    sa.Column("from_circle", sa.SmallInteger),
    sa.Column("to_circle", sa.SmallInteger),
    sa.Column("transition", sa.String(16), nullable=False),
    sa.Column("by_override", sa.Boolean, nullable=False, default=False),
    sa.Column("who", sa.String(128)),
    sa.Column("reason", sa.Text),
    sa.Column("recorded_at", UTCDateTime, nullable=False, default=_utcnow),
    _one_of("from_circle", CIRCLES),
    _one_of("to_circle", CIRCLES),
    _one_of("transition", TRANSITIONS),
    sa.CheckConstraint(
        "(from_circle IS NOT NULL OR to_circle IS NOT NULL)"
        " AND (from_circle IS NULL OR to_circle IS NULL OR from_circle <> to_circle)",
        name="change",
    ),
    sa.Index(None, "community_id", "changed_on"),
    comment="Dated cercle transitions (entry: from NULL, exit: to NULL; 1 is the most engaged).",
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(64)),
    sa.Column("source_key", sa.Text),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False, index=True),
    sa.Column("ends_on", sa.Date),
    sa.Column("place", sa.Text),
    *_coordinates(),
    _fk_column("community_id", "communities.id", ondelete="SET NULL"),
    sa.Column("theme", sa.String(64), index=True),
    sa.Column("description", sa.Text),
    *_timestamps(),
    sa.UniqueConstraint("source", "source_key"),
    _one_of("kind", EVENT_KINDS),
    sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
    sa.CheckConstraint("(source IS NULL) = (source_key IS NULL)", name="natural_key"),
    comment="Events; those read from files carry their natural key (source, source_key).",
)

participations = sa.Table(
    "participations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("event_id", "events.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("role", sa.String(16), nullable=False, default="participant"),
    sa.Column("signed", sa.Boolean),
    _fk_column("source_record_id", "source_records.id", ondelete="SET NULL"),
    *_timestamps(),
    sa.UniqueConstraint("event_id", "actor_id", "role"),
    _one_of("role", PARTICIPATION_ROLES),
    comment="Actor × event × role.",
)

workshops = sa.Table(
    "workshops",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("held_on", sa.Date, nullable=False, index=True),
    sa.Column("directorate", sa.Text),
    sa.Column("theme", sa.String(64)),
    _fk_column("community_id", "communities.id", ondelete="SET NULL"),
    sa.Column("facilitators", JSONType, nullable=False, default=list),
    sa.Column("participants", JSONType, nullable=False, default=list),
    sa.Column("notes", sa.Text),
    sa.Column("who", sa.String(128), nullable=False),
    *_timestamps(),
    comment="Net-Map cartography workshops.",
)

relations = sa.Table(
    "relations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("source_id", "actors.id", ondelete="CASCADE", nullable=False),
    _fk_column("target_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("type", sa.String(64), nullable=False, index=True),
    sa.Column("directed", sa.Boolean, nullable=False, default=True),
    sa.Column("weight", sa.Float, nullable=False, default=1.0),
    sa.Column("provenance", sa.String(16), nullable=False),
    _fk_column("workshop_id", "workshops.id", ondelete="RESTRICT"),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
    sa.Column("notes", sa.Text),
    sa.Column("who", sa.String(128), nullable=False),
    *_timestamps(),
    _one_of("provenance", RELATION_PROVENANCES),
    sa.CheckConstraint("source_id <> target_id", name="no_loop"),
    sa.CheckConstraint("weight > 0", name="weight"),
    sa.CheckConstraint("length(type) > 0", name="type"),
    sa.CheckConstraint("(provenance = 'workshop') = (workshop_id IS NOT NULL)", name="workshop"),
    sa.CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="dates"),
    comment="Typed links between actors (connaît, partenaire, membre de, finance, relais…).",
)

workshop_actors = sa.Table(
    "workshop_actors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("workshop_id", "workshops.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("is_new", sa.Boolean, nullable=False, default=False),
    sa.Column("note", sa.Text),
    sa.UniqueConstraint("workshop_id", "actor_id"),
    comment="Actors placed on the map during a workshop (is_new: added by it).",
)

workshop_goals = sa.Table(
    "workshop_goals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("workshop_id", "workshops.id", ondelete="CASCADE", nullable=False, index=False),
    sa.Column("position", sa.Integer, nullable=False, default=1),
    sa.Column("label", sa.Text, nullable=False),
    sa.UniqueConstraint("workshop_id", "label"),
    comment="Net-Map goals of a workshop.",
)

workshop_influence = sa.Table(
    "workshop_influence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("goal_id", "workshop_goals.id", ondelete="CASCADE", nullable=False, index=False),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("influence", sa.Integer, nullable=False),
    sa.Column("stance", sa.String(16)),
    sa.Column("note", sa.Text),
    sa.UniqueConstraint("goal_id", "actor_id"),
    sa.CheckConstraint("influence >= 0", name="influence"),
    _one_of("stance", INFLUENCE_STANCES),
    comment="Net-Map influence towers: actor × goal, height and stance.",
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False, index=False),
    sa.Column("list_name", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("consent_proof", sa.Text),
    sa.Column("consent_at", UTCDateTime),
    sa.Column("source", sa.String(64)),
    _fk_column("source_record_id", "source_records.id", ondelete="SET NULL"),
    *_timestamps(),
    sa.UniqueConstraint("actor_id", "list_name"),
    _one_of("status", SUBSCRIPTION_STATUSES),
    sa.Index(None, "list_name", "status"),
    comment="Actor × newsletter list; blocklisted/unsubscribed is never re-subscribed by an import.",
)

consent_statements = sa.Table(
    "consent_statements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("scope", sa.String(16), nullable=False, default="carte"),
    sa.Column("consent", sa.Boolean, nullable=False),
    sa.Column("stated_at", UTCDateTime, nullable=False),
    sa.Column("proof", sa.Text, nullable=False),
    _fk_column("source_record_id", "source_records.id", ondelete="SET NULL"),
    sa.Column("who", sa.String(128)),
    sa.Column("created_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.UniqueConstraint("source_record_id", "scope"),
    _one_of("scope", CONSENT_SCOPES),
    comment="Every statement of an actor's consent (to be shown on a map…), with its date and proof; "
            "actors.consent_map is the latest one (carto.privacy).",
)

network_metrics = sa.Table(
    "network_metrics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    _fk_column("community_id", "communities.id", ondelete="CASCADE", index=False),
    _fk_column("actor_id", "actors.id", ondelete="CASCADE", nullable=False),
    sa.Column("computed_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("parameters", JSONType, nullable=False, default=dict),
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
    sa.Index(None, "community_id", "computed_at"),
    comment="Network metrics of each actor, stored for reuse (carto.network.store_metrics): one set per "
            "community (community_id NULL: the whole base), replaced at each computation; derived data.",
)

linkage_models = sa.Table(
    "linkage_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("trained_at", UTCDateTime, nullable=False, default=_utcnow),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("columns", JSONType, nullable=False),
    sa.Column("model", JSONType, nullable=False),
    sa.Column("n_units", sa.Integer, nullable=False),
    sa.Column("n_labels", sa.Integer, nullable=False, default=0),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    _one_of("kind", ACTOR_KINDS),
    sa.Index(None, "kind", "active"),
    comment="Trained linkage models (Splink JSON) per kind of actor: the active one scores new records; "
            "older ones are kept to compare parameters after a retraining (carto.linkage.model_drift).",
)

link_runs = sa.Table(
    "link_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=False),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("last_batch_id", sa.Integer, nullable=False, default=0),
    sa.Column("report", JSONType, nullable=False, default=dict),
    sa.Column("seconds", sa.Float, nullable=False, default=0.0),
    sa.CheckConstraint("mode IN ('incremental', 'full')", name="mode"),
    comment="Runs of carto.linkage.link: the import batches up to last_batch_id are linked; later ones are new.",
)

link_keys = sa.Table(
    "link_keys",
    metadata,
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("key", sa.BigInteger, nullable=False),
    sa.Column("unit", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("kind", "key", "unit"),
    sa.Index(None, "unit"),
    sqlite_with_rowid=False,
    comment="Blocking keys of the units of linkage (64-bit hashes of blocking-rule values; unit: source record "
            "id, or minus the id of an actor made by hand): the candidates of new records, found by index.",
)


audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("transaction_id", sa.String(32), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("table_name", sa.String(64), index=True),
    sa.Column("row_count", sa.Integer),
    sa.Column("row_ids", JSONType),
    sa.Column("details", JSONType),
    comment="Who wrote what, when, on which rows; one or more rows per transaction.",
)
