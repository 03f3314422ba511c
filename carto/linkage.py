"""Linkage: find the records that describe the same person or organisation, merge them reversibly.

Two layers:

- a **pure core** on DataFrames, usable on any table of records (the FEBRL
  benchmarks use it): :func:`exact_pairs` (deterministic rules: same SIRET,
  SIREN or RNA, same contact person under the same name or alias, same full
  name where nothing disagrees for organisations; same e-mail key for
  persons), :func:`homonyms` (organisations of one name that cannot be one),
  :func:`predict` (exact rules, then probabilistic linkage with Splink 5 on
  DuckDB: blocking rules, *u* by random sampling with a fixed seed, *m* by EM
  on blocking rules from starting values — deterministic) and
  :func:`clusters` (connected components above a threshold);
- **the base**: :func:`link` links the imported source records, merges the
  actors of the pairs above ``auto_threshold`` into golden records
  (survivorship: source priority, then most recent ``fields.date``, then most
  complete record; the source of each field kept in ``provenance``), re-points
  what hangs on the absorbed actors and queues the uncertain pairs for review
  (:func:`review_queue`, :func:`decide`). Every merge keeps in
  ``merges.snapshot`` the rows it changed, so :func:`undo_merge` restores them
  exactly.

What is linked
--------------
The units of linkage are the *parts* of the ok source records (the
``personne`` part and the ``organisation`` part of each row), plus the active
actors that no source record names (created by hand). Source records never
change when actors merge, so re-running :func:`link` on the same records gives
the same pairs and the same clusters: a second run merges nothing. Pairs of
units are lifted to pairs of their current actors (best score kept); actors are
grouped greedily, most specific evidence first, never putting in one group two
actors declared distinct (``not_duplicates``) nor two homonymous
organisations; a bare mention of a name that homonyms share (a sign-in sheet
giving only « Collectif citoyen de Nîmes ») is left apart unless its contact
person tells which organisation it is.

At scale: records equal on every compared column are scored once (one Splink
profile; the model is still trained on every record, so scores do not
change), and a run's merges are applied in batches of whole groups with
set-based statements; each merge's snapshot keeps only what it changed
(re-pointed rows by id), which keeps :func:`undo_merge` exact.

Splink 5 pitfalls met here: its EM fails (``m_probability value 0.0``) when a
comparison level is only seen among non-matches of a small training set, and
may leave the model half-updated — so each comparison carries starting *m*
probabilities and a failed EM restarts from them; and random-sampling *u*
assumes random pairs are non-matches, which heavy repetition (the same person
on many sign-in sheets) breaks — so *u* is estimated on the records left once
obvious repeats are set aside.

Columns of the pure core
------------------------
Persons: ``first_name_key``, ``last_name_key``, ``email_key``, ``phone``,
``postcode``, ``commune_code``, ``organisation_key`` and, when present,
``birth_date``, ``identifier``, ``address``, ``locality`` (free text, used by
the FEBRL benchmarks). Organisations: ``organisation_name`` (display name:
gives the full-name key and the initials), ``name_key``, ``acronym``,
``siren``, ``siret``, ``rna``, ``email_key``, ``phone``, ``postcode``,
``commune_code`` and ``contact_key`` (who named the organisation: two mentions
by the same contact under the same name or alias are the same organisation).
Missing columns are simply not compared; every value must already be
normalised (:mod:`carto.normalize`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import privacy, store
from carto import _fr
from carto._errors import CartoError

__all__ = [
    "active_actors",
    "PERSON_COLUMNS",
    "ORGANISATION_COLUMNS",
    "AUTO_THRESHOLD",
    "REVIEW_BAND",
    "SOURCE_PRIORITY",
    "LinkReport",
    "exact_pairs",
    "homonyms",
    "predict",
    "clusters",
    "link",
    "merge",
    "undo_merge",
    "detach",
    "attachments",
    "merges",
    "review_queue",
    "decide",
]

log = logging.getLogger(__name__)

Kind = Literal["personne", "organisation"]

#: Columns compared for persons (those present in the data are used).
PERSON_COLUMNS = (
    "first_name_key",
    "last_name_key",
    "email_key",
    "phone",
    "postcode",
    "commune_code",
    "organisation_key",
    "birth_date",
    "identifier",
    "address",
    "locality",
)
#: Columns compared for organisations (those present in the data are used).
ORGANISATION_COLUMNS = (
    "organisation_name",
    "contact_key",
    "name_key",
    "acronym",
    "siren",
    "siret",
    "rna",
    "email_key",
    "phone",
    "postcode",
    "commune_code",
)
#: Values two records of one organisation cannot disagree on (else: two homonyms).
_ORGANISATION_GUARDS = ("siren", "rna", "commune_code", "address_key")
#: Deterministic rules, in order: (kind, rule name, columns that must be equal, columns that must
#: not disagree). « contact »: two mentions of organisations by the same contact person, under
#: the same name or alias (« AOVE » / « Association Occitanie Vivre Ensemble »).
EXACT_RULES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("organisation", "siret", ("siret",), ()),
    ("organisation", "siren", ("siren",), ()),
    ("organisation", "rna", ("rna",), ()),
    ("organisation", "contact", ("contact_key", "full_name_key"), _ORGANISATION_GUARDS),
    ("organisation", "contact", ("contact_key", "alias_key"), _ORGANISATION_GUARDS),
    ("organisation", "nom", ("full_name_key",), _ORGANISATION_GUARDS),
    ("personne", "email", ("email_key",), ()),
)
#: Seed of the random sampling that estimates the *u* probabilities.
SEED = 20190901
#: Pairs sampled to estimate the *u* probabilities.
U_MAX_PAIRS = 2e6
#: Fewest pairs a blocking rule must give to train the model by EM.
MIN_TRAINING_PAIRS = 3
_PAIR_COLUMNS = ["id_l", "id_r", "probability", "match_weight", "rule"]


def _columns_for(kind: str) -> tuple[str, ...]:
    if kind == "personne":
        return PERSON_COLUMNS
    if kind == "organisation":
        return ORGANISATION_COLUMNS
    raise CartoError(f"Type d'acteur inconnu : « {kind} » (attendu : « personne » ou « organisation »).")


def _present(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    """Columns of ``columns`` that ``df`` has with at least one value."""
    return [c for c in columns if c in df.columns and bool(df[c].notna().any())]


def _prepared(df: pd.DataFrame, *, kind: str, id_column: str) -> pd.DataFrame:
    """Copy of the compared columns as nullable strings, with ``unique_id``."""
    if id_column not in df.columns:
        raise CartoError(f"Colonne d'identifiant « {id_column} » absente des données à lier.")
    ids = df[id_column]
    if ids.isna().any() or ids.duplicated().any():
        raise CartoError(
            f"La colonne d'identifiant « {id_column} » doit être unique et sans valeur vide."
        )
    columns = _present(df, _columns_for(kind))
    out = pd.DataFrame({"unique_id": ids.to_numpy()}, index=df.index)
    for column in columns:
        values = df[column].astype("string").str.strip()
        out[column] = values.mask(values == "")
    if kind == "personne" and {"first_name_key", "last_name_key"} <= set(columns):
        # sorted names: a person whose first and last names were swapped still matches
        first, last = out["first_name_key"].fillna(""), out["last_name_key"].fillna("")
        low = first.where(first <= last, last)
        high = last.where(first <= last, first)
        sorted_names = (low + " " + high).str.strip()
        out["names_sorted"] = sorted_names.mask(sorted_names == "")
    if kind == "organisation":
        out = _organisation_keys(df, out)
    return out.reset_index(drop=True)


#: Words left out of an organisation's initials (articles and linking words).
_NOT_IN_INITIALS = frozenset({"les", "le", "la", "l", "de", "des", "du", "d", "et", "en", "au", "aux", "a",
                              "pour", "sur", "un", "une"})


def _organisation_keys(df: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """Add ``full_name_key`` (the whole name, filler words kept) and ``alias_key``.

    The alias is how an organisation may be named for short: its acronym when
    known, else the initials of a name of two words or more (« Association
    Occitanie Vivre Ensemble » → « aove »), else its name key.
    """
    from carto import normalize

    if "organisation_name" in df.columns:
        full = normalize.name_keys(df["organisation_name"]).set_axis(out.index)
        out["full_name_key"] = full
        words = full.fillna("").str.split()
        initials = words.map(lambda ws: "".join(w[0] for w in ws if w not in _NOT_IN_INITIALS) if len(ws) > 1 else "")
        initials = initials.astype("string").mask(initials == "")
    else:
        initials = pd.Series(pd.NA, index=out.index, dtype="string")
    alias = pd.Series(pd.NA, index=out.index, dtype="string")
    if "acronym" in out.columns:
        alias = out["acronym"].str.lower().str.replace(r"[^0-9a-z]+", "", regex=True)
        alias = alias.mask(alias == "")
    alias = alias.fillna(initials)
    if "name_key" in out.columns:
        alias = alias.fillna(out["name_key"])
    out["alias_key"] = alias
    if "address" in df.columns:
        out["address_key"] = normalize.name_keys(df["address"]).set_axis(out.index)
    return out


# --------------------------------------------------------------------------- exact rules


def exact_pairs(
    df: pd.DataFrame,
    *,
    kind: Kind,
    id_column: str = "id",
    other: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pairs of records that deterministic rules declare identical.

    Organisations: same SIRET, same SIREN, same RNA; persons: same e-mail key.
    Each pair appears once, with the first rule (in that order) that matched.

    Parameters
    ----------
    df : pandas.DataFrame
        Records with ``id_column`` and the normalised columns of their kind.
    kind : {"personne", "organisation"}
        Which rules apply.
    id_column : str
        Unique identifier of the records.
    other : pandas.DataFrame, optional
        Second table to link ``df`` with (then only pairs across the two
        tables, ``id_l`` from ``df`` and ``id_r`` from ``other``); without it,
        ``df`` is deduplicated (``id_l < id_r``).

    Returns
    -------
    pandas.DataFrame
        Columns ``id_l``, ``id_r``, ``probability`` (1.0), ``match_weight``
        (inf), ``rule``.

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 2, 3], "email_key": ["ana@x.fr", None, "ana@x.fr"]})
    >>> exact_pairs(df, kind="personne")[["id_l", "id_r", "rule"]]
       id_l  id_r   rule
    0     1     3  email
    """
    rules = [(name, column, guards) for k, name, column, guards in EXACT_RULES if k == kind]
    _columns_for(kind)
    if kind == "organisation":
        df = _organisation_keys(df, df.copy())
        other = None if other is None else _organisation_keys(other, other.copy())
    found = []
    for name, columns, guards in rules:
        pairs = _key_pairs(df, other, columns, id_column, guards)
        if pairs is None:
            continue
        found.append(pairs[~_disagree(pairs, guards)][["id_l", "id_r"]].assign(rule=name))
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(_PAIR_COLUMNS, [df[id_column].dtype, df[id_column].dtype, float, float, object])})
    pairs = pd.concat(found, ignore_index=True).drop_duplicates(["id_l", "id_r"], keep="first")
    pairs = pairs.assign(probability=1.0, match_weight=np.inf)
    return pairs[_PAIR_COLUMNS].sort_values(["id_l", "id_r"], ignore_index=True)


def homonyms(df: pd.DataFrame, *, id_column: str = "id") -> pd.DataFrame:
    """Pairs of organisations with the same name that cannot be one (``id_l < id_r``).

    Same name key (filler words and legal forms aside), but a SIREN, RNA,
    commune or address that disagrees:
    two homonyms, which linkage must never put in one group, even through a
    third record that matches both.

    Examples
    --------
    >>> orgs = pd.DataFrame({"id": [1, 2, 3], "organisation_name": ["Les Amis", "LES AMIS", "Les amis"],
    ...                      "commune_code": ["31555", "34172", None]})
    >>> homonyms(orgs)[["id_l", "id_r"]].values.tolist()
    [[1, 2]]
    """
    keyed = _organisation_keys(df, df.copy())
    if "name_key" not in keyed.columns and "full_name_key" in keyed.columns:
        from carto import normalize

        keyed["name_key"] = normalize.organisation_keys(df["organisation_name"]).set_axis(keyed.index)
    pairs = _key_pairs(keyed, None, ("name_key",), id_column, _ORGANISATION_GUARDS)
    if pairs is None:
        empty = pd.Series(dtype=df[id_column].dtype)
        return pd.DataFrame({"id_l": empty, "id_r": empty.copy()})
    return pairs[_disagree(pairs, _ORGANISATION_GUARDS)][["id_l", "id_r"]].reset_index(drop=True)


def _key_pairs(
    df: pd.DataFrame, other: pd.DataFrame | None, columns: Sequence[str], id_column: str, guards: Sequence[str]
) -> pd.DataFrame | None:
    """Pairs of records with the same ``columns``, with the ``guards`` of both sides."""
    left = _keyed(df, columns, id_column, guards)
    if left is None:
        return None
    right = left if other is None else _keyed(other, columns, id_column, guards)
    if right is None:
        return None
    pairs = left.merge(right, on="key", suffixes=("_l", "_r"))
    if other is None:
        pairs = pairs[pairs["id_l"] < pairs["id_r"]]
    return pairs


def _disagree(pairs: pd.DataFrame, guards: Sequence[str]) -> pd.Series:
    """Pairs whose ``guards`` are known on both sides and differ."""
    conflict = pd.Series(False, index=pairs.index)
    for guard in guards:
        if f"{guard}_l" in pairs and f"{guard}_r" in pairs:
            left, right = pairs[f"{guard}_l"], pairs[f"{guard}_r"]
            conflict |= (left.notna() & right.notna() & (left != right)).fillna(False).astype(bool)
    return conflict


def _keyed(
    df: pd.DataFrame, columns: Sequence[str], id_column: str, guards: Sequence[str] = ()
) -> pd.DataFrame | None:
    """Ids and joined ``columns`` (all non-empty) of ``df``, with the ``guards`` columns."""
    if any(c not in df.columns for c in columns):
        return None
    parts = [df[c].astype("string").str.strip() for c in columns]
    keep = pd.Series(True, index=df.index)
    for part in parts:
        keep &= part.notna() & (part != "")
    if not keep.any():
        return None
    key = parts[0][keep]
    for part in parts[1:]:
        key = key + "\x1f" + part[keep]
    out = pd.DataFrame({"id": df.loc[keep, id_column].to_numpy(), "key": key.to_numpy()})
    for guard in guards:
        if guard in df.columns:
            out[guard] = df.loc[keep, guard].astype("string").to_numpy()
    return out


# --------------------------------------------------------------------------- Splink model


def _comparisons(columns: Sequence[str]) -> list[Any]:
    """Splink comparisons for the compared ``columns`` present.

    Each comparison carries starting *m* probabilities (what share of true
    matches falls in each level, from experience with contact files): EM
    refines them when the data allow, and they stand when they don't.
    """
    import splink.comparison_library as cl
    import splink.comparison_level_library as cll

    present = set(columns)
    comparisons: list[Any] = []
    if {"first_name_key", "last_name_key"} <= present:
        first, last = "first_name_key", "last_name_key"
        comparisons.append(
            cl.CustomComparison(
                output_column_name="noms",
                comparison_levels=[
                    cll.And(cll.NullLevel(first), cll.NullLevel(last)),
                    cll.And(cll.ExactMatchLevel(first), cll.ExactMatchLevel(last)),
                    cll.ExactMatchLevel("names_sorted"),
                    cll.And(cll.JaroWinklerLevel(first, 0.92), cll.JaroWinklerLevel(last, 0.92)),
                    cll.And(
                        cll.Or(cll.ExactMatchLevel(last), cll.DamerauLevenshteinLevel(last, 1)),
                        cll.Or(cll.JaroWinklerLevel(first, 0.8), cll.DamerauLevenshteinLevel(first, 2)),
                    ),
                    cll.ExactMatchLevel(last),
                    cll.ExactMatchLevel(first),
                    cll.And(cll.JaroWinklerLevel(first, 0.8), cll.JaroWinklerLevel(last, 0.8)),
                    cll.ElseLevel(),
                ],
            ).configure(m_probabilities=[0.8, 0.03, 0.08, 0.04, 0.015, 0.01, 0.01, 0.015])
        )
    else:
        for column in ("first_name_key", "last_name_key"):
            if column in present:
                comparisons.append(
                    cl.JaroWinklerAtThresholds(column, [0.92, 0.8]).configure(m_probabilities=[0.85, 0.08, 0.04, 0.03])
                )
    if "name_key" in present:
        comparisons.append(
            cl.CustomComparison(
                output_column_name="nom_organisation",
                comparison_levels=[
                    cll.NullLevel("name_key"),
                    *([cll.ExactMatchLevel("full_name_key")] if "full_name_key" in present else []),
                    cll.ExactMatchLevel("name_key"),
                    cll.ExactMatchLevel("alias_key"),
                    cll.JaroWinklerLevel("name_key", 0.95),
                    cll.JaroWinklerLevel("name_key", 0.88),
                    cll.JaroWinklerLevel("name_key", 0.75),
                    cll.ElseLevel(),
                ],
            ).configure(m_probabilities=[*([0.6] if "full_name_key" in present else []),
                                         0.1 if "full_name_key" in present else 0.7, 0.1, 0.08, 0.05, 0.03, 0.04])
        )
    tail = {
        "email_key": (cl.LevenshteinAtThresholds, [2], [0.85, 0.05, 0.1]),
        "phone": (cl.LevenshteinAtThresholds, [1], [0.85, 0.03, 0.12]),
        "organisation_key": (cl.JaroWinklerAtThresholds, [0.9], [0.7, 0.1, 0.2]),
        "birth_date": (cl.DamerauLevenshteinAtThresholds, [1, 2], [0.9, 0.05, 0.02, 0.03]),
        "identifier": (cl.DamerauLevenshteinAtThresholds, [1, 2], [0.9, 0.05, 0.02, 0.03]),
        "address": (cl.JaroWinklerAtThresholds, [0.95, 0.85], [0.8, 0.1, 0.05, 0.05]),
        "locality": (cl.JaroWinklerAtThresholds, [0.92], [0.85, 0.05, 0.1]),
    }
    for column, (creator, thresholds, m) in tail.items():
        if column in present:
            comparisons.append(creator(column, thresholds).configure(m_probabilities=m))
    if "siren" in present:
        comparisons.append(cl.ExactMatch("siren").configure(m_probabilities=[0.95, 0.05]))
    place = [c for c in ("commune_code", "postcode") if c in present]
    if place:
        levels: list[Any] = [cll.And(*(cll.NullLevel(c) for c in place))]
        levels += [cll.ExactMatchLevel(c) for c in place]
        levels.append(cll.LevenshteinLevel(place[-1], 1))
        levels.append(cll.ElseLevel())
        m = [0.8, 0.05][: len(place)] if len(place) == 2 else [0.85]
        comparisons.append(
            cl.CustomComparison(output_column_name="lieu", comparison_levels=levels)
            .configure(m_probabilities=[*m, 0.05, 0.1])
        )
    return comparisons


def _blocking_rules(columns: Sequence[str]) -> list[Any]:
    """Blocking rules for the compared ``columns`` present (pairs must share one)."""
    from splink import block_on

    present = set(columns)
    rules: list[Any] = []
    for column in ("email_key", "phone", "siren", "rna", "identifier"):
        if column in present:
            rules.append(block_on(column))
    if {"first_name_key", "last_name_key"} <= present:
        # Names are common: at 1 M persons, « same last name and first initial » gives 52 M pairs across the
        # region and « same first 3 letters of the last name and same commune » 27 M, for few true pairs that
        # the exact full names do not already give. Within a département (first two characters of the
        # commune code) and with the first initial, they give 2.2 M and 1.7 M, and Splink's prediction at
        # 1 M persons takes 21 s instead of 166 s. The persons' F1 at 100 k goes up (0.9691 → 0.9716: fewer chance
        # pairs above the threshold); FEBRL3/4 lose 0.0003 (0.9961 / 0.9976).
        area = "commune_code" if "commune_code" in present else None
        rules.append(block_on("last_name_key", "substr(first_name_key, 1, 1)",
                              *([f"substr({area}, 1, 2)"] if area else [])))
        rules.append(block_on("names_sorted"))
        for other in ("commune_code", "postcode", "birth_date"):
            if other in present:
                if other != "commune_code":  # a town's first names: 10 M pairs at 1 M persons, F1 no better
                    rules.append(block_on("first_name_key", other))
                initial = ["substr(first_name_key, 1, 1)"] if other != "birth_date" else []
                rules.append(block_on("substr(last_name_key, 1, 3)", *initial, other))
        if "birth_date" in present:
            rules.append(block_on("substr(first_name_key, 1, 2)", "substr(last_name_key, 1, 2)"))
    if "name_key" in present:
        rules.append(block_on("name_key"))
        for other in ("commune_code", "postcode"):
            if other in present:
                rules.append(block_on("substr(name_key, 1, 4)", other))
        rules.append(_alias_rule(present))
    return rules


def _alias_rule(present: set[str]) -> Any:
    """Blocking on the alias (« AOVE » / « Association Occitanie Vivre Ensemble »), where one side is short.

    Two full names that only share their initials are not worth comparing
    (468 360 pairs at 100 000 persons, 114 545 once one side must be an
    acronym or a name that is its own alias): only pairs where one side is
    named by its alias are.
    """
    from splink import block_on
    from splink.blocking_rule_library import CustomRule

    short = [f"{side}.name_key = {side}.alias_key" for side in "lr" if "name_key" in present]
    short += [f"{side}.acronym IS NOT NULL" for side in "lr" if "acronym" in present]
    if not short:
        return block_on("alias_key")
    return CustomRule(f"l.alias_key = r.alias_key AND ({' OR '.join(short)})")


def _training_rules(tables: Sequence[pd.DataFrame], columns: Sequence[str]) -> list[Any]:
    """EM blocking rules: together they let every comparison be estimated.

    One rule on the names (or the organisation name) trains the other
    comparisons; one rule on the first other column that gives enough pairs
    trains the names.
    """
    from splink import block_on

    present = set(columns)
    if {"first_name_key", "last_name_key"} <= present:
        names: list[str] = ["first_name_key", "last_name_key"]
        others = ("email_key", "birth_date", "identifier", "phone", "postcode", "commune_code")
    elif "name_key" in present:
        names = ["name_key"]
        others = ("siren", "email_key", "phone", "commune_code", "postcode")
    else:
        return []
    rules = []
    for candidate in [names, *([o] for o in others if o in present)]:
        if _pair_count(tables, candidate) >= MIN_TRAINING_PAIRS:
            rules.append(block_on(*candidate))
            if candidate is not names:
                break
    return rules


def _pair_count(tables: Sequence[pd.DataFrame], columns: list[str]) -> int:
    """Number of pairs of records with the same (non-empty) ``columns``."""
    sizes = [t.dropna(subset=columns).groupby(columns).size() for t in tables]
    if len(sizes) == 1:
        return int((sizes[0] * (sizes[0] - 1) // 2).sum())
    left, right = sizes
    return int((left * right.reindex(left.index, fill_value=0)).sum())


def _prior(tables: Sequence[pd.DataFrame], columns: Sequence[str], n_pairs: float) -> float:
    """Probability that two random records match, from near-certain rules (recall 0.8 assumed)."""
    present = set(columns)
    rules: list[list[str]] = []
    if {"first_name_key", "last_name_key"} <= present:
        rules += [["first_name_key", "last_name_key", o]
                  for o in ("email_key", "phone", "birth_date", "identifier", "commune_code", "postcode")
                  if o in present]
    if "name_key" in present:
        rules += [["name_key", o] for o in ("commune_code", "postcode", "siren") if o in present]
    found = max((_pair_count(tables, rule) for rule in rules), default=0)
    return float(min(max(found / 0.8, 1.0) / max(n_pairs, 1.0), 0.5))


def predict(
    df: pd.DataFrame,
    *,
    kind: Kind,
    id_column: str = "id",
    other: pd.DataFrame | None = None,
    threshold: float = 0.01,
    seed: int = SEED,
    every_pair: bool = True,
    group_column: str | None = None,
) -> pd.DataFrame:
    """Score the pairs of records that may describe the same actor.

    Exact rules first (:func:`exact_pairs`), then a Splink 5 model on DuckDB
    for the other pairs: the comparisons and blocking rules suited to the
    columns present (see the module docstring), *u* probabilities estimated
    by random sampling with ``seed``, *m* probabilities by EM on blocking
    rules. The same input gives the same output.

    Parameters
    ----------
    df : pandas.DataFrame
        Records with ``id_column`` and normalised columns; not modified.
    kind : {"personne", "organisation"}
        What the records describe.
    id_column : str
        Unique identifier of the records (of both tables when linking two).
    other : pandas.DataFrame, optional
        Second table to link with ``df`` (``id_l`` from ``df``, ``id_r`` from
        ``other``); without it, ``df`` is deduplicated (``id_l < id_r``).
    threshold : float
        Smallest match probability returned.
    seed : int
        Seed of the *u* sampling.
    every_pair : bool
        Deduplication only: records equal on every compared column are scored
        once (see :func:`_profiles`); with ``False``, their pairs are given as
        a star (each record with its profile's first one) — the same groups
        with far fewer pairs, which is what :func:`link` needs.
    group_column : str, optional
        Deduplication only: records already known to be one (:func:`link`:
        the same actor, e.g. rows the import attached by e-mail) are not
        paired with each other. The model is still trained on every record.

    Returns
    -------
    pandas.DataFrame
        ``id_l``, ``id_r``, ``probability``, ``match_weight``, ``rule`` (the
        exact rule, or None for a probabilistic pair) and one ``gamma_<name>``
        column per comparison (its level: -1 missing value, 0 different, higher
        closer), sorted by ``id_l``, ``id_r``.

    Examples
    --------
    >>> people = pd.DataFrame({
    ...     "id": range(8),
    ...     "first_name_key": ["ana", "ana", "paul", "lea", "marc", "zoe", "ines", "hugo"],
    ...     "last_name_key": ["roux", "roux", "petit", "blanc", "noir", "vert", "gris", "brun"],
    ...     "email_key": ["ana@x.fr", "ana@x.fr", None, None, None, None, None, None],
    ... })
    >>> predict(people, kind="personne")[["id_l", "id_r", "rule"]]
       id_l  id_r   rule
    0     0     1  email
    """
    exact = exact_pairs(df, kind=kind, id_column=id_column, other=other)
    groups = None
    if group_column is not None and other is None:
        groups = df[group_column].astype("string").set_axis(df[id_column].to_numpy())
        same = (groups.reindex(exact["id_l"]).to_numpy() == groups.reindex(exact["id_r"]).to_numpy())
        exact = exact[~pd.array(same, dtype="boolean").fillna(False).to_numpy(bool)].reset_index(drop=True)
    scored = _splink_pairs(df, kind=kind, id_column=id_column, other=other, threshold=threshold, seed=seed,
                           every_pair=every_pair, groups=groups)
    if scored is None:
        return exact
    scored = scored.assign(rule=None)
    if len(exact):
        keys = ["id_l", "id_r"]
        scored = scored.merge(exact[keys + ["rule"]], on=keys, how="outer", suffixes=("_drop", ""))
        scored = scored.drop(columns="rule_drop")
        is_rule = scored["rule"].notna()
        scored.loc[is_rule, "probability"] = 1.0
        scored.loc[is_rule, "match_weight"] = np.inf
    scored = scored.astype({"rule": object})
    scored["rule"] = scored["rule"].where(scored["rule"].notna(), None)
    return scored.sort_values(["id_l", "id_r"], ignore_index=True)


def _splink_pairs(
    df: pd.DataFrame,
    *,
    kind: str,
    id_column: str,
    other: pd.DataFrame | None,
    threshold: float,
    seed: int,
    every_pair: bool = True,
    groups: pd.Series | None = None,
) -> pd.DataFrame | None:
    """Splink predictions (without exact rules), or None when there is nothing to compare.

    ``groups`` (by record id): two profiles whose records all belong to one
    group are not paired (the blocking rules of prediction say so).
    """
    import duckdb
    from splink import DuckDBAPI, Linker, SettingsCreator
    from splink.internals.exceptions import EMTrainingException

    tables = [_prepared(df, kind=kind, id_column=id_column)]
    members = None
    if other is not None:
        tables.append(_prepared(other, kind=kind, id_column=id_column))
        common = [c for c in tables[0].columns if c in tables[1].columns]
        tables = [t[common] for t in tables]
    else:
        distinct, copies, members = _profiles(tables[0])
        profiles = pd.concat([distinct, copies], ignore_index=True)
    columns = [c for c in tables[0].columns if c != "unique_id"]
    comparisons = _comparisons(columns)
    blocking = _blocking_rules(columns)
    n_records = sum(len(t) for t in tables)
    if not comparisons or not blocking or n_records < 2:
        return None
    splink_logger = logging.getLogger("splink")
    level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    connection = duckdb.connect()
    try:
        connection.execute("SET threads TO 2")
        api = DuckDBAPI(connection)
        registered = [api.register(t, table_name=f"records_{i}") for i, t in enumerate(tables)]
        n_pairs = (n_records * (n_records - 1) / 2 if other is None
                   else float(len(tables[0])) * float(len(tables[1])))
        settings = SettingsCreator(
            probability_two_random_records_match=_prior(tables, columns, n_pairs),
            link_type="dedupe_only" if other is None else "link_only",
            comparisons=comparisons,
            blocking_rules_to_generate_predictions=blocking,
            retain_matching_columns=True,
            retain_intermediate_calculation_columns=False,
            max_iterations=20,
        )
        inputs = registered if other is not None else registered[0]
        model = _u_trained(api, tables, settings, seed=seed)
        linker = Linker(inputs, model, log_level=logging.ERROR)
        try:
            for rule in _training_rules(tables, columns):
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True
                )
        except (ValueError, EMTrainingException) as exc:
            # Splink 5's EM fails when a level is seen only among non-matches (m = 0) and may
            # leave the model half-updated: start again from the starting m probabilities.
            log.debug("Apprentissage EM abandonné, probabilités m de départ conservées : %s", exc)
            linker = Linker(inputs, model, log_level=logging.ERROR)
        if members is not None:  # trained on every record, scores the distinct profiles
            trained = linker.misc.save_model_to_json()
            if groups is not None:
                profiles = profiles.assign(group_of_profile=_profile_groups(members, groups, len(distinct)))
                for rule in trained["blocking_rules_to_generate_predictions"]:
                    rule["blocking_rule"] = (f"({rule['blocking_rule']}) AND (l.group_of_profile IS NULL OR "
                                             "r.group_of_profile IS NULL OR l.group_of_profile <> r.group_of_profile)")
            linker = Linker(api.register(profiles, table_name="profiles"), trained, log_level=logging.ERROR)
        result = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    finally:
        connection.close()
        splink_logger.setLevel(level)
    gammas = [c for c in result.columns if c.startswith("gamma_")]
    pairs = pd.DataFrame(
        {
            "id_l": result["unique_id_l"].to_numpy(),
            "id_r": result["unique_id_r"].to_numpy(),
            "probability": result["match_probability"].astype(float).to_numpy(),
            "match_weight": result["match_weight"].astype(float).to_numpy(),
        }
    )
    for column in gammas:
        pairs[column] = result[column].astype(int).to_numpy()
    if members is not None:
        pairs = _record_pairs(pairs, members, every_pair=every_pair)
    if other is None:  # Splink puts the lower id on the left only for its own ordering
        swap = pairs["id_l"] > pairs["id_r"]
        pairs.loc[swap, ["id_l", "id_r"]] = pairs.loc[swap, ["id_r", "id_l"]].to_numpy()
    elif "source_dataset_l" in result.columns:
        swap = (result["source_dataset_l"] != "records_0").to_numpy()
        pairs.loc[swap, ["id_l", "id_r"]] = pairs.loc[swap, ["id_r", "id_l"]].to_numpy()
    return pairs.drop_duplicates(["id_l", "id_r"], ignore_index=True)


def _profiles(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Distinct profiles of a table to deduplicate: records equal on every compared column count once.

    The same person on twenty sign-in sheets gives twenty identical records,
    190 pairs per blocking rule that all score the same: Splink gets one record
    per distinct profile (``unique_id``: the profile's number), plus one copy
    of each profile held by several records (``unique_id``: number of profiles
    + its number) so that those records are scored against each other; see
    :func:`_record_pairs`. Returns the profiles, the copies and ``members``
    (``unique_id`` of each record, ``profile``, ``first``: its profile's first
    record).
    """
    columns = [c for c in table.columns if c != "unique_id"]
    profile = table.groupby(columns, dropna=False, sort=False).ngroup().to_numpy()
    n_profiles = int(profile.max()) + 1 if len(profile) else 0
    ids = table["unique_id"].to_numpy()
    first_of = np.full(n_profiles, -1, dtype=np.int64)
    first_of[profile[::-1]] = np.arange(len(profile))[::-1]  # smallest position of each profile
    members = pd.DataFrame({"unique_id": ids, "profile": profile, "first": ids[first_of[profile]]})
    distinct = table.iloc[first_of].assign(unique_id=np.arange(n_profiles)).reset_index(drop=True)
    repeated = np.flatnonzero(np.bincount(profile, minlength=n_profiles) > 1)
    copies = distinct.iloc[repeated].assign(unique_id=repeated + n_profiles).reset_index(drop=True)
    return distinct, copies, members


def _profile_groups(members: pd.DataFrame, groups: pd.Series, n_profiles: int) -> np.ndarray:
    """Group of each profile and copy of :func:`_profiles` (in that order): the one its records share, else None.

    >>> members = pd.DataFrame({"unique_id": [10, 11, 12, 13], "profile": [0, 0, 1, 1]})
    >>> _profile_groups(members, pd.Series(["a", "a", "a", "b"], index=[10, 11, 12, 13]), 2).tolist()
    ['a', None, 'a', None]
    """
    found = pd.Series(groups.reindex(members["unique_id"]).to_numpy(), dtype="string")
    per = found.groupby(members["profile"].to_numpy())
    single = (per.nunique() == 1) & (per.count() == per.size())
    value = per.first().where(single)
    repeated = np.flatnonzero(np.bincount(members["profile"].to_numpy(), minlength=n_profiles) > 1)
    codes = np.concatenate([np.arange(n_profiles), repeated])
    out = value.reindex(codes).to_numpy(dtype=object)
    return np.where(pd.isna(out), None, out)


def _record_pairs(pairs: pd.DataFrame, members: pd.DataFrame, *, every_pair: bool = True) -> pd.DataFrame:
    """Pairs of profiles (:func:`_profiles`) given back as pairs of records, with their scores.

    ``every_pair``: each pair of records of a profile scored against its copy,
    each record of P with each record of Q for two profiles P and Q. Else a
    star: a profile scored against its copy links each of its records to its
    first one; P and Q link P's first record to every record of Q and every
    other record of P to Q's first one — the same groups, with |P| + |Q|
    pairs instead of |P| × |Q|.
    """
    n_profiles = len(members["profile"].unique()) if len(members) else 0
    left, right = pairs["id_l"].to_numpy(), pairs["id_r"].to_numpy()
    copy_l, copy_r = left >= n_profiles, right >= n_profiles
    own = (copy_l != copy_r) & (left % n_profiles == right % n_profiles)
    plain = ~copy_l & ~copy_r
    scores = pairs.drop(columns=["id_l", "id_r"])
    by_profile = members[["profile", "unique_id", "first"]]
    mine = scores[own].assign(profile=left[own] % n_profiles).merge(by_profile, on="profile")
    both = scores[plain].assign(p=left[plain], q=right[plain])
    if every_pair:
        mine = mine.merge(by_profile[["profile", "unique_id"]].rename(columns={"unique_id": "other"}), on="profile")
        mine = mine[mine["unique_id"] < mine["other"]]
        both = both.merge(by_profile[["profile", "unique_id"]].rename(columns={"profile": "p", "unique_id": "id_l"}),
                          on="p")
        found = [mine.assign(id_l=mine["unique_id"], id_r=mine["other"]),
                 both.merge(by_profile[["profile", "unique_id"]].rename(columns={"profile": "q", "unique_id": "id_r"}),
                            on="q")]
    else:
        firsts = members.drop_duplicates("profile").set_index("profile")["first"]
        mine = mine[mine["unique_id"] != mine["first"]]
        to_q = both.merge(by_profile, left_on="q", right_on="profile")
        from_p = both.merge(by_profile, left_on="p", right_on="profile")
        from_p = from_p[from_p["unique_id"] != from_p["first"]]
        found = [mine.assign(id_l=mine["first"], id_r=mine["unique_id"]),
                 to_q.assign(id_l=firsts.reindex(to_q["p"]).to_numpy(), id_r=to_q["unique_id"]),
                 from_p.assign(id_l=from_p["unique_id"], id_r=firsts.reindex(from_p["q"]).to_numpy())]
    columns = ["id_l", "id_r", *scores.columns]
    return pd.concat([f[columns] for f in found], ignore_index=True)


def _u_trained(api: Any, tables: list[pd.DataFrame], settings: Any, *, seed: int) -> dict[str, Any]:
    """Settings with *u* probabilities estimated by random sampling (fixed seed).

    Random pairs are assumed to be non-matches; in a deduplication where each
    actor appears several times (sign-in sheets), that inflates the *u* of the
    agreeing levels and drowns true duplicates. So *u* is estimated on the
    records left once obvious repeats are set aside: one record per e-mail key,
    per phone, and per name and place (organisations: per full name and per SIREN).
    """
    from splink import Linker

    sample = tables
    if len(tables) == 1:
        table = tables[0]
        keep = pd.Series(True, index=table.index)
        for subset in (["email_key"], ["phone"], ["first_name_key", "last_name_key", "commune_code"],
                       ["first_name_key", "last_name_key", "postcode"], ["full_name_key"], ["siren"]):
            if all(c in table.columns for c in subset):
                known = table[subset].notna().all(axis=1)
                keep &= ~(known & table.duplicated(subset=subset))
        if keep.sum() >= 2:
            sample = [table[keep]]
    registered = [api.register(t, table_name=f"u_sample_{i}") for i, t in enumerate(sample)]
    linker = Linker(registered if len(registered) > 1 else registered[0], settings, log_level=logging.ERROR)
    n = sum(len(t) for t in sample)
    pairs = n * (n - 1) / 2 if len(sample) == 1 else float(len(sample[0])) * float(len(sample[1]))
    linker.training.estimate_u_using_random_sampling(
        max_pairs=min(U_MAX_PAIRS, max(pairs, 1.0)), seed=seed, min_count_per_level=None
    )
    return linker.misc.save_model_to_json()


def clusters(ids: Iterable[Any], pairs: pd.DataFrame, *, threshold: float) -> pd.Series:
    """Connected components of the pairs whose probability is at least ``threshold``.

    Parameters
    ----------
    ids : iterable
        Every record id (records in no pair form their own cluster).
    pairs : pandas.DataFrame
        ``id_l``, ``id_r``, ``probability`` (as from :func:`predict`).
    threshold : float
        Smallest probability of a link.

    Returns
    -------
    pandas.Series
        Indexed by record id: the cluster, named by its smallest id.

    Examples
    --------
    >>> pairs = pd.DataFrame({"id_l": [1, 2, 5], "id_r": [2, 3, 6], "probability": [0.99, 0.97, 0.4]})
    >>> clusters([1, 2, 3, 4, 5, 6], pairs, threshold=0.9).tolist()
    [1, 1, 1, 4, 5, 6]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = pd.Index(pd.unique(pd.Series(list(ids))))
    kept = pairs[pairs["probability"] >= threshold]
    left = index.get_indexer(kept["id_l"])
    right = index.get_indexer(kept["id_r"])
    if (left < 0).any() or (right < 0).any():
        raise CartoError("Des paires citent des identifiants absents de la liste des enregistrements.")
    n = len(index)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    ids_array = index.to_numpy()
    smallest = pd.Series(ids_array).groupby(labels).transform("min")
    return pd.Series(smallest.to_numpy(), index=index, name="cluster")


# --------------------------------------------------------------------------- the base

#: Default probability from which a pair is merged without asking anyone.
AUTO_THRESHOLD = 0.8
#: Default uncertain band: pairs scored in [low, high) go to the review queue.
REVIEW_BAND = (0.3, 0.8)
#: Default source priority of survivorship (first wins; unlisted sources come after).
SOURCE_PRIORITY = ("lreav", "dispositifs", "jeparticipe", "newsletter", "emargement")
#: Restrictiveness of subscription statuses (the higher wins a merge).
_SUBSCRIPTION_RANK = {"subscribed": 0, "unsubscribed": 1, "blocklisted": 2}

#: Record part → actor columns fed by it, per kind.
_PART_FIELDS = {
    "personne": {
        "first_name": "first_name",
        "last_name": "last_name",
        "first_name_key": "first_name_key",
        "last_name_key": "last_name_key",
        "email": "email",
        "email_key": "email_key",
        "phone": "phone",
        "postcode": "postcode",
        "commune_code": "commune_code",
    },
    "organisation": {
        "name": "organisation_name",
        "name_key": "name_key",
        "acronym": "acronym",
        "siret": "siret",
        "siren": "siren",
        "rna": "rna",
        "org_type": "org_type",
        "address": "address",
        "postcode": "postcode",
        "commune_code": "commune_code",
        "url": "url",
        "email": "email",
        "email_key": "email_key",
        "phone": "phone",
        "themes": "themes",
    },
}
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



# ---------------------------------------------------------------- reading units


def _actor_frame(conn: Any, where: Any = None) -> pd.DataFrame:
    query = store.actors.select()
    if where is not None:
        query = query.where(where)
    return store.read_frame(conn, query.order_by(store.actors.c.id))


def _record_less(kind: str) -> Any:
    """Condition on ``actors``: active actors of ``kind`` that no ok source record names (made by hand)."""
    a, sr = store.actors, store.source_records
    named = [sa.select(column).where(sr.c.status == "ok", column.is_not(None))
             for column in (sr.c.actor_id, sr.c.organisation_actor_id)]
    return sa.and_(a.c.kind == kind, a.c.status == "active", *(a.c.id.not_in(q) for q in named))


def active_actors(actors: pd.DataFrame) -> pd.Series:
    """Active actor each actor id ends up in (following ``merged_into_id``).

    Parameters
    ----------
    actors : pandas.DataFrame
        Columns ``id`` and ``merged_into_id`` (NA for an active actor).

    Returns
    -------
    pandas.Series
        Indexed by actor id: the id of the active actor it was merged into
        (itself when active).

    Examples
    --------
    >>> actors = pd.DataFrame({"id": [1, 2, 3], "merged_into_id": pd.array([None, 1, 2], dtype="Int64")})
    >>> active_actors(actors).astype(int).tolist()
    [1, 1, 1]
    """
    target = actors.set_index("id")["merged_into_id"]
    root = pd.Series(actors["id"].to_numpy(), index=actors["id"].to_numpy())
    for _ in range(64):
        following = target.reindex(root.to_numpy())
        moved = following.notna().to_numpy()
        if not moved.any():
            return root.astype("int64")
        root = root.where(~moved, following.to_numpy())
    raise CartoError("Chaîne de fusions circulaire dans la table « actors » : la base est incohérente.")


def _links(conn: Any, actor_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """``id``, ``kind``, ``status`` and ``merged_into_id`` of every actor, or of ``actor_ids`` (where each ended up)."""
    a = store.actors
    statement = sa.select(a.c.id, a.c.kind, a.c.status, a.c.merged_into_id)
    if actor_ids is None:
        return store.read_frame(conn, statement)
    return store.select_in(conn, statement, a.c.id, actor_ids).astype({"id": "int64"})


#: Source records read at once by :func:`_records` (their JSON is parsed chunk by chunk).
_RECORD_CHUNK = 50_000


def _records(conn: Any, actor_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Ok source records — all of them, or those of ``actor_ids`` — with the fields linkage reads, flat.

    Columns: ``id``, ``source``, ``actor_id``, ``organisation_actor_id``,
    ``date``, ``has_personne``, ``has_organisation`` and one column
    ``<part>.<field>`` per field of :data:`_PART_FIELDS`. The JSON of
    ``fields`` is read as text and parsed by chunks into columns: the
    records' dicts are never built.
    """
    sr = store.source_records
    names = ["id", "source", "actor_id", "organisation_actor_id", "actor_rule", "organisation_rule"]
    statement = sa.select(*(sr.c[n] for n in names), sa.cast(sr.c.fields, sa.Text).label("fields")).where(
        sr.c.status == "ok")
    if actor_ids is not None:
        found = pd.concat([store.select_in(conn, statement, column, actor_ids)
                           for column in (sr.c.actor_id, sr.c.organisation_actor_id)], ignore_index=True)
        found = found.drop_duplicates("id").sort_values("id", ignore_index=True)
        return _flat_records([found[c].tolist() for c in [*names, "fields"]], names)
    result = conn.execute(statement.order_by(sr.c.id), execution_options={"stream_results": True})
    chunks = [_flat_records(list(zip(*rows)), names) for rows in result.partitions(_RECORD_CHUNK)]
    return pd.concat(chunks, ignore_index=True) if chunks else _flat_records([[]] * (len(names) + 1), names)


@functools.cache
def _fields_schema() -> Any:
    """Arrow schema of what linkage reads of ``source_records.fields`` (other keys are ignored)."""
    import pyarrow as pa

    def part(names: Iterable[str]) -> Any:
        return pa.struct([(n, pa.list_(pa.string()) if n == "themes" else pa.string()) for n in names])

    return pa.schema([("date", pa.string()), *((name, part(fields)) for name, fields in _PART_FIELDS.items())])


def _flat_records(columns: list[Sequence[Any]], names: list[str]) -> pd.DataFrame:
    """Records from their ``names`` columns and ``fields`` JSON texts (the last column), flat.

    The texts are parsed together by Arrow's JSON reader — one document per
    line (JSON text from the base holds no raw line break) — straight into
    columns.
    """
    import io

    import pyarrow.json as pj

    *plain, texts = columns
    out = pd.DataFrame({name: pd.Series(values, dtype="int64" if name == "id" else object)
                        for name, values in zip(names, plain)})
    schema = _fields_schema()
    if len(texts):
        lines = "\n".join(t or "{}" for t in texts).encode("utf-8")
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        parsed = pj.read_json(io.BytesIO(lines), parse_options=options).flatten().to_pandas()
    else:
        parsed = schema.empty_table().flatten().to_pandas()
    out["date"] = parsed["date"].astype(object).where(parsed["date"].notna(), None).to_numpy()
    for part, fields in _PART_FIELDS.items():
        flat = parsed[[f"{part}.{name}" for name in fields]]
        out[f"has_{part}"] = flat.notna().any(axis=1).to_numpy()
        for column in flat.columns:
            values = flat[column]
            if column.endswith(".themes"):
                values = pd.Series([list(v) if v is not None else None for v in values], dtype=object)
            out[column] = values.to_numpy()
    return out


def _units(
    records: pd.DataFrame, actors: pd.DataFrame, *, kind: str, links: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Units of linkage of ``kind``: record parts, then the record-less active actors.

    Columns: ``unit`` (record id, or minus the actor id), ``actor`` (active
    actor), ``source``, ``date``, the compared columns and the part's fields
    (actor column names) for survivorship. ``records`` come from
    :func:`_records`; ``actors`` hold (at least) the active actors of
    ``kind`` that no record names, with their columns. ``links`` (``id`` and
    ``merged_into_id`` of every actor) tell where each actor ended up
    (default: ``actors``); the records' actor columns may predate merges.
    """
    links = actors if links is None else links
    roots = active_actors(links) if len(links) else pd.Series(dtype=int)
    mapping = _PART_FIELDS[kind]
    frames = []
    if len(records):
        if kind == "organisation":
            owner = records["organisation_actor_id"].where(
                records["organisation_actor_id"].notna(), records["actor_id"]
            )
        else:
            owner = records["actor_id"]
        has = records[f"has_{kind}"] & owner.notna()
        if has.any():
            chosen = records[has]
            if kind == "organisation":
                rule = chosen["organisation_rule"].where(chosen["organisation_actor_id"].notna(), chosen["actor_rule"])
            else:
                rule = chosen["actor_rule"]
            out = pd.DataFrame({
                "unit": chosen["id"].astype("int64"),
                "actor": roots.reindex(owner[has].astype("int64").to_numpy()).to_numpy(),
                "source": chosen["source"],
                "date": chosen["date"],
                "attached": rule.notna().to_numpy(),  # attached at import by a sure key (see _refresh)
            })
            for key, column in mapping.items():
                out[column] = chosen[f"{kind}.{key}"]
            if kind == "personne":
                out["organisation_key"] = chosen["organisation.name_key"]
                organisation = chosen["organisation_actor_id"]
                known = organisation.notna()
                out["organisation_id"] = None
                out.loc[known, "organisation_id"] = roots.reindex(
                    organisation[known].astype("int64").to_numpy()).to_numpy()
            else:  # the contact person named with the organisation, as it stands after person linkage
                contact = chosen["actor_id"].where(chosen["has_personne"] & chosen["organisation_actor_id"].notna())
                known = contact.notna()
                out["contact_key"] = None
                out.loc[known, "contact_key"] = roots.reindex(
                    contact[known].astype("int64").to_numpy()).astype(str).to_numpy()
            frames.append(out)
    linked = set(pd.concat(frames)["actor"].dropna().astype("int64")) if frames else set()
    own = actors[(actors["kind"] == kind) & (actors["status"] == "active") & ~actors["id"].isin(linked)]
    if len(own):
        out = pd.DataFrame(
            {"unit": -own["id"].astype("int64").to_numpy(), "actor": own["id"].to_numpy(), "source": None,
             "date": None, "attached": False}
        )
        for column in set(mapping.values()):
            out[column] = own[column].to_numpy()
        if kind == "personne":
            out["organisation_key"] = None
            out["organisation_id"] = own["organisation_id"].to_numpy()
        frames.append(out)
    if not frames:
        return pd.DataFrame(columns=["unit", "actor", "source", "date", "attached", *mapping.values()])
    units = pd.concat(frames, ignore_index=True)
    units["actor"] = units["actor"].astype("int64")
    return units.sort_values("unit", ignore_index=True)


# ---------------------------------------------------------------- pairs of actors and groups


def _actor_edges(pairs: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Pairs of units lifted to pairs of distinct actors (``a < b``), best pair kept."""
    owner = pd.Series(units["actor"].to_numpy(), index=units["unit"].to_numpy())
    left = owner.reindex(pairs["id_l"].to_numpy()).to_numpy()
    right = owner.reindex(pairs["id_r"].to_numpy()).to_numpy()
    edges = pairs.assign(a=np.minimum(left, right), b=np.maximum(left, right))
    edges = edges[edges["a"] != edges["b"]]
    edges = edges.assign(_rank=_rule_rank(edges["rule"]))
    edges = edges.sort_values(["a", "b", "_rank", "probability"], ascending=[True, True, True, False])
    edges = edges.drop_duplicates(["a", "b"], keep="first").drop(columns=["_rank", "id_l", "id_r"])
    edges["a"] = edges["a"].astype("int64")
    edges["b"] = edges["b"].astype("int64")
    return edges.reset_index(drop=True)


#: Order in which evidence is trusted when grouping (most specific first; probabilistic last).
_RULE_RANK = {"siret": 0, "siren": 1, "rna": 2, "email": 2, "contact": 3, "nom": 4}


def _rule_rank(rules: pd.Series) -> pd.Series:
    return rules.map(_RULE_RANK).fillna(len(_RULE_RANK)).astype(int)


def _details(edges: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON details of each edge: rule and level of each comparison."""
    gammas = [c for c in edges.columns if c.startswith("gamma_")]
    levels = edges[gammas].rename(columns=lambda c: c[len("gamma_"):]).astype("Int64")
    records = levels.to_dict("records")
    rules = edges["rule"].tolist()
    return [
        {"regle": rule, "niveaux": {k: int(v) for k, v in record.items() if not pd.isna(v)}}
        for rule, record in zip(rules, records)
    ]


def _groups(
    edges: pd.DataFrame, *, threshold: float, forbidden: set[tuple[int, int]]
) -> tuple[dict[int, int], int]:
    """Groups of actors linked by pairs scored at least ``threshold``; never two actors declared distinct.

    Returns the root (smallest id of its group) of every actor in a group of
    two or more, and the number of pairs refused because of ``forbidden``.
    A connected component holding no forbidden pair is one group; the others
    are grouped greedily (:func:`_greedy`).
    """
    strong = edges[edges["probability"] >= threshold]
    if strong.empty:
        return {}, 0
    nodes = pd.unique(np.concatenate([strong["a"].to_numpy(), strong["b"].to_numpy()]))
    component = clusters(nodes, strong.rename(columns={"a": "id_l", "b": "id_r"}), threshold=threshold)
    where = component.to_dict()
    troubled = {where[a] for a, b in forbidden if a in where and where[a] == where.get(b)}
    roots = component[~component.isin(troubled)]
    found = dict(zip(roots.index.astype(int).tolist(), roots.astype(int).tolist()))
    if not troubled:
        return found, 0
    inside = strong[strong["a"].map(where).isin(troubled)]
    greedy, refused = _greedy(inside, forbidden=forbidden)
    return found | greedy, refused


def _greedy(strong: pd.DataFrame, *, forbidden: set[tuple[int, int]]) -> tuple[dict[int, int], int]:
    """Greedy grouping by decreasing evidence (:data:`_RULE_RANK`, then score), refusing forbidden unions."""
    strong = strong.assign(_rank=_rule_rank(strong["rule"])).sort_values(
        ["_rank", "probability", "a", "b"], ascending=[True, False, True, True]
    )
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    banned: dict[int, set[int]] = {}
    for a, b in forbidden:
        banned.setdefault(a, set()).add(b)
        banned.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    refused = 0
    for a, b in zip(strong["a"].tolist(), strong["b"].tolist()):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        group_a, group_b = members.get(ra, {ra}), members.get(rb, {rb})
        if banned.get(ra, set()) & group_b or banned.get(rb, set()) & group_a:
            refused += 1
            continue
        root, other = (ra, rb) if ra < rb else (rb, ra)
        parent[other] = root
        parent.setdefault(root, root)
        members[root] = group_a | group_b
        members.pop(other, None)
        banned[root] = banned.get(ra, set()) | banned.get(rb, set())
    return {x: find(x) for x in list(parent)}, refused


def _plan(edges: pd.DataFrame, roots: dict[int, int]) -> pd.DataFrame:
    """One merge per absorbed actor: kept, absorbed, method, rule, score, round."""
    columns = ["kept_id", "absorbed_id", "method", "rule", "score", "round"]
    absorbed = {x: r for x, r in roots.items() if x != r}
    if not absorbed:
        return pd.DataFrame(columns=columns)
    root_of = pd.Series(roots)
    inside = edges[
        edges["a"].map(root_of).eq(edges["b"].map(root_of)) & edges["a"].isin(root_of.index)
    ]
    incident = pd.concat(
        [inside[["a", "probability", "rule"]].rename(columns={"a": "actor"}),
         inside[["b", "probability", "rule"]].rename(columns={"b": "actor"})],
        ignore_index=True,
    )
    incident = incident.assign(_rank=_rule_rank(incident["rule"])).sort_values(
        ["actor", "_rank", "probability"], ascending=[True, True, False]
    ).drop_duplicates("actor")
    best = incident.set_index("actor")
    plan = pd.DataFrame({"absorbed_id": list(absorbed), "kept_id": list(absorbed.values())})
    plan = plan.sort_values(["kept_id", "absorbed_id"], ignore_index=True)
    plan["rule"] = best["rule"].reindex(plan["absorbed_id"]).to_numpy()
    plan["score"] = best["probability"].reindex(plan["absorbed_id"]).clip(0, 1).to_numpy()
    plan["method"] = np.where(plan["rule"].notna(), "rule", "probabilistic")
    plan["round"] = plan.groupby("kept_id").cumcount()
    plan["rule"] = plan["rule"].astype(object).where(plan["rule"].notna(), None)
    return plan[columns]


# ---------------------------------------------------------------- merging


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
        "details": _details(band),
        "status": "pending",
    })
    store.upsert(conn, rp, rows, key=["actor_a_id", "actor_b_id"], update=["score", "details"],
                 update_where=lambda excluded: rp.c.status == "pending")


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
        raise CartoError(f"Acteur(s) introuvable(s) : {', '.join(map(str, missing))}. Vérifiez les identifiants.")
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
    return merge_id


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


# ---------------------------------------------------------------- review queue

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
    inconnu for each comparison).

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
                  *[col for pair in shown for col in pair], rp.c.details)
        .join_from(rp, a, a.c.id == rp.c.actor_a_id)
        .join(b, b.c.id == rp.c.actor_b_id)
        .where(rp.c.status == "pending")
        .order_by(rp.c.queued_at, rp.c.id)
    )
    if kind is not None:
        query = query.where(rp.c.kind == kind)
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    top = _top_levels() if len(frame) else {}
    frame["correspondances"] = [_describe_levels(d, top) for d in frame["details"]]
    return frame.drop(columns="details")


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
