"""Writing an import in the base: source records, actors, events, participations, subscriptions, consent;
re-deriving after a merge or an undo (:func:`rederive`)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carto import geo, privacy, store
from carto.ingest.actors import _actor_ids, _actor_rows, _communes_points, _give_new_ids
from carto.ingest.parsing import (
    _ORG_FIELDS,
    _PERSON_CORE,
    _PERSON_FIELDS,
    _ROLE,
    _ROLE_RANK,
    _first_word,
    _parse_lines,
    _Parsed,
    _part,
)
from carto.ingest.report import ImportReport
from carto.sources import Mapping, mapping_from_text

log = logging.getLogger("carto.ingest")
#: Restrictiveness of subscription statuses: an import never lowers it.
SUBSCRIPTION_RANK = {"subscribed": 0, "unsubscribed": 1, "blocklisted": 2}


def _clear_stale(conn: Connection, source: str, files: list[str], current: set[str], batch_id: int) -> None:
    """Delete the quarantined records of ``files`` that the files no longer hold (fixed rows whose key changed)."""
    sr = store.source_records
    stale = sa.select(sr.c.id, sr.c.source_key).where(sr.c.source == source, sr.c.status == "quarantined",
                                                      sr.c.file_name.in_(files))
    stale_ids = [i for i, k in conn.execute(stale).all() if k not in current]
    if stale_ids:
        store.delete_in(conn, sr, sr.c.id, stale_ids)
        store.audit(conn, table="source_records", ids=stale_ids,
                    details={"lot": batch_id, "motif": "quarantaine levée : ligne corrigée dans le fichier"})


def _write(
    conn: Connection,
    records: pd.DataFrame,
    person: pd.DataFrame,
    org: pd.DataFrame,
    parsed: _Parsed,
    mapping: Mapping,
    report: ImportReport,
    *,
    batch_id: int,
    stems: pd.Series,
    files: pd.Series,
    row_date: pd.Series,
) -> None:
    source = mapping.name
    sr, actors = store.source_records, store.actors
    person_actor = actors.alias("person_actor")
    lookup = (
        sa.select(sr.c.id, sr.c.source_key, sr.c.row_hash, sr.c.status, sr.c.line, sr.c.file_name,
                  sr.c.actor_id, sr.c.organisation_actor_id, sr.c.actor_rule, sr.c.organisation_rule,
                  person_actor.c.kind.label("actor_kind"))
        .select_from(sr.outerjoin(person_actor, person_actor.c.id == sr.c.actor_id))
        .where(sr.c.source == source)
    )
    existing = store.select_in(conn, lookup, sr.c.source_key, records["source_key"].tolist())
    existing = existing.set_index("source_key")
    key = records["source_key"]
    known = key.isin(existing.index).to_numpy()
    old = existing.reindex(key.to_numpy())
    old.index = records.index
    ok = (records["status"] == "ok").to_numpy()
    same_hash = known & (old["row_hash"].to_numpy(object) == records["row_hash"].to_numpy(object))
    same_status = known & (old["status"].to_numpy(object) == records["status"].to_numpy(object))
    unchanged = same_hash & same_status
    new_ok = ok & ~known
    changed_ok = ok & known & ~unchanged
    report.en_quarantaine = int((~ok).sum())
    report.nouveaux = int(new_ok.sum())
    report.mis_a_jour = int(changed_ok.sum())
    report.inchanges = int((ok & unchanged).sum())

    # actors already linked to each record
    old_kind = old["actor_kind"].to_numpy(object)
    old_actor = pd.to_numeric(old["actor_id"], errors="coerce").to_numpy(float)
    old_org = pd.to_numeric(old["organisation_actor_id"], errors="coerce").to_numpy(float)
    person_id = np.where(old_kind == "personne", old_actor, np.nan)
    org_id = np.where(old_kind == "organisation", old_actor, old_org)
    # ok rows whose part is present and has no actor yet: attached to the actor of their sure key, or a
    # new provisional actor (one per group of rows sharing a key)
    need_person = ok & person["_present"].to_numpy() & np.isnan(person_id)
    need_org = ok & org["_present"].to_numpy() & np.isnan(org_id)
    create_person, person_leader, person_rule = _actor_ids(conn, person, need_person, "personne", person_id)
    # the contact person of each row: its actor, or the row whose new actor it takes
    contact = np.array([f"a{int(i)}" if not np.isnan(i) else (f"r{r}" if r >= 0 else None)
                        for i, r in zip(person_id.tolist(), person_leader.tolist())], dtype=object)
    create_org, org_leader, org_rule = _actor_ids(conn, org, need_org, "organisation", org_id, contact)
    reserved = store.reserve_ids(conn, actors, int(create_org.sum()) + int(create_person.sum()))
    _give_new_ids(org_id, create_org, org_leader, reserved[: int(create_org.sum())])
    _give_new_ids(person_id, create_person, person_leader, reserved[int(create_org.sum()):])
    new_org_ids, new_person_ids = org_id[create_org].astype(np.int64), person_id[create_person].astype(np.int64)
    org_rows = _actor_rows(org[create_org], "organisation", source, new_org_ids)
    person_rows = _actor_rows(person[create_person], "personne", source, new_person_ids)
    person_rows["organisation_id"] = _int_objects(org_id[create_person])
    report.rattachements = int((need_person & ~create_person).sum() + (need_org & ~create_org).sum())
    created = 0
    if len(org_rows):
        created += store.insert_rows(conn, actors, org_rows, json_text=["provenance"])
    if len(person_rows):
        created += store.insert_rows(conn, actors, person_rows, json_text=["provenance"])
    report.acteurs = created
    if created:
        store.audit(conn, table="actors", ids=[*new_org_ids.tolist(), *new_person_ids.tolist()],
                    details={"lot": batch_id, "motif": "acteurs provisoires créés par l'import"})

    _update_actors(conn, changed_ok & ~need_person, person, person_id, "personne", source, batch_id)
    _update_actors(conn, changed_ok & ~need_org, org, org_id, "organisation", source, batch_id)

    # source records: new, changed, or moved (line / file)
    has_person = ~np.isnan(person_id)
    records = records.copy()
    records["batch_id"] = batch_id
    records["actor_id"] = pd.Series(np.where(has_person, person_id, org_id), index=records.index)
    records["organisation_actor_id"] = pd.Series(np.where(has_person, org_id, np.nan), index=records.index)
    for column in ("actor_id", "organisation_actor_id"):
        records[column] = _int_objects(records[column].to_numpy(float))
    records["actor_rule"] = np.where(has_person, person_rule, org_rule)
    records["organisation_rule"] = np.where(has_person, org_rule, None)
    if known.any():  # a known record keeps how it was attached
        for column in ("actor_rule", "organisation_rule"):
            now = records[column].to_numpy(object)
            records[column] = np.where(known & pd.isna(now), old[column].to_numpy(object), now)
    moved = known & ((old["line"].to_numpy(object) != records["line"].to_numpy(object))
                     | (old["file_name"].to_numpy(object) != records["file_name"].to_numpy(object)))
    to_write = ~unchanged | moved
    if to_write.any():
        if (to_write & known).any():
            store.upsert(conn, sr, records[to_write & known], key=["source", "source_key"],
                         update=[c for c in records.columns if c not in ("source", "source_key")],
                         json_text=["raw", "fields"])
        if (~known).any():  # new records: plain inserts, the fastest path
            store.insert_rows(conn, sr, records[~known], json_text=["raw", "fields"])
        store.audit(conn, table="source_records", count=int(to_write.sum()),
                    details={"lot": batch_id, "nouveaux": report.nouveaux, "mis_a_jour": report.mis_a_jour,
                             "en_quarantaine": report.en_quarantaine})
    if mapping.events is None and mapping.subscriptions is None and mapping.consent is None:
        return
    ids = store.select_in(conn, sa.select(sr.c.id, sr.c.source_key).where(sr.c.source == source), sr.c.source_key,
                     records["source_key"].tolist()).set_index("source_key")["id"]
    record_id = records["source_key"].map(ids).to_numpy()
    # the person actor of each ok row, followed through a merge (linkage may have absorbed it)
    actor = pd.Series(np.where(ok & has_person, person_id, np.nan), index=records.index)
    actor = _follow_merges(conn, actor)
    if mapping.events is not None:
        _write_events(conn, mapping, parsed, records, actor, record_id, stems, files, row_date, report, batch_id,
                      known_records=known)
    if mapping.subscriptions is not None:
        _write_subscriptions(conn, mapping, parsed, records, actor, record_id, person, row_date, report, batch_id)
    if mapping.consent is not None:
        report.accords += _write_consent(conn, mapping, parsed, records, actor, record_id, row_date)


def _int_objects(values: np.ndarray) -> np.ndarray:
    """Python ints (None for NaN) from a float array of ids."""
    out = np.full(len(values), None, dtype=object)
    found = ~np.isnan(values)
    out[found] = [int(v) for v in values[found]]
    return out


def _follow_merges(conn: Connection, actor: pd.Series) -> pd.Series:
    wanted = sorted({int(a) for a in actor.dropna()})
    if not wanted:
        return actor
    a = store.actors
    merged = store.select_in(conn, sa.select(a.c.id, a.c.merged_into_id).where(a.c.merged_into_id.is_not(None)),
                        a.c.id, wanted)
    if merged.empty:
        return actor
    target = merged.set_index("id")["merged_into_id"]
    return actor.map(lambda v: float(target.get(int(v), v)) if pd.notna(v) else v)


def _update_actors(conn: Connection, mask: np.ndarray, part: pd.DataFrame, actor_id: np.ndarray,
                   kind: str, source: str, batch_id: int) -> None:
    """Refresh the golden fields of the actors of changed rows, unless linkage merged them."""
    mask = mask & part["_present"].to_numpy() & ~np.isnan(actor_id)
    if not mask.any():
        return
    ids = actor_id[mask].astype(np.int64)
    a, m = store.actors, store.merges
    involved = set(store.select_in(conn, sa.select(m.c.kept_id.label("id")).where(m.c.undone_at.is_(None)),
                              m.c.kept_id, ids.tolist())["id"].astype(int))
    # an actor several records describe gets its golden record from linkage (survivorship), not one row
    sr = store.source_records
    for column in (sr.c.actor_id, sr.c.organisation_actor_id):
        shared = (sa.select(column.label("id")).where(column.is_not(None)).group_by(column)
                  .having(sa.func.count() > 1))
        involved |= set(store.select_in(conn, shared, column, ids.tolist())["id"].astype(int))
    state = store.select_in(conn, sa.select(a.c.id, a.c.status), a.c.id, ids.tolist()).set_index("id")["status"]
    free = np.array([int(i) not in involved and state.get(int(i)) == "active" for i in ids], dtype=bool)
    if not free.any():
        return
    rows = _actor_rows(part[mask][free], kind, source, ids[free])
    if kind == "personne":
        rows = rows.drop(columns=["themes"])
    # two rows of one file may name the same actor: keep the last
    rows = rows.drop_duplicates("id", keep="last")
    written = store.upsert(conn, a, rows, key=["id"], update=[c for c in rows.columns if c not in ("id", "kind")],
                           json_text=["provenance"])
    if written:
        store.audit(conn, table="actors", ids=rows["id"].tolist(),
                    details={"lot": batch_id, "motif": "ligne source modifiée"})


def _event_kind(titles: pd.Series, mapping: Mapping) -> pd.Series:
    events = mapping.events
    assert events is not None
    return _first_word(titles, events.kinds).fillna(events.default_kind)


def _write_events(conn: Connection, mapping: Mapping, parsed: _Parsed, records: pd.DataFrame, actor: pd.Series,
                  record_id: np.ndarray, stems: pd.Series, files: pd.Series, row_date: pd.Series,
                  report: ImportReport, batch_id: int, *, events_known: bool = False,
                  known_records: np.ndarray | bool = True) -> None:
    """Events of the rows (unless ``events_known``: they are only looked up) and the actors' participations.

    ``known_records`` (a mask, or one value for every row): records imported before, whose
    participations may hold another role than the rows now give (:func:`_change_roles`).
    """
    events = mapping.events
    assert events is not None
    values = parsed.values
    e = store.events
    role = values.get(_ROLE, pd.Series("participant", index=records.index, dtype=object))
    if events.mode == "file":
        if not events_known:  # the file's event, described by its first row
            title = values[events.title].astype("string") if events.title else None
            when = values[events.date] if events.date else None
            place = values[events.place].astype("string") if events.place else None
            frame = pd.DataFrame({"key": stems.to_numpy(object),
                                  "title": title.to_numpy(object) if title is not None else None,
                                  "date": when.to_numpy(object) if when is not None else None,
                                  "place": place.to_numpy(object) if place is not None else None},
                                 index=records.index)
            per_file = frame.groupby("key", sort=True).first()
            per_file = per_file[per_file["title"].notna() & per_file["date"].notna()]
            if per_file.empty:
                return
            code = geo.find_communes(names=per_file["place"].astype(object).where(per_file["place"].notna(), None))
            points = _communes_points()
            rows = pd.DataFrame({
                "source": mapping.name, "source_key": per_file.index.to_numpy(object),
                "title": per_file["title"].to_numpy(object),
                "kind": _event_kind(per_file["title"], mapping).to_numpy(object),
                "starts_on": [date.fromisoformat(d) for d in per_file["date"]],
                "place": per_file["place"].astype(object).where(per_file["place"].notna(), None).to_numpy(object),
                "commune_code": code.to_numpy(object),
                "lon": code.map(points["lon"]).to_numpy(object), "lat": code.map(points["lat"]).to_numpy(object),
            })
            rows = rows.astype(object).where(rows.notna(), None)
            report.evenements += store.upsert(conn, e, rows, key=["source", "source_key"])
        event_key = pd.Series(stems.to_numpy(object), index=records.index)
        signed = values[events.signed].astype("boolean") if events.signed else pd.Series(pd.NA, index=records.index,
                                                                                         dtype="boolean")
        parts = pd.DataFrame({"event_key": event_key, "actor_id": actor, "signed": signed, "role": role,
                              "source_record_id": record_id}, index=records.index)
    else:
        titles = values[events.titles]
        exploded = pd.DataFrame({"title": titles, "actor_id": actor, "date": row_date, "role": role,
                                 "source_record_id": record_id}, index=records.index).explode("title")
        exploded = exploded[exploded["title"].notna() & exploded["actor_id"].notna()]
        if exploded.empty:
            return
        first = exploded.groupby("title")["date"].min()
        today = datetime.now(timezone.utc).date()
        rows = pd.DataFrame({
            "source": mapping.name, "source_key": first.index.to_numpy(object),
            "title": first.index.to_numpy(object),
            "kind": _event_kind(pd.Series(first.index, index=first.index), mapping).to_numpy(object),
            "starts_on": [date.fromisoformat(d) if isinstance(d, str) else today for d in first],
        })
        # the first date a démarche is seen (over a whole file, imported in slices, or later files)
        if not events_known:
            report.evenements += store.upsert(conn, e, rows, key=["source", "source_key"], update=["starts_on"],
                                              update_where=lambda excluded: excluded.starts_on < e.c.starts_on)
        parts = pd.DataFrame({"event_key": exploded["title"], "actor_id": exploded["actor_id"],
                              "signed": pd.Series(pd.NA, index=exploded.index, dtype="boolean"),
                              "role": exploded["role"], "source_record_id": exploded["source_record_id"]})
    parts = parts[parts["actor_id"].notna()]
    if parts.empty:
        return
    event_ids = store.select_in(conn, sa.select(e.c.id, e.c.source_key).where(e.c.source == mapping.name), e.c.source_key,
                           sorted(set(parts["event_key"]))).set_index("source_key")["id"]
    parts = parts.assign(event_id=parts["event_key"].map(event_ids)).dropna(subset=["event_id"])
    # one participation per (event, actor) from these rows: the strongest role, the best signature (yes > no > blank)
    pair = ["event_id", "actor_id"]
    signed_rank = parts["signed"].astype("Float64").fillna(-1)
    parts = (parts.assign(role_rank=parts["role"].map(_ROLE_RANK),
                          signed_rank=signed_rank.groupby([parts[c] for c in pair]).transform("max"))
             .sort_values(["role_rank", "signed_rank", "source_record_id"], ascending=[False, False, True])
             .drop_duplicates(pair))
    rows = pd.DataFrame({
        "event_id": parts["event_id"].astype("int64").to_numpy(object),
        "actor_id": parts["actor_id"].astype("int64").to_numpy(object),
        "role": parts["role"].to_numpy(object),
        "signed": np.select([parts["signed_rank"] > 0, parts["signed_rank"] == 0], [True, False], None),
        "source_record_id": parts["source_record_id"].astype("int64").to_numpy(object),
    })
    known = np.broadcast_to(np.asarray(known_records, dtype=bool), len(record_id))
    written = _change_roles(conn, rows, record_id[known], batch_id)
    written += store.upsert(conn, store.participations, rows, key=["event_id", "actor_id", "role"])
    report.participations += written
    if report.evenements or written:
        store.audit(conn, table="participations", count=written,
                    details={"lot": batch_id, "evenements": report.evenements})


def _change_roles(conn: Connection, rows: pd.DataFrame, records: np.ndarray, batch_id: int) -> int:
    """Give their new role to the participations that ``records`` brought earlier with another role.

    A row whose role changed (a corrected sheet, a mapping that now knows the
    word) keeps one participation per (event, actor): the row it brought is
    updated in place (a merge re-pointing it can still be undone), or deleted
    when the actor already has a participation with the new role. Returns the
    number of participations changed.
    """
    chosen = rows[rows["source_record_id"].isin({int(r) for r in records})]
    if chosen.empty:
        return 0
    p = store.participations
    held = store.select_in(conn, sa.select(p.c.id, p.c.event_id, p.c.actor_id, p.c.role, p.c.source_record_id),
                           p.c.source_record_id, sorted(set(chosen["source_record_id"])))
    pair = ["event_id", "actor_id"]
    stale = held.merge(chosen[[*pair, "source_record_id", "role"]], on=[*pair, "source_record_id"],
                       suffixes=("", "_new"))
    stale = stale[stale["role"] != stale["role_new"]]
    if stale.empty:
        return 0
    taken = store.select_in(conn, sa.select(p.c.event_id, p.c.actor_id, p.c.role), p.c.actor_id,
                            sorted(set(stale["actor_id"])))
    taken = set(zip(taken["event_id"], taken["actor_id"], taken["role"]))
    clash = pd.Series([key in taken for key in zip(stale["event_id"], stale["actor_id"], stale["role_new"])],
                      index=stale.index) | stale.duplicated(pair)
    gone = stale.loc[clash, "id"].astype(int).tolist()
    if gone:
        store.delete_in(conn, p, p.c.id, gone)
    for role, moved in stale[~clash].groupby("role_new"):
        ids = moved["id"].astype(int).tolist()
        for start in range(0, len(ids), store.IN_CHUNK):
            conn.execute(p.update().where(p.c.id.in_(ids[start:start + store.IN_CHUNK]))
                         .values(role=role, updated_at=datetime.now(timezone.utc)))
    store.audit(conn, table="participations", ids=stale["id"].astype(int).tolist(),
                details={"lot": batch_id, "motif": "rôle changé dans le fichier", "supprimées": gone})
    return len(stale)


def _rank_case(column: Any) -> Any:
    return sa.case({k: v for k, v in SUBSCRIPTION_RANK.items()}, value=column, else_=0)


def _write_subscriptions(conn: Connection, mapping: Mapping, parsed: _Parsed, records: pd.DataFrame,
                         actor: pd.Series, record_id: np.ndarray, person: pd.DataFrame, row_date: pd.Series,
                         report: ImportReport, batch_id: int) -> None:
    spec = mapping.subscriptions
    assert spec is not None
    values = parsed.values
    index = records.index

    def flag(name: str | None) -> pd.Series:
        if name is None:
            return pd.Series(False, index=index)
        return values[name].astype("boolean").fillna(False).astype(bool)

    blocked, unsub = flag(spec.blocklisted), flag(spec.unsubscribed)
    status = pd.Series(np.select([blocked, unsub], ["blocklisted", "unsubscribed"], "subscribed"), index=index)
    if spec.lists is not None:
        lists = values[spec.lists].map(lambda v: v if isinstance(v, list) else [])
        if spec.list:
            lists = lists.map(lambda v: v or [spec.list])
    else:
        wanted = flag(spec.when) if spec.when else pd.Series(True, index=index)
        lists = pd.Series([[spec.list] if w else [] for w in wanted], index=index, dtype=object)
    restrictive = status != "subscribed"
    if spec.default_list:
        lists = lists.where(~(restrictive & (lists.map(len) == 0)), pd.Series([[spec.default_list]] * len(index),
                                                                             index=index, dtype=object))
    when = pd.to_datetime(row_date, errors="coerce").dt.tz_localize("UTC")
    frame = pd.DataFrame({"actor_id": actor, "list_name": lists, "status": status,
                          "status_at": when, "source_record_id": record_id,
                          "email_key": person["email_key"],
                          "proof": records["file_name"].astype(str) + ", ligne " + records["line"].astype(str)},
                         index=index).explode("list_name")
    frame = frame[frame["actor_id"].notna() & frame["list_name"].notna()]
    if frame.empty:
        return
    frame["rank"] = frame["status"].map(SUBSCRIPTION_RANK)
    # protection by e-mail: a blocklisted address (any list) or an unsubscribed (address, list) elsewhere in the base
    a, s = store.actors, store.subscriptions
    emails = sorted({k for k in frame["email_key"].dropna()})
    known = store.select_in(
        conn,
        sa.select(a.c.email_key, s.c.list_name, s.c.status, s.c.actor_id).select_from(s.join(a, a.c.id == s.c.actor_id)),
        a.c.email_key, emails,
    )
    if not known.empty:
        known["rank"] = known["status"].map(SUBSCRIPTION_RANK)
        blocked_emails = set(known.loc[known["status"] == "blocklisted", "email_key"])
        per_list = known.groupby(["email_key", "list_name"])["rank"].max()
        pair_rank = pd.Series(list(zip(frame["email_key"], frame["list_name"])), index=frame.index).map(per_list)
        floor = np.maximum(pair_rank.fillna(0).to_numpy(), np.where(frame["email_key"].isin(blocked_emails), 2, 0))
        frame["rank"] = np.maximum(frame["rank"].to_numpy(), floor)
    # within the file too: an address blocklisted on one row is blocklisted on all; per list, the most
    # restrictive status of the address wins (as it would against rows already in the base)
    email = frame["email_key"]
    if email.notna().any():
        per_pair = frame["rank"].groupby([email.fillna(""), frame["list_name"]]).transform("max")
        blocked_here = set(email[frame["rank"] == 2].dropna())
        floor = np.maximum(per_pair.to_numpy(), np.where(email.isin(blocked_here), 2, 0))
        frame["rank"] = np.where(email.notna(), np.maximum(frame["rank"].to_numpy(), floor), frame["rank"].to_numpy())
    # between rows naming the same actor: the most restrictive wins
    frame = frame.sort_values("rank", ascending=False, kind="stable").drop_duplicates(["actor_id", "list_name"])
    names = {v: k for k, v in SUBSCRIPTION_RANK.items()}
    frame["status"] = frame["rank"].map(names)
    subscribed = frame["status"] == "subscribed"
    at = frame["status_at"].astype(object).where(frame["status_at"].notna(), datetime.now(timezone.utc))
    rows = pd.DataFrame({
        "actor_id": frame["actor_id"].astype("int64").to_numpy(object),
        "list_name": frame["list_name"].to_numpy(object),
        "status": frame["status"].to_numpy(object),
        "status_at": [t.to_pydatetime() if isinstance(t, pd.Timestamp) else t for t in at],
        "consent_proof": np.where(subscribed, mapping.label + " : " + frame["proof"], None),
        "consent_at": [t.to_pydatetime() if (ok and isinstance(t, pd.Timestamp)) else None
                       for t, ok in zip(frame["status_at"], subscribed)],
        "source": mapping.name,
        "source_record_id": frame["source_record_id"].astype("int64").to_numpy(object),
    })
    if not known.empty:  # skip what the base already holds (a re-import writes nothing)
        stored = known.set_index(["actor_id", "list_name"])["rank"]
        stored = stored[~stored.index.duplicated()]
        held = pd.Series(list(zip(rows["actor_id"], rows["list_name"])), index=rows.index).map(stored)
        rows = rows[~(held >= rows["status"].map(SUBSCRIPTION_RANK)).to_numpy(bool)]
    # never lower a status: subscribed < unsubscribed < blocklisted; update only when the status changes
    written = 0 if rows.empty else store.upsert(
        conn, s, rows, key=["actor_id", "list_name"],
        update_where=lambda excluded: sa.and_(excluded.status != s.c.status,
                                              _rank_case(excluded.status) >= _rank_case(s.c.status)),
    )
    # the same address under another actor (not yet linked) gets the restriction too
    restricted = frame[frame["rank"] > 0]
    if not known.empty and not restricted.empty:
        others = known[known["email_key"].isin(set(restricted["email_key"]))]
        worst_list = restricted.groupby(["email_key", "list_name"])["rank"].max()
        blocked_now = set(restricted.loc[restricted["rank"] == 2, "email_key"])
        rank_other = pd.Series(list(zip(others["email_key"], others["list_name"])), index=others.index).map(worst_list)
        target = np.maximum(rank_other.fillna(0).to_numpy(), np.where(others["email_key"].isin(blocked_now), 2, 0))
        lower = others[target > others["rank"].to_numpy()].assign(new=target[target > others["rank"].to_numpy()])
        if not lower.empty:
            down = pd.DataFrame({"actor_id": lower["actor_id"].astype("int64").to_numpy(object),
                                 "list_name": lower["list_name"].to_numpy(object),
                                 "status": lower["new"].map(names).to_numpy(object),
                                 "status_at": datetime.now(timezone.utc)}).drop_duplicates(["actor_id", "list_name"])
            written += store.upsert(conn, s, down, key=["actor_id", "list_name"],
                                    update_where=lambda excluded: _rank_case(excluded.status) > _rank_case(s.c.status))
    report.inscriptions += written
    if written:
        store.audit(conn, table="subscriptions", count=written, details={"lot": batch_id})


def _write_consent(conn: Connection, mapping: Mapping, parsed: _Parsed, records: pd.DataFrame, actor: pd.Series,
                   record_id: np.ndarray, row_date: pd.Series) -> int:
    """Statements of consent to be shown on a map (``[consent]`` of the mapping), one per row that answers.

    Dated by the row's day (midnight, Paris), else by the import; the proof names the source, file and
    line. The actors get their latest statement (:func:`carto.privacy.write_statements`).
    """
    assert mapping.consent is not None
    answer = parsed.values.get(mapping.consent.map)
    if answer is None:  # an optional column absent from this file
        return 0
    answer = answer.astype("boolean")
    said = (answer.notna() & actor.notna()).to_numpy(bool)
    if not said.any():
        return 0
    days = pd.to_datetime(row_date, errors="coerce")
    stated = [None if pd.isna(d) else privacy.paris_midnight(d.date()) for d in days[said]]
    statements = pd.DataFrame({
        "actor_id": actor[said].astype("int64").to_numpy(object),
        "consent": answer[said].astype(bool).to_numpy(object),
        "stated_at": pd.Series(stated, dtype=object).to_numpy(object),
        "proof": (mapping.label + " : " + records["file_name"].astype(str) + ", ligne "
                  + records["line"].astype(str))[said].to_numpy(object),
        "source_record_id": record_id[said].astype("int64"),
    })
    return privacy.write_statements(conn, statements)


def provisional_actor(conn: Connection, record_id: int, kind: str, actor_id: int) -> None:
    """Insert actor ``actor_id``: the provisional actor the import makes of record ``record_id``'s ``kind`` part.

    The same row as an import creates (:func:`_actor_rows`), from the
    record's stored ``fields``; a person points at the record's organisation
    actor. Used by :func:`carto.linkage.detach`.
    """
    sr = store.source_records
    row = conn.execute(sa.select(sr.c.source, sr.c.organisation_actor_id, sa.cast(sr.c.fields, sa.Text))
                       .where(sr.c.id == record_id)).one()
    fields = orjson.loads(row[2] or "{}").get(kind) or {}
    names = _PERSON_FIELDS if kind == "personne" else _ORG_FIELDS
    part = pd.DataFrame({name: [fields.get(name)] for name in names}, dtype=object)
    rows = _actor_rows(part, kind, row.source, np.array([actor_id], dtype=np.int64))
    if kind == "personne":
        rows["organisation_id"] = row.organisation_actor_id
    store.insert_rows(conn, store.actors, rows, json_text=["provenance"])


def rederive(conn: Connection, actors: dict[int, int]) -> None:
    """Write again, for the actors given, what records bring: participations and subscriptions.

    ``actors``: record id → actor id. Each record's raw row is parsed again
    with the mapping of its import batch (``import_batches.mapping``), and its
    participations (to events already in the base, looked up and never
    written) and subscriptions (never lowering a status, as every import) are
    upserted for its actor. :func:`carto.linkage.detach` uses it when a record
    leaves the actor it was attached to: its new actor gets what the record
    brings, the actor it leaves keeps what its other records bring.
    """
    sr, ib = store.source_records, store.import_batches
    statement = (sa.select(sr.c.id, sr.c.source_key, sr.c.file_name, sr.c.line, sr.c.batch_id,
                           sa.cast(sr.c.raw, sa.Text).label("raw"), ib.c.mapping)
                 .select_from(sr.join(ib, ib.c.id == sr.c.batch_id)).where(sr.c.status == "ok"))
    found = store.select_in(conn, statement, sr.c.id, sorted(actors))
    for (batch_id, text), group in found.groupby(["batch_id", "mapping"], sort=True):
        mapping = mapping_from_text(text, f"correspondance du lot {batch_id}")
        if mapping.events is None and mapping.subscriptions is None:
            continue
        group = group.sort_values(["file_name", "line"], ignore_index=True)
        table = pd.DataFrame([orjson.loads(raw) for raw in group["raw"]]).fillna("").astype(object)
        files = group["file_name"].astype("string")
        lines = group["line"].astype("int64")
        parsed = _parse_lines(table, lines, files, mapping)
        records = pd.DataFrame({"source_key": group["source_key"], "file_name": files, "line": lines})
        actor = pd.Series([float(actors[int(i)]) for i in group["id"]], index=table.index)
        record_id = group["id"].astype("int64").to_numpy()
        row_date = parsed.values.get("date", pd.Series(None, index=table.index, dtype=object))
        report = ImportReport(file="", source=mapping.name)
        if mapping.events is not None:
            stems = files.map(lambda f: Path(str(f)).stem).astype("string")
            _write_events(conn, mapping, parsed, records, actor, record_id, stems, files, row_date, report,
                          int(batch_id), events_known=True)
        if mapping.subscriptions is not None:
            person = _part(parsed, "personne", _PERSON_FIELDS, _PERSON_CORE, table.index)
            _write_subscriptions(conn, mapping, parsed, records, actor, record_id, person, row_date, report,
                                 int(batch_id))
