"""Pure core, probabilistic linkage: the Splink 5 model on DuckDB (:func:`predict`) and :func:`clusters`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from carto._errors import CartoError
from carto.linkage.rules import Kind, _columns_for, _prepared, exact_pairs

#: One logger for the whole of linkage, whichever sub-module writes.
log = logging.getLogger("carto.linkage")


#: Seed of the random sampling that estimates the *u* probabilities.
SEED = 20190901
#: Pairs sampled to estimate the *u* probabilities.
U_MAX_PAIRS = 2e6
#: Fewest pairs a blocking rule must give to train the model by EM.
MIN_TRAINING_PAIRS = 3


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
    model: tuple[dict[str, Any], Sequence[str]] | None = None,
    new_ids: Iterable[Any] | None = None,
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
    model : (dict, list of str), optional
        Deduplication only: a model trained by :func:`train` (on these or other
        records), used as it is — nothing is trained.
    new_ids : iterable, optional
        With ``model``: only the pairs involving at least one of these records
        are returned (the records added since a model was trained, compared
        with each other and with the others).

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
    if new_ids is not None:
        if model is None:
            raise CartoError("new_ids demande un modèle déjà entraîné (model=...).")
        new_ids = set(new_ids)
        exact = exact[exact["id_l"].isin(new_ids) | exact["id_r"].isin(new_ids)].reset_index(drop=True)
    groups = None
    if group_column is not None and other is None:
        groups = df[group_column].astype("string").set_axis(df[id_column].to_numpy())
        same = (groups.reindex(exact["id_l"]).to_numpy() == groups.reindex(exact["id_r"]).to_numpy())
        exact = exact[~pd.array(same, dtype="boolean").fillna(False).to_numpy(bool)].reset_index(drop=True)
    scored = _splink_pairs(df, kind=kind, id_column=id_column, other=other, threshold=threshold, seed=seed,
                           every_pair=every_pair, groups=groups, model=model, new_ids=new_ids)
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


def train(
    df: pd.DataFrame, *, kind: Kind, id_column: str = "id", seed: int = SEED
) -> tuple[dict[str, Any], list[str]] | None:
    """Train the Splink model of :func:`predict` on ``df`` (deduplication), without scoring any pair.

    *u* by random sampling with ``seed``, *m* by EM on blocking rules (see the
    module docstring). :func:`carto.linkage.link` keeps the result in the base
    and scores new records with it (``predict(model=...)``).

    Returns
    -------
    (dict, list of str) or None
        The trained model (Splink's JSON settings) and the prepared columns it
        compares; None when there is nothing to train on.

    Examples
    --------
    >>> people = pd.DataFrame({"id": range(4), "first_name_key": ["ana", "ana", "paul", "lea"],
    ...                        "last_name_key": ["roux", "roux", "petit", "blanc"]})
    >>> model, columns = train(people, kind="personne")
    >>> columns
    ['first_name_key', 'last_name_key', 'names_sorted']
    """
    tables = [_prepared(df, kind=kind, id_column=id_column)]
    columns = [c for c in tables[0].columns if c != "unique_id"]
    if not _comparisons(columns) or not _blocking_rules(columns) or len(tables[0]) < 2:
        return None
    with _duckdb() as api:
        linker = _trained_linker(api, tables, columns, seed=seed, dedupe=True)
        return linker.misc.save_model_to_json(), columns


@contextlib.contextmanager
def _duckdb() -> Iterator[Any]:
    """A DuckDB-backed Splink API on 2 threads, Splink's own logging kept quiet."""
    import duckdb
    from splink import DuckDBAPI

    splink_logger = logging.getLogger("splink")
    level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    connection = duckdb.connect()
    try:
        connection.execute("SET threads TO 2")
        yield DuckDBAPI(connection)
    finally:
        connection.close()
        splink_logger.setLevel(level)


def _trained_linker(api: Any, tables: list[pd.DataFrame], columns: list[str], *, seed: int, dedupe: bool) -> Any:
    """A Splink linker on ``tables``, trained (u by sampling, m by EM from starting values)."""
    from splink import Linker, SettingsCreator
    from splink.internals.exceptions import EMTrainingException

    registered = [api.register(t, table_name=f"records_{i}") for i, t in enumerate(tables)]
    n_records = sum(len(t) for t in tables)
    n_pairs = (n_records * (n_records - 1) / 2 if dedupe else float(len(tables[0])) * float(len(tables[1])))
    settings = SettingsCreator(
        probability_two_random_records_match=_prior(tables, columns, n_pairs),
        link_type="dedupe_only" if dedupe else "link_only",
        comparisons=_comparisons(columns),
        blocking_rules_to_generate_predictions=_blocking_rules(columns),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
        max_iterations=20,
    )
    inputs = registered[0] if dedupe else registered
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
    return linker


def _restricted(model: dict[str, Any], *conditions: str) -> dict[str, Any]:
    """``model`` whose blocking rules of prediction also require every one of ``conditions``."""
    import copy

    model = copy.deepcopy(model)
    for rule in model["blocking_rules_to_generate_predictions"]:
        rule["blocking_rule"] = " AND ".join([f"({rule['blocking_rule']})", *(f"({c})" for c in conditions)])
    return model


_APART = "l.group_of_profile IS NULL OR r.group_of_profile IS NULL OR l.group_of_profile <> r.group_of_profile"


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
    model: tuple[dict[str, Any], Sequence[str]] | None = None,
    new_ids: set[Any] | None = None,
) -> pd.DataFrame | None:
    """Splink predictions (without exact rules), or None when there is nothing to compare.

    ``groups`` (by record id): two profiles whose records all belong to one
    group are not paired (the blocking rules of prediction say so).
    ``model`` (deduplication only; from :func:`train`): scored with it, not
    trained. ``new_ids`` (with ``model``): only pairs with at least one of
    these records are scored.
    """
    from splink import Linker

    if model is not None and other is not None:
        raise CartoError("Un modèle déjà entraîné ne sert qu'à dédoublonner une table (pas à lier deux tables).")
    wanted = None if model is None else [c for c in model[1] if c in _columns_for(kind)]
    tables = [_prepared(df, kind=kind, id_column=id_column, columns=wanted)]
    if model is not None:  # the model's derived columns too (names_sorted, alias_key…), even when empty
        tables[0] = tables[0].assign(**{c: pd.Series(pd.NA, index=tables[0].index, dtype="string")
                                        for c in model[1] if c not in tables[0].columns})
    members = None
    if other is not None:
        tables.append(_prepared(other, kind=kind, id_column=id_column))
        common = [c for c in tables[0].columns if c in tables[1].columns]
        tables = [t[common] for t in tables]
    elif new_ids is None:
        distinct, copies, members = _profiles(tables[0])
        profiles = pd.concat([distinct, copies], ignore_index=True)
    columns = [c for c in tables[0].columns if c != "unique_id"]
    n_records = sum(len(t) for t in tables)
    if not _comparisons(columns) or not _blocking_rules(columns) or n_records < 2:
        return None
    with _duckdb() as api:
        if model is None:
            linker = _trained_linker(api, tables, columns, seed=seed, dedupe=other is None)
            trained = linker.misc.save_model_to_json() if members is not None else None
        else:
            linker, trained = None, model[0]
        if new_ids is not None:  # only pairs with a new record, each record scored as it is
            table = tables[0].assign(new_unit=tables[0]["unique_id"].isin(list(new_ids)).astype(int).to_numpy())
            conditions = ["l.new_unit = 1 OR r.new_unit = 1"]
            if groups is not None:
                found = groups.reindex(table["unique_id"].to_numpy()).to_numpy(dtype=object)
                table = table.assign(group_of_profile=np.where(pd.isna(found), None, found))
                conditions.append(_APART)
            linker = Linker(api.register(table, table_name="records_new"), _restricted(trained, *conditions),
                            log_level=logging.ERROR)
        elif members is not None:  # trained on every record, scores the distinct profiles
            if groups is not None:
                profiles = profiles.assign(group_of_profile=_profile_groups(members, groups, len(distinct)))
                trained = _restricted(trained, _APART)
            linker = Linker(api.register(profiles, table_name="profiles"), trained, log_level=logging.ERROR)
        result = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
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
