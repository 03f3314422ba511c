"""Normalising a read table into the canonical fields, person and organisation parts, keys and raw JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from carto import normalize, store
from carto.sources import Column, Events, Mapping

_PERSON_FIELDS = ("first_name", "last_name", "first_name_key", "last_name_key", "email", "email_key",
                  "phone", "postcode", "commune_code", "pseudo")
_ORG_FIELDS = ("name", "name_key", "acronym", "siret", "siren", "rna", "org_type", "address", "postcode",
               "commune_code", "url", "email", "email_key", "phone", "themes")
#: Fields whose presence makes a person / an organisation (else the part is null).
_PERSON_CORE = ("first_name", "last_name", "email", "phone")
_ORG_CORE = ("name", "siret", "siren", "rna", "acronym")
_HOSTILE_WARNING = "contenu suspect (balise HTML ou formule de tableur) conservé comme texte brut."
#: Parsed value holding each row's participation role (see :func:`_parse_roles`); not stored in ``fields``.
_ROLE = "_role"
#: Strength of participation roles: when a file names an actor several times at one event, the strongest is kept.
_ROLE_RANK = {"participant": 0, "intervenant": 1, "organisateur": 2}

#: Parsers that are one normaliser and one output column: parser → (function, column).
_SIMPLE_PARSERS = {
    "rna": (normalize.rnas, "rna"),
    "url": (normalize.urls, "url"),
    "amount": (normalize.amounts, "amount"),
    "boolean": (normalize.booleans, "value"),
}




@dataclass
class _Parsed:
    """Canonical values of a table, and its blocking errors and warnings (per row)."""

    values: dict[str, pd.Series] = field(default_factory=dict)
    blocking: list[pd.Series] = field(default_factory=list)
    warnings: list[pd.Series] = field(default_factory=list)


def _located(table: pd.DataFrame, files: pd.Series, column: str, errors: pd.Series) -> pd.Series:
    """« fichier F, ligne N, colonne « X » : error » where ``errors`` is set."""
    errors = errors.astype("string")
    line = pd.Series(table.index.astype(str), index=table.index)
    return ("fichier " + files + ", ligne " + line + f", colonne « {column} » : " + errors).astype("string")


def _na(series: pd.Series) -> pd.Series:
    return series.astype("string").where(series.notna(), pd.NA)


def _split_full_name(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """« Prénom NOM » → (prénom, nom): the trailing upper-case words are the surname, else the last word."""
    clean = normalize.text(values)
    caps = clean.str.extract(r"^(?P<first>.+?)\s+(?P<last>[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ' -]+)$")
    plain = clean.str.extract(r"^(?P<first>.+)\s+(?P<last>\S+)$")
    first = caps["first"].fillna(plain["first"])
    last = caps["last"].fillna(plain["last"]).fillna(clean.where(first.isna()))
    return first.astype("string"), last.astype("string")


def _parse(table: pd.DataFrame, mapping: Mapping, files: pd.Series) -> _Parsed:
    out = _Parsed()
    present = {c.field: c for c in mapping.columns.values() if c.name in table.columns}
    by_field_raw = {f: table[c.name].where(table[c.name] != "", None) for f, c in present.items()}

    def flag(column: Column, error: pd.Series, *, blocking: bool | None = None) -> None:
        error = error.astype("string")
        if not error.notna().any():
            return
        located = _located(table, files, column.name, error)
        if blocking if blocking is not None else column.on_error == "quarantine":
            out.blocking.append(located)
        else:
            out.warnings.append(located)

    for target, column in present.items():
        raw = by_field_raw[target]
        part, _, name = target.rpartition(".")
        prefix = f"{part}." if part else ""
        values = out.values
        if column.required:
            flag(column, pd.Series(np.where(normalize.text(raw).isna(), "valeur obligatoire manquante.", None),
                                   index=table.index), blocking=True)
        parser = column.parser
        if parser in ("text", "commune", "list", "person_name", "organisation_name", "full_name"):
            hostile = normalize.is_hostile(raw).fillna(False).astype(bool)
            if hostile.any():
                flag(column, pd.Series(np.where(hostile, _HOSTILE_WARNING, None), index=table.index),
                     blocking=False)
        if parser in ("text", "commune"):
            values[target] = normalize.text(raw)
        elif parser == "list":
            clean = normalize.text(raw)
            values[target] = clean.str.split(column.separator.strip() or column.separator, regex=False).map(
                lambda items: [s.strip() for s in items if s.strip()] if isinstance(items, list) else None
            )
        elif parser == "person_name":
            values[target] = normalize.person_names(raw)
            values[f"{target}_key"] = normalize.name_keys(raw)
        elif parser == "full_name":
            first, last = _split_full_name(raw)
            for sub, series in (("first_name", first), ("last_name", last)):
                values[f"{prefix}{sub}"] = normalize.person_names(series)
                values[f"{prefix}{sub}_key"] = normalize.name_keys(series)
        elif parser == "organisation_name":
            clean = normalize.text(raw)
            # « Les Amis des Haies (LAH) »: the acronym goes to its field, the name keeps the words
            parts = clean.str.extract(r"^(?P<name>.+?)\s*\((?P<acronym>[A-Z0-9][A-Z0-9&.\-]{1,11})\)$")
            acronym = parts["acronym"]
            clean = parts["name"].astype("string").fillna(clean)
            values[target] = clean
            values[f"{prefix}name_key"] = normalize.organisation_keys(clean)
            values[f"{prefix}_acronym_in_name"] = acronym.astype("string")
        elif parser == "email":
            frame = normalize.emails(raw)
            values[target] = frame["email"]
            values[f"{target}_key"] = frame["email_key"]
            flag(column, frame["error"])
        elif parser == "phone":
            frame = normalize.phones(raw)
            values[target] = frame["phone"]
            flag(column, frame["error"])
        elif parser == "postcode":
            commune_column = present.get(f"{prefix}commune")
            names = by_field_raw[commune_column.field] if commune_column is not None else None
            frame = normalize.postcodes(raw, names)
            values[target] = frame["postcode"]
            values[f"{prefix}commune_code"] = frame["commune_code"]
            bad = frame["postcode"].isna()
            error = frame["error"].astype("string")
            flag(column, error.where(bad))
            flag(column, error.where(~bad), blocking=False)
        elif parser == "siret":
            frame = normalize.sirets(raw)
            values[f"{prefix}siret"] = frame["siret"]
            values[f"{prefix}siren"] = frame["siren"]
            flag(column, frame["error"])
        elif parser == "date":
            frame = normalize.dates(raw)
            values[target] = frame["date"].map(lambda d: d.isoformat() if isinstance(d, date) else None)
            flag(column, frame["error"])
        elif parser in _SIMPLE_PARSERS:
            function, output = _SIMPLE_PARSERS[parser]
            frame = function(raw)
            values[target] = frame[output]
            flag(column, frame["error"])
        else:  # pragma: no cover - carto.sources validates parsers
            raise AssertionError(parser)
    if "organisation._acronym_in_name" in out.values:
        found = out.values.pop("organisation._acronym_in_name")
        acronym = out.values.get("organisation.acronym")
        out.values["organisation.acronym"] = found if acronym is None else acronym.fillna(found)
    events = mapping.events
    if events is not None and events.role in present:
        role, unknown = _parse_roles(normalize.text(by_field_raw[events.role]), events)
        out.values[_ROLE] = role
        flag(present[events.role], unknown, blocking=False)
    return out


def _first_word(texts: pd.Series, words: Sequence[tuple[str, str]]) -> pd.Series:
    """The value of the first word found in each text (case, accents and punctuation ignored); NA when none."""
    keys = normalize.name_keys(texts)
    word_keys = normalize.name_keys([word for word, _ in words]).tolist()
    found = pd.Series(None, index=texts.index, dtype=object)
    for key, (_, value) in zip(word_keys, words):
        if pd.isna(key):
            continue
        hit = keys.str.contains(key, regex=False).fillna(False).astype(bool) & found.isna()
        found[hit] = value
    return found


def _parse_roles(given: pd.Series, events: Events) -> tuple[pd.Series, pd.Series]:
    """Participation role of each row (``participant`` when empty or unknown) and the warning of unknown values.

    The words of ``[events.roles]`` first (first match wins), then the role names themselves.
    """
    words = [*events.roles, *((role, role) for role in store.PARTICIPATION_ROLES)]
    role = _first_word(given, words)
    hint = " ; ".join(f"{', '.join(w for w, r in events.roles if r == name)} → {name}"
                      for name in store.PARTICIPATION_ROLES if any(r == name for _, r in events.roles))
    known = f"mots reconnus : {hint}" if hint else f"rôles reconnus : {', '.join(store.PARTICIPATION_ROLES)}"
    unknown = ("« " + given.astype("string") + f" » n'est pas un rôle reconnu, compté comme participant ({known} ; "
               "ajoutez le mot dans [events.roles] de la correspondance).").where(given.notna() & role.isna())
    return role.fillna("participant"), unknown


def _joined(series_list: list[pd.Series], index: pd.Index, sep: str) -> pd.Series:
    """Row-wise join of the non-missing texts of several Series (NA when none)."""
    result = pd.Series(pd.NA, index=index, dtype="string")
    for series in series_list:
        series = series.astype("string")
        result = (result + sep + series).fillna(result).fillna(series)
    return result


def _key_value(parsed: _Parsed, table: pd.DataFrame, mapping: Mapping, target: str, stems: pd.Series) -> pd.Series:
    if target == "fichier":
        return stems.astype("string")
    values = parsed.values
    preferred = {"personne.first_name": "personne.first_name_key", "personne.last_name": "personne.last_name_key",
                 "organisation.name": "organisation.name_key"}.get(target, target)
    series = values.get(preferred, values.get(target))
    column = mapping.fields.get(target)
    raw = normalize.text(table[column.name]) if column is not None and column.name in table else None
    if series is None:
        return raw if raw is not None else pd.Series(pd.NA, index=table.index, dtype="string")
    series = series.map(lambda v: v.isoformat() if isinstance(v, date) else v) if series.dtype == object else series
    series = _na(series)
    return series.fillna(raw.str.lower()) if raw is not None else series


def _keys(parsed: _Parsed, table: pd.DataFrame, mapping: Mapping, stems: pd.Series,
          seen: dict[str, int] | None = None) -> pd.Series:
    """The source key of each row; a key met again gets « #2 », « #3 »… (``seen``: counts of earlier slices)."""
    parts = []
    for part in mapping.key:
        value = pd.Series(pd.NA, index=table.index, dtype="string")
        for alternative in part.split("|"):
            value = value.fillna(_key_value(parsed, table, mapping, alternative, stems))
        parts.append(value.fillna(""))
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    occurrence = key.groupby(key.to_numpy()).cumcount()
    if seen is not None:
        occurrence += np.array([seen.get(k, 0) for k in key.tolist()], dtype=np.int64)
        counts = key.value_counts()
        seen.update((k, seen.get(k, 0) + n) for k, n in zip(counts.index.tolist(), counts.tolist()))
    return key.where(occurrence == 0, key + "#" + (occurrence + 1).astype(str)).astype(str)


def _canonical_raw(table: pd.DataFrame) -> pd.Series:
    """Canonical JSON of each row: ``json.dumps(row, ensure_ascii=False, sort_keys=True)``, built by column.

    Each distinct value is escaped once with orjson (whose string escaping is
    the standard library's with ``ensure_ascii=False``, character for
    character: ``tests/test_ingest.py``), and the pieces of every row are
    joined by pyarrow. ``row_hash`` is the SHA-256 of this text: it must not
    change from one version to the next, or every row of a re-import would
    look changed.
    """
    pieces: list[Any] = []
    for i, column in enumerate(sorted(table.columns)):
        pieces += [("{" if i == 0 else ", ") + orjson.dumps(column).decode() + ": ", _json_values(table[column])]
    if not pieces:
        return pd.Series("{}", index=table.index, dtype=object)
    joined = pc.binary_join_element_wise(*pieces, "}", "")
    return pd.Series(joined.to_numpy(zero_copy_only=False), index=table.index, dtype=object)


def _json_values(values: pd.Series) -> pa.Array:
    """JSON text of each value (``null`` when missing), serialised once per distinct value when they are hashable."""
    objects = values.astype(object).where(values.notna(), None).to_numpy(object)
    try:
        codes, uniques = pd.factorize(objects)
    except TypeError:  # lists: one call per value
        return pa.array([orjson.dumps(v).decode() for v in objects], type=pa.string())
    texts = np.array([orjson.dumps(u).decode() for u in uniques] + ["null"], dtype=object)
    return pa.array(texts[codes], type=pa.string())  # code -1 (missing) picks the last: null


def _json_object(frame: pd.DataFrame, *, skip_missing: bool = False) -> pa.Array:
    """JSON text of each row of ``frame`` as an object (its columns in order), built by column.

    ``skip_missing``: missing values leave their key out (else they are ``null``).
    """
    pieces: list[Any] = []
    for name in frame.columns:
        value = _json_values(frame[name])
        piece = pc.binary_join_element_wise(orjson.dumps(str(name)).decode() + ":", value, ",", "")
        if skip_missing:
            piece = pc.if_else(pa.array(frame[name].notna().to_numpy(bool)), piece, "")
        pieces.append(piece)
    inner = pc.utf8_rtrim(pc.binary_join_element_wise(*pieces, ""), ",") if pieces else pa.array([""] * len(frame))
    return pc.binary_join_element_wise("{", inner, "}", "")


def _fields_text(person: pd.DataFrame, org: pd.DataFrame, row_date: pd.Series, extra: pd.DataFrame) -> np.ndarray:
    """``source_records.fields`` of each row as JSON text, built by column (no dict per row).

    ``{"personne": {…} or null, "organisation": {…} or null, "date": …,
    "extra": {…}}``: the parts list every field (``null`` when empty) and are
    ``null`` when the row has none of their core fields (``_present``);
    ``extra`` leaves its empty fields out.
    """
    def part(frame: pd.DataFrame) -> pa.Array:
        return pc.if_else(pa.array(frame["_present"].to_numpy(bool)), _json_object(frame.drop(columns="_present")),
                          "null")

    text = pc.binary_join_element_wise('{"personne":', part(person), ',"organisation":', part(org),
                                       ',"date":', _json_values(row_date), ',"extra":',
                                       _json_object(extra, skip_missing=True), "}", "")
    return text.to_numpy(zero_copy_only=False).astype(object)


def _part(parsed: _Parsed, prefix: str, names: Sequence[str], core: Sequence[str], index: pd.Index) -> pd.DataFrame:
    """One part (personne / organisation) as a DataFrame, plus a ``_present`` flag."""
    columns = {}
    for name in names:
        series = parsed.values.get(f"{prefix}.{name}")
        columns[name] = series.astype(object) if series is not None else pd.Series(None, index=index, dtype=object)
    frame = pd.DataFrame(columns, index=index)
    frame = frame.where(frame.notna(), None)
    frame["_present"] = frame[[c for c in core if c in frame]].notna().any(axis=1)
    return frame


def _parse_lines(table: pd.DataFrame, lines: pd.Series, files: pd.Series, mapping: Mapping) -> _Parsed:
    """:func:`_parse` with the spreadsheet line numbers as index (for the reasons), given back on ``table``'s."""
    located = table.set_axis(pd.Index(lines.to_numpy(), name="ligne"))
    parsed = _parse(located, mapping, files.set_axis(located.index))
    return _Parsed(values={name: v.set_axis(table.index) for name, v in parsed.values.items()},
                   blocking=[v.set_axis(table.index) for v in parsed.blocking],
                   warnings=[v.set_axis(table.index) for v in parsed.warnings])
