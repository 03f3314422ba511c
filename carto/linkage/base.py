"""Linkage of the base: :func:`link` and its report."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import _fr, store
from carto._errors import CartoError
from carto.linkage.groups import _actor_edges, _groups, _plan
from carto.linkage.merging import SOURCE_PRIORITY, _apply_plan, _refresh, _who
from carto.linkage.model import predict
from carto.linkage.repoint import _LINKED_TABLES
from carto.linkage.review import _queue
from carto.linkage.rules import _ORGANISATION_GUARDS, Kind, _organisation_keys, homonyms
from carto.linkage.units import _actor_frame, _links, _record_less, _records, _units

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

    @property
    def merges(self) -> int:
        """Number of merges made."""
        return self.merges_rule + self.merges_probabilistic

    def __str__(self) -> str:
        units = sum(self.units.values())
        return (
            f"{_fr.integer(units)} enregistrements comparés, {_fr.integer(self.merges)} fusions "
            f"({_fr.integer(self.merges_rule)} par règle, {_fr.integer(self.merges_probabilistic)} probabilistes), "
            f"{_fr.integer(self.to_review)} paires à revoir, {_fr.integer(self.refused)} écartées (« différents » ou homonymes)"
            + (f", {_fr.integer(self.ambiguous)} mentions d'organisations homonymes laissées à part" if self.ambiguous else "")
            + (f", {_fr.integer(self.refreshed)} fiches d'acteurs complétées par leurs nouvelles lignes"
               if self.refreshed else "")
        )


def _forbidden(conn: Any) -> set[tuple[int, int]]:
    nd = store.not_duplicates
    rows = conn.execute(sa.select(nd.c.actor_a_id, nd.c.actor_b_id)).all()
    return {(int(a), int(b)) for a, b in rows}


def _check_band(auto_threshold: float, review_band: tuple[float, float]) -> None:
    low, high = review_band
    if not (0 <= low <= high <= 1 and 0 < auto_threshold <= 1 and high <= auto_threshold):
        raise CartoError(
            f"Seuils incohérents : bande à revoir {review_band}, fusion automatique à {auto_threshold}. "
            "Il faut 0 ≤ bas ≤ haut ≤ seuil de fusion ≤ 1 (par défaut : (0.3, 0.8) et 0.8)."
        )


def link(
    engine: sa.Engine,
    *,
    who: str | None = None,
    auto_threshold: float = AUTO_THRESHOLD,
    review_band: tuple[float, float] = REVIEW_BAND,
    priority: Sequence[str] = SOURCE_PRIORITY,
    kinds: Sequence[Kind] = ("personne", "organisation"),
    verbose: bool = False,
) -> LinkReport:
    """Link the imported records: merge sure duplicates, queue the uncertain ones.

    For each kind (persons, then organisations — two mentions of organisations
    by the same person are then known as such), the units of linkage (see
    the module docstring) are scored with :func:`predict`; pairs of distinct
    actors scored at least ``auto_threshold`` (or matched by an exact rule)
    are grouped — never joining two actors declared distinct — and merged into
    the group's oldest actor (method ``rule`` or ``probabilistic``), its golden
    record recomputed by survivorship; pairs in ``review_band`` go to the
    review queue unless a person already decided them. One transaction with
    its audit rows; a second run on the same records merges nothing.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    who : str, optional
        Author in the audit log and the merges (default: ``settings.user``).
    auto_threshold : float
        Probability from which a pair is merged without review.
    review_band : (float, float)
        Probabilities ``[low, high)`` of the pairs sent to the review queue.
    priority : sequence of str
        Source names by decreasing priority for survivorship.
    kinds : sequence of {"personne", "organisation"}
        Kinds of actors to link.
    verbose : bool
        Show progress.

    Returns
    -------
    LinkReport

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> print(link(engine))  # doctest: +NORMALIZE_WHITESPACE
    0 enregistrements comparés, 0 fusions (0 par règle, 0 probabilistes), 0 paires à revoir,
    0 écartées (« différents » ou homonymes)
    """
    _check_band(auto_threshold, review_band)
    author = _who(who)
    report = LinkReport()
    started = time.perf_counter()
    from tqdm.auto import tqdm

    with store.transaction(engine, action="liaison", who=author, check_tables=_LINKED_TABLES) as conn:
        records = _records(conn)  # merges only re-point their actor columns: read once
        links = _links(conn)  # kept up to date in memory with the merges below
        for kind in tqdm(list(kinds), desc="Liaison", disable=not verbose):
            links = _link_kind(conn, kind=kind, records=records, links=links, auto_threshold=auto_threshold,
                               review_band=review_band, priority=priority, who=author, report=report)
        report.to_review = int(conn.execute(
            sa.select(sa.func.count()).select_from(store.review_pairs)
            .where(store.review_pairs.c.status == "pending")
        ).scalar_one())
        store.audit(conn, table="merges", ids=report.merge_ids, details={
            "fusions par règle": report.merges_rule,
            "fusions probabilistes": report.merges_probabilistic,
            "paires à revoir": report.to_review,
            "écartées": report.refused,
            "seuil": auto_threshold,
            "bande à revoir": list(review_band),
        })
    report.seconds = time.perf_counter() - started
    log.info("Liaison : %s (%.1f s)", report, report.seconds)
    return report


def _link_kind(
    conn: Any,
    *,
    kind: Kind,
    records: pd.DataFrame,
    links: pd.DataFrame,
    auto_threshold: float,
    review_band: tuple[float, float],
    priority: Sequence[str],
    who: str,
    report: LinkReport,
) -> pd.DataFrame:
    """Link the units of one kind (see :func:`link`); returns ``links`` with this kind's merges."""
    units = _units(records, _actor_frame(conn, _record_less(kind)), kind=kind, links=links)
    report.units[kind] = len(units)
    if len(units) < 2:
        report.pairs[kind] = 0
        return links
    pairs = predict(units, kind=kind, id_column="unit", threshold=review_band[0], every_pair=False,
                    group_column="actor")
    forbidden = _forbidden(conn)
    apart = set(forbidden)
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
    roots, refused = _groups(edges, threshold=auto_threshold, forbidden=apart)
    report.refused += refused
    plan = _plan(edges, roots)
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
    _queue(conn, edges, roots=roots, kind=kind, review_band=review_band, auto_threshold=auto_threshold,
           forbidden=forbidden)
    return links


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
