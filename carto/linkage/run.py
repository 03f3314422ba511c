"""A run of linkage on the base: :func:`link` — incremental by default, complete on demand."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa

from carto import store
from carto.linkage import incremental
from carto.linkage.base import AUTO_THRESHOLD, REVIEW_BAND, LinkReport, _check_band, _link_kind
from carto.linkage.merging import SOURCE_PRIORITY, _who
from carto.linkage.repoint import _LINKED_TABLES
from carto.linkage.rules import Kind
from carto.linkage.units import _links, _records

#: One logger for the whole of linkage, whichever sub-module writes.
log = logging.getLogger("carto.linkage")

_KINDS_FR = {"personne": "personnes", "organisation": "organisations"}


def link(
    engine: sa.Engine,
    *,
    who: str | None = None,
    auto_threshold: float = AUTO_THRESHOLD,
    review_band: tuple[float, float] = REVIEW_BAND,
    priority: Sequence[str] = SOURCE_PRIORITY,
    kinds: Sequence[Kind] = ("personne", "organisation"),
    full: bool = False,
    retrain: bool = False,
    verbose: bool = False,
) -> LinkReport:
    """Link the imported records: merge sure duplicates, queue the uncertain ones.

    **Incremental by default**: only the records imported or changed since the
    last run (and the actors made by hand since) are compared — with each other
    and with the units of the base that share a blocking key with them
    (:mod:`carto.linkage.incremental`), scored by the model saved in the base.
    A run with nothing new returns at once, without writing. The first run,
    ``full=True`` (``carto link --tout``) and ``retrain=True`` (``carto link
    --reentrainer``) compare every unit; the first run and ``retrain`` train
    the model (*u* by sampling, *m* by EM) and save it, the previous one kept
    (:func:`carto.linkage.model_drift` compares them).

    For each kind (persons, then organisations — two mentions of organisations
    by the same person are then known as such), pairs of distinct actors
    scored at least ``auto_threshold`` (or matched by an exact rule) are
    grouped — never joining two actors declared distinct — and merged into the
    group's oldest actor (method ``rule`` or ``probabilistic``), its golden
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
    full : bool
        Compare every unit of the base, not only the new ones (with the saved model).
    retrain : bool
        Train a new model on the whole base first (implies ``full``).
    verbose : bool
        Show progress.

    Returns
    -------
    LinkReport

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> print(link(engine))  # doctest: +NORMALIZE_WHITESPACE
    Rapprochement complet : 0 enregistrement comparé : 0 fusion (0 par règle, 0 probabiliste), 0 paire à revoir,
    0 paire écartée (« différents » ou homonymes)
    >>> print(link(engine))
    Rien de nouveau depuis le dernier rapprochement : aucune comparaison (0 paire à revoir).
    """
    _check_band(auto_threshold, review_band)
    author = _who(who)
    report = LinkReport()
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc)
    with engine.connect() as conn:  # a run with nothing new writes nothing
        previous, _, anything = incremental.pending_work(conn)
        if not (full or retrain or anything):
            report.mode = "nothing"
            report.to_review = _pending(conn)
            report.seconds = time.perf_counter() - started
            log.info("Liaison : %s (%.2f s)", report, report.seconds)
            return report
    from tqdm.auto import tqdm

    with store.transaction(engine, action="liaison", who=author, check_tables=_LINKED_TABLES) as conn:
        previous, batch, _ = incremental.pending_work(conn)
        models = {kind: None if retrain else incremental.active_model(conn, kind) for kind in kinds}
        report.mode = "full" if (full or retrain or previous is None or not any(models.values())) else "incremental"
        if report.mode == "incremental":
            assert previous is not None
            new_records = incremental.new_records(conn, previous)
            report.new_records = len(new_records)
            for kind in tqdm(list(kinds), desc="Liaison", disable=not verbose):
                if models[kind] is None:  # too few of this kind so far to train a model: it is linked in full
                    _link_everything(conn, kinds=[kind], models=models, retrain=False, auto_threshold=auto_threshold,
                                     review_band=review_band, priority=priority, who=author, report=report,
                                     verbose=False)
                    continue
                own = incremental.new_own_actors(conn, kind, previous["finished_at"])
                report.new_records += len(own)
                incremental.link_new_units(
                    conn, kind=kind, new_records=new_records, new_own=own, model=models[kind],
                    auto_threshold=auto_threshold, review_band=review_band, priority=priority, who=author,
                    report=report)
        else:
            _link_everything(conn, kinds=kinds, models=models, retrain=retrain, auto_threshold=auto_threshold,
                             review_band=review_band, priority=priority, who=author, report=report, verbose=verbose)
        report.to_review = _pending(conn)
        report.actors = int(conn.execute(sa.select(sa.func.count()).select_from(store.actors).where(
            store.actors.c.status == "active", store.actors.c.kind.in_(list(kinds)))).scalar_one())
        store.audit(conn, table="merges", ids=report.merge_ids, details={
            "mode": report.mode,
            "fusions par règle": report.merges_rule,
            "fusions probabilistes": report.merges_probabilistic,
            "paires à revoir": report.to_review,
            "écartées": report.refused,
            "seuil": auto_threshold,
            "bande à revoir": list(review_band),
        })
        report.seconds = time.perf_counter() - started
        conn.execute(store.link_runs.insert().values(
            started_at=started_at, finished_at=datetime.now(timezone.utc), who=author, mode=report.mode,
            last_batch_id=batch, seconds=report.seconds, report=_summary(report)))
    log.info("Liaison : %s (%.1f s)", report, report.seconds)
    return report


def _link_everything(conn: Any, *, kinds: Sequence[Kind], models: dict[str, Any], retrain: bool, who: str,
                     report: LinkReport, verbose: bool, **options: Any) -> None:
    """Full run: every unit of each kind; models trained where missing (or all, ``retrain``); keys rebuilt."""
    from tqdm.auto import tqdm

    records = _records(conn)  # merges only re-point their actor columns: read once
    links = _links(conn)  # kept up to date in memory with the merges below
    for kind in tqdm(list(kinds), desc="Liaison", disable=not verbose):
        model = models.get(kind)
        links, units, trained = _link_kind(conn, kind=kind, records=records, links=links,
                                           model=None if model is None else (model["model"], model["columns"]),
                                           who=who, report=report, **options)
        if trained is not None:
            reason = "réentraînement demandé" if retrain else "premier apprentissage"
            incremental.save_model(conn, kind, trained, who=who, reason=reason, n_units=len(units),
                                   n_labels=report.labels.get(kind, 0))
            report.trained.append(kind)
        conn.execute(store.link_keys.delete().where(store.link_keys.c.kind == kind))
        final = pd.Series(units["actor"].to_numpy(), index=units["unit"].to_numpy())
        report.keys[kind] = incremental.store_keys(conn, units, kind=kind, final=final, replace=False)


def _pending(conn: Any) -> int:
    rp = store.review_pairs
    return int(conn.execute(sa.select(sa.func.count()).select_from(rp).where(rp.c.status == "pending")).scalar_one())


def _summary(report: LinkReport) -> dict[str, Any]:
    """What a run did, as JSON for ``link_runs.report``."""
    return {
        "mode": report.mode, "nouveaux": report.new_records, "unités": dict(report.units),
        "candidats": dict(report.candidates), "clés": dict(report.keys), "fusions": report.merges,
        "à revoir": report.to_review, "acteurs": report.actors, "entraînés": list(report.trained),
        "réponses apprises": dict(report.labels),
    }
