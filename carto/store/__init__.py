"""The base: engine, schema, transactions and audit log.

One relational base holds everything Terreau knows: the imported source
records, the golden records of actors, the linkage decisions, communities and
their members, events, relations, workshops, newsletter subscriptions and the
audit log. It is a **SQLite file by default** (``data/base.sqlite``, WAL mode,
foreign keys on) and **PostgreSQL by URL** (``CARTO_DATABASE_URL``); the same
SQLAlchemy Core code serves both.

Schema decisions
----------------
- Integer surrogate primary keys everywhere; rows that come from files also
  carry a **natural key** with a unique constraint (``source_records``:
  ``(source, source_key)``; ``events``: ``(source, source_key)``), so that a
  re-import updates instead of duplicating (see :func:`upsert`).
- Enumerations are ``CHECK`` constraints (the allowed values are the
  module-level tuples such as :data:`ACTOR_KINDS`), so a bad value is refused
  by the base itself, whatever wrote it. Relation types are an open list (a
  workshop names its own link types) and are not constrained.
- Foreign keys, ``ON DELETE`` chosen deliberately: an actor is only ever
  deleted on a request for erasure, so what *describes* the actor
  (memberships and their history, participations, relations, subscriptions,
  workshop placements) is deleted with it (``CASCADE``); what *traces* where
  the actor came from (``source_records``, ``merges``) blocks the deletion
  (``RESTRICT``) so that an erasure has to deal with it explicitly and never
  leaves raw data behind. Merges never delete actors: the absorbed actor stays,
  with ``status = 'merged'`` and ``merged_into_id``, and the merge keeps a JSON
  ``snapshot`` of every row it changed so that undo is exact. Optional links
  (a person's organisation, an event's community) are ``SET NULL``.
  ``audit_log`` has no foreign key: it outlives the rows it talks about.
- Timestamps are timezone-aware and stored in UTC (:class:`UTCDateTime`);
  JSON columns are ``JSONB`` on PostgreSQL (comparable, indexable) and JSON
  text on SQLite.
- Schema versions are managed by Alembic (``carto/migrations``): a new base is
  created from :data:`metadata` and stamped at the head revision. An older
  base is upgraded by :func:`open_base` as by :func:`init_base` (``carto
  init``), always after a backup copy (:func:`backup_base`: SQLite's online
  backup API to ``<base>.avant-<revision>-<date>.sqlite`` next to the file,
  ``pg_dump --format=custom`` into ``<data_dir>/sauvegardes`` for PostgreSQL;
  no copy, no upgrade), in one transaction with its audit row; the upgrade is
  logged in French (INFO) and told by :func:`last_upgrade`. A base made by a
  newer Terreau is refused, untouched, with a French message.

Writes
------
Every write goes through :func:`transaction`: one database transaction that
also writes its ``audit_log`` rows (described with :func:`audit`); any
exception rolls everything back. Bulk writes use :func:`insert_rows` and
:func:`upsert` (idempotent ``INSERT … ON CONFLICT`` on the natural key), which
stage each chunk in a temporary table (SQLite ``executemany``, PostgreSQL
``COPY``) — about 100 000 rows/s on SQLite (``benchmarks/store_bulk.py``).

Modules
-------
The names are all reachable here (``carto.store.X``); the code lives in
sub-modules, each importing only those above it:

- :mod:`carto.store.schema`: :data:`metadata`, its tables, :class:`UTCDateTime`
  and the allowed values (:data:`ACTOR_KINDS`…);
- :mod:`carto.store.engine`: URLs, :func:`connect`, SQLite pragmas and WAL,
  :func:`display_url`, writer connections;
- :mod:`carto.store.transactions`: :func:`transaction`, :func:`audit`,
  :func:`base_summary`;
- :mod:`carto.store.backup`: :func:`backup_base`, the copy made before an upgrade;
- :mod:`carto.store.versions`: Alembic revisions, :func:`init_base`,
  :func:`open_base`, :func:`last_upgrade`, :data:`SCHEMA_VERSION`;
- :mod:`carto.store.bulk`: :func:`insert_rows`, :func:`upsert`,
  :func:`select_in`, :func:`delete_in`, :func:`reserve_ids`, :func:`read_frame`.

Examples
--------
>>> from carto import store
>>> engine = store.init_base("sqlite://", who="doctest")
>>> with store.transaction(engine, action="exemple", who="doctest") as conn:
...     _ = conn.execute(store.communities.insert().values(slug="biodiversite", name="Biodiversité"))
>>> store.base_summary(engine)["communities"]
1
"""

from __future__ import annotations

# In the order of the layers. Some names are reachable here outside __all__, as when the store was one
# module, because the rest of Terreau, the migrations and the tests use them (``X as X``). MIGRATIONS_DIR and
# IN_CHUNK are read where they are defined: a test that changes them patches carto.store.versions or
# carto.store.bulk. carto.store.versions comes last: reading the head revision at import loads the migration
# scripts, which import JSONType and UTCDateTime from here.
from carto.settings import PACKAGE_DIR as PACKAGE_DIR
from carto.store.schema import (
    ACTOR_KINDS,
    ACTOR_STATUSES,
    APPLICATION,
    CIRCLES,
    CONSENT_SCOPES,
    EVENT_KINDS,
    INFLUENCE_STANCES,
    LOCATION_PRECISIONS,
    MERGE_METHODS,
    PARTICIPATION_ROLES,
    RECORD_STATUSES,
    RELATION_PROVENANCES,
    REVIEW_DECISIONS,
    REVIEW_STATUSES,
    SUBSCRIPTION_STATUSES,
    TRANSITIONS,
    UTCDateTime,
    actors,
    audit_log,
    communities,
    consent_statements,
    events,
    import_batches,
    membership_history,
    memberships,
    merges,
    metadata,
    network_metrics,
    linkage_models,
    link_runs,
    link_keys,
    not_duplicates,
    participations,
    relations,
    review_pairs,
    schema_info,
    source_records,
    subscriptions,
    workshop_actors,
    workshop_goals,
    workshop_influence,
    workshops,
)
from carto.store.schema import JSONType as JSONType
from carto.store.engine import connect, display_url
from carto.store.engine import _json_dumps as _json_dumps
from carto.store.engine import _write_connection as _write_connection
from carto.store.transactions import audit, base_summary, transaction
from carto.store.transactions import AUDIT_MAX_IDS as AUDIT_MAX_IDS
from carto.store.bulk import delete_in, insert_rows, select_in, upsert
from carto.store.bulk import CHUNK_SIZE as CHUNK_SIZE
from carto.store.bulk import IN_CHUNK as IN_CHUNK
from carto.store.bulk import _sqlite_utc_text as _sqlite_utc_text
from carto.store.bulk import read_frame as read_frame
from carto.store.bulk import reserve_ids as reserve_ids
from carto.store.backup import backup_base
from carto.store.versions import SCHEMA_VERSION, SchemaUpgrade, init_base, last_upgrade, open_base, schema_revision
from carto.store.versions import MIGRATIONS_DIR as MIGRATIONS_DIR
from carto.store.versions import _alembic_config as _alembic_config

__all__ = [
    "metadata",
    "connect",
    "init_base",
    "open_base",
    "last_upgrade",
    "SchemaUpgrade",
    "backup_base",
    "transaction",
    "audit",
    "base_summary",
    "display_url",
    "insert_rows",
    "select_in",
    "delete_in",
    "upsert",
    "schema_revision",
    "SCHEMA_VERSION",
    "UTCDateTime",
    "APPLICATION",
    "ACTOR_KINDS",
    "ACTOR_STATUSES",
    "RECORD_STATUSES",
    "MERGE_METHODS",
    "CIRCLES",
    "TRANSITIONS",
    "EVENT_KINDS",
    "PARTICIPATION_ROLES",
    "RELATION_PROVENANCES",
    "INFLUENCE_STANCES",
    "SUBSCRIPTION_STATUSES",
    "CONSENT_SCOPES",
    "REVIEW_STATUSES",
    "REVIEW_DECISIONS",
    "LOCATION_PRECISIONS",
    "import_batches",
    "source_records",
    "actors",
    "merges",
    "not_duplicates",
    "review_pairs",
    "communities",
    "memberships",
    "membership_history",
    "events",
    "participations",
    "workshops",
    "relations",
    "workshop_actors",
    "workshop_goals",
    "workshop_influence",
    "subscriptions",
    "consent_statements",
    "network_metrics",
    "linkage_models",
    "link_runs",
    "link_keys",
    "audit_log",
    "schema_info",
]

