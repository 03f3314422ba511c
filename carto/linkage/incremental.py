"""Incremental linkage: what was imported since the last run, compared with the whole base.

A weekly sign-in sheet of 300 rows must not cost a re-read and a re-training
over 100 000 actors. :func:`link` therefore keeps, in the base:

- the **trained model** of each kind (``linkage_models``: the Splink model
  as JSON, the columns it compares, when and on how many records it was
  trained), reused by every run until ``retrain=True`` trains a new one —
  the old one is kept, so :func:`model_drift` can compare their *m* and *u*
  probabilities field by field;
- the **blocking keys** of every unit of linkage (``link_keys``: a 64-bit hash
  of the values of each blocking rule and exact rule, indexed), so that the
  records able to match a new one are found by an index lookup, never by
  reading the base;
- the **runs** (``link_runs``): the last import batch each run has seen. The
  records of later batches (new rows, and rows a re-import changed) and the
  record-less actors created since are the *new units* of the next run.

An incremental run reads the new units, looks up the units sharing one of
their keys (the *candidates*), scores the pairs that involve a new unit with
the saved model (the same blocking rules, plus « one side is new »), and
groups, merges and queues exactly as a full run. Its result is the result of
a full run whose pairs among old units were already decided — the same
merges, up to the small changes a re-trained model would bring (F1 against
the synthetic truth within 0.005, ``tests/test_linkage.py`` and
``benchmarks/weekly_import.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import _fr, store
from carto.linkage.base import (_PLAN_BATCH, LinkReport, _batches, _decide_pairs, _final_actors, _forbidden,
                                review_budget)
from carto.linkage.merging import _apply_plan, _refresh
from carto.linkage.model import predict
from carto.linkage.review import _COMPARISONS_FR, _queue
from carto.linkage.rules import _prepared
from carto.linkage.units import _actor_frame, _records, _units

#: One logger for the whole of linkage, whichever sub-module writes.
log = logging.getLogger("carto.linkage")

#: Blocking keys of a unit: (rule name, columns); a column as (name, n) keeps its first n characters.
#: They mirror the blocking rules of :func:`_blocking_rules` and the exact rules, so that every unit
#: a blocking rule could pair with a new unit shares a key with it.
KEY_SPECS: Mapping[str, tuple[tuple[str, tuple[Any, ...]], ...]] = {
    "personne": (
        ("email", ("email_key",)),
        ("telephone", ("phone",)),
        ("nom-initiale-departement", ("last_name_key", ("first_name_key", 1), ("commune_code", 2))),
        ("noms-tries", ("names_sorted",)),
        ("nom3-initiale-commune", (("last_name_key", 3), ("first_name_key", 1), "commune_code")),
        ("prenom-code-postal", ("first_name_key", "postcode")),
        ("nom3-initiale-code-postal", (("last_name_key", 3), ("first_name_key", 1), "postcode")),
    ),
    "organisation": (
        ("siret", ("siret",)),
        ("siren", ("siren",)),
        ("rna", ("rna",)),
        ("email", ("email_key",)),
        ("telephone", ("phone",)),
        ("nom", ("name_key",)),
        ("nom-complet", ("full_name_key",)),
        ("sigle", ("alias_key",)),
        ("nom4-commune", (("name_key", 4), "commune_code")),
        ("nom4-code-postal", (("name_key", 4), "postcode")),
    ),
}


def unit_keys(prepared: pd.DataFrame, *, kind: str) -> pd.DataFrame:
    """Blocking keys of prepared units (:func:`_prepared`): ``unit`` and ``key`` (signed 64-bit hash).

    A key exists when every column of its rule has a value; the hash covers
    the kind, the rule and the values, so keys of different rules never meet.

    Examples
    --------
    >>> units = pd.DataFrame({"unique_id": [1, 2], "email_key": ["a@x.fr", "a@x.fr"],
    ...                       "phone": [None, "+33611"]})
    >>> keys = unit_keys(units, kind="personne")
    >>> len(keys), int(keys.groupby("key")["unit"].nunique().max())
    (3, 2)
    """
    frames = []
    for rule, columns in KEY_SPECS[kind]:
        parts = []
        for column in columns:
            name, length = (column, None) if isinstance(column, str) else column
            if name not in prepared.columns:
                break
            values = prepared[name].astype("string")
            parts.append(values.str.slice(0, length) if length else values)
        else:
            known = pd.Series(True, index=prepared.index)
            for part in parts:
                known &= part.notna() & (part != "")
            if not known.any():
                continue
            text = pd.Series(f"{kind}\x1e{rule}", index=prepared.index[known], dtype="string")
            for part in parts:
                text = text + "\x1f" + part[known]
            hashed = pd.util.hash_array(text.to_numpy(dtype=object)).view(np.int64)
            frames.append(pd.DataFrame({"unit": prepared.loc[known, "unique_id"].to_numpy(np.int64), "key": hashed}))
    if not frames:
        return pd.DataFrame({"unit": pd.Series(dtype=np.int64), "key": pd.Series(dtype=np.int64)})
    return pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)


# ---------------------------------------------------------------- reading what is new


def last_run(conn: Any) -> Mapping[str, Any] | None:
    """The latest row of ``link_runs``, or None before the first run."""
    lr = store.link_runs
    row = conn.execute(sa.select(lr).order_by(lr.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def _last_batch(conn: Any) -> int:
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(store.import_batches.c.id), 0))).scalar_one())


def new_records(conn: Any, previous: Mapping[str, Any]) -> pd.DataFrame:
    """Ok source records to link again since the run ``previous``.

    Those of later import batches (new rows, rows a re-import changed), and
    those given their own actor since (:func:`carto.linkage.detach`).
    """
    found = _records(conn, since_batch=int(previous["last_batch_id"]))
    a, sr = store.actors, store.source_records
    since = previous["finished_at"]
    made = [int(i) for i in conn.execute(sa.select(a.c.id).where(a.c.updated_at > since, a.c.created_at > since,
                                                                  a.c.status == "active")).scalars()]
    if made:
        ids: set[int] = set()
        for column in (sr.c.actor_id, sr.c.organisation_actor_id):
            ids |= set(store.select_in(conn, sa.select(sr.c.id).where(sr.c.status == "ok"), column, made)["id"]
                       .astype(np.int64).tolist())
        ids -= set(found["id"].astype(np.int64).tolist())
        if ids:
            found = pd.concat([found, _records(conn, record_ids=sorted(ids))], ignore_index=True)
    return found.sort_values("id", ignore_index=True)


def _chain(conn: Any, actor_ids: Iterable[int]) -> pd.DataFrame:
    """``id``, ``kind``, ``status``, ``merged_into_id`` of ``actor_ids`` and of every actor they were merged into."""
    a = store.actors
    statement = sa.select(a.c.id, a.c.kind, a.c.status, a.c.merged_into_id)
    wanted = {int(i) for i in actor_ids}
    frames: list[pd.DataFrame] = []
    seen: set[int] = set()
    for _ in range(64):
        wanted -= seen
        if not wanted:
            break
        found = store.select_in(conn, statement, a.c.id, sorted(wanted))
        frames.append(found)
        seen |= wanted
        wanted = set(pd.to_numeric(found["merged_into_id"]).dropna().astype(np.int64).tolist())
    if not frames:
        return pd.DataFrame({"id": pd.Series(dtype=np.int64), "kind": [], "status": [], "merged_into_id": []})
    links = pd.concat(frames, ignore_index=True).drop_duplicates("id")
    links["id"] = links["id"].astype(np.int64)
    links["merged_into_id"] = pd.to_numeric(links["merged_into_id"]).astype("Int64")
    return links


def _actor_ids_of(records: pd.DataFrame) -> set[int]:
    ids: set[int] = set()
    for column in ("actor_id", "organisation_actor_id"):
        if column in records.columns:
            ids |= set(pd.to_numeric(records[column]).dropna().astype(np.int64).tolist())
    return ids


def _own_actors_in(conn: Any, kind: str, ids: Sequence[int]) -> pd.DataFrame:
    """Active record-less actors of ``kind`` (made by hand) among ``ids``, all their columns."""
    a, sr = store.actors, store.source_records
    wanted = sorted({int(i) for i in ids})
    named: set[int] = set()
    for column in (sr.c.actor_id, sr.c.organisation_actor_id):
        # the status is filtered here, not in SQL: « status = 'ok' » would lead SQLite to its (status, source)
        # index and a scan of every record, instead of the actor's index
        found = store.select_in(conn, sa.select(column, sr.c.status), column, wanted)
        found = found[found["status"] == "ok"]
        named |= set(pd.to_numeric(found.iloc[:, 0]).dropna().astype(np.int64).tolist())
    own = [i for i in wanted if i not in named]
    found = store.select_in(conn, a.select().where(a.c.kind == kind, a.c.status == "active"), a.c.id, own) if own \
        else pd.DataFrame()
    return found.astype({"id": np.int64}) if len(found) else _actor_frame(conn, sa.false())


def _units_of(conn: Any, records: pd.DataFrame, own: pd.DataFrame, *, kind: str,
              extra: Iterable[int] = ()) -> pd.DataFrame:
    """:func:`_units` of ``records`` and record-less ``own`` actors, roots read from the base."""
    ids = _actor_ids_of(records) | set(own["id"].astype(np.int64).tolist() if len(own) else []) | set(extra)
    return _units(records, own, kind=kind, links=_chain(conn, ids))


def _full_units(conn: Any, actor_ids: Iterable[int], *, kind: str) -> pd.DataFrame:
    """Every unit of the active actors ``actor_ids`` (what survivorship reads for them)."""
    ids = sorted({int(i) for i in actor_ids})
    if not ids:
        return _units(_records(conn, record_ids=[]), _actor_frame(conn, sa.false()), kind=kind, links=_chain(conn, []))
    records = _records(conn, ids)
    own = _own_actors_in(conn, kind, ids)
    units = _units_of(conn, records, own, kind=kind, extra=ids)
    return units[units["actor"].isin(ids)].reset_index(drop=True)


def candidates(conn: Any, keys: pd.DataFrame, *, kind: str) -> pd.DataFrame:
    """Units sharing a key with ``keys`` (``unit``, ``key``), from the index ``link_keys``."""
    lk = store.link_keys
    wanted = sorted(set(keys["key"].astype(np.int64).tolist()))
    if not wanted:
        return pd.DataFrame({"unit": pd.Series(dtype=np.int64), "key": pd.Series(dtype=np.int64)})
    found = store.select_in(conn, sa.select(lk.c.unit, lk.c.key).where(lk.c.kind == kind), lk.c.key, wanted)
    return found.astype({"unit": np.int64, "key": np.int64})


def store_keys(conn: Any, units: pd.DataFrame, *, kind: str, final: pd.Series, replace: bool,
               known: pd.DataFrame | None = None, keys: pd.DataFrame | None = None) -> int:
    """Write the blocking keys of ``units``; returns how many rows were written.

    ``final``: the active actor of each unit after this run's merges (by
    unit). A key already held by another unit of the same final actor is not
    written again (``known``: the candidates' keys, ``unit`` and ``key``):
    one unit per actor and key is enough to find the actor. ``replace``:
    the units' previous keys are deleted first (re-imported, changed rows).
    ``keys``: the units' keys when already computed (:func:`unit_keys`).
    """
    lk = store.link_keys
    if units.empty:
        return 0
    if keys is None:
        keys = unit_keys(_prepared(units, kind=kind, id_column="unit"), kind=kind)
    keys = keys.assign(actor=final.reindex(keys["unit"].to_numpy()).to_numpy())
    keys = keys.sort_values("unit").drop_duplicates(["key", "actor"])
    if known is not None and len(known):
        held = known.assign(actor=final.reindex(known["unit"].to_numpy()).to_numpy()).dropna(subset=["actor"])
        held = held[~held["unit"].isin(units["unit"])]
        already = pd.MultiIndex.from_frame(held[["key", "actor"]].astype(np.int64))
        keys = keys[~pd.MultiIndex.from_frame(keys[["key", "actor"]].astype(np.int64)).isin(already)]
    if replace:
        for chunk in _chunks(units["unit"].astype(np.int64).tolist(), 10_000):
            conn.execute(lk.delete().where(lk.c.kind == kind, lk.c.unit.in_(chunk)))
    rows = keys[["key", "unit"]].assign(kind=kind)
    return store.insert_rows(conn, lk, rows) if len(rows) else 0


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def link_new_units(
    conn: Any,
    *,
    kind: str,
    new_records: pd.DataFrame,
    new_own: pd.DataFrame,
    model: Mapping[str, Any],
    auto_threshold: float,
    review_band: tuple[float, float],
    priority: Sequence[str],
    who: str,
    report: LinkReport,
) -> None:
    """Link the new units of one kind against the whole base (see the module docstring)."""
    new_units = _units_of(conn, new_records, new_own, kind=kind)
    report.units[kind] = len(new_units)
    if new_units.empty:
        report.pairs[kind] = 0
        return
    new_keys = unit_keys(_prepared(new_units, kind=kind, id_column="unit"), kind=kind)
    found = candidates(conn, new_keys, kind=kind)
    found = found[~found["unit"].isin(new_units["unit"])]
    wanted = sorted(set(found["unit"].tolist()))
    record_ids = [u for u in wanted if u > 0]
    own_ids = [-u for u in wanted if u < 0]
    old_units = _units_of(conn, _records(conn, record_ids=record_ids), _own_actors_in(conn, kind, own_ids),
                         kind=kind)
    old_units = old_units[old_units["unit"].isin(wanted)]
    units = pd.concat([new_units, old_units], ignore_index=True).sort_values("unit", ignore_index=True)
    report.candidates[kind] = len(old_units)
    pairs = predict(units, kind=kind, id_column="unit", threshold=review_band[0], every_pair=False,
                    group_column="actor", model=(model["model"], model["columns"]),
                    new_ids=set(new_units["unit"].tolist()))
    edges, roots, plan = _decide_pairs(conn, pairs, units, kind=kind, auto_threshold=auto_threshold,
                                       review_band=review_band, budget=review_budget(len(new_units)), report=report)
    gained = set(new_units.loc[new_units["attached"].astype(bool), "actor"].astype(int))
    planned = set(plan["kept_id"].astype(int)) | set(plan["absorbed_id"].astype(int)) if len(plan) else set()
    full = _full_units(conn, planned | gained, kind=kind)
    if len(plan):
        for batch in _batches(plan, size=_PLAN_BATCH):
            report.merge_ids += _apply_plan(conn, batch, kind=kind, units=full, priority=priority, who=who)
        report.merges_rule += int((plan["method"] == "rule").sum())
        report.merges_probabilistic += int((plan["method"] == "probabilistic").sum())
    kept = set(plan["kept_id"].astype(int)) if len(plan) else set()
    report.refreshed += _refresh(conn, full, gained - kept, kind=kind, priority=priority)
    _queue(conn, edges[edges["asked"]], roots=roots, kind=kind, review_band=review_band, auto_threshold=auto_threshold,
           forbidden=_forbidden(conn))
    final = _final_actors(units, plan)
    report.keys[kind] = store_keys(conn, new_units, kind=kind, final=final, replace=True, known=found,
                                   keys=new_keys)


# ---------------------------------------------------------------- models


def active_model(conn: Any, kind: str) -> dict[str, Any] | None:
    """The model in use for ``kind`` (``id``, ``model``, ``columns``, …), or None before the first training."""
    lm = store.linkage_models
    row = conn.execute(sa.select(lm).where(lm.c.kind == kind, lm.c.active.is_(True))
                       .order_by(lm.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def save_model(conn: Any, kind: str, trained: tuple[dict[str, Any], list[str]], *, who: str, reason: str,
               n_units: int, n_labels: int = 0) -> dict[str, Any]:
    """Store a newly trained model of ``kind`` as the one in use (the previous one is kept, inactive)."""
    lm = store.linkage_models
    model, columns = trained
    conn.execute(lm.update().where(lm.c.kind == kind, lm.c.active.is_(True)).values(active=False))
    new_id = conn.execute(lm.insert().values(
        kind=kind, trained_at=datetime.now(timezone.utc), who=who, reason=reason, columns=list(columns),
        model=model, n_units=int(n_units), n_labels=int(n_labels), active=True)).inserted_primary_key[0]
    store.audit(conn, table="linkage_models", ids=[new_id], details={"type": kind, "motif": reason,
                                                                   "enregistrements": int(n_units)})
    return {"id": new_id, "kind": kind, "model": model, "columns": list(columns)}


#: French names of the columns Splink's level labels speak of.
_COLUMNS_FR = {
    "email_key": "courriel", "commune_code": "commune", "postcode": "code postal", "first_name_key": "prénom",
    "last_name_key": "nom", "names_sorted": "prénom et nom (dans un ordre ou l'autre)", "phone": "téléphone",
    "organisation_key": "organisation", "siren": "SIREN", "full_name_key": "nom complet", "name_key": "nom",
    "alias_key": "sigle", "birth_date": "date de naissance",
}
_LABELS_FR = [
    (re.compile(r"Exact match on (\w+)"), lambda m: f"{_column_fr(m[1])} identique"),
    (re.compile(r"(?:Damerau-)?Levenshtein distance of (\w+) <= (\d+)"),
     lambda m: f"{_column_fr(m[1])} à {_fr.count(int(m[2]), 'caractère')} près"),
    (re.compile(r"Jaro-Winkler distance of (\w+) >= ([\d.]+)"),
     lambda m: f"{_column_fr(m[1])} proche (Jaro-Winkler ≥ {_fr.decimal(float(m[2]), 2)})"),
    (re.compile(r"All other comparisons"), lambda m: "tout le reste"),
    (re.compile(r"(\w+) is NULL"), lambda m: f"{_column_fr(m[1])} inconnu"),
    (re.compile(r"\bAND\b"), lambda m: "et"),
    (re.compile(r"\bOR\b"), lambda m: "ou"),
]


def _column_fr(name: str) -> str:
    return _COLUMNS_FR.get(name, name)


def level_label_fr(label: str) -> str:
    """A Splink comparison level's label, in French.

    Examples
    --------
    >>> level_label_fr("(Exact match on first_name_key) AND (Levenshtein distance of postcode <= 1)")
    '(prénom identique) et (code postal à 1 caractère près)'
    >>> level_label_fr("Jaro-Winkler distance of name_key >= 0.88")
    'nom proche (Jaro-Winkler ≥ 0,88)'
    """
    for pattern, french in _LABELS_FR:
        label = pattern.sub(french, label)
    return label


def _levels(model: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for comparison in model.get("comparisons", []):
        name = comparison.get("output_column_name", "?")
        for position, level in enumerate(comparison.get("comparison_levels", [])):
            if level.get("is_null_level"):
                continue
            rows.append({"champ": _COMPARISONS_FR.get(name, name), "niveau": position,
                         "libellé": level_label_fr(level.get("label_for_charts") or level.get("sql_condition", "")),
                         "m": level.get("m_probability"), "u": level.get("u_probability")})
    return pd.DataFrame(rows, columns=["champ", "niveau", "libellé", "m", "u"])


def model_drift(engine: sa.Engine, kind: str) -> pd.DataFrame:
    """The *m* and *u* probabilities of the model in use next to the previous model's, level by level.

    After ``link(retrain=True)`` (``carto link --reentrainer``): a level whose
    *m* moved a lot says the data changed (a new source, a new way of writing
    names). Columns: ``champ``, ``niveau``, ``libellé``, ``m avant``,
    ``m après``, ``u avant``, ``u après``, ``écart m`` (absolute), largest
    drift first. Empty before the second training.

    Examples
    --------
    >>> model_drift(store.init_base("sqlite://"), "personne").empty
    True
    """
    lm = store.linkage_models
    columns = ["champ", "niveau", "libellé", "m avant", "m après", "u avant", "u après", "écart m"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(lm.c.model).where(lm.c.kind == kind).order_by(lm.c.id.desc()).limit(2)).all()
    if len(rows) < 2:
        return pd.DataFrame(columns=columns)
    new, old = _levels(rows[0].model), _levels(rows[1].model)
    both = old.merge(new, on=["champ", "niveau"], how="outer", suffixes=(" avant", " après"))
    both["libellé"] = both["libellé après"].fillna(both["libellé avant"])
    both["écart m"] = (both["m après"] - both["m avant"]).abs()
    return both[columns].sort_values("écart m", ascending=False, ignore_index=True)


def new_own_actors(conn: Any, kind: str, since: datetime) -> pd.DataFrame:
    """Active actors of ``kind`` made or changed by hand after ``since``, that no source record names."""
    a = store.actors
    changed = [int(i) for i in conn.execute(sa.select(a.c.id).where(
        a.c.updated_at > since, a.c.kind == kind, a.c.status == "active")).scalars()]
    return _own_actors_in(conn, kind, changed) if changed else _actor_frame(conn, sa.false())


def pending_work(conn: Any) -> tuple[Mapping[str, Any] | None, int, bool]:
    """(last run, last import batch, whether anything is new since that run) — a few indexed queries."""
    previous = last_run(conn)
    batch = _last_batch(conn)
    if previous is None:
        return None, batch, True
    sr = store.source_records
    if batch > int(previous["last_batch_id"]) and conn.execute(  # a re-import of the same files writes nothing
            sa.select(sr.c.id).where(sr.c.batch_id > int(previous["last_batch_id"]), sr.c.status == "ok")
            .limit(1)).first() is not None:
        return previous, batch, True
    a = store.actors
    since = previous["finished_at"]
    moved = conn.execute(sa.select(a.c.id).where(a.c.updated_at > since).limit(1)).first()
    if moved is None:
        return previous, batch, False
    made = conn.execute(sa.select(a.c.id).where(a.c.updated_at > since, a.c.created_at > since).limit(1)).first()
    if made is not None:
        return previous, batch, True
    return previous, batch, any(len(new_own_actors(conn, kind, previous["finished_at"])) for kind in
                                ("personne", "organisation"))
