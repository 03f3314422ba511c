"""Linkage of the whole base (every unit of a kind) and the report of a run (:class:`LinkReport`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import _fr, store
from carto._errors import CartoError
from carto.linkage.groups import _actor_edges, _groups, _plan
from carto.linkage.labels import apply_labels, decided_labels
from carto.linkage.merging import _apply_plan, _refresh
from carto.linkage.model import predict, train
from carto.linkage.review import _queue
from carto.linkage.rules import _ORGANISATION_GUARDS, Kind, _organisation_keys, homonyms
from carto.linkage.units import _actor_frame, _record_less, _units

#: One logger for the whole of linkage, whichever sub-module writes.
log = logging.getLogger("carto.linkage")


#: Default probability from which a pair is merged without asking anyone.
AUTO_THRESHOLD = 0.8
#: Default uncertain band: pairs scored in [low, high) go to the review queue.
REVIEW_BAND = (0.3, 0.8)


@dataclass
class LinkReport:
    """What :func:`link` did.

    Attributes
    ----------
    units : dict
        Records (and record-less actors) compared, per kind.
    pairs : dict
        Pairs of distinct actors scored at least the low end of the review band, per kind.
    merges_rule, merges_probabilistic : int
        Merges made by an exact rule / by the probabilistic model.
    to_review : int
        Pairs waiting in the review queue after the run.
    refused : int
        Pairs above the threshold not merged because a person declared them
        distinct, or because they would join two homonymous organisations.
    ambiguous : int
        Bare mentions of an organisation name that homonyms share, left
        apart (see :func:`homonyms`).
    refreshed : int
        Actors whose golden record changed because the import attached new
        records to them (same e-mail, SIREN, RNA or contact person; see :func:`_refresh`).
    merge_ids : list of int
        Ids of the merges made.
    seconds : float
        Wall time.
    mode : str
        ``"incremental"`` (only what was imported since the last run),
        ``"full"`` (every record) or ``"nothing"`` (nothing new: no comparison).
    new_records : int
        Incremental run: source records imported or changed since the last run,
        plus the actors made by hand since.
    actors : int
        Active actors in the base after the run.
    candidates : dict
        Incremental run: units of the base sharing a blocking key with a new unit, per kind.
    keys : dict
        Blocking keys written into ``link_keys``, per kind.
    trained : list of str
        Kinds whose model was trained by this run (first run, or ``retrain=True``).
    labels : dict
        Answers of the review queue (« même acteur », « différents ») that
        corrected the model trained by this run, per kind (see
        :mod:`carto.linkage.labels`).
    asked : int
        Doubtful pairs this run put in the review queue (at most one per 100 new records).
    settled_same, settled_apart : int
        Doubtful pairs beyond that budget that the model decided alone: merged
        (probability from 0,5) or kept apart.
    """

    units: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    merges_rule: int = 0
    merges_probabilistic: int = 0
    to_review: int = 0
    refused: int = 0
    ambiguous: int = 0
    refreshed: int = 0
    merge_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "full"
    new_records: int = 0
    actors: int = 0
    candidates: dict[str, int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    trained: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    asked: int = 0
    settled_same: int = 0
    settled_apart: int = 0

    @property
    def merges(self) -> int:
        """Number of merges made."""
        return self.merges_rule + self.merges_probabilistic

    def __str__(self) -> str:
        if self.mode == "nothing":
            return (f"Rien de nouveau depuis le dernier rapprochement : aucune comparaison "
                    f"({_fr.count(self.to_review, 'paire')} à revoir{_review_time(self.to_review)}).")
        if self.mode == "incremental":
            head = (f"{_fr.count(self.new_records, 'nouvel enregistrement', 'nouveaux enregistrements')} "
                    f"comparé{'s' if self.new_records > 1 else ''} à {_fr.count(self.actors, 'acteur')}")
        else:
            head = (f"Rapprochement complet : {_fr.count(sum(self.units.values()), 'enregistrement')} "
                    f"comparé{'s' if sum(self.units.values()) > 1 else ''}")
        trained = ("modèle entraîné" + (" (personnes et organisations)" if len(self.trained) == 2 else
                                        f" ({'personnes' if self.trained[0] == 'personne' else 'organisations'})")
                   if self.trained else "")
        return (
            f"{head} : {_fr.count(self.merges, 'fusion')} "
            f"({_fr.integer(self.merges_rule)} par règle, {_fr.integer(self.merges_probabilistic)} "
            f"probabiliste{'s' if self.merges_probabilistic > 1 else ''}), "
            f"{_fr.count(self.to_review, 'paire')} à revoir{_review_time(self.to_review)}, "
            f"{_fr.count(self.refused, 'paire écartée', 'paires écartées')} (« différents » ou homonymes)"
            + (f", {_fr.count(self.ambiguous, 'mention', 'mentions')} d'organisations homonymes laissées à part"
               if self.ambiguous else "")
            + (f", {_fr.count(self.refreshed, 'fiche')} d'acteur complétée{'s' if self.refreshed > 1 else ''} "
               "par de nouvelles lignes" if self.refreshed else "")
            + (f" ; {_fr.count(self.settled_same + self.settled_apart, 'paire douteuse', 'paires douteuses')} "
               f"de faible enjeu tranchée{'s' if self.settled_same + self.settled_apart > 1 else ''} par le modèle "
               f"({_fr.integer(self.settled_same)} fusionnée{'s' if self.settled_same > 1 else ''}, "
               f"{_fr.integer(self.settled_apart)} laissée{'s' if self.settled_apart > 1 else ''} à part)"
               if self.settled_same + self.settled_apart else "")
            + (f" ; {trained}" if trained else "")
            + (f", corrigé par {_fr.count(sum(self.labels.values()), 'réponse')} de la file de revue"
               if self.labels else "")
        )


#: Seconds a person takes, on average, to decide one pair of the review queue.
SECONDS_PER_PAIR = 25


def review_time(n_pairs: int) -> str:
    """How long a queue of ``n_pairs`` should take, in French (« environ 5 minutes »).

    Examples
    --------
    >>> review_time(0), review_time(1), review_time(12), review_time(400)
    ('', 'moins d’une minute', 'environ 5 minutes', 'environ 2 h 47')
    """
    if n_pairs <= 0:
        return ""
    seconds = n_pairs * SECONDS_PER_PAIR
    if seconds < 60:
        return "moins d’une minute"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"environ {_fr.count(minutes, 'minute')}"
    return f"environ {minutes // 60} h {minutes % 60:02d}"


def _review_time(n_pairs: int) -> str:
    text = review_time(n_pairs)
    return f", {text}" if text else ""


def _forbidden(conn: Any) -> set[tuple[int, int]]:
    """Pairs of actors a run never merges: declared distinct, or whose merge a person undid.

    Undoing a merge is a decision: a later run, even a full one
    (``link(full=True)``), does not merge the two actors again. A person
    can still merge them by hand (:func:`carto.linkage.merge`), which lifts it.
    """
    nd, m = store.not_duplicates, store.merges
    rows = conn.execute(sa.select(nd.c.actor_a_id, nd.c.actor_b_id)).all()
    pairs = {(int(a), int(b)) for a, b in rows}
    undone_rows = conn.execute(sa.select(m.c.kept_id, m.c.absorbed_id).where(m.c.undone_at.is_not(None))).all()
    if not undone_rows:  # the usual case: no merge was ever undone (never read the whole merge log)
        return pairs
    ids = sorted({int(i) for row in undone_rows for i in row})
    merged = pd.concat([store.select_in(conn, sa.select(m.c.id, m.c.kept_id, m.c.absorbed_id,
                                                        m.c.undone_at.is_not(None).label("undone")), column, ids)
                        for column in (m.c.kept_id, m.c.absorbed_id)]).drop_duplicates("id").sort_values("id")
    undone: set[tuple[int, int]] = set()
    for kept, absorbed, was_undone in zip(merged["kept_id"], merged["absorbed_id"], merged["undone"]):
        pair = (min(int(kept), int(absorbed)), max(int(kept), int(absorbed)))  # the latest merge of a pair holds
        (undone.add if bool(was_undone) else undone.discard)(pair)
    return pairs | undone


def _check_band(auto_threshold: float, review_band: tuple[float, float]) -> None:
    low, high = review_band
    if not (0 <= low <= high <= 1 and 0 < auto_threshold <= 1 and high <= auto_threshold):
        raise CartoError(
            f"Seuils incohérents : bande à revoir {review_band}, fusion automatique à {auto_threshold}. "
            "Il faut 0 ≤ bas ≤ haut ≤ seuil de fusion ≤ 1 (par défaut : (0.3, 0.8) et 0.8)."
        )


def _link_kind(
    conn: Any,
    *,
    kind: Kind,
    records: pd.DataFrame,
    links: pd.DataFrame,
    model: tuple[dict[str, Any], list[str]] | None,
    auto_threshold: float,
    review_band: tuple[float, float],
    priority: Sequence[str],
    who: str,
    report: LinkReport,
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[dict[str, Any], list[str]] | None]:
    """Link every unit of one kind (see :func:`carto.linkage.link`) with ``model`` (None: trained here).

    Returns ``links`` with this kind's merges, the units with their actor
    after the merges (``unit``, ``actor`` and the compared columns: what the
    blocking keys are made from), and the model trained here (None when
    ``model`` was given or there was too little to train on).
    """
    units = _units(records, _actor_frame(conn, _record_less(kind)), kind=kind, links=links)
    report.units[kind] = len(units)
    trained = None
    if model is None and len(units) >= 2:
        model = trained = train(units, kind=kind, id_column="unit")
        answers = decided_labels(conn, kind)
        if trained is not None and len(answers):  # the review queue's answers correct the EM estimate
            model = trained = (apply_labels(trained[0], answers)[0], trained[1])
            report.labels[kind] = len(answers)
    if len(units) < 2:
        report.pairs[kind] = 0
        return links, units, trained
    pairs = predict(units, kind=kind, id_column="unit", threshold=review_band[0], every_pair=False,
                    group_column="actor", model=model)
    edges, roots, plan = _decide_pairs(conn, pairs, units, kind=kind, auto_threshold=auto_threshold,
                                       review_band=review_band, budget=review_budget(len(units)), report=report)
    if len(plan):
        for batch in _batches(plan, size=_PLAN_BATCH):  # whole groups, memory bounded by the batch
            report.merge_ids += _apply_plan(conn, batch, kind=kind, units=units, priority=priority, who=who)
        report.merges_rule += int((plan["method"] == "rule").sum())
        report.merges_probabilistic += int((plan["method"] == "probabilistic").sum())
        absorbed = links["id"].isin(plan["absorbed_id"])
        kept = plan.set_index("absorbed_id")["kept_id"]
        links = links.assign(
            status=links["status"].where(~absorbed, "merged"),
            merged_into_id=pd.to_numeric(links["merged_into_id"]).where(~absorbed, links["id"].map(kept)),
        )
    # actors that gained records at import, but those the plan just recomputed
    gained = set(units.loc[units["attached"].astype(bool), "actor"].astype(int))
    report.refreshed += _refresh(conn, units, gained - set(plan["kept_id"].astype(int) if len(plan) else ()),
                                 kind=kind, priority=priority)
    _queue(conn, edges[edges["asked"]], roots=roots, kind=kind, review_band=review_band,
           auto_threshold=auto_threshold, forbidden=_forbidden(conn))
    return links, units.assign(actor=_final_actors(units, plan).to_numpy()), trained


def _decide_pairs(conn: Any, pairs: pd.DataFrame, units: pd.DataFrame, *, kind: str, auto_threshold: float,
                  review_band: tuple[float, float], budget: int,
                  report: LinkReport) -> tuple[pd.DataFrame, dict[int, int], pd.DataFrame]:
    """Pairs of units → pairs of actors, triage of the doubtful ones, groups, merge plan.

    Groups never join two actors declared distinct, nor two homonymous
    organisations. Returns the edges (pairs of actors; ``asked``: the pairs for
    the review queue), the root of every grouped actor and the plan.
    """
    apart = set(_forbidden(conn))
    if kind == "organisation":
        found = homonyms(units, id_column="unit")
        apart |= _homonym_actors(units, found)
        ambiguous = _ambiguous_units(units, found)
        unsure = (pairs["id_l"].isin(ambiguous) | pairs["id_r"].isin(ambiguous)) & ~pairs["rule"].isin(
            ["siret", "siren", "rna", "contact"])
        report.ambiguous += len(ambiguous)
        pairs = pairs[~unsure]
    edges = _actor_edges(pairs, units)
    report.pairs[kind] = len(edges)
    certain, _ = _groups(edges, threshold=auto_threshold, forbidden=apart)
    edges = _triage(edges, units, certain, apart=apart, auto_threshold=auto_threshold, review_band=review_band,
                    budget=budget)
    report.asked += int(edges["asked"].sum())
    report.settled_same += int(edges["settled"].sum())
    report.settled_apart += int((edges["open"] & ~edges["asked"] & ~edges["settled"]).sum())
    roots, refused = _groups(edges, threshold=auto_threshold, forbidden=apart)
    report.refused += refused
    return edges, roots, _plan(edges, roots)


#: A doubtful pair the review budget leaves to the model is merged from this probability (kept apart below).
SETTLE_THRESHOLD = 0.5


def _triage(edges: pd.DataFrame, units: pd.DataFrame, roots: dict[int, int], *, apart: set[tuple[int, int]],
            auto_threshold: float, review_band: tuple[float, float], budget: int) -> pd.DataFrame:
    """Which doubtful pairs a person is asked about, and what the model decides for the others.

    A pair is *open* when it is in the review band, matched by no exact rule,
    and a decision would change something: its actors are not already in one
    group and were not declared distinct. The open pairs are ranked by what a
    decision is worth — uncertainty (1 at probability 0,5, 0 at 0 or 1) times
    the size of what would merge (log2 of 1 + the records of both actors) —
    and the ``budget`` best are *asked* (the review queue: about one pair per
    100 new records). The model settles the others: merged (``settled``) from
    :data:`SETTLE_THRESHOLD`, kept apart below; a merge stays reversible and a
    « différents » remembered.

    Returns ``edges`` with boolean columns ``open``, ``asked``, ``settled`` and
    the float ``value``.
    """
    low, high = review_band
    p = edges["probability"].to_numpy(float)
    root = pd.Series(roots, dtype="int64")
    ra = edges["a"].map(root).fillna(edges["a"]).astype("int64").to_numpy()
    rb = edges["b"].map(root).fillna(edges["b"]).astype("int64").to_numpy()
    is_open = (p >= low) & (p < min(high, auto_threshold)) & edges["rule"].isna().to_numpy() & (ra != rb)
    where = np.flatnonzero(is_open)  # few: the declared-distinct check only on them
    is_open[where] = [(min(x, y), max(x, y)) not in apart for x, y in zip(ra[where].tolist(), rb[where].tolist())]
    size = units.groupby("actor").size()
    records = (size.reindex(edges["a"].to_numpy()).fillna(1).to_numpy()
               + size.reindex(edges["b"].to_numpy()).fillna(1).to_numpy())
    value = np.where(is_open, (1 - np.abs(2 * p - 1)) * np.log2(1 + records), 0.0)
    out = edges.assign(open=is_open, value=value)
    ranked = out[is_open].sort_values(["value", "a", "b"], ascending=[False, True, True])
    asked = np.zeros(len(out), dtype=bool)
    asked[out.index.get_indexer(ranked.index[:max(int(budget), 0)])] = True
    return out.assign(asked=asked, settled=is_open & ~asked & (p >= SETTLE_THRESHOLD))


def review_budget(n_records: int) -> int:
    """Pairs a run may add to the review queue: one per 100 new records, at least one.

    Examples
    --------
    >>> review_budget(0), review_budget(300), review_budget(12_480)
    (1, 3, 125)
    """
    return max(1, -(-int(n_records) // 100))


def _final_actors(units: pd.DataFrame, plan: pd.DataFrame) -> pd.Series:
    """Active actor of each unit once ``plan`` is applied (indexed by unit)."""
    actor = pd.Series(units["actor"].astype(np.int64).to_numpy(), index=units["unit"].to_numpy())
    if len(plan):
        kept = pd.Series(plan["kept_id"].astype(np.int64).to_numpy(), index=plan["absorbed_id"].astype(np.int64))
        actor = actor.map(kept).fillna(actor).astype(np.int64)
    return actor


#: Merges applied together by :func:`link` (whole groups; later batches get later merge ids).
_PLAN_BATCH = 100_000


def _batches(plan: pd.DataFrame, *, size: int) -> Iterable[pd.DataFrame]:
    """``plan`` cut into parts of about ``size`` merges, never splitting a kept actor's group."""
    per_group = plan.groupby("kept_id", sort=True).size()
    part = pd.Series(np.cumsum(per_group.to_numpy()) // max(size, 1), index=per_group.index)
    for _, batch in plan.groupby(plan["kept_id"].map(part), sort=True):
        yield batch


def _homonym_actors(units: pd.DataFrame, found: pd.DataFrame) -> set[tuple[int, int]]:
    """Pairs of actors holding homonymous organisations (``found``: :func:`homonyms` of the units)."""
    owner = pd.Series(units["actor"].to_numpy(), index=units["unit"].to_numpy())
    left, right = owner.reindex(found["id_l"]).to_numpy(), owner.reindex(found["id_r"]).to_numpy()
    return {(int(min(a, b)), int(max(a, b))) for a, b in zip(left, right) if a != b}


def _ambiguous_units(units: pd.DataFrame, found: pd.DataFrame) -> set[int]:
    """Bare mentions of a name that homonyms share: which organisation they mean is unknowable.

    A mention with nothing but the name (« Collectif citoyen de Nîmes » on a
    sign-in sheet, no SIREN, RNA, commune or address) while two organisations
    of that name exist: only an identifier or its contact person may link it.
    ``found``: :func:`homonyms` of the units.
    """
    if found.empty:
        return set()
    keyed = _organisation_keys(units, units.copy())
    names = keyed.set_index("unit")["name_key"]
    shared = set(names.reindex(found["id_l"])) | set(names.reindex(found["id_r"]))
    guards = [g for g in _ORGANISATION_GUARDS if g in keyed.columns]
    bare = keyed["name_key"].isin(shared) & keyed[guards].isna().all(axis=1)
    return set(keyed.loc[bare, "unit"].astype(int))
