"""The review queue: uncertain pairs queued by :func:`carto.linkage.link`, shown side by side, decided by people."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import _fr, store
from carto._errors import CartoError
from carto.linkage.groups import _details
from carto.linkage.merging import SOURCE_PRIORITY, _RULES_FR, _merge_in, _who
from carto.linkage.model import _comparisons
from carto.linkage.rules import ORGANISATION_COLUMNS, PERSON_COLUMNS, Kind


def _queue(
    conn: Any,
    edges: pd.DataFrame,
    *,
    roots: dict[int, int],
    kind: str,
    review_band: tuple[float, float],
    auto_threshold: float,
    forbidden: set[tuple[int, int]],
) -> None:
    """Queue the uncertain pairs (on the actors they now belong to), forget stale pending ones."""
    rp = store.review_pairs
    actors = store.actors
    # pending pairs of actors merged since: no longer a question
    inactive = sa.select(actors.c.id).where(actors.c.status != "active").scalar_subquery()
    conn.execute(rp.delete().where(rp.c.status == "pending", rp.c.kind == kind,
                                   sa.or_(rp.c.actor_a_id.in_(inactive), rp.c.actor_b_id.in_(inactive))))
    low, high = review_band
    band = edges[(edges["probability"] >= low) & (edges["probability"] < min(high, auto_threshold))
                 & edges["rule"].isna()]
    if band.empty:
        return
    a = band["a"].map(lambda x: roots.get(x, x))
    b = band["b"].map(lambda x: roots.get(x, x))
    band = band.assign(a=np.minimum(a, b), b=np.maximum(a, b))
    band = band[band["a"] != band["b"]]
    band = band.sort_values("probability", ascending=False).drop_duplicates(["a", "b"])
    decided = {
        (int(x), int(y)) for x, y in conn.execute(
            sa.select(rp.c.actor_a_id, rp.c.actor_b_id).where(rp.c.status == "decided")
        ).all()
    }
    band = band[[((x, y) not in forbidden and (x, y) not in decided)
                 for x, y in zip(band["a"].tolist(), band["b"].tolist())]]
    if band.empty:
        return
    rows = pd.DataFrame({
        "actor_a_id": band["a"].astype("int64").to_numpy(),
        "actor_b_id": band["b"].astype("int64").to_numpy(),
        "kind": kind,
        "score": band["probability"].clip(0, 1).round(6).to_numpy(),
        "details": [{**d, "enjeu": round(float(v), 4)} for d, v in zip(_details(band), band["value"])],
        "status": "pending",
    })
    store.upsert(conn, rp, rows, key=["actor_a_id", "actor_b_id"], update=["score", "details"],
                 update_where=lambda excluded: rp.c.status == "pending")


#: French names of the comparisons shown in the review queue.
_COMPARISONS_FR = {
    "noms": "noms", "first_name_key": "prénom", "last_name_key": "nom", "email_key": "e-mail",
    "phone": "téléphone", "lieu": "lieu", "nom_organisation": "nom de l'organisation",
    "siren": "SIREN", "organisation_key": "organisation", "birth_date": "date de naissance",
    "identifier": "identifiant", "address": "adresse", "locality": "localité",
}
#: Actor columns shown side by side in the review queue (French name).
_SHOWN = {
    "display_name": "nom", "email": "e-mail", "phone": "téléphone", "postcode": "code postal",
    "commune_code": "commune", "organisation_name": "organisation", "siret": "SIRET", "rna": "RNA",
}


@functools.cache
def _top_levels() -> Mapping[str, int]:
    """Highest level of each comparison (the « identical » one); built once (Splink objects are slow to make)."""
    columns = [*PERSON_COLUMNS, *ORGANISATION_COLUMNS, "names_sorted"]
    top = {}
    for comparison in _comparisons(columns):
        built = comparison.get_comparison("duckdb")
        top[built.output_column_name] = max(level.comparison_vector_value for level in built.comparison_levels)
    return top


def _describe_levels(details: Mapping[str, Any] | None, top: Mapping[str, int]) -> str:
    details = details or {}
    if details.get("regle"):
        return f"règle exacte : {_RULES_FR.get(details['regle'], details['regle'])} identique"
    parts = []
    for name, level in (details.get("niveaux") or {}).items():
        if level < 0:
            word = "inconnu"
        elif level == 0:
            word = "différent"
        elif level >= top.get(name, level):
            word = "identique"
        else:
            word = "proche"
        parts.append(f"{_COMPARISONS_FR.get(name, name)} : {word}")
    return " ; ".join(parts)


def review_queue(engine: sa.Engine, *, kind: Kind | None = None) -> pd.DataFrame:
    """Pairs waiting for a decision, in queue order, both actors side by side (French columns).

    Columns: ``paire`` (id for :func:`decide`), ``type``, ``score``,
    ``acteur A``, ``acteur B``, then ``<champ> A`` / ``<champ> B`` for the
    name, e-mail, phone, postcode, commune, organisation, SIRET and RNA, and
    ``correspondances`` (what matches: identique / proche / différent /
    inconnu for each comparison), ``probabilité`` (the score as read in
    French, « 0,67 ») and ``enjeu`` (what a decision is worth: see
    :func:`carto.linkage.base._triage`). Communes are shown by name (« Sète
    (34301) »). Within one run's pairs, the most valuable come first; a pair
    « passée » goes to the end.

    Examples
    --------
    >>> review_queue(store.init_base("sqlite://")).empty
    True
    """
    rp = store.review_pairs
    a = store.actors.alias("a")
    b = store.actors.alias("b")
    shown = [(a.c[c].label(f"{label} A"), b.c[c].label(f"{label} B")) for c, label in _SHOWN.items()]
    query = (
        sa.select(rp.c.id.label("paire"), rp.c.kind.label("type"), rp.c.score.label("score"),
                  rp.c.actor_a_id.label("acteur A"), rp.c.actor_b_id.label("acteur B"),
                  *[col for pair in shown for col in pair], rp.c.details, rp.c.queued_at.label("queued"))
        .join_from(rp, a, a.c.id == rp.c.actor_a_id)
        .join(b, b.c.id == rp.c.actor_b_id)
        .where(rp.c.status == "pending", a.c.status == "active", b.c.status == "active")
        .order_by(rp.c.queued_at, rp.c.id)
    )
    if kind is not None:
        query = query.where(rp.c.kind == kind)
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    top = _top_levels() if len(frame) else {}
    frame["correspondances"] = [_describe_levels(d, top) for d in frame["details"]]
    frame["probabilité"] = [_fr.decimal(float(x), 2) for x in frame["score"]]
    frame["enjeu"] = [float((d or {}).get("enjeu", 0.0)) for d in frame["details"]]
    if len(frame):
        names = _commune_names()
        for side in ("A", "B"):
            codes = frame[f"commune {side}"]
            frame[f"commune {side}"] = [None if c is None or pd.isna(c) else
                                        (f"{names[c]} ({c})" if c in names else str(c)) for c in codes]
        frame["_order"] = np.arange(len(frame))
        frame = frame.sort_values(["queued", "enjeu", "_order"], ascending=[True, False, True]).drop(columns="_order")
    return frame.drop(columns=["details", "queued"]).reset_index(drop=True)


@functools.cache
def _commune_names() -> Mapping[str, str]:
    """INSEE code → name of the communes of Occitanie (read once)."""
    from carto import geo

    table = geo.communes()
    return dict(zip(table["code"].astype(str), table["nom"].astype(str)))


_DECISION_ALIASES = {"meme": "meme", "même": "meme", "differents": "differents", "différents": "differents",
                     "passer": "passer"}
_DECISIONS_FR = {"meme": "même", "differents": "différents"}


def decide(engine: sa.Engine, pair_id: int, decision: str, *, who: str | None = None) -> int | None:
    """Record a person's decision on a pair of the review queue.

    ``"meme"`` merges the two actors (method ``manual``, into the older one)
    and returns the merge id; ``"differents"`` records them in
    ``not_duplicates``: the pair is never proposed again; ``"passer"`` leaves
    the pair pending, at the end of the queue.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> decide(engine, 1, "peut-être")
    Traceback (most recent call last):
    ...
    carto._errors.CartoError: Décision inconnue : « peut-être » (valeurs possibles : « même », « différents » ou « passer »).
    """
    chosen = _DECISION_ALIASES.get(str(decision).strip().lower())
    if chosen is None:
        raise CartoError(
            f"Décision inconnue : « {decision} » (valeurs possibles : « même », « différents » ou « passer »)."
        )
    author = _who(who)
    rp = store.review_pairs
    now = datetime.now(timezone.utc)
    with store.transaction(engine, action="revue de paire", who=author) as conn:
        pair = conn.execute(sa.select(rp).where(rp.c.id == pair_id)).one_or_none()
        if pair is None:
            raise CartoError(f"Paire {pair_id} introuvable dans la file de revue.")
        if pair.status != "pending":
            raise CartoError(f"La paire {pair_id} a déjà été tranchée (« {_DECISIONS_FR[pair.decision]} ») "
                             f"par {pair.who}.")
        merge_id = None
        if chosen == "passer":
            conn.execute(rp.update().where(rp.c.id == pair_id).values(queued_at=now))
        else:
            if chosen == "meme":
                merge_id = _merge_in(conn, pair.actor_a_id, pair.actor_b_id, method="manual", score=pair.score,
                                     rule=None, who=author, priority=SOURCE_PRIORITY)
            else:
                nd = store.not_duplicates
                store.upsert(conn, nd, [{"actor_a_id": pair.actor_a_id, "actor_b_id": pair.actor_b_id,
                                          "who": author, "reason": "file de revue"}],
                             key=["actor_a_id", "actor_b_id"], update=[])
            conn.execute(rp.update().where(rp.c.id == pair_id).values(
                status="decided", decision=chosen, who=author, decided_at=now, merge_id=merge_id))
        store.audit(conn, table="review_pairs", ids=[pair_id], details={"décision": chosen, "fusion": merge_id})
    return merge_id
