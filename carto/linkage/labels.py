"""Decisions teach: the answers of the review queue as labels when the model is retrained.

Every pair a person decided in the review queue keeps the comparison levels
the model saw (``review_pairs.details["niveaux"]``: the γ of each comparison)
and the answer: « même acteur » is a labelled match, « différents » a
labelled non-match. When :func:`carto.linkage.link` retrains a model
(``retrain=True``, ``carto link --reentrainer``), :func:`apply_labels`
corrects the model trained by EM with them:

- **m probabilities** (how often a level is seen among true matches): the
  labelled matches are counted per level and mixed with the EM estimate, which
  counts as :data:`LABEL_PSEUDOCOUNT` labelled pairs (a Dirichlet prior):
  ``m = (K·m_EM + n_level) / (K + n)`` — 50 answers move m by a third, a
  thousand answers decide it;
- **the prior** (probability that two random records match), only when asked
  (``shift_prior=True``): both kinds of answers fit a shift of the match
  weight, by penalised logistic regression (a normal prior of
  :data:`PRIOR_SHIFT_SD` bits on the shift): if the model said 0,6 to pairs
  people mostly called « différents », every score is lowered. Not by
  default: the answered pairs are the doubtful ones, not a sample of all
  pairs, and a shift fitted on them lowers the sure ones too — measured by
  ``benchmarks/review_labels.py`` at 10 000 persons, 50 answers (45
  « différents »): recall of persons 0,9909 → 0,9738, F1 0,9946 → 0,9860.

The *u* probabilities (how often a level is seen among random pairs) are left
to random sampling: a few dozen answers say nothing about them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import store

#: Weight of the EM estimate of m, in labelled pairs (see the module docstring).
LABEL_PSEUDOCOUNT = 50
#: Standard deviation, in bits of match weight, of the prior on the shift fitted to the answers.
PRIOR_SHIFT_SD = 2.0
#: Fewest answers of each kind (matches, non-matches) for the prior shift to be fitted.
MIN_ANSWERS = 3


def decided_labels(conn: Any, kind: str) -> pd.DataFrame:
    """The pairs of ``kind`` a person decided in the review queue: ``match`` (bool), ``score``, ``levels`` (dict).

    Only pairs whose comparison levels were kept (an exact rule's pairs are
    never queued; a pair with no level says nothing). Examples: see
    :func:`apply_labels`.
    """
    rp = store.review_pairs
    rows = conn.execute(
        sa.select(rp.c.decision, rp.c.score, rp.c.details)
        .where(rp.c.status == "decided", rp.c.kind == kind, rp.c.decision.in_(["meme", "differents"]))
        .order_by(rp.c.id)
    ).all()
    out = [{"match": decision == "meme", "score": float(score), "levels": dict((details or {}).get("niveaux") or {})}
           for decision, score, details in rows]
    return pd.DataFrame([o for o in out if o["levels"]], columns=["match", "score", "levels"])


def _gamma_of(comparison: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """γ value → level of a comparison of a Splink model (null level -1, then n-1 … 0 in order)."""
    levels = [lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")]
    return {len(levels) - 1 - position: level for position, level in enumerate(levels)}


def _bits(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))


def _fit_shift(weights: np.ndarray, matches: np.ndarray) -> float:
    """Shift ``b`` (bits) maximising Σ log-likelihood of ``matches`` under σ((w + b)·ln 2), with a N(0, sd²) prior."""
    b = 0.0
    for _ in range(50):  # Newton: the penalised log-likelihood is concave
        p = 1 / (1 + np.exp(-(weights + b) * math.log(2)))
        grad = math.log(2) * float(np.sum(matches - p)) - b / PRIOR_SHIFT_SD**2
        hess = -(math.log(2) ** 2) * float(np.sum(p * (1 - p))) - 1 / PRIOR_SHIFT_SD**2
        step = grad / hess
        b -= step
        if abs(step) < 1e-9:
            break
    return b


def apply_labels(model: Mapping[str, Any], labels: pd.DataFrame, *,
                 shift_prior: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model`` (Splink JSON settings) corrected by the answers ``labels`` (:func:`decided_labels`).

    Returns the corrected model and what was done: ``matches``,
    ``non_matches`` (answers used), ``m_levels`` (levels whose m moved),
    ``shift`` (bits added to every match weight through the prior, 0 when
    either kind of answer is too rare, or ``shift_prior`` is false: see the
    module docstring) and ``prior_before``/``prior_after``.

    Examples
    --------
    >>> model = {"probability_two_random_records_match": 0.01, "comparisons": [{
    ...     "output_column_name": "email_key", "comparison_levels": [
    ...         {"is_null_level": True},
    ...         {"m_probability": 0.9, "u_probability": 0.001},
    ...         {"m_probability": 0.1, "u_probability": 0.999}]}]}
    >>> labels = pd.DataFrame({"match": [True] * 10 + [False] * 10, "score": 0.6,
    ...                        "levels": [{"email_key": 0}] * 10 + [{"email_key": 0}] * 10})
    >>> new, done = apply_labels(model, labels)
    >>> round(new["comparisons"][0]["comparison_levels"][2]["m_probability"], 3)  # (50·0,1 + 10) / 60
    0.25
    >>> done["matches"], done["non_matches"], done["m_levels"]
    (10, 10, 2)
    """
    new = copy.deepcopy(dict(model))
    done: dict[str, Any] = {"matches": int(labels["match"].sum()) if len(labels) else 0,
                            "non_matches": int((~labels["match"]).sum()) if len(labels) else 0,
                            "m_levels": 0, "shift": 0.0}
    prior = float(new.get("probability_two_random_records_match", 1e-4))
    done["prior_before"] = done["prior_after"] = prior
    if labels.empty:
        return new, done
    positives = labels[labels["match"]]
    old_m: dict[tuple[str, int], float] = {}
    for comparison in new.get("comparisons", []):
        name = comparison.get("output_column_name")
        by_gamma = _gamma_of(comparison)
        seen = [int(lv[name]) for lv in positives["levels"] if name in lv and int(lv[name]) in by_gamma]
        if not seen:
            continue
        counts = pd.Series(seen).value_counts()
        n = len(seen)
        for gamma, level in by_gamma.items():
            m_em = level.get("m_probability")
            if m_em is None or level.get("fix_m_probability"):
                continue
            old_m[(name, gamma)] = float(m_em)
            level["m_probability"] = (LABEL_PSEUDOCOUNT * float(m_em) + int(counts.get(gamma, 0))) / (
                LABEL_PSEUDOCOUNT + n)
            done["m_levels"] += 1
    if shift_prior and done["matches"] >= MIN_ANSWERS and done["non_matches"] >= MIN_ANSWERS:
        levels_m = {(c.get("output_column_name"), g): lv.get("m_probability")
                    for c in new.get("comparisons", []) for g, lv in _gamma_of(c).items()}
        weights = np.array([
            _bits(score) + sum(math.log2(levels_m[(name, int(g))] / old_m[(name, int(g))])
                               for name, g in levels.items() if (name, int(g)) in old_m and old_m[(name, int(g))] > 0
                               and levels_m.get((name, int(g))))
            for score, levels in zip(labels["score"], labels["levels"])
        ])
        shift = _fit_shift(weights, labels["match"].to_numpy(float))
        odds = prior / (1 - prior) * 2**shift
        new["probability_two_random_records_match"] = min(max(odds / (1 + odds), 1e-9), 0.5)
        done["shift"] = shift
        done["prior_after"] = new["probability_two_random_records_match"]
    return new, done
