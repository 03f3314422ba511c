"""Pure core, exact rules: compared columns, the keys derived from them, pairs that deterministic rules find.

Works on any table of records (see :mod:`carto.linkage` for the columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from carto._errors import CartoError


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


def _prepared(df: pd.DataFrame, *, kind: str, id_column: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Copy of the compared columns as nullable strings, with ``unique_id``.

    ``columns``: exactly these compared columns (those ``df`` lacks are empty),
    as a saved model needs; by default, those ``df`` has with a value.
    """
    if id_column not in df.columns:
        raise CartoError(f"Colonne d'identifiant « {id_column} » absente des données à lier.")
    ids = df[id_column]
    if ids.isna().any() or ids.duplicated().any():
        raise CartoError(
            f"La colonne d'identifiant « {id_column} » doit être unique et sans valeur vide."
        )
    if columns is None:
        columns = _present(df, _columns_for(kind))
    out = pd.DataFrame({"unique_id": ids.to_numpy()}, index=df.index)
    for column in columns:
        if column not in df.columns:
            out[column] = pd.Series(pd.NA, index=df.index, dtype="string")
            continue
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
