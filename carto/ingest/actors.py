"""Finding or creating the actor of each imported record: sure keys, provisional actors' rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from carto import geo, normalize, store
from carto.ingest.parsing import _joined


def _communes_points() -> pd.DataFrame:
    return geo.communes().set_index("code")[["lon", "lat"]]


#: Sure keys by which an import attaches a new row to the actor that already carries one of them: the
#: exact rules of :data:`carto.linkage.EXACT_RULES` that need no guard (same e-mail; same SIREN — a SIRET
#: gives its SIREN —, same RNA; and a bare organisation name given by the same contact person, see
#: :func:`_contact_keys`), with the rule name kept on the record.
SURE_KEYS = {"personne": {"email_key": "email"},
             "organisation": {"siren": "siren", "rna": "rna", "contact": "contact"}}


#: Fields that make an organisation mention more than a bare name (see :func:`_contact_keys`).
_ORG_DETAILS = ("siret", "siren", "rna", "commune_code", "address")


def _contact_keys(part: pd.DataFrame, contact: np.ndarray) -> pd.Series:
    """Key « contact person, full name » of the bare organisation mentions (linkage's rule « contact »).

    A sign-in sheet's « Structure » column names an organisation by its name
    only; the same person naming the same full name (filler words kept) on
    another sheet means the same organisation. ``contact``: per row, the
    person's actor (``a<id>``) or the row whose new person actor it takes
    (``r<position>``), None without a person. Mentions with an identifier, a
    commune or an address are left to linkage (their guards may disagree).
    """
    bare = part[[c for c in _ORG_DETAILS if c in part.columns]].isna().all(axis=1).to_numpy()
    full = normalize.name_keys(part["name"]).to_numpy(object) if "name" in part.columns else np.full(len(part), None)
    keep = bare & pd.notna(contact) & pd.notna(full)
    return pd.Series([f"{c}\x1f{f}" if k else None for c, f, k in zip(contact, full, keep)], index=part.index,
                     dtype=object)


def _contact_owners(conn: Connection, keys: Sequence[str]) -> pd.DataFrame:
    """Organisations of the base each contact key names: those its person's records name under that full name."""
    persons = sorted({int(k.split("\x1f", 1)[0][1:]) for k in keys if k.startswith("a")})
    sr, o = store.source_records, store.actors
    found = store.select_in(conn, sa.select(sr.c.actor_id, o.c.id, o.c.organisation_name)
                            .join_from(sr, o, o.c.id == sr.c.organisation_actor_id)
                            .where(o.c.status == "active", o.c.kind == "organisation"), sr.c.actor_id, persons)
    if found.empty:
        return pd.DataFrame({"key": pd.Series(dtype=object), "actor": pd.Series(dtype=object)})
    full = normalize.name_keys(found["organisation_name"]).to_numpy(object)
    key = ["a" + str(int(p)) + "\x1f" + f if pd.notna(f) else None for p, f in zip(found["actor_id"], full)]
    out = pd.DataFrame({"key": key, "actor": found["id"]}).dropna()
    return out[out["key"].isin(set(keys))].drop_duplicates()


def _sure_groups(conn: Connection, part: pd.DataFrame, mask: np.ndarray, kind: str,
                 contact: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How the rows of ``mask`` (new, needing an actor) share actors through their sure keys.

    Rows sharing a key, directly or through other rows, form a group. A group
    whose keys name exactly one active actor of the base (of ``kind``) is
    attached to it; a group naming none gets one new actor, its first row's;
    a group naming several gets one actor per row (linkage will decide, with
    what people declared distinct). Returns, per row of ``part``: the
    existing actor (NaN if none), the position of the row whose new actor it
    takes (its own when it gets one, -1 when attached to an existing actor or
    not in ``mask``) and the rule (``None``: the row has an actor of its own).
    Organisations with ``contact`` (see :func:`_contact_keys`) are also keyed
    by their contact person and full name.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(part)
    existing = np.full(n, np.nan)
    leader = np.where(mask, np.arange(n), -1)
    rule = np.full(n, None, dtype=object)
    keys = {k: r for k, r in SURE_KEYS[kind].items() if k in part.columns}
    columns = {k: part[k] for k in keys}
    if "contact" in SURE_KEYS[kind] and contact is not None:  # not a column: computed from the contact person
        keys["contact"], columns["contact"] = SURE_KEYS[kind]["contact"], _contact_keys(part, contact)
    rows = np.flatnonzero(mask)
    edges_row, edges_key = [], []
    first_rule = pd.Series(None, index=range(len(rows)), dtype=object)
    for key, name in keys.items():
        values = columns[key].iloc[rows].astype("string").to_numpy(object)
        present = np.flatnonzero(pd.notna(values))
        edges_row.append(present)
        edges_key.append(np.array([f"{key}\x1f{v}" for v in values[present]], dtype=object))
        first_rule.iloc[present] = first_rule.iloc[present].fillna(name)
    if not rows.size or not sum(map(len, edges_row)):
        return existing, leader, rule
    row_of, key_text = np.concatenate(edges_row), np.concatenate(edges_key)
    codes, uniques = pd.factorize(key_text)
    size = len(rows) + len(uniques)
    graph = coo_matrix((np.ones(len(row_of)), (row_of, len(rows) + codes)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    component = label[: len(rows)]
    keyed = np.zeros(len(rows), dtype=bool)
    keyed[row_of] = True
    # actors of the base carrying each key value
    a = store.actors
    owners = []
    for key in keys:
        wanted = sorted({u.split("\x1f", 1)[1] for u in uniques if u.startswith(key + "\x1f")})
        if not wanted:
            continue
        if key == "contact":
            found = _contact_owners(conn, wanted)
            owners.append(found.assign(key="contact\x1f" + found["key"]))
            continue
        found = store.select_in(conn, sa.select(a.c.id, a.c[key].label("value")).where(
            a.c.kind == kind, a.c.status == "active"), a.c[key], wanted)
        owners.append(pd.DataFrame({"key": key + "\x1f" + found["value"].astype(str), "actor": found["id"]}))
    owner = pd.concat(owners, ignore_index=True) if owners else pd.DataFrame({"key": [], "actor": []})
    owner = owner.assign(component=label[len(rows) + pd.Index(uniques).get_indexer(owner["key"])])
    per_component = owner.drop_duplicates(["component", "actor"]).groupby("component")["actor"]
    count = per_component.size()
    single = per_component.first()[count == 1]
    ambiguous = set(count.index[count > 1].tolist())
    frame = pd.DataFrame({"row": rows, "component": component, "keyed": keyed})
    attached = frame["keyed"] & frame["component"].isin(single.index)
    existing[rows[attached]] = frame.loc[attached, "component"].map(single).astype(float).to_numpy()
    leader[rows[attached]] = -1
    rule[rows[attached]] = first_rule[attached.to_numpy()].to_numpy(object)
    grouped = frame["keyed"] & ~attached & ~frame["component"].isin(ambiguous)
    firsts = frame[grouped].groupby("component")["row"].transform("min").to_numpy()
    followers = frame.loc[grouped, "row"].to_numpy() != firsts
    leader[rows[grouped][followers]] = firsts[followers]
    rule[rows[grouped][followers]] = first_rule[grouped.to_numpy()].to_numpy(object)[followers]
    return existing, leader, rule


def _actor_ids(conn: Connection, part: pd.DataFrame, mask: np.ndarray, kind: str, ids: np.ndarray,
               contact: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Actors of the rows of ``mask`` through their sure keys (see :func:`_sure_groups`).

    Fills ``ids`` (NaN where missing) for the rows attached to an existing
    actor; returns the rows that get a new actor, the position of the row
    whose new actor each row takes (-1: none) and the rules.
    """
    existing, leader, rule = _sure_groups(conn, part, mask, kind, contact)
    attached = mask & ~np.isnan(existing)
    ids[attached] = existing[attached]
    return mask & (leader == np.arange(len(part))), leader, rule


def _give_new_ids(ids: np.ndarray, own: np.ndarray, leader: np.ndarray, new_ids: Sequence[int]) -> None:
    """Write ``new_ids`` into ``ids`` for the rows of ``own``, and each follower its leader's id."""
    ids[own] = new_ids
    follows = (leader >= 0) & ~own
    ids[follows] = ids[leader[follows]]


def _actor_rows(part: pd.DataFrame, kind: str, source: str, ids: np.ndarray) -> pd.DataFrame:
    """Actor rows (golden fields copied from the record) of the rows of ``part``."""
    points = _communes_points()
    p = part
    if kind == "personne":
        names = _joined([p["first_name"], p["last_name"]], p.index, " ")
        display = names.fillna(p["email"].astype("string")).fillna(p["pseudo"].astype("string"))
        name_key = _joined([p["first_name_key"], p["last_name_key"]], p.index, " ")
        fields = {"first_name": p["first_name"], "last_name": p["last_name"], "name_key": name_key,
                  "first_name_key": p["first_name_key"], "last_name_key": p["last_name_key"],
                  "themes": pd.Series([[] for _ in range(len(p))], index=p.index, dtype=object)}
    else:
        display = p["name"].astype("string").fillna(p["acronym"].astype("string")).fillna(
            p["siret"].astype("string")).fillna(p["rna"].astype("string"))
        fields = {"organisation_name": p["name"], "name_key": p["name_key"], "acronym": p["acronym"],
                  "org_type": p["org_type"], "siret": p["siret"], "siren": p["siren"], "rna": p["rna"],
                  "url": p["url"], "address": p["address"],
                  "themes": p["themes"].map(lambda t: t if isinstance(t, list) else [])}
    code = p["commune_code"].astype("string")
    rows = pd.DataFrame(
        {
            "id": ids,
            "kind": kind,
            "status": "active",
            "display_name": display.fillna("(sans nom)").to_numpy(object),
            **{k: pd.Series(v, index=p.index).to_numpy(object) for k, v in fields.items()},
            "email": p["email"].to_numpy(object),
            "email_key": p["email_key"].to_numpy(object),
            "phone": p["phone"].to_numpy(object),
            "postcode": p["postcode"].to_numpy(object),
            "commune_code": code.to_numpy(object),
            "lon": code.map(points["lon"]).astype("Float64").to_numpy(object),
            "lat": code.map(points["lat"]).astype("Float64").to_numpy(object),
            "location_precision": np.where(code.notna(), "commune", None),
        },
        index=p.index,
    )
    provenance_cols = [c for c in rows.columns if c not in {"id", "kind", "status", "display_name",
                                                             "location_precision", "themes"}]
    rows["provenance"] = _provenance_text(rows[provenance_cols].notna().to_numpy(), provenance_cols, source)
    rows = rows.astype(object).where(rows.notna(), None)
    return rows


def _provenance_text(present: np.ndarray, names: Sequence[str], source: str) -> np.ndarray:
    """JSON text ``{"field":"source",…}`` of the fields present in each row, built once per distinct pattern.

    The same text as :func:`carto.store._json_dumps` of the dict; written with
    ``json_text=["provenance"]``.

    Examples
    --------
    >>> _provenance_text(np.array([[True, False], [True, True], [True, False]]), ["email", "phone"], "lreav").tolist()
    ['{"email":"lreav"}', '{"email":"lreav","phone":"lreav"}', '{"email":"lreav"}']
    """
    if not len(present):
        return np.zeros(0, dtype=object)
    bits = [1 << i for i in range(len(names))]  # one bit per field: about 20 fields (an actor's columns)
    codes, inverse = np.unique(present.astype(np.int64) @ np.array(bits, dtype=np.int64), return_inverse=True)
    value = orjson.dumps(source).decode()
    texts = np.array(["{" + ",".join(f"{orjson.dumps(n).decode()}:{value}" for n, bit in zip(names, bits) if code & bit)
                      + "}" for code in codes.tolist()], dtype=object)
    return texts[inverse.ravel()]
