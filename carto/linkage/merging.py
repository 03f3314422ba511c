"""Merges on the base: survivorship (golden records), applying a plan, and the public merge API."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import _fr, privacy, store
from carto._errors import CartoError
from carto.linkage.repoint import (_DEPENDENTS, _is_na, _json_value, _kept_of, _merge_map, _repoint, _repointed,
                                   _restore)
from carto.linkage.units import _actor_frame, _links, _records, _units, active_actors


#: Default source priority of survivorship (first wins; unlisted sources come after).
SOURCE_PRIORITY = ("lreav", "dispositifs", "jeparticipe", "newsletter", "emargement")
#: Actor columns that survivorship computes (from records, then the actors' own values).
_GOLDEN = {
    "personne": (
        "first_name", "last_name", "first_name_key", "last_name_key", "name_key", "email", "email_key",
        "phone", "postcode", "commune_code", "organisation_id", "organisation_name", "description", "url",
        "address",
    ),
    "organisation": (
        "organisation_name", "name_key", "acronym", "siret", "siren", "rna", "org_type", "address",
        "postcode", "commune_code", "url", "email", "email_key", "phone", "description", "themes",
    ),
}


def _golden_states(
    units: pd.DataFrame, members: pd.DataFrame, *, kind: str, priority: Sequence[str], first: int = 1
) -> pd.DataFrame:
    """Golden values of each group after each of its merges: survivorship over its records and actors.

    ``members`` are the actor rows with ``group`` (the kept actor) and
    ``position`` (0 for the kept actor, then 1, 2… in merge order); ``units``
    carry ``group`` and ``position`` too. Order of preference: source rank in
    ``priority`` (unlisted sources after, actors' own values last), most
    recent ``date``, most complete record, smallest id. Returns one row per
    group and ``state`` ≥ 1 (the group made of its actors of position ≤
    ``state``) with the golden columns and ``provenance`` (field → source):
    candidates are sorted once, and the best one of each state is a running
    minimum over positions. ``first=0`` also gives state 0 (the kept actor
    alone, with its records: :func:`_refresh`).
    """
    columns = list(_GOLDEN[kind])
    rank = {name: i for i, name in enumerate(priority)}
    records = units.copy()
    for column in columns:
        if column not in records.columns:
            records[column] = None
    records["_rank"] = records["source"].map(rank).fillna(len(priority)).astype(int)
    records["_order"] = records["unit"]
    own = members.copy()
    own["source"] = own["provenance"].map(lambda p: p if isinstance(p, dict) else {})
    own["_rank"] = len(priority) + 1
    own["date"] = None
    own["_order"] = own["id"]
    kept = ["group", "position", "source", "date", "_rank", "_order", *columns]
    candidates = pd.concat([records[kept], own[kept]], ignore_index=True)
    if "themes" in columns:
        candidates["themes"] = candidates["themes"].map(lambda t: t if isinstance(t, list) and t else None)
    candidates["_date"] = pd.to_datetime(candidates["date"], errors="coerce")
    candidates["_complete"] = -candidates[columns].notna().sum(axis=1)
    candidates = candidates.sort_values(
        ["group", "_rank", "_date", "_complete", "_order"],
        ascending=[True, True, False, True, True],
        na_position="last",
    ).reset_index(drop=True)
    sizes = members.groupby("group", sort=True)["position"].max()
    grid = pd.MultiIndex.from_arrays(
        [np.repeat(sizes.index.to_numpy(), sizes.to_numpy() + 1),
         np.concatenate([np.arange(n + 1) for n in sizes.to_numpy()])],
        names=["group", "position"],
    )
    states = grid.to_frame(index=False)
    later = (states["position"] >= first).to_numpy()
    seq = pd.Series(np.arange(len(candidates)), index=candidates.index)
    keys = [candidates["group"], candidates["position"]]
    has_source = candidates["source"].notna()

    def best(mask: pd.Series) -> np.ndarray:
        """Per state, the first candidate (sorted position) among those of ``mask``, -1 if none."""
        first = seq[mask].groupby([k[mask] for k in keys]).min().reindex(grid)
        running = first.fillna(np.inf).groupby(level="group").cummin().to_numpy()[later]
        return np.where(np.isfinite(running), running, -1).astype(np.int64)

    golden = states[later].reset_index(drop=True).rename(columns={"position": "state"})
    sources = candidates["source"].to_numpy(dtype=object)
    own_source = np.array([isinstance(x, dict) for x in sources], dtype=bool)  # an actor's own provenance
    origins = []
    for column in columns:
        present = candidates[column].notna()
        values = candidates[column].to_numpy(dtype=object)
        chosen = best(present)
        golden[column] = pd.Series(np.where(chosen >= 0, values[np.maximum(chosen, 0)], None), dtype=object)
        picked = best(present & has_source)
        origin = np.where(picked >= 0, sources[np.maximum(picked, 0)], None)
        for row in np.flatnonzero((picked >= 0) & own_source[np.maximum(picked, 0)]).tolist():
            origin[row] = origin[row].get(column)
        origins.append(origin)
    golden["provenance"] = [{c: o for c, o in zip(columns, found) if o} for found in zip(*origins)]
    return golden


def _state_points(golden: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """lon, lat, location_precision of each golden state for its commune.

    The point of the group's first actor (smallest id, among the actors of the
    state) located in that commune, else the commune's point.
    """
    out = golden[["group", "state", "commune_code"]].copy()
    out["lon"] = out["lat"] = out["location_precision"] = None
    located = members[members["lon"].notna() & members["commune_code"].notna()]
    asked = out[out["commune_code"].notna()]
    if len(located) and len(asked):
        located = located.sort_values(["group", "commune_code", "position"])
        first = located.groupby(["group", "commune_code"], sort=False)["id"].cummin()
        found = located.set_index("id")[["lon", "lat", "location_precision"]].loc[first.to_numpy()]
        right = pd.DataFrame({"group": located["group"].to_numpy(), "commune_code": located["commune_code"].astype(str),
                              "position": located["position"].to_numpy(), **{c: found[c].to_numpy() for c in found}})
        left = asked[["group", "state", "commune_code"]].reset_index().astype({"commune_code": str})
        matched = pd.merge_asof(
            left.sort_values("state"), right.sort_values("position"), left_on="state", right_on="position",
            by=["group", "commune_code"], direction="backward",
        ).set_index("index")
        for column in ("lon", "lat", "location_precision"):
            out.loc[matched.index, column] = matched[column].astype(object).to_numpy()
    missing = out["lon"].isna() & out["commune_code"].notna()
    if missing.any():
        from carto import geo

        points = geo.communes().set_index("code")
        codes = out.loc[missing, "commune_code"]
        out.loc[missing, "lon"] = points["lon"].reindex(codes).to_numpy()
        out.loc[missing, "lat"] = points["lat"].reindex(codes).to_numpy()
        out.loc[missing & out["lon"].notna(), "location_precision"] = "commune"
    return out.astype(object).where(out.notna(), None)


#: Columns of the kept actor a merge may change (besides the golden columns of its kind).
_STATE_COLUMNS = ("display_name", "lon", "lat", "location_precision", "provenance", "updated_at")


def _group_states(
    golden: pd.DataFrame, members: pd.DataFrame, *, kind: str, now: datetime
) -> pd.DataFrame:
    """Rows the kept actor takes after each merge, indexed by (group, state): golden values, name, point."""
    points = _state_points(golden, members)
    states = golden[["group", "state", *_GOLDEN[kind]]].copy()
    for column in ("lon", "lat", "location_precision"):
        states[column] = points[column].to_numpy()
    original = members.set_index("id")
    if kind == "personne":
        name = (states["first_name"].fillna("").astype(str) + " "
                + states["last_name"].fillna("").astype(str)).str.strip()
    else:
        name = states["organisation_name"].fillna("").astype(str)
        states["themes"] = [t if t is not None else [] for t in states["themes"]]
    states["display_name"] = name.where(name != "", states["group"].map(original["display_name"]))
    if "organisation_id" in states.columns:
        states["organisation_id"] = pd.Series([None if _is_na(v) else int(v) for v in states["organisation_id"]],
                                              index=states.index, dtype=object)
    kept_provenance = states["group"].map(original["provenance"]).tolist()
    states["provenance"] = [dict(k if isinstance(k, dict) else {}) | p
                            for k, p in zip(kept_provenance, golden["provenance"])]
    states["updated_at"] = now
    return states.astype(object).where(states.notna(), None).set_index(["group", "state"])


def _kept_snapshots(
    states: pd.DataFrame, members: pd.DataFrame, kept_ids: list[int], rounds: list[int]
) -> list[dict[str, Any]]:
    """The kept actor's row before each merge, reduced to the columns that merge changes (and ``id``).

    Before the first merge of a group: the actor as read; before a later one:
    the state the previous merge left (see :func:`_group_states`).
    """
    columns = list(states.columns)
    after = states.reindex(list(zip(kept_ids, [r + 1 for r in rounds])))
    prior = states.reindex(list(zip(kept_ids, rounds)))
    own = members.set_index("id").reindex(kept_ids)
    first = np.array(rounds) == 0
    snapshots: list[dict[str, Any]] = [{"id": k} for k in kept_ids]
    for column in columns:
        before = np.where(first, own[column].to_numpy(dtype=object), prior[column].to_numpy(dtype=object))
        before = np.where(pd.isna(before), None, before)
        now = after[column].to_numpy(dtype=object)
        for i in np.flatnonzero(before != now).tolist():
            snapshots[i][column] = _json_value(before[i])
    return snapshots


def _refresh(conn: Any, units: pd.DataFrame, targets: Iterable[int], *, kind: str, priority: Sequence[str],
             own: bool = True) -> int:
    """Recompute the golden record of the active actors ``targets`` from their ``units``; returns how many changed.

    The import attaches a row to the actor of its e-mail, SIREN, RNA or
    contact person (``source_records.actor_rule``) without touching that actor's golden
    record: survivorship over all its records (:func:`_golden_states`, as for
    a merge) happens here, and after :func:`detach`. Only actors whose
    values change are written, so a second run writes nothing. ``own=False``:
    the actors' own values are not a last resort (after :func:`detach`, what
    only the detached record gave must go).
    """
    targets = sorted({int(t) for t in targets})
    if not targets:
        return 0
    a = store.actors
    read = ["id", "kind", "status", *_STATE_COLUMNS, "commune_code", *_GOLDEN[kind]]
    members = store.select_in(conn, sa.select(*(a.c[c] for c in dict.fromkeys(read))).where(a.c.status == "active"),
                              a.c.id, targets)
    if members.empty:  # the targets were absorbed by this run's merges: their kept actors are recomputed
        return 0
    members = members.astype({"id": "int64"}).sort_values("id", ignore_index=True)
    members = members.assign(group=members["id"], position=0)
    mine = units[units["actor"].isin(members["group"])]
    mine = mine.assign(group=mine["actor"], position=0)
    basis = members if own else members.assign(provenance=[{}] * len(members),
                                               **{c: None for c in _GOLDEN[kind] if c in members.columns})
    golden = _golden_states(mine, basis, kind=kind, priority=priority, first=0)
    states = _group_states(golden, basis, kind=kind, now=datetime.now(timezone.utc)).drop(columns="updated_at")
    states = states.reset_index(level="state", drop=True)
    current = members.set_index("id").reindex(states.index)
    changed = np.zeros(len(states), dtype=bool)
    for column in states.columns:
        old = current[column].to_numpy(object)
        new = states[column].to_numpy(object)
        changed |= np.array([not (_is_na(x) and _is_na(y)) and (_is_na(x) or _is_na(y) or x != y)
                             for x, y in zip(old, new)], dtype=bool)
    final = states[changed].reset_index(names="id")
    if final.empty:
        return 0
    return store.upsert(conn, a, final.assign(kind=kind), key=["id"], update=list(states.columns))


def _apply_plan(
    conn: Any,
    plan: pd.DataFrame,
    *,
    kind: str,
    units: pd.DataFrame,
    priority: Sequence[str],
    who: str,
) -> list[int]:
    """Make the merges of ``plan`` at once; returns the merge ids.

    The merges are ordered by round (``plan["round"]``: at most one actor
    absorbed into each kept actor per round), then kept actor. Each merge's
    snapshot holds what it changed, as it was just before it — the kept
    actor's columns it changed (its golden record after the earlier merges of
    its group included), the absorbed actor's status, the rows it re-pointed
    or folded — so that undoing the merges latest first is exact, although the
    base is written once, in bulk, in its final state. The actors' own values
    are the last resort of survivorship.
    """
    actors = store.actors
    plan = plan.sort_values(["round", "kept_id"], ignore_index=True)
    kept_ids = plan["kept_id"].astype(int).tolist()
    absorbed_ids = plan["absorbed_id"].astype(int).tolist()
    rounds = plan["round"].astype(int).tolist()
    involved = set(kept_ids) | set(absorbed_ids)
    order = list(zip(kept_ids, absorbed_ids))
    if set(kept_ids) & set(absorbed_ids) or len(set(absorbed_ids)) < len(absorbed_ids):
        raise CartoError(
            "Fusion impossible : un acteur ne peut être à la fois conservé et absorbé, ni absorbé deux fois "
            f"(acteurs {', '.join(map(str, sorted(involved)[:20]))})."
        )
    merge_map = _merge_map(conn, order)
    a = store.actors
    read = ["id", "kind", "status", *_STATE_COLUMNS, "commune_code", *_GOLDEN[kind]]
    before = store.read_frame(conn, sa.select(*(a.c[c] for c in dict.fromkeys(read)))
                              .where(a.c.id.in_(sa.select(merge_map.c.actor_id))).order_by(a.c.id))
    if (len(before) != len(involved) or not (before["status"] == "active").all() or (before["kind"] != kind).any()
            or set(kept_ids) & set(absorbed_ids)):
        raise CartoError(
            "Fusion impossible : les deux acteurs doivent exister, être actifs et du même type "
            f"(acteurs {', '.join(map(str, sorted(involved)[:20]))})."
        )
    now = datetime.now(timezone.utc)
    position = dict(zip(absorbed_ids, [r + 1 for r in rounds])) | {k: 0 for k in kept_ids}
    group_of = dict(zip(absorbed_ids, kept_ids)) | {k: k for k in kept_ids}
    members = before.assign(group=before["id"].map(group_of), position=before["id"].map(position))
    mine = units[units["actor"].isin(list(group_of))]
    mine = mine.assign(group=mine["actor"].map(group_of), position=mine["actor"].map(position))
    golden = _golden_states(mine, members, kind=kind, priority=priority)
    states = _group_states(golden, members, kind=kind, now=now)
    updated = dict(zip(members["id"].tolist(), map(_json_value, members["updated_at"].tolist())))
    snapshots = [
        {"actors": [kept_row, {"id": a, "status": "active", "merged_into_id": None, "updated_at": updated[a]}]}
        for kept_row, a in zip(_kept_snapshots(states, members, kept_ids, rounds), absorbed_ids)
    ]
    for dependent in _DEPENDENTS:
        table = store.metadata.tables[dependent.table]
        if not conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
            continue  # nothing to re-point
        for i, entries in _repoint(conn, dependent, order, merge_map).items():
            snapshots[i].update(entries)
    last = plan.groupby("kept_id")["round"].max() + 1
    final = states.loc[list(zip(last.index.astype(int), last.astype(int)))].reset_index(drop=True)
    final.insert(0, "id", last.index.astype(int).tolist())
    store.upsert(conn, actors, final.assign(kind=kind), key=["id"], update=list(states.columns))
    conn.execute(_repointed(actors, "id", merge_map, {
        "status": "merged", "updated_at": now, "merged_into_id": _kept_of(actors.c.id, merge_map)}))
    merge_map.drop(conn)
    # consent to be shown on a map: the latest statement of the group, whoever is kept (undo: the same rule)
    privacy.refresh_consent(conn, kept_ids)
    ids = store.reserve_ids(conn, store.merges, len(order))
    store.insert_rows(conn, store.merges, pd.DataFrame({
        "id": ids, "kept_id": kept_ids, "absorbed_id": absorbed_ids, "method": plan["method"].to_numpy(object),
        "rule": plan["rule"].to_numpy(object),
        "score": [None if _is_na(s) else float(s) for s in plan["score"]],
        "who": who, "merged_at": now, "snapshot": snapshots,
    }))
    return ids


# ---------------------------------------------------------------- public API on the base


def _who(who: str | None) -> str:
    from carto.settings import get_settings

    return who or get_settings().user


def _merge_in(
    conn: Any, kept_id: int, absorbed_id: int, *, method: str, score: float | None, rule: str | None,
    who: str, priority: Sequence[str],
) -> int:
    if method not in store.MERGE_METHODS:
        raise CartoError(f"Méthode de fusion inconnue : « {method} » (valeurs possibles : "
                         f"{', '.join(map('« {} »'.format, store.MERGE_METHODS))}).")
    if kept_id == absorbed_id:
        raise CartoError(f"Un acteur ne peut pas être fusionné avec lui-même (acteur {kept_id}).")
    kinds = dict(conn.execute(
        sa.select(store.actors.c.id, store.actors.c.kind).where(store.actors.c.id.in_([kept_id, absorbed_id]))
    ).all())
    if len(kinds) != 2:
        missing = sorted({kept_id, absorbed_id} - set(kinds))
        raise CartoError(f"{_fr.plural(len(missing), 'Acteur introuvable', 'Acteurs introuvables')} : "
                         f"{', '.join(map(str, missing))}. Vérifiez les identifiants.")
    kind = kinds[kept_id]
    # only the two actors and the records of every actor merged into them: not the whole base
    links = _links(conn)
    roots = active_actors(links)
    actors = _actor_frame(conn, store.actors.c.id.in_([kept_id, absorbed_id]))
    records = _records(conn, roots.index[roots.isin([kept_id, absorbed_id])].astype(int).tolist())
    units = _units(records, actors, kind=kind, links=links)
    plan = pd.DataFrame({"kept_id": [kept_id], "absorbed_id": [absorbed_id], "method": [method],
                         "rule": [rule], "score": [score], "round": [0]})
    (merge_id,) = _apply_plan(conn, plan, kind=kind, units=units, priority=priority, who=who)
    _repoint_pending(conn, kept_id, absorbed_id)
    return merge_id


def _repoint_pending(conn: Any, kept_id: int, absorbed_id: int) -> None:
    """Pending pairs of the review queue naming ``absorbed_id`` now ask about ``kept_id`` (or go, if moot).

    After « même acteur » on A–B, the pair B–C of the same queue becomes
    A–C; it is dropped when an A–C pair is already there or A and C were
    declared distinct. The pair A–B itself is left to the caller
    (:func:`carto.linkage.decide` records the answer on it, :func:`merge`
    drops it).
    """
    rp, nd = store.review_pairs, store.not_duplicates
    pending = conn.execute(sa.select(rp.c.id, rp.c.actor_a_id, rp.c.actor_b_id).where(
        rp.c.status == "pending", sa.or_(rp.c.actor_a_id == absorbed_id, rp.c.actor_b_id == absorbed_id))).all()
    for pair_id, a, b in pending:
        other = a if b == absorbed_id else b
        if other == kept_id:
            continue
        low, high = min(kept_id, other), max(kept_id, other)
        taken = any(conn.execute(sa.select(t.c.actor_a_id).where(t.c.actor_a_id == low, t.c.actor_b_id == high))
                    .first() is not None for t in (rp, nd))
        if taken:
            conn.execute(rp.delete().where(rp.c.id == pair_id))
        else:
            conn.execute(rp.update().where(rp.c.id == pair_id).values(actor_a_id=low, actor_b_id=high))


def merge(
    engine: sa.Engine,
    kept_id: int,
    absorbed_id: int,
    *,
    method: str = "manual",
    score: float | None = None,
    rule: str | None = None,
    who: str | None = None,
    priority: Sequence[str] = SOURCE_PRIORITY,
) -> int:
    """Merge actor ``absorbed_id`` into ``kept_id`` (both active, same kind); returns the merge id.

    What hangs on the absorbed actor (participations, subscriptions,
    relations, memberships and their history, workshop placements, source
    records, persons of an absorbed organisation) is re-pointed to the kept
    one; rows that would then repeat one of the kept actor's are folded into
    it (a participation signed by either is signed; for a newsletter list the
    most restrictive status wins: blocklisted > unsubscribed > subscribed).
    The kept actor's golden record is recomputed. Everything changed is kept
    in ``merges.snapshot`` for :func:`undo_merge`.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     _ = conn.execute(store.actors.insert(), [{"kind": "personne", "display_name": "Ana"},
    ...                                               {"kind": "personne", "display_name": "Ana R."}])
    >>> merge(engine, 1, 2, who="camille")
    1
    """
    author = _who(who)
    with store.transaction(engine, action="fusion", who=author) as conn:
        merge_id = _merge_in(conn, kept_id, absorbed_id, method=method, score=score, rule=rule, who=author,
                             priority=priority)
        rp = store.review_pairs  # the same pair waiting in the review queue: no longer a question
        conn.execute(rp.delete().where(rp.c.status == "pending", rp.c.actor_a_id == min(kept_id, absorbed_id),
                                       rp.c.actor_b_id == max(kept_id, absorbed_id)))
        store.audit(conn, table="merges", ids=[merge_id],
                    details={"conservé": kept_id, "absorbé": absorbed_id, "méthode": method})
    return merge_id


def undo_merge(engine: sa.Engine, merge_id: int, *, who: str | None = None) -> None:
    """Undo a merge: the rows it changed get back exactly the values they had before it.

    The absorbed actor is active again; participations, subscriptions,
    relations, memberships, source records… are restored from the merge's
    snapshot (rows folded into the kept actor's are re-created with their
    ids). Merges made later on the same actors must be undone first (latest
    first). A pair merged from the review queue goes back to the queue.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     store.insert_rows(conn, store.actors, [{"kind": "organisation", "display_name": name}
    ...                                            for name in ("Les Jardins du Lez", "Jardins du Lez")])
    2
    >>> undo_merge(engine, merge(engine, 1, 2))
    >>> merges(engine)[["conservé", "absorbé", "annulée"]].values.tolist()
    [[1, 2, True]]
    """
    author = _who(who)
    m = store.merges
    with store.transaction(engine, action="annulation de fusion", who=author) as conn:
        row = conn.execute(sa.select(m).where(m.c.id == merge_id)).one_or_none()
        if row is None:
            raise CartoError(f"Fusion {merge_id} introuvable : voyez la liste avec « carto merges list ».")
        if row.undone_at is not None:
            raise CartoError(f"La fusion {merge_id} a déjà été annulée le {_shown_time(row.undone_at)}.")
        later = conn.execute(
            sa.select(m.c.id).where(
                m.c.id > merge_id, m.c.undone_at.is_(None),
                sa.or_(m.c.kept_id.in_([row.kept_id, row.absorbed_id]), m.c.absorbed_id == row.kept_id),
            ).order_by(m.c.id.desc())
        ).scalars().all()
        if later:
            raise CartoError(
                f"La fusion {merge_id} a été suivie d'autres fusions des mêmes acteurs "
                f"({', '.join(map(str, later))}) : annulez-les d'abord, de la plus récente à la plus ancienne."
            )
        _restore(conn, row.snapshot, absorbed_id=row.absorbed_id)
        privacy.refresh_consent(conn, [row.kept_id, row.absorbed_id])
        conn.execute(m.update().where(m.c.id == merge_id)
                     .values(undone_at=datetime.now(timezone.utc), undone_by=author))
        rp = store.review_pairs
        conn.execute(rp.update().where(rp.c.merge_id == merge_id).values(
            status="pending", decision=None, who=None, decided_at=None, merge_id=None))
        store.audit(conn, table="merges", ids=[merge_id],
                    details={"conservé": row.kept_id, "absorbé": row.absorbed_id})


#: The parts of a record the import may attach: (kind, actor column, rule column).
_ATTACHABLE = (("organisation", "organisation_actor_id", "organisation_rule"), ("organisation", "actor_id", "actor_rule"),
               ("personne", "actor_id", "actor_rule"))  # the organisation first: the new person points at it


def detach(engine: sa.Engine, record_id: int, *, who: str | None = None,
           priority: Sequence[str] = SOURCE_PRIORITY) -> list[int]:
    """Undo what an import attached: the record gets an actor of its own again; returns the new actors' ids.

    An import attaches a new row to the actor that already carries its
    e-mail address (persons), its SIREN / RNA, or the bare name its contact
    person already gave (organisations), noted in
    ``source_records.actor_rule`` / ``organisation_rule``. Detaching gives
    each attached part of the record (the organisation first) a new actor,
    the provisional actor the import makes of a row
    (:func:`carto.ingest.provisional_actor`), who gets
    what the record brings
    (participations, subscriptions: :func:`carto.ingest.rederive`); the actor
    it leaves keeps what its other records bring, and its golden record is
    recomputed. The two actors are recorded as distinct (« différents »), so
    linkage never puts them together again. If a merge has since moved the
    record to another actor, that merge must be undone first.

    Examples
    --------
    >>> from carto import ingest
    >>> from carto.settings import REPO_DIR
    >>> engine = store.init_base("sqlite://")
    >>> _ = ingest.import_folder(engine, REPO_DIR / "data/demo")
    >>> with engine.connect() as conn:
    ...     record = conn.execute(sa.select(store.source_records.c.id)
    ...                           .where(store.source_records.c.actor_rule == "email")).scalars().first()
    >>> len(detach(engine, record, who="camille"))
    1
    """
    from carto import ingest

    author = _who(who)
    sr, a, m = store.source_records, store.actors, store.merges
    with store.transaction(engine, action="détachement", who=author) as conn:
        row = conn.execute(sa.select(sr).where(sr.c.id == record_id)).one_or_none()
        if row is None:
            raise CartoError(f"Enregistrement source {record_id} introuvable.")
        kinds = dict(conn.execute(sa.select(a.c.id, a.c.kind).where(
            a.c.id.in_([i for i in (row.actor_id, row.organisation_actor_id) if i is not None]))).all())
        parts = [(kind, column, rule) for kind, column, rule in _ATTACHABLE
                 if getattr(row, rule) is not None and kinds.get(getattr(row, column)) == kind]
        if not parts:
            raise CartoError(
                f"L'enregistrement {record_id} n'a pas été rattaché par l'import à un acteur existant : il a déjà "
                "son propre acteur. Pour séparer deux acteurs fusionnés, annulez la fusion (carto merges list, "
                "puis carto merges undo ID)."
            )
        created = []
        for kind, column, rule in parts:
            left = int(getattr(row, column))
            moved_by = [merge_id for merge_id, snapshot in conn.execute(
                sa.select(m.c.id, m.c.snapshot).where(m.c.kept_id == left, m.c.undone_at.is_(None))).all()
                if record_id in (snapshot or {}).get(f"moved:source_records:{column}", [])]
            if moved_by:
                raise CartoError(
                    f"L'enregistrement {record_id} a été rattaché à l'acteur {left} par la fusion "
                    f"{', '.join(map(str, moved_by))} : annulez-la d'abord (carto merges undo)."
                )
            (new_id,) = store.reserve_ids(conn, a, 1)
            ingest.provisional_actor(conn, record_id, kind, new_id)
            conn.execute(sr.update().where(sr.c.id == record_id).values({column: new_id, rule: None}))
            if column == "actor_id" and kind == "personne":
                for table in (store.participations, store.subscriptions, store.consent_statements):
                    conn.execute(table.update().where(table.c.source_record_id == record_id,
                                                      table.c.actor_id == left).values(actor_id=new_id))
                privacy.refresh_consent(conn, [left, new_id])
                others = conn.execute(sa.select(sr.c.id).where(sr.c.actor_id == left, sr.c.status == "ok")).scalars()
                ingest.rederive(conn, {record_id: new_id} | {int(r): left for r in others})
            elif row.actor_id is not None and column == "organisation_actor_id":  # the contact person of the row
                # (the organisation part comes first: row.actor_id is still the record's person)
                conn.execute(a.update().where(a.c.id == row.actor_id, a.c.organisation_id == left)
                             .values(organisation_id=new_id))
            records = _records(conn, [left])  # read now: their actor columns are current, no merge to follow
            named = {left, *records["actor_id"].dropna().astype(int), *records["organisation_actor_id"].dropna().astype(int)}
            units = _units(records, _actor_frame(conn, a.c.id == left), kind=kind, links=_links(conn, sorted(named)))
            has_records = bool((units["unit"] > 0).any())  # else a hand-made actor: its own values stay
            _refresh(conn, units, [left], kind=kind, priority=priority, own=not has_records)
            low, high = sorted((left, new_id))
            conn.execute(store.not_duplicates.insert().values(
                actor_a_id=low, actor_b_id=high, who=author,
                reason=f"enregistrement {record_id} détaché (rattaché à l'import par : "
                       f"{_RULES_FR.get(getattr(row, rule), getattr(row, rule))})"))
            created.append(new_id)
        store.audit(conn, table="source_records", ids=[record_id],
                    details={"détaché de": [int(getattr(row, c)) for _, c, _ in parts], "nouveaux acteurs": created})
    return created


def merges(engine: sa.Engine, *, include_undone: bool = True) -> pd.DataFrame:
    """Merges of the base, most recent first, with the names of both actors (French columns).

    The dates (``le``, ``annulée le``) are texts JJ/MM/AAAA HH:MM, Paris time.

    Examples
    --------
    >>> list(merges(store.init_base("sqlite://")).columns)[:4]
    ['fusion', 'conservé', 'nom conservé', 'absorbé']
    """
    m = store.merges
    kept = store.actors.alias("kept")
    absorbed = store.actors.alias("absorbed")
    query = (
        sa.select(
            m.c.id.label("fusion"), m.c.kept_id.label("conservé"), kept.c.display_name.label("nom conservé"),
            m.c.absorbed_id.label("absorbé"), absorbed.c.display_name.label("nom absorbé"),
            m.c.method.label("méthode"), m.c.rule.label("règle"), m.c.score.label("score"),
            m.c.who.label("par"), m.c.merged_at.label("le"), m.c.undone_at.label("annulée le"),
        )
        .join_from(m, kept, kept.c.id == m.c.kept_id)
        .join(absorbed, absorbed.c.id == m.c.absorbed_id)
        .order_by(m.c.id.desc())
    )
    if not include_undone:
        query = query.where(m.c.undone_at.is_(None))
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    frame["méthode"] = frame["méthode"].map(_METHODS_FR)
    frame["règle"] = frame["règle"].map(lambda rule: _RULES_FR.get(rule, rule))
    frame["annulée"] = frame["annulée le"].notna()
    for column in ("le", "annulée le"):
        frame[column] = [None if pd.isna(v) else _shown_time(v) for v in frame[column]]
    # missing values are NaN, not None: printed empty, never « None »
    texts = ["nom conservé", "nom absorbé", "méthode", "règle", "par", "le", "annulée le"]
    return frame.astype({c: "str" for c in texts} | {"score": float})


def attachments(engine: sa.Engine, *, actor_id: int | None = None) -> pd.DataFrame:
    """Source records the import attached to an actor by a sure key (French columns), for :func:`detach`.

    One row per attached part: ``enregistrement`` (the id to give
    :func:`detach`), ``source``, ``fichier``, ``ligne``, ``acteur`` (where
    the record is now), ``nom``, ``règle`` (e-mail, SIREN, RNA, personne de contact), ``lot``
    (import batch). ``actor_id``: only the records of this actor.

    Examples
    --------
    >>> list(attachments(store.init_base("sqlite://")).columns)
    ['enregistrement', 'source', 'fichier', 'ligne', 'acteur', 'nom', 'règle', 'lot']
    """
    sr, a = store.source_records, store.actors
    frames = []
    with engine.connect() as conn:
        for column, rule in (("actor_id", "actor_rule"), ("organisation_actor_id", "organisation_rule")):
            query = (sa.select(sr.c.id.label("enregistrement"), sr.c.source, sr.c.file_name.label("fichier"),
                               sr.c.line.label("ligne"), sr.c[column].label("acteur"), a.c.display_name.label("nom"),
                               sr.c[rule].label("règle"), sr.c.batch_id.label("lot"))
                     .join_from(sr, a, a.c.id == sr.c[column]).where(sr.c[rule].is_not(None)))
            if actor_id is not None:
                query = query.where(sr.c[column] == actor_id)
            result = conn.execute(query)
            frames.append(pd.DataFrame(result.all(), columns=list(result.keys())))
    frame = pd.concat(frames, ignore_index=True).sort_values(["acteur", "enregistrement"], ignore_index=True)
    frame["règle"] = frame["règle"].map(lambda rule: _RULES_FR.get(rule, rule))
    return frame


_METHODS_FR = {"rule": "règle", "probabilistic": "probabiliste", "manual": "manuelle"}
#: French names of the exact rules (:data:`EXACT_RULES`), where people read them.
_RULES_FR = {"siret": "SIRET", "siren": "SIREN", "rna": "RNA", "contact": "personne de contact",
             "nom": "nom complet", "email": "e-mail"}
#: Time zone of the dates shown to people (the base stores UTC).
_SHOWN_ZONE = ZoneInfo("Europe/Paris")


def _shown_time(moment: datetime) -> str:
    """``moment`` (aware) as people read it: JJ/MM/AAAA HH:MM, Paris time."""
    return f"{moment.astimezone(_SHOWN_ZONE):%d/%m/%Y %H:%M}"
