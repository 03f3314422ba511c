"""What hangs on actors, how a merge re-points it (set-based, with snapshots) and how an undo writes it back."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import store


@dataclass(frozen=True)
class _Dependent:
    """A table whose rows hang on actors, and how a merge re-points them."""

    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...] | None = None  # unique with the actor column: conflicts possible
    partial: bool = False  # snapshot only id + actor columns (the rows are never deleted)


#: Every foreign key to ``actors.id`` a merge re-points (``merges``, ``not_duplicates``,
#: ``review_pairs`` and ``actors.merged_into_id`` describe linkage itself).
_DEPENDENTS = (
    _Dependent("participations", ("actor_id",), ("event_id", "role")),
    _Dependent("subscriptions", ("actor_id",), ("list_name",)),
    _Dependent("memberships", ("actor_id",), ("community_id",)),
    _Dependent("workshop_actors", ("actor_id",), ("workshop_id",)),
    _Dependent("workshop_influence", ("actor_id",), ("goal_id",)),
    _Dependent("membership_history", ("actor_id",), partial=True),
    _Dependent("relations", ("source_id", "target_id")),
    _Dependent("communities", ("jardinier_acteurs_id",), partial=True),
    _Dependent("actors", ("organisation_id",), partial=True),
    _Dependent("source_records", ("actor_id", "organisation_actor_id"), partial=True),
    _Dependent("consent_statements", ("actor_id",), partial=True),
    # derived data (carto.network.store_metrics), recomputed after merges: the absorbed actor's row moves to the
    # kept actor unless the kept actor has one in the same community, which wins (undo restores both)
    _Dependent("network_metrics", ("actor_id",), ("community_id",)),
)
#: Tables :func:`link` writes whose references are checked in full once before commit (see
#: ``store.transaction``). The bulk tables are left out: scanning them whole at every run cost 3 minutes
#: at 1 M persons, and they only receive ids of the plan's actors, each read in the same transaction and
#: checked to exist and be active (:func:`_apply_plan`); the smaller tables, re-pointed by the same
#: code, are checked.
_BULK_TABLES = frozenset({"source_records", "actors", "participations", "subscriptions", "merges"})
_LINKED_TABLES = tuple(t for t in (*dict.fromkeys(d.table for d in _DEPENDENTS), "review_pairs")
                       if t not in _BULK_TABLES)
#: Foreign keys to actors that merges leave alone.
_LINKAGE_COLUMNS = {
    ("actors", "merged_into_id"),
    ("merges", "kept_id"),
    ("merges", "absorbed_id"),
    ("not_duplicates", "actor_a_id"),
    ("not_duplicates", "actor_b_id"),
    ("review_pairs", "actor_a_id"),
    ("review_pairs", "actor_b_id"),
}


_PLAIN_JSON = frozenset({str, bool, int, list, dict})


def _json_value(value: Any) -> Any:
    """``value`` ready for JSON: NA → None, dates → ISO text, numpy scalars → Python (fast path first)."""
    kind = type(value)
    if kind in _PLAIN_JSON or value is None:
        return value
    if kind is float:
        return None if value != value else value
    if _is_na(value):
        return None
    if isinstance(value, (str, bool, int, float, list, dict)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _frame_json(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts (NA → None, dates → ISO text), column by column."""
    columns = []
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object:
            columns.append([_json_value(v) for v in values.tolist()])
        else:
            present = values.notna().tolist()
            columns.append([_json_value(v) if p else None for v, p in zip(values.tolist(), present)])
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, row)) for row in zip(*columns)]


def _is_na(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, (str, int, list, dict, date)):
        return False
    return bool(pd.isna(value))


@functools.cache
def _column_types(table: sa.Table) -> dict[str, str]:
    """Columns of ``table`` whose values :func:`_row_values` converts: timestamp, date or integer."""
    kinds = {}
    for column in table.c:
        if isinstance(column.type, store.UTCDateTime):
            kinds[column.name] = "timestamp"
        elif isinstance(column.type, sa.Date):
            kinds[column.name] = "date"
        elif isinstance(column.type, sa.Integer):
            kinds[column.name] = "integer"
    return kinds


def _row_values(table: sa.Table, data: Mapping[str, Any]) -> dict[str, Any]:
    """Snapshot row → values to write (dates and timestamps parsed back)."""
    kinds = _column_types(table)
    values = dict(data)
    for name, kind in kinds.items():
        value = values.get(name)
        if value is None:
            continue
        if kind == "timestamp" and isinstance(value, str):
            values[name] = datetime.fromisoformat(value)
        elif kind == "date" and isinstance(value, str):
            values[name] = date.fromisoformat(value)
        elif kind == "integer" and isinstance(value, float) and value.is_integer():
            values[name] = int(value)  # an integer column read with NULLs comes back as floats
    return values


def _update_rows(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE rows by id (executemany); every row gives the same columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_columns.setdefault(tuple(sorted(k for k in row if k != "id")), []).append(row)
    for columns, group in by_columns.items():
        if not columns:
            continue
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("_id"))
            .values({c: sa.bindparam(f"_v_{c}", type_=table.c[c].type) for c in columns})
        )
        conn.execute(statement, [{"_id": r["id"], **{f"_v_{c}": r[c] for c in columns}} for r in group])


#: Restrictiveness of subscription statuses (the higher wins a merge).
_SUBSCRIPTION_RANK = {"subscribed": 0, "unsubscribed": 1, "blocklisted": 2}
_SIGNED_ORDER = {True: 2, False: 1}


def _combine(dependent: _Dependent, kept_row: dict[str, Any], absorbed_row: dict[str, Any]) -> dict[str, Any]:
    """Values of the kept actor's row after absorbing a conflicting row (only what changes)."""
    changes: dict[str, Any] = {}
    if dependent.table == "subscriptions":
        if _SUBSCRIPTION_RANK[absorbed_row["status"]] > _SUBSCRIPTION_RANK[kept_row["status"]]:
            for column in ("status", "status_at", "source", "source_record_id", "consent_proof", "consent_at"):
                changes[column] = absorbed_row[column]
    elif dependent.table == "participations":
        values = [v for v in (kept_row["signed"], absorbed_row["signed"]) if v is not None and not _is_na(v)]
        if values:
            signed = max(values, key=lambda v: _SIGNED_ORDER[bool(v)])
            if signed != kept_row["signed"]:
                changes["signed"] = bool(signed)
    elif dependent.table == "memberships":
        if absorbed_row["charter_signed"] and not kept_row["charter_signed"]:
            changes["charter_signed"] = True
            changes["charter_signed_on"] = absorbed_row["charter_signed_on"]
        # a jardinier's override and notes are never lost: the kept actor takes them if it has none
        if not _is_na(absorbed_row["override_circle"]) and _is_na(kept_row["override_circle"]):
            for column in ("override_circle", "override_reason", "override_by", "override_at"):
                changes[column] = absorbed_row[column]
        notes = [n for n in (kept_row["notes"], absorbed_row["notes"]) if not _is_na(n) and n]
        if len(notes) == 2 and notes[0] != notes[1]:
            changes["notes"] = "\n".join(notes)
        elif notes and _is_na(kept_row["notes"]):
            changes["notes"] = notes[0]
    return {k: (None if _is_na(v) else v) for k, v in changes.items()}


def _merge_map(conn: Any, order: Sequence[tuple[int, int]]) -> sa.Table:
    """Temporary table of a plan: every actor involved, where it ends up and which merge absorbs it.

    ``position`` is 1 + the index in ``order`` of the merge absorbing the actor,
    0 for a kept actor. The set-based statements of :func:`_repoint` and
    :func:`_apply_plan` join on it.
    """
    table = sa.Table(
        "_carto_merge_map", sa.MetaData(),
        sa.Column("actor_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kept_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        prefixes=["TEMPORARY"],
    )
    table.drop(conn, checkfirst=True)
    table.create(conn)
    kept = sorted({k for k, _ in order})
    store.insert_rows(conn, table, pd.DataFrame({
        "actor_id": [*kept, *(a for _, a in order)],
        "kept_id": [*kept, *(k for k, _ in order)],
        "position": [0] * len(kept) + list(range(1, len(order) + 1)),
    }))
    return table


def _kept_of(column: Any, merge_map: sa.Table) -> Any:
    """Scalar subquery: the kept actor of the absorbed actor ``column`` names."""
    return sa.select(merge_map.c.kept_id).where(merge_map.c.actor_id == column).scalar_subquery()


def _repointed(table: sa.Table, column: str, merge_map: sa.Table, values: Mapping[str, Any]) -> Any:
    """UPDATE of the rows of ``table`` whose ``column`` names an actor absorbed by the plan.

    Written ``column IN (absorbed)`` so that the base walks the plan's
    actors through the column's index: the cost follows the plan, not the table.
    """
    absorbed = sa.select(merge_map.c.actor_id).where(merge_map.c.position > 0)
    return table.update().values(dict(values)).where(table.c[column].in_(absorbed))


def _repoint(
    conn: Any, dependent: _Dependent, order: Sequence[tuple[int, int]], merge_map: sa.Table
) -> dict[int, dict[str, list[Any]]]:
    """Re-point the rows of one table from absorbed to kept actors; returns each merge's snapshot entries.

    ``order``: the (kept, absorbed) pairs in merge order; ``merge_map`` their
    temporary table (:func:`_merge_map`). A row that merely changes actor —
    nearly all of them — is re-pointed by one set-based ``UPDATE`` per actor
    column; the merge that moves it keeps only its id, under
    ``moved:<table>:<column>`` (before it, that column named the absorbed
    actor). The others are replayed merge after merge in memory
    (:func:`_replay`) and kept whole, under ``<table>:<columns>``: rows that
    would repeat a key of the kept actor (folded, see :func:`_combine`),
    relations that would join an actor to itself (dropped), rows naming two
    absorbed actors. Returns, per index in ``order``, what that merge changed.
    """
    table = store.metadata.tables[dependent.table]
    m = merge_map
    chosen = [table.c[c] for c in ("id", *dependent.columns)] if dependent.partial else list(table.c)
    frames = []
    actors_in = sa.select(m.c.actor_id)
    if not dependent.key:  # keyed tables: the kept actors' rows too (they may be repeated)
        actors_in = actors_in.where(m.c.position > 0)
    for column in dependent.columns:  # `IN (plan)`: walks the column's index, not the whole table
        frames.append(store.read_frame(conn, sa.select(*chosen).where(table.c[column].in_(actors_in))))
    frame = pd.concat(frames, ignore_index=True).drop_duplicates("id").sort_values("id", ignore_index=True)
    if frame.empty:
        return {}
    absorbed = [a for _, a in order]
    position = pd.Series(np.arange(len(order)), index=absorbed)
    kept_of = pd.Series([k for k, _ in order], index=absorbed)
    at = pd.DataFrame({c: frame[c].map(position) for c in dependent.columns})
    moves = at.notna().sum(axis=1)
    ends = [pd.Series(np.where(at[c].notna(), frame[c].map(kept_of), frame[c]), index=frame.index)
            for c in dependent.columns]
    replayed = moves > 1
    if dependent.key:
        replayed |= frame.assign(_end=ends[0]).duplicated(["_end", *dependent.key], keep=False)
    if dependent.table == "relations":
        replayed |= (moves > 0) & (ends[0] == ends[1])
    snapshots: dict[int, dict[str, list[Any]]] = {}
    simple = (moves == 1) & ~replayed
    for column in dependent.columns:
        moved = simple & at[column].notna()
        if moved.any():
            ids = frame.loc[moved, "id"].astype("int64").groupby(at.loc[moved, column].astype(int).to_numpy())
            for index, found in ids:
                snapshots.setdefault(int(index), {})[f"moved:{dependent.table}:{column}"] = found.tolist()
    deleted: set[int] = set()
    updates: list[dict[str, Any]] = []
    if replayed.any():
        replayed_snapshots, deleted, updates = _replay(dependent, _frame_json(frame[replayed]), order)
        for index, rows in replayed_snapshots.items():
            snapshots.setdefault(index, {})[f"{dependent.table}:{'+'.join(dependent.columns)}"] = rows
    if deleted:
        store.delete_in(conn, table, table.c.id, sorted(deleted))
    for column in dependent.columns:
        conn.execute(_repointed(table, column, m, {column: _kept_of(table.c[column], m)}))
    _update_rows(conn, table, [_row_values(table, u) for u in updates])
    return snapshots


def _replay(
    dependent: _Dependent, records: list[dict[str, Any]], order: Sequence[tuple[int, int]]
) -> tuple[dict[int, list[dict[str, Any]]], set[int], list[dict[str, Any]]]:
    """Replay the merges of ``order`` on ``records`` (JSON-ready rows of one table), in memory.

    Each merge re-points the rows naming its absorbed actor, drops a relation
    that would join an actor to itself, and folds a row that repeats one of
    the kept actor's into it (:func:`_combine`). ``records`` must hold every
    row such a fold may meet. Returns the snapshots (per index in ``order``:
    the rows it changed, as they were just before it), the ids of the rows
    deleted and the changes of the others (``id`` and changed columns).
    """
    index_of = {a: i for i, (_, a) in enumerate(order)}
    current = {r["id"]: dict(r) for r in records}
    pointing: dict[int, list[int]] = {}  # absorbed actor → rows naming it (in id order)
    for record in records:
        for actor in dict.fromkeys(record[c] for c in dependent.columns if record[c] in index_of):
            pointing.setdefault(actor, []).append(record["id"])
    keyed: dict[tuple[Any, ...], int] = {}
    if dependent.key:
        (actor_column,) = dependent.columns
        keyed = {(r[actor_column], *(r[k] for k in dependent.key)): r["id"] for r in records}
    deleted: set[int] = set()
    snapshots: dict[int, list[dict[str, Any]]] = {}
    for index in sorted(index_of[a] for a in pointing):
        kept_id, absorbed_id = order[index]
        before: dict[int, dict[str, Any]] = {}
        for row_id in pointing[absorbed_id]:
            if row_id in deleted:
                continue
            record = current[row_id]
            moved = {c: kept_id for c in dependent.columns if record[c] == absorbed_id}
            before.setdefault(row_id, dict(record))
            if dependent.table == "relations" and len({*moved.values(), *(record[c] for c in dependent.columns
                                                                        if c not in moved)}) == 1:
                deleted.add(row_id)
                continue
            if dependent.key:
                key = tuple(record[k] for k in dependent.key)
                del keyed[(absorbed_id, *key)]
                conflict = keyed.get((kept_id, *key))
                if conflict is not None:
                    deleted.add(row_id)
                    change = _combine(dependent, current[conflict], record)
                    if change:
                        before.setdefault(conflict, dict(current[conflict]))
                        current[conflict].update(change)
                    continue
                keyed[(kept_id, *key)] = row_id
            record.update(moved)
        if before:
            snapshots[index] = list(before.values())
    updates = []
    for record in records:
        if record["id"] in deleted:
            continue
        change = {c: v for c, v in current[record["id"]].items() if v != record[c]}
        if change:
            updates.append(change | {"id": record["id"]})
    return snapshots, deleted, updates


def _restore(conn: Any, snapshot: Mapping[str, Any], *, absorbed_id: int) -> None:
    """Write back what a merge changed (see :func:`_repoint`).

    ``moved:<table>:<column>``: ids of rows whose column named the absorbed
    actor; ``<table>:<columns>`` and ``actors``: rows as they were (update
    existing ids, re-insert deleted ones).
    """
    for key, rows in snapshot.items():
        if not rows:
            continue
        if key.startswith("moved:"):
            _, name, column = key.split(":")
            table = store.metadata.tables[name]
            for start in range(0, len(rows), store.IN_CHUNK):
                conn.execute(table.update().values({column: absorbed_id})
                             .where(table.c.id.in_(rows[start:start + store.IN_CHUNK])))
            continue
        table = store.metadata.tables[key.split(":")[0]]
        ids = [r["id"] for r in rows]
        existing = set(store.select_in(conn, sa.select(table.c.id), table.c.id, ids)["id"])
        values = [_row_values(table, r) for r in rows]
        _update_rows(conn, table, [v for v in values if v["id"] in existing])
        missing = [v for v in values if v["id"] not in existing]
        if missing:
            conn.execute(table.insert(), missing)
