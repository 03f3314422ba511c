"""Linkage: find the records that describe the same person or organisation, merge them reversibly.

Two layers:

- a **pure core** on DataFrames, usable on any table of records (the FEBRL
  benchmarks use it): :func:`exact_pairs` (deterministic rules: same SIRET,
  SIREN or RNA for organisations, same e-mail key for persons),
  :func:`predict` (exact rules, then probabilistic linkage with Splink 5 on
  DuckDB: blocking rules, *u* by random sampling with a fixed seed, *m* by EM
  on blocking rules — deterministic) and :func:`clusters` (connected
  components above a threshold);
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
grouped greedily by decreasing score, never putting in one group two actors
declared distinct (``not_duplicates``).

Columns of the pure core
------------------------
Persons: ``first_name_key``, ``last_name_key``, ``email_key``, ``phone``,
``postcode``, ``commune_code``, ``organisation_key`` and, when present,
``birth_date``, ``identifier``, ``address``, ``locality`` (free text, used by
the FEBRL benchmarks). Organisations: ``name_key``, ``acronym``, ``siren``,
``siret``, ``rna``, ``email_key``, ``phone``, ``postcode``, ``commune_code``.
Missing columns are simply not compared; every value must already be
normalised (:mod:`carto.normalize`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from carto._errors import CartoError

__all__ = [
    "PERSON_COLUMNS",
    "ORGANISATION_COLUMNS",
    "exact_pairs",
    "predict",
    "clusters",
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
#: Deterministic rules, in order: (kind, rule name, column).
EXACT_RULES: tuple[tuple[str, str, str], ...] = (
    ("organisation", "siret", "siret"),
    ("organisation", "siren", "siren"),
    ("organisation", "rna", "rna"),
    ("personne", "email", "email_key"),
)
#: Seed of the random sampling that estimates the *u* probabilities.
SEED = 20190901
#: Pairs sampled to estimate the *u* probabilities.
U_MAX_PAIRS = 2e6
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
    return out.reset_index(drop=True)


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
    rules = [(name, column) for k, name, column in EXACT_RULES if k == kind]
    _columns_for(kind)
    found = []
    for name, column in rules:
        left = _keyed(df, column, id_column)
        if left is None:
            continue
        right = left if other is None else _keyed(other, column, id_column)
        if right is None:
            continue
        pairs = left.merge(right, on="key", suffixes=("_l", "_r"))
        if other is None:
            pairs = pairs[pairs["id_l"] < pairs["id_r"]]
        found.append(pairs[["id_l", "id_r"]].assign(rule=name))
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(_PAIR_COLUMNS, [df[id_column].dtype, df[id_column].dtype, float, float, object])})
    pairs = pd.concat(found, ignore_index=True).drop_duplicates(["id_l", "id_r"], keep="first")
    pairs = pairs.assign(probability=1.0, match_weight=np.inf)
    return pairs[_PAIR_COLUMNS].sort_values(["id_l", "id_r"], ignore_index=True)


def _keyed(df: pd.DataFrame, column: str, id_column: str) -> pd.DataFrame | None:
    if column not in df.columns:
        return None
    values = df[column].astype("string").str.strip()
    keep = values.notna() & (values != "")
    if not keep.any():
        return None
    return pd.DataFrame({"id": df.loc[keep, id_column].to_numpy(), "key": values[keep].to_numpy()})


# --------------------------------------------------------------------------- Splink model


def _comparisons(columns: Sequence[str]) -> list[Any]:
    """Splink comparisons for the compared ``columns`` present."""
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
                    cll.And(cll.ExactMatchLevel(first), cll.ExactMatchLevel(last)).configure(
                        label_for_charts="prénom et nom identiques"
                    ),
                    cll.ExactMatchLevel("names_sorted").configure(label_for_charts="prénom et nom inversés"),
                    cll.And(cll.JaroWinklerLevel(first, 0.92), cll.JaroWinklerLevel(last, 0.92)).configure(
                        label_for_charts="prénom et nom très proches"
                    ),
                    cll.And(
                        cll.Or(cll.ExactMatchLevel(last), cll.DamerauLevenshteinLevel(last, 1)),
                        cll.Or(cll.JaroWinklerLevel(first, 0.8), cll.DamerauLevenshteinLevel(first, 2)),
                    ).configure(label_for_charts="prénom et nom proches"),
                    cll.ExactMatchLevel(last).configure(label_for_charts="même nom"),
                    cll.ExactMatchLevel(first).configure(label_for_charts="même prénom"),
                    cll.And(cll.JaroWinklerLevel(first, 0.8), cll.JaroWinklerLevel(last, 0.8)).configure(
                        label_for_charts="prénom et nom ressemblants"
                    ),
                    cll.ElseLevel(),
                ],
            )
        )
    else:
        for column in ("first_name_key", "last_name_key"):
            if column in present:
                comparisons.append(cl.JaroWinklerAtThresholds(column, [0.92, 0.8]))
    if "email_key" in present:
        comparisons.append(cl.LevenshteinAtThresholds("email_key", [2]))
    if "phone" in present:
        comparisons.append(cl.LevenshteinAtThresholds("phone", [1]))
    if "name_key" in present:
        comparisons.append(cl.JaroWinklerAtThresholds("name_key", [0.95, 0.88, 0.75]))
    if "acronym" in present:
        comparisons.append(cl.ExactMatch("acronym"))
    if "siren" in present:
        comparisons.append(cl.ExactMatch("siren"))
    if "organisation_key" in present:
        comparisons.append(cl.JaroWinklerAtThresholds("organisation_key", [0.9]))
    if "birth_date" in present:
        comparisons.append(cl.DamerauLevenshteinAtThresholds("birth_date", [1, 2]))
    if "identifier" in present:
        comparisons.append(cl.DamerauLevenshteinAtThresholds("identifier", [1, 2]))
    if "address" in present:
        comparisons.append(cl.JaroWinklerAtThresholds("address", [0.95, 0.85]))
    if "locality" in present:
        comparisons.append(cl.JaroWinklerAtThresholds("locality", [0.92]))
    place = [c for c in ("commune_code", "postcode") if c in present]
    if place:
        levels: list[Any] = [cll.And(*(cll.NullLevel(c) for c in place))]
        levels += [cll.ExactMatchLevel(c).configure(label_for_charts=f"même {c}") for c in place]
        levels.append(cll.LevenshteinLevel(place[-1], 1).configure(label_for_charts="lieu voisin"))
        levels.append(cll.ElseLevel())
        comparisons.append(cl.CustomComparison(output_column_name="lieu", comparison_levels=levels))
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
        rules.append(block_on("last_name_key", "substr(first_name_key, 1, 1)"))
        rules.append(block_on("names_sorted"))
        for other in ("commune_code", "postcode", "birth_date"):
            if other in present:
                rules.append(block_on("first_name_key", other))
                rules.append(block_on("substr(last_name_key, 1, 3)", other))
        if "birth_date" in present:
            rules.append(block_on("substr(first_name_key, 1, 2)", "substr(last_name_key, 1, 2)"))
    if "name_key" in present:
        rules.append(block_on("name_key"))
        for other in ("commune_code", "postcode"):
            if other in present:
                rules.append(block_on("substr(name_key, 1, 4)", other))
        if "acronym" in present:
            rules.append(block_on("acronym"))
    return rules


def _training_rules(columns: Sequence[str]) -> list[Any]:
    """EM blocking rules: together they let every comparison be estimated."""
    from splink import block_on

    present = set(columns)
    rules: list[Any] = []
    if {"first_name_key", "last_name_key"} <= present:
        rules.append(block_on("first_name_key", "last_name_key"))
        for other in ("email_key", "birth_date", "identifier", "phone", "postcode", "commune_code"):
            if other in present:
                rules.append(block_on(other))
                break
    elif "name_key" in present:
        rules.append(block_on("name_key"))
        for other in ("siren", "email_key", "phone", "commune_code", "postcode"):
            if other in present:
                rules.append(block_on(other))
                break
    return rules


def _deterministic_rules(columns: Sequence[str]) -> list[Any]:
    """Rules that admit almost no false pair (estimate how often two records match)."""
    from splink import block_on

    present = set(columns)
    rules: list[Any] = []
    if {"first_name_key", "last_name_key"} <= present:
        for other in ("email_key", "phone", "birth_date", "identifier", "commune_code", "postcode"):
            if other in present:
                rules.append(block_on("first_name_key", "last_name_key", other))
    if "name_key" in present:
        for other in ("commune_code", "postcode", "siren"):
            if other in present:
                rules.append(block_on("name_key", other))
    return rules


def predict(
    df: pd.DataFrame,
    *,
    kind: Kind,
    id_column: str = "id",
    other: pd.DataFrame | None = None,
    threshold: float = 0.01,
    seed: int = SEED,
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
    scored = _splink_pairs(df, kind=kind, id_column=id_column, other=other, threshold=threshold, seed=seed)
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
) -> pd.DataFrame | None:
    """Splink predictions (without exact rules), or None when there is nothing to compare."""
    import duckdb
    from splink import DuckDBAPI, Linker, SettingsCreator

    tables = [_prepared(df, kind=kind, id_column=id_column)]
    if other is not None:
        tables.append(_prepared(other, kind=kind, id_column=id_column))
        common = [c for c in tables[0].columns if c in tables[1].columns]
        tables = [t[common] for t in tables]
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
        settings = SettingsCreator(
            link_type="dedupe_only" if other is None else "link_only",
            comparisons=comparisons,
            blocking_rules_to_generate_predictions=blocking,
            retain_matching_columns=False,
            retain_intermediate_calculation_columns=False,
            max_iterations=20,
        )
        linker = Linker(registered if other is not None else registered[0], settings, log_level=logging.ERROR)
        n_pairs = n_records * (n_records - 1) / 2
        deterministic = _deterministic_rules(columns)
        if deterministic:
            linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
        linker.training.estimate_u_using_random_sampling(
            max_pairs=min(U_MAX_PAIRS, max(n_pairs, 1.0)), seed=seed, min_count_per_level=None
        )
        for rule in _training_rules(columns):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True
            )
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
    if other is None:  # Splink puts the lower id on the left only for its own ordering
        swap = pairs["id_l"] > pairs["id_r"]
        pairs.loc[swap, ["id_l", "id_r"]] = pairs.loc[swap, ["id_r", "id_l"]].to_numpy()
    elif "source_dataset_l" in result.columns:
        swap = (result["source_dataset_l"] != "records_0").to_numpy()
        pairs.loc[swap, ["id_l", "id_r"]] = pairs.loc[swap, ["id_r", "id_l"]].to_numpy()
    return pairs.drop_duplicates(["id_l", "id_r"], ignore_index=True)


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
