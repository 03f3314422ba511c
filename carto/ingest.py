"""Import of source files into the base: read, normalise, quarantine, write.

One call imports one file (or a folder of files of one source, such as the
sign-in sheets) described by a mapping (:mod:`carto.sources`):

1. **Read** (:func:`read_table`): the encoding is sniffed (UTF-8, UTF-8 with
   BOM, else cp1252, else latin-1), the delimiter too (``;``, ``,``, tab,
   ``|``: the most regular count over the first lines); XLSX is read with
   openpyxl (dates as ISO dates). The header is the first row holding every
   (non-optional) column of the mapping, under any title rows; entirely empty
   rows and unnamed empty columns are ignored (XLSX: python-calamine when
   installed, else openpyxl read-only). Every value is kept as text in
   ``source_records.raw``; ``line`` is the line number a spreadsheet shows.
2. **Normalise** with :mod:`carto.normalize` (vectorised, once per distinct
   value) into the canonical ``fields`` (see the contract in
   :mod:`carto.sources` and ``docs/mappings.md``).
3. **Quarantine**: a row with a missing required value, or an invalid value
   in a column whose policy is ``quarantine`` (by default: e-mail addresses
   and postcodes — a 4-digit postcode, an address without ``@``), is stored
   with ``status = 'quarantined'`` and a French reason « fichier F, ligne N,
   colonne « X » : … »; it creates no actor. An invalid value elsewhere
   (phone, SIRET, RNA, URL, amount, date, yes/no; a postcode whose commune
   cannot be found) is dropped and a warning is kept in
   ``fields.extra.avertissements``. Text holding HTML or a spreadsheet
   formula is stored verbatim (with a warning): it is data, never markup.
4. **Write**, in **one transaction** (a failure leaves the base unchanged):
   the import batch, the source records (upsert on ``(source, source_key)``:
   a re-import of the same file writes nothing; a changed row updates its
   record and its actor unless linkage merged it or several records describe
   it), for each new record and part (person, organisation) the actor that
   already carries its sure key (e-mail; SIREN, RNA, contact person: :data:`SURE_KEYS`,
   the rule kept in ``source_records.actor_rule``) or else a provisional
   actor, events and participations, subscriptions. Big tables are written
   in slices of :data:`SLICE_ROWS` rows (bounded memory), in the same
   transaction. A blocklisted or unsubscribed contact (actor, or any actor
   with the same e-mail key) is never set back to subscribed by an import.
   Quarantined records of the file that are no longer in it (a fixed row
   whose key changed) are deleted: the fixed row replaces them.

Every row read is accounted for: ``lus = nouveaux + mis_a_jour + inchanges +
en_quarantaine`` (:class:`ImportReport`).

Examples
--------
>>> from carto import ingest, store
>>> from carto.settings import REPO_DIR
>>> engine = store.init_base("sqlite://")
>>> first = ingest.import_file(engine, REPO_DIR / "data/demo/sources/lreav.csv", source="lreav")
>>> first.lus == first.nouveaux + first.en_quarantaine, first.en_quarantaine > 0
(True, True)
>>> again = ingest.import_file(engine, REPO_DIR / "data/demo/sources/lreav.csv", source="lreav")
>>> (again.nouveaux, again.mis_a_jour, again.inchanges) == (0, 0, first.nouveaux)
True
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import logging
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, fields as dc_fields
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carto import _fr, geo, normalize, privacy, store
from carto._errors import SourceFileError
from carto.settings import get_settings
from carto.sources import SOURCE_FILES, Column, Events, Mapping, load_mapping, mapping_from_text

__all__ = [
    "ImportReport",
    "import_file",
    "import_folder",
    "quarantine",
    "read_table",
    "rederive",
    "SUBSCRIPTION_RANK",
]

log = logging.getLogger(__name__)

#: Restrictiveness of subscription statuses: an import never lowers it.
SUBSCRIPTION_RANK = {"subscribed": 0, "unsubscribed": 1, "blocklisted": 2}
_DELIMITERS = (";", ",", "\t", "|")
_HEADER_SCAN = 50
_SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm"}
_TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
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
class ImportReport:
    """What one import did. ``lus = nouveaux + mis_a_jour + inchanges + en_quarantaine``.

    Examples
    --------
    >>> r = ImportReport(file="a.csv", source="lreav", lus=3, nouveaux=1, mis_a_jour=1, inchanges=0,
    ...                  en_quarantaine=1)
    >>> print(r)
    a.csv : 3 lignes lues, 2 importées (1 nouvelles, 1 mises à jour, 0 inchangées), 1 en quarantaine
    """

    file: str
    source: str
    lus: int = 0
    nouveaux: int = 0
    mis_a_jour: int = 0
    inchanges: int = 0
    en_quarantaine: int = 0
    avertissements: int = 0
    acteurs: int = 0
    rattachements: int = 0
    evenements: int = 0
    participations: int = 0
    inscriptions: int = 0
    accords: int = 0
    seconds: float = 0.0
    batch_id: int | None = None

    @property
    def importees(self) -> int:
        """Rows imported (not quarantined)."""
        return self.nouveaux + self.mis_a_jour + self.inchanges

    def __str__(self) -> str:
        text = (
            f"{self.file} : {_fr.integer(self.lus)} lignes lues, {_fr.integer(self.importees)} importées "
            f"({_fr.integer(self.nouveaux)} nouvelles, {_fr.integer(self.mis_a_jour)} mises à jour, "
            f"{_fr.integer(self.inchanges)} inchangées), {_fr.integer(self.en_quarantaine)} en quarantaine"
        )
        extra = [
            f"{_fr.integer(n)} {label}"
            for n, label in ((self.acteurs, "acteurs créés"),
                             (self.rattachements, "lignes rattachées par courriel, SIREN, RNA ou personne de contact"),
                             (self.evenements, "événements écrits"),
                             (self.participations, "participations écrites"),
                             (self.inscriptions, "inscriptions écrites"),
                             (self.accords, "déclarations d'accord pour la carte écrites"))
            if n
        ]
        return text + (" ; " + ", ".join(extra) if extra else "")

    @classmethod
    def combine(cls, reports: Sequence[ImportReport], *, file: str) -> ImportReport:
        """Sum of several reports of one source (e.g. every sign-in sheet)."""
        total = cls(file=file, source=reports[0].source if reports else "")
        for report in reports:
            for f in dc_fields(cls):
                if f.name not in ("file", "source", "batch_id"):
                    setattr(total, f.name, getattr(total, f.name) + getattr(report, f.name))
        return total


# --------------------------------------------------------------------------- reading


def _norm_header(value: object) -> str:
    return " ".join(unicodedata.normalize("NFC", str(value)).split()).casefold()


def _decode(data: bytes, encoding: str, name: str) -> str:
    if encoding != "auto":
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise SourceFileError(
                f"{name} : impossible de lire le fichier en {encoding} ({exc}). "
                "Corrigez « encoding » dans la correspondance ou mettez « auto »."
            ) from exc
    for candidate in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter whose count is the most regular (and largest) over the sample lines."""
    best, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        counts = [line.count(delimiter) for line in lines if line.strip()]
        counts = [c for c in counts if c > 0]
        if not counts:
            continue
        values, freq = np.unique(counts, return_counts=True)
        k = int(np.argmax(freq))
        score = (int(freq[k]), int(values[k]))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _find_header(rows: list[list[str]], expected: Sequence[str], name: str) -> int:
    """Index of the first row holding every expected column (French error naming the missing ones)."""
    wanted = {_norm_header(c): c for c in expected}
    best, best_found = 0, -1
    for i, row in enumerate(rows[:_HEADER_SCAN]):
        cells = {_norm_header(c) for c in row if c is not None and str(c).strip()}
        found = len(wanted.keys() & cells)
        if found == len(wanted):
            return i
        if found > best_found:
            best, best_found = i, found
    if best_found <= 0:
        raise SourceFileError(
            f"{name} : aucune ligne d'en-tête ne contient les colonnes attendues "
            f"({', '.join('« ' + c + ' »' for c in expected)}). Vérifiez que le fichier est bien "
            "de cette source, ou adaptez la correspondance."
        )
    cells = {_norm_header(c) for c in rows[best] if c is not None}
    missing = [c for k, c in wanted.items() if k not in cells]
    raise SourceFileError(
        f"{name} : colonne(s) manquante(s) dans l'en-tête (ligne {best + 1}) : "
        f"{', '.join('« ' + c + ' »' for c in missing)}. Ajoutez-les au fichier, ou marquez-les "
        "« optional = true » dans la correspondance."
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unreadable_workbook(path: Path, exc: Exception) -> SourceFileError:
    return SourceFileError(
        f"{path.name} : classeur XLSX illisible ({type(exc).__name__} : {exc}). "
        "Ouvrez-le dans un tableur et enregistrez-le à nouveau au format .xlsx."
    )


def _missing_sheet(path: Path, sheet: str, names: Sequence[str]) -> SourceFileError:
    return SourceFileError(f"{path.name} : pas de feuille « {sheet} » (feuilles : {', '.join(names)}).")


def _read_rows_xlsx(path: Path, sheet: str | None) -> list[list[str]]:
    """Cells of a sheet as text: python-calamine when installed (50x faster), else openpyxl read-only."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - depends on the environment
        return _read_rows_openpyxl(path, sheet)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own types for damaged files
        raise _unreadable_workbook(path, exc) from exc
    if sheet is not None and sheet not in workbook.sheet_names:
        raise _missing_sheet(path, sheet, workbook.sheet_names)
    cells = workbook.get_sheet_by_name(sheet or workbook.sheet_names[0]).to_python(skip_empty_area=False)
    return [[_cell_text(v) for v in row] for row in cells]


def _read_rows_openpyxl(path: Path, sheet: str | None) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise _unreadable_workbook(path, exc) from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise _missing_sheet(path, sheet, workbook.sheetnames)
        ws = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        return [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        workbook.close()


def read_table(path: str | Path, mapping: Mapping | str, *, fmt: str | None = None) -> pd.DataFrame:
    """Read a CSV or XLSX source file into a DataFrame of text, indexed by spreadsheet line.

    Parameters
    ----------
    path : str or Path
        CSV (any of UTF-8, UTF-8 with BOM, cp1252, latin-1; ``;``, ``,``,
        tab or ``|``) or XLSX file.
    mapping : Mapping or str
        The mapping (or built-in source name) whose columns locate the header.
    fmt : {"csv", "xlsx"}, optional
        Format (default: the mapping's, else from the file extension).

    Returns
    -------
    pandas.DataFrame
        Columns as named in the file, every value a ``str`` (``""`` when
        empty); index ``ligne``: the line number a spreadsheet shows.
        Entirely empty rows and unnamed empty columns are dropped.

    Raises
    ------
    SourceFileError
        Unreadable file, or columns of the mapping missing from the header.

    Examples
    --------
    >>> from carto.settings import REPO_DIR
    >>> t = read_table(REPO_DIR / "data/demo/sources/dispositifs.xlsx", "dispositifs")
    >>> int(t.index[0]), t.iloc[0]["Date de décision"][:2]
    (4, '20')
    """
    path = Path(path)
    if isinstance(mapping, str):
        mapping = load_mapping(mapping)
    if not path.is_file():
        raise SourceFileError(f"Fichier introuvable : « {path} ».")
    fmt = fmt or (mapping.format if mapping.format != "auto" else None)
    if fmt is None:
        fmt = "xlsx" if path.suffix.lower() in _SPREADSHEET_SUFFIXES else "csv"
    if fmt == "csv" and path.suffix.lower() in _SPREADSHEET_SUFFIXES:
        fmt = "xlsx"  # a sign-in sheet folder mixes both: trust the extension for workbooks
    if fmt == "xlsx" and path.suffix.lower() in _TEXT_SUFFIXES:
        fmt = "csv"
    expected = [c.name for c in mapping.columns.values() if not c.optional]
    if fmt == "xlsx":
        rows = _read_rows_xlsx(path, mapping.sheet)
        h = _find_header(rows, expected, path.name)
        header, body = rows[h], rows[h + 1 :]
        width = max([len(header), *map(len, body)]) if body else len(header)
        frame = pd.DataFrame([r + [""] * (width - len(r)) for r in body], columns=range(width), dtype=object)
        header = header + [""] * (width - len(header))
    else:
        text = _decode(path.read_bytes(), mapping.encoding, path.name)
        if "\x00" in text[:4096]:
            raise SourceFileError(
                f"{path.name} : ce n'est pas un fichier texte CSV (octets nuls). "
                "Un classeur ? Donnez-lui l'extension .xlsx."
            )
        reader_lines = list(itertools.islice(io.StringIO(text, newline=None), _HEADER_SCAN * 2))  # not the whole file
        delimiter = mapping.delimiter if mapping.delimiter != "auto" else _sniff_delimiter(reader_lines)
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        head: list[list[str]] = []
        physical: list[int] = []
        try:
            for row in reader:
                physical.append(reader.line_num)
                head.append(row)
                if len(head) >= _HEADER_SCAN:
                    break
        except csv.Error as exc:
            raise SourceFileError(f"{path.name} : CSV illisible ({exc}).") from exc
        h = _find_header(head, expected, path.name)
        skip = physical[h - 1] if h else 0
        header = head[h]
        try:
            frame = pd.read_csv(
                io.StringIO(text), sep=delimiter, header=None, skiprows=skip + 1, names=range(len(header)),
                dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False,
                engine="c", index_col=False,
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise SourceFileError(
                f"{path.name} : CSV illisible après l'en-tête ({exc}). Une ligne a-t-elle plus de "
                f"colonnes que l'en-tête (séparateur « {delimiter} ») ?"
            ) from exc
    frame.index = pd.RangeIndex(h + 2, h + 2 + len(frame), name="ligne")
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    names = [str(c).strip() for c in header]
    keep = [i for i, n in enumerate(names) if n or (frame[i] != "").any()]
    frame = frame[keep]
    frame.columns = [names[i] or f"Colonne {i + 1}" for i in keep]
    if frame.columns.duplicated().any():
        repeated = frame.columns[frame.columns.duplicated()][0]
        raise SourceFileError(f"{path.name} : la colonne « {repeated} » apparaît deux fois dans l'en-tête.")
    empty = (frame == "").all(axis=1)
    return frame[~empty]


# --------------------------------------------------------------------------- normalising


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


# --------------------------------------------------------------------------- base helpers


def _communes_points() -> pd.DataFrame:
    return geo.communes().set_index("code")[["lon", "lat"]]


#: Sure keys by which an import attaches a new row to the actor that already carries one of them: the
#: exact rules of :data:`carto.linkage.EXACT_RULES` that need no guard (same e-mail; same SIREN — a SIRET
#: gives its SIREN —, same RNA; and a bare organisation name given by the same contact person, see
#: :func:`_contact_keys`), with the rule name kept on the record.
SURE_KEYS = {"personne": {"email_key": "email"},
             "organisation": {"siren": "siren", "rna": "rna", "contact": "contact"}}


#: Fields that make an organisation mention more than a bare name (see :func:`_contact_keys`).
_ORG_DETAILS = ("siret", "siren", "rna", "commune_code", "address")


def _contact_keys(part: pd.DataFrame, contact: np.ndarray) -> pd.Series:
    """Key « contact person, full name » of the bare organisation mentions (linkage's rule « contact »).

    A sign-in sheet's « Structure » column names an organisation by its name
    only; the same person naming the same full name (filler words kept) on
    another sheet means the same organisation. ``contact``: per row, the
    person's actor (``a<id>``) or the row whose new person actor it takes
    (``r<position>``), None without a person. Mentions with an identifier, a
    commune or an address are left to linkage (their guards may disagree).
    """
    bare = part[[c for c in _ORG_DETAILS if c in part.columns]].isna().all(axis=1).to_numpy()
    full = normalize.name_keys(part["name"]).to_numpy(object) if "name" in part.columns else np.full(len(part), None)
    keep = bare & pd.notna(contact) & pd.notna(full)
    return pd.Series([f"{c}\x1f{f}" if k else None for c, f, k in zip(contact, full, keep)], index=part.index,
                     dtype=object)


def _contact_owners(conn: Connection, keys: Sequence[str]) -> pd.DataFrame:
    """Organisations of the base each contact key names: those its person's records name under that full name."""
    persons = sorted({int(k.split("\x1f", 1)[0][1:]) for k in keys if k.startswith("a")})
    sr, o = store.source_records, store.actors
    found = store.select_in(conn, sa.select(sr.c.actor_id, o.c.id, o.c.organisation_name)
                            .join_from(sr, o, o.c.id == sr.c.organisation_actor_id)
                            .where(o.c.status == "active", o.c.kind == "organisation"), sr.c.actor_id, persons)
    if found.empty:
        return pd.DataFrame({"key": pd.Series(dtype=object), "actor": pd.Series(dtype=object)})
    full = normalize.name_keys(found["organisation_name"]).to_numpy(object)
    key = ["a" + str(int(p)) + "\x1f" + f if pd.notna(f) else None for p, f in zip(found["actor_id"], full)]
    out = pd.DataFrame({"key": key, "actor": found["id"]}).dropna()
    return out[out["key"].isin(set(keys))].drop_duplicates()


def _sure_groups(conn: Connection, part: pd.DataFrame, mask: np.ndarray, kind: str,
                 contact: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How the rows of ``mask`` (new, needing an actor) share actors through their sure keys.

    Rows sharing a key, directly or through other rows, form a group. A group
    whose keys name exactly one active actor of the base (of ``kind``) is
    attached to it; a group naming none gets one new actor, its first row's;
    a group naming several gets one actor per row (linkage will decide, with
    what people declared distinct). Returns, per row of ``part``: the
    existing actor (NaN if none), the position of the row whose new actor it
    takes (its own when it gets one, -1 when attached to an existing actor or
    not in ``mask``) and the rule (``None``: the row has an actor of its own).
    Organisations with ``contact`` (see :func:`_contact_keys`) are also keyed
    by their contact person and full name.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(part)
    existing = np.full(n, np.nan)
    leader = np.where(mask, np.arange(n), -1)
    rule = np.full(n, None, dtype=object)
    keys = {k: r for k, r in SURE_KEYS[kind].items() if k in part.columns}
    columns = {k: part[k] for k in keys}
    if "contact" in SURE_KEYS[kind] and contact is not None:  # not a column: computed from the contact person
        keys["contact"], columns["contact"] = SURE_KEYS[kind]["contact"], _contact_keys(part, contact)
    rows = np.flatnonzero(mask)
    edges_row, edges_key = [], []
    first_rule = pd.Series(None, index=range(len(rows)), dtype=object)
    for key, name in keys.items():
        values = columns[key].iloc[rows].astype("string").to_numpy(object)
        present = np.flatnonzero(pd.notna(values))
        edges_row.append(present)
        edges_key.append(np.array([f"{key}\x1f{v}" for v in values[present]], dtype=object))
        first_rule.iloc[present] = first_rule.iloc[present].fillna(name)
    if not rows.size or not sum(map(len, edges_row)):
        return existing, leader, rule
    row_of, key_text = np.concatenate(edges_row), np.concatenate(edges_key)
    codes, uniques = pd.factorize(key_text)
    size = len(rows) + len(uniques)
    graph = coo_matrix((np.ones(len(row_of)), (row_of, len(rows) + codes)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    component = label[: len(rows)]
    keyed = np.zeros(len(rows), dtype=bool)
    keyed[row_of] = True
    # actors of the base carrying each key value
    a = store.actors
    owners = []
    for key in keys:
        wanted = sorted({u.split("\x1f", 1)[1] for u in uniques if u.startswith(key + "\x1f")})
        if not wanted:
            continue
        if key == "contact":
            found = _contact_owners(conn, wanted)
            owners.append(found.assign(key="contact\x1f" + found["key"]))
            continue
        found = store.select_in(conn, sa.select(a.c.id, a.c[key].label("value")).where(
            a.c.kind == kind, a.c.status == "active"), a.c[key], wanted)
        owners.append(pd.DataFrame({"key": key + "\x1f" + found["value"].astype(str), "actor": found["id"]}))
    owner = pd.concat(owners, ignore_index=True) if owners else pd.DataFrame({"key": [], "actor": []})
    owner = owner.assign(component=label[len(rows) + pd.Index(uniques).get_indexer(owner["key"])])
    per_component = owner.drop_duplicates(["component", "actor"]).groupby("component")["actor"]
    count = per_component.size()
    single = per_component.first()[count == 1]
    ambiguous = set(count.index[count > 1].tolist())
    frame = pd.DataFrame({"row": rows, "component": component, "keyed": keyed})
    attached = frame["keyed"] & frame["component"].isin(single.index)
    existing[rows[attached]] = frame.loc[attached, "component"].map(single).astype(float).to_numpy()
    leader[rows[attached]] = -1
    rule[rows[attached]] = first_rule[attached.to_numpy()].to_numpy(object)
    grouped = frame["keyed"] & ~attached & ~frame["component"].isin(ambiguous)
    firsts = frame[grouped].groupby("component")["row"].transform("min").to_numpy()
    followers = frame.loc[grouped, "row"].to_numpy() != firsts
    leader[rows[grouped][followers]] = firsts[followers]
    rule[rows[grouped][followers]] = first_rule[grouped.to_numpy()].to_numpy(object)[followers]
    return existing, leader, rule


def _actor_ids(conn: Connection, part: pd.DataFrame, mask: np.ndarray, kind: str, ids: np.ndarray,
               contact: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Actors of the rows of ``mask`` through their sure keys (see :func:`_sure_groups`).

    Fills ``ids`` (NaN where missing) for the rows attached to an existing
    actor; returns the rows that get a new actor, the position of the row
    whose new actor each row takes (-1: none) and the rules.
    """
    existing, leader, rule = _sure_groups(conn, part, mask, kind, contact)
    attached = mask & ~np.isnan(existing)
    ids[attached] = existing[attached]
    return mask & (leader == np.arange(len(part))), leader, rule


def _give_new_ids(ids: np.ndarray, own: np.ndarray, leader: np.ndarray, new_ids: Sequence[int]) -> None:
    """Write ``new_ids`` into ``ids`` for the rows of ``own``, and each follower its leader's id."""
    ids[own] = new_ids
    follows = (leader >= 0) & ~own
    ids[follows] = ids[leader[follows]]


def _actor_rows(part: pd.DataFrame, kind: str, source: str, ids: np.ndarray) -> pd.DataFrame:
    """Actor rows (golden fields copied from the record) of the rows of ``part``."""
    points = _communes_points()
    p = part
    if kind == "personne":
        names = _joined([p["first_name"], p["last_name"]], p.index, " ")
        display = names.fillna(p["email"].astype("string")).fillna(p["pseudo"].astype("string"))
        name_key = _joined([p["first_name_key"], p["last_name_key"]], p.index, " ")
        fields = {"first_name": p["first_name"], "last_name": p["last_name"], "name_key": name_key,
                  "first_name_key": p["first_name_key"], "last_name_key": p["last_name_key"],
                  "themes": pd.Series([[] for _ in range(len(p))], index=p.index, dtype=object)}
    else:
        display = p["name"].astype("string").fillna(p["acronym"].astype("string")).fillna(
            p["siret"].astype("string")).fillna(p["rna"].astype("string"))
        fields = {"organisation_name": p["name"], "name_key": p["name_key"], "acronym": p["acronym"],
                  "org_type": p["org_type"], "siret": p["siret"], "siren": p["siren"], "rna": p["rna"],
                  "url": p["url"], "address": p["address"],
                  "themes": p["themes"].map(lambda t: t if isinstance(t, list) else [])}
    code = p["commune_code"].astype("string")
    rows = pd.DataFrame(
        {
            "id": ids,
            "kind": kind,
            "status": "active",
            "display_name": display.fillna("(sans nom)").to_numpy(object),
            **{k: pd.Series(v, index=p.index).to_numpy(object) for k, v in fields.items()},
            "email": p["email"].to_numpy(object),
            "email_key": p["email_key"].to_numpy(object),
            "phone": p["phone"].to_numpy(object),
            "postcode": p["postcode"].to_numpy(object),
            "commune_code": code.to_numpy(object),
            "lon": code.map(points["lon"]).astype("Float64").to_numpy(object),
            "lat": code.map(points["lat"]).astype("Float64").to_numpy(object),
            "location_precision": np.where(code.notna(), "commune", None),
        },
        index=p.index,
    )
    provenance_cols = [c for c in rows.columns if c not in {"id", "kind", "status", "display_name",
                                                             "location_precision", "themes"}]
    rows["provenance"] = _provenance_text(rows[provenance_cols].notna().to_numpy(), provenance_cols, source)
    rows = rows.astype(object).where(rows.notna(), None)
    return rows


def _provenance_text(present: np.ndarray, names: Sequence[str], source: str) -> np.ndarray:
    """JSON text ``{"field":"source",…}`` of the fields present in each row, built once per distinct pattern.

    The same text as :func:`carto.store._json_dumps` of the dict; written with
    ``json_text=["provenance"]``.

    Examples
    --------
    >>> _provenance_text(np.array([[True, False], [True, True], [True, False]]), ["email", "phone"], "lreav").tolist()
    ['{"email":"lreav"}', '{"email":"lreav","phone":"lreav"}', '{"email":"lreav"}']
    """
    if not len(present):
        return np.zeros(0, dtype=object)
    bits = [1 << i for i in range(len(names))]  # one bit per field: about 20 fields (an actor's columns)
    codes, inverse = np.unique(present.astype(np.int64) @ np.array(bits, dtype=np.int64), return_inverse=True)
    value = orjson.dumps(source).decode()
    texts = np.array(["{" + ",".join(f"{orjson.dumps(n).decode()}:{value}" for n, bit in zip(names, bits) if code & bit)
                      + "}" for code in codes.tolist()], dtype=object)
    return texts[inverse.ravel()]


# --------------------------------------------------------------------------- import


def _resolve_mapping(source: str | None, mapping: Mapping | str | Path | None) -> Mapping:
    if mapping is not None and source is not None:
        raise SourceFileError("Donnez soit une source intégrée (source=…), soit une correspondance (mapping=…), pas les deux.")
    if mapping is None and source is None:
        raise SourceFileError(
            f"Dites quelle source importer : source={'|'.join(SOURCE_FILES)}, "
            "ou mapping=chemin/ma_source.toml."
        )
    if isinstance(mapping, Mapping):
        return mapping
    return load_mapping(mapping if mapping is not None else str(source))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SPREADSHEET_SUFFIXES | _TEXT_SUFFIXES
                       and not p.name.startswith((".", "~$")))
        if not found:
            raise SourceFileError(f"Dossier sans fichier CSV ni XLSX : « {path} ».")
        return found
    if not path.exists():
        raise SourceFileError(f"Fichier introuvable : « {path} ».")
    return [path]


def import_file(
    engine: Engine,
    path: str | Path,
    *,
    source: str | None = None,
    mapping: Mapping | str | Path | None = None,
    who: str | None = None,
    verbose: bool = False,
) -> ImportReport:
    """Import one source file (or a folder of files of one source) into the base, in one transaction.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base (:func:`carto.store.open_base`).
    path : str or Path
        CSV or XLSX file; or a folder whose CSV/XLSX files are all of this
        source (e.g. the sign-in sheets), imported together.
    source : str, optional
        Built-in source: ``lreav``, ``jeparticipe``, ``dispositifs``,
        ``emargement``, ``newsletter``.
    mapping : Mapping or str or Path, optional
        Instead of ``source``: a mapping file (``ma_source.toml``).
    who : str, optional
        Author written in the audit log (default: ``settings.user``).
    verbose : bool
        Progress bar over the files and the steps.

    Returns
    -------
    ImportReport
        Counts (``lus = nouveaux + mis_a_jour + inchanges + en_quarantaine``).

    Raises
    ------
    SourceFileError
        Unreadable file or missing columns (nothing is written).
    MappingError
        Wrong mapping file.

    Examples
    --------
    >>> from carto import store
    >>> from carto.settings import REPO_DIR
    >>> engine = store.init_base("sqlite://")
    >>> r = import_file(engine, REPO_DIR / "data/demo/sources/newsletter.csv", source="newsletter")
    >>> r.lus == r.nouveaux + r.mis_a_jour + r.inchanges + r.en_quarantaine, r.en_quarantaine
    (True, 3)
    """
    t0 = time.perf_counter()
    the_mapping = _resolve_mapping(source, mapping)
    path = Path(path)
    files = _files(path)
    iterator: Any = files
    if verbose and len(files) > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc=f"Lecture ({the_mapping.name})", unit="fichier")
    tables, digests = [], []
    for file in iterator:
        table = read_table(file, the_mapping)
        label = f"{path.name}/{file.name}" if path.is_dir() else file.name
        tables.append(table.assign(_fichier=label, _stem=file.stem))
        digests.append(hashlib.sha256(file.read_bytes()).hexdigest())
    table = pd.concat(tables) if len(tables) > 1 else tables[0]
    files_col = table.pop("_fichier").astype("string")
    stems = table.pop("_stem").astype("string")
    table = table.fillna("")  # columns absent from some files of a folder
    lines = table.index.to_numpy()
    table = table.reset_index(drop=True)
    files_col, stems = files_col.set_axis(table.index), stems.set_axis(table.index)
    display_lines = pd.Series(lines, index=table.index)
    report = _import_table(
        engine, table, display_lines, files_col, stems, the_mapping,
        file_label=path.name, sha=digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest(),
        who=who,
    )
    report.seconds = time.perf_counter() - t0
    log.info("%s", report)
    return report


#: Rows parsed and written at once: a big table (a folder of 272 sign-in sheets, 1.1 million rows) is
#: imported in slices of about this many rows, in one transaction, to bound memory (the intermediate
#: frames take about 5 kB per row).
SLICE_ROWS = 200_000


def _slices(stems: pd.Series, size: int, *, whole_files: bool) -> list[slice]:
    """Row ranges of about ``size`` rows; with ``whole_files``, cut only where the file changes.

    >>> _slices(pd.Series(["a", "a", "b", "b", "b", "c"]), 2, whole_files=True)
    [slice(0, 2, None), slice(2, 5, None), slice(5, 6, None)]
    >>> _slices(pd.Series(["a"] * 5), 2, whole_files=False)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    n = len(stems)
    if n <= size:
        return [slice(0, n)]
    if not whole_files:
        return [slice(start, min(start + size, n)) for start in range(0, n, size)]
    values = stems.to_numpy(object)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]).tolist() + [n]
    cuts, begin = [], 0
    for start in starts[1:]:
        if start - begin >= size or start == n:
            cuts.append(slice(begin, start))
            begin = start
    return cuts


def _import_table(
    engine: Engine,
    table: pd.DataFrame,
    lines: pd.Series,
    files: pd.Series,
    stems: pd.Series,
    mapping: Mapping,
    *,
    file_label: str,
    sha: str,
    who: str | None,
) -> ImportReport:
    """Import a read table in one transaction and one import batch, slice by slice (:data:`SLICE_ROWS`)."""
    source = mapping.name
    parts: list[ImportReport] = []
    seen: dict[str, int] = {}  # duplicate keys are numbered across slices as across the whole table
    current: set[str] = set()
    with store.transaction(engine, action="import", who=who) as conn:
        batch_id = conn.execute(
            store.import_batches.insert().returning(store.import_batches.c.id),
            {"source": source, "file_name": file_label, "file_sha256": sha, "mapping": mapping.text,
             "who": who or get_settings().user, "n_read": len(table)},
        ).scalar_one()
        # an event per file is described by the file's first row: a file's rows stay in one slice
        whole_files = mapping.events is not None and mapping.events.mode == "file"
        for rows in _slices(stems, SLICE_ROWS, whole_files=whole_files):
            part = table.iloc[rows]
            parts.append(_import_slice(conn, part, lines.iloc[rows], files.iloc[rows], stems.iloc[rows], mapping,
                                       batch_id=batch_id, seen=seen, current=current))
        report = ImportReport.combine(parts, file=file_label)
        report.batch_id = batch_id
        _clear_stale(conn, source, sorted(set(files)), current, batch_id)
        conn.execute(
            store.import_batches.update().where(store.import_batches.c.id == batch_id).values(
                finished_at=datetime.now(timezone.utc), n_new=report.nouveaux, n_updated=report.mis_a_jour,
                n_unchanged=report.inchanges, n_quarantined=report.en_quarantaine,
                details={"fichiers": sorted(set(files)), "avertissements": report.avertissements,
                         "acteurs": report.acteurs, "rattachements": report.rattachements,
                         "evenements": report.evenements,
                         "participations": report.participations, "inscriptions": report.inscriptions},
            )
        )
        store.audit(conn, table="import_batches", ids=[batch_id],
                    details={"source": source, "fichier": file_label, "lus": report.lus,
                             "nouveaux": report.nouveaux, "mis_a_jour": report.mis_a_jour,
                             "inchanges": report.inchanges, "en_quarantaine": report.en_quarantaine})
    assert report.lus == report.nouveaux + report.mis_a_jour + report.inchanges + report.en_quarantaine
    return report


def _import_slice(
    conn: Connection,
    table: pd.DataFrame,
    lines: pd.Series,
    files: pd.Series,
    stems: pd.Series,
    mapping: Mapping,
    *,
    batch_id: int,
    seen: dict[str, int],
    current: set[str],
) -> ImportReport:
    """Parse, normalise and write one slice of a table; ``seen`` and ``current`` carry the keys across slices."""
    source = mapping.name
    parsed = _parse_lines(table, lines, files, mapping)
    reason = _joined(parsed.blocking, table.index, " ; ")
    warning_text = _joined(parsed.warnings, table.index, "\n")
    status = np.where(reason.notna(), "quarantined", "ok")
    keys = _keys(parsed, table, mapping, stems, seen)
    current.update(keys)
    canonical = _canonical_raw(table)
    row_hash = np.array([hashlib.sha256(s.encode("utf-8")).hexdigest() for s in canonical], dtype=object)

    person = _part(parsed, "personne", _PERSON_FIELDS, _PERSON_CORE, table.index)
    org = _part(parsed, "organisation", _ORG_FIELDS, _ORG_CORE, table.index)
    extra_names = [n for n in parsed.values if n.startswith("extra.")]
    extra = pd.DataFrame({n[6:]: parsed.values[n].astype(object) for n in extra_names}, index=table.index)
    extra = extra.where(extra.notna(), None)
    extra["avertissements"] = warning_text.str.split("\n").astype(object)
    extra["avertissements"] = extra["avertissements"].where(warning_text.notna(), None)
    row_date = parsed.values.get("date", pd.Series(None, index=table.index, dtype=object))
    fields_json = _fields_text(person, org, row_date, extra)
    records = pd.DataFrame(
        {
            "source": source,
            "source_key": keys.to_numpy(object),
            "file_name": files.to_numpy(object),
            "line": lines.to_numpy(),
            "raw": canonical.to_numpy(object),  # JSON text already (see _canonical_raw)
            "row_hash": row_hash,
            "fields": np.where(status == "ok", fields_json, None),  # JSON text already (see _fields_text)
            "status": status,
            "reason": reason.astype(object).where(reason.notna(), None).to_numpy(object),
        },
        index=table.index,
    )
    report = ImportReport(file="", source=source, lus=len(table), avertissements=int(warning_text.notna().sum()))
    _write(conn, records, person, org, parsed, mapping, report, batch_id=batch_id, stems=stems, files=files,
           row_date=row_date)
    return report


def _parse_lines(table: pd.DataFrame, lines: pd.Series, files: pd.Series, mapping: Mapping) -> _Parsed:
    """:func:`_parse` with the spreadsheet line numbers as index (for the reasons), given back on ``table``'s."""
    located = table.set_axis(pd.Index(lines.to_numpy(), name="ligne"))
    parsed = _parse(located, mapping, files.set_axis(located.index))
    return _Parsed(values={name: v.set_axis(table.index) for name, v in parsed.values.items()},
                   blocking=[v.set_axis(table.index) for v in parsed.blocking],
                   warnings=[v.set_axis(table.index) for v in parsed.warnings])


def _clear_stale(conn: Connection, source: str, files: list[str], current: set[str], batch_id: int) -> None:
    """Delete the quarantined records of ``files`` that the files no longer hold (fixed rows whose key changed)."""
    sr = store.source_records
    stale = sa.select(sr.c.id, sr.c.source_key).where(sr.c.source == source, sr.c.status == "quarantined",
                                                      sr.c.file_name.in_(files))
    stale_ids = [i for i, k in conn.execute(stale).all() if k not in current]
    if stale_ids:
        store.delete_in(conn, sr, sr.c.id, stale_ids)
        store.audit(conn, table="source_records", ids=stale_ids,
                    details={"lot": batch_id, "motif": "quarantaine levée : ligne corrigée dans le fichier"})


def _write(
    conn: Connection,
    records: pd.DataFrame,
    person: pd.DataFrame,
    org: pd.DataFrame,
    parsed: _Parsed,
    mapping: Mapping,
    report: ImportReport,
    *,
    batch_id: int,
    stems: pd.Series,
    files: pd.Series,
    row_date: pd.Series,
) -> None:
    source = mapping.name
    sr, actors = store.source_records, store.actors
    person_actor = actors.alias("person_actor")
    lookup = (
        sa.select(sr.c.id, sr.c.source_key, sr.c.row_hash, sr.c.status, sr.c.line, sr.c.file_name,
                  sr.c.actor_id, sr.c.organisation_actor_id, sr.c.actor_rule, sr.c.organisation_rule,
                  person_actor.c.kind.label("actor_kind"))
        .select_from(sr.outerjoin(person_actor, person_actor.c.id == sr.c.actor_id))
        .where(sr.c.source == source)
    )
    existing = store.select_in(conn, lookup, sr.c.source_key, records["source_key"].tolist())
    existing = existing.set_index("source_key")
    key = records["source_key"]
    known = key.isin(existing.index).to_numpy()
    old = existing.reindex(key.to_numpy())
    old.index = records.index
    ok = (records["status"] == "ok").to_numpy()
    same_hash = known & (old["row_hash"].to_numpy(object) == records["row_hash"].to_numpy(object))
    same_status = known & (old["status"].to_numpy(object) == records["status"].to_numpy(object))
    unchanged = same_hash & same_status
    new_ok = ok & ~known
    changed_ok = ok & known & ~unchanged
    report.en_quarantaine = int((~ok).sum())
    report.nouveaux = int(new_ok.sum())
    report.mis_a_jour = int(changed_ok.sum())
    report.inchanges = int((ok & unchanged).sum())

    # actors already linked to each record
    old_kind = old["actor_kind"].to_numpy(object)
    old_actor = pd.to_numeric(old["actor_id"], errors="coerce").to_numpy(float)
    old_org = pd.to_numeric(old["organisation_actor_id"], errors="coerce").to_numpy(float)
    person_id = np.where(old_kind == "personne", old_actor, np.nan)
    org_id = np.where(old_kind == "organisation", old_actor, old_org)
    # ok rows whose part is present and has no actor yet: attached to the actor of their sure key, or a
    # new provisional actor (one per group of rows sharing a key)
    need_person = ok & person["_present"].to_numpy() & np.isnan(person_id)
    need_org = ok & org["_present"].to_numpy() & np.isnan(org_id)
    create_person, person_leader, person_rule = _actor_ids(conn, person, need_person, "personne", person_id)
    # the contact person of each row: its actor, or the row whose new actor it takes
    contact = np.array([f"a{int(i)}" if not np.isnan(i) else (f"r{r}" if r >= 0 else None)
                        for i, r in zip(person_id.tolist(), person_leader.tolist())], dtype=object)
    create_org, org_leader, org_rule = _actor_ids(conn, org, need_org, "organisation", org_id, contact)
    reserved = store.reserve_ids(conn, actors, int(create_org.sum()) + int(create_person.sum()))
    _give_new_ids(org_id, create_org, org_leader, reserved[: int(create_org.sum())])
    _give_new_ids(person_id, create_person, person_leader, reserved[int(create_org.sum()):])
    new_org_ids, new_person_ids = org_id[create_org].astype(np.int64), person_id[create_person].astype(np.int64)
    org_rows = _actor_rows(org[create_org], "organisation", source, new_org_ids)
    person_rows = _actor_rows(person[create_person], "personne", source, new_person_ids)
    person_rows["organisation_id"] = _int_objects(org_id[create_person])
    report.rattachements = int((need_person & ~create_person).sum() + (need_org & ~create_org).sum())
    created = 0
    if len(org_rows):
        created += store.insert_rows(conn, actors, org_rows, json_text=["provenance"])
    if len(person_rows):
        created += store.insert_rows(conn, actors, person_rows, json_text=["provenance"])
    report.acteurs = created
    if created:
        store.audit(conn, table="actors", ids=[*new_org_ids.tolist(), *new_person_ids.tolist()],
                    details={"lot": batch_id, "motif": "acteurs provisoires créés par l'import"})

    _update_actors(conn, changed_ok & ~need_person, person, person_id, "personne", source, batch_id)
    _update_actors(conn, changed_ok & ~need_org, org, org_id, "organisation", source, batch_id)

    # source records: new, changed, or moved (line / file)
    has_person = ~np.isnan(person_id)
    records = records.copy()
    records["batch_id"] = batch_id
    records["actor_id"] = pd.Series(np.where(has_person, person_id, org_id), index=records.index)
    records["organisation_actor_id"] = pd.Series(np.where(has_person, org_id, np.nan), index=records.index)
    for column in ("actor_id", "organisation_actor_id"):
        records[column] = _int_objects(records[column].to_numpy(float))
    records["actor_rule"] = np.where(has_person, person_rule, org_rule)
    records["organisation_rule"] = np.where(has_person, org_rule, None)
    if known.any():  # a known record keeps how it was attached
        for column in ("actor_rule", "organisation_rule"):
            now = records[column].to_numpy(object)
            records[column] = np.where(known & pd.isna(now), old[column].to_numpy(object), now)
    moved = known & ((old["line"].to_numpy(object) != records["line"].to_numpy(object))
                     | (old["file_name"].to_numpy(object) != records["file_name"].to_numpy(object)))
    to_write = ~unchanged | moved
    if to_write.any():
        if (to_write & known).any():
            store.upsert(conn, sr, records[to_write & known], key=["source", "source_key"],
                         update=[c for c in records.columns if c not in ("source", "source_key")],
                         json_text=["raw", "fields"])
        if (~known).any():  # new records: plain inserts, the fastest path
            store.insert_rows(conn, sr, records[~known], json_text=["raw", "fields"])
        store.audit(conn, table="source_records", count=int(to_write.sum()),
                    details={"lot": batch_id, "nouveaux": report.nouveaux, "mis_a_jour": report.mis_a_jour,
                             "en_quarantaine": report.en_quarantaine})
    if mapping.events is None and mapping.subscriptions is None and mapping.consent is None:
        return
    ids = store.select_in(conn, sa.select(sr.c.id, sr.c.source_key).where(sr.c.source == source), sr.c.source_key,
                     records["source_key"].tolist()).set_index("source_key")["id"]
    record_id = records["source_key"].map(ids).to_numpy()
    # the person actor of each ok row, followed through a merge (linkage may have absorbed it)
    actor = pd.Series(np.where(ok & has_person, person_id, np.nan), index=records.index)
    actor = _follow_merges(conn, actor)
    if mapping.events is not None:
        _write_events(conn, mapping, parsed, records, actor, record_id, stems, files, row_date, report, batch_id,
                      known_records=known)
    if mapping.subscriptions is not None:
        _write_subscriptions(conn, mapping, parsed, records, actor, record_id, person, row_date, report, batch_id)
    if mapping.consent is not None:
        report.accords += _write_consent(conn, mapping, parsed, records, actor, record_id, row_date)


def _int_objects(values: np.ndarray) -> np.ndarray:
    """Python ints (None for NaN) from a float array of ids."""
    out = np.full(len(values), None, dtype=object)
    found = ~np.isnan(values)
    out[found] = [int(v) for v in values[found]]
    return out


def _follow_merges(conn: Connection, actor: pd.Series) -> pd.Series:
    wanted = sorted({int(a) for a in actor.dropna()})
    if not wanted:
        return actor
    a = store.actors
    merged = store.select_in(conn, sa.select(a.c.id, a.c.merged_into_id).where(a.c.merged_into_id.is_not(None)),
                        a.c.id, wanted)
    if merged.empty:
        return actor
    target = merged.set_index("id")["merged_into_id"]
    return actor.map(lambda v: float(target.get(int(v), v)) if pd.notna(v) else v)


def _update_actors(conn: Connection, mask: np.ndarray, part: pd.DataFrame, actor_id: np.ndarray,
                   kind: str, source: str, batch_id: int) -> None:
    """Refresh the golden fields of the actors of changed rows, unless linkage merged them."""
    mask = mask & part["_present"].to_numpy() & ~np.isnan(actor_id)
    if not mask.any():
        return
    ids = actor_id[mask].astype(np.int64)
    a, m = store.actors, store.merges
    involved = set(store.select_in(conn, sa.select(m.c.kept_id.label("id")).where(m.c.undone_at.is_(None)),
                              m.c.kept_id, ids.tolist())["id"].astype(int))
    # an actor several records describe gets its golden record from linkage (survivorship), not one row
    sr = store.source_records
    for column in (sr.c.actor_id, sr.c.organisation_actor_id):
        shared = (sa.select(column.label("id")).where(column.is_not(None)).group_by(column)
                  .having(sa.func.count() > 1))
        involved |= set(store.select_in(conn, shared, column, ids.tolist())["id"].astype(int))
    state = store.select_in(conn, sa.select(a.c.id, a.c.status), a.c.id, ids.tolist()).set_index("id")["status"]
    free = np.array([int(i) not in involved and state.get(int(i)) == "active" for i in ids], dtype=bool)
    if not free.any():
        return
    rows = _actor_rows(part[mask][free], kind, source, ids[free])
    if kind == "personne":
        rows = rows.drop(columns=["themes"])
    # two rows of one file may name the same actor: keep the last
    rows = rows.drop_duplicates("id", keep="last")
    written = store.upsert(conn, a, rows, key=["id"], update=[c for c in rows.columns if c not in ("id", "kind")],
                           json_text=["provenance"])
    if written:
        store.audit(conn, table="actors", ids=rows["id"].tolist(),
                    details={"lot": batch_id, "motif": "ligne source modifiée"})


def _event_kind(titles: pd.Series, mapping: Mapping) -> pd.Series:
    events = mapping.events
    assert events is not None
    return _first_word(titles, events.kinds).fillna(events.default_kind)


def _write_events(conn: Connection, mapping: Mapping, parsed: _Parsed, records: pd.DataFrame, actor: pd.Series,
                  record_id: np.ndarray, stems: pd.Series, files: pd.Series, row_date: pd.Series,
                  report: ImportReport, batch_id: int, *, events_known: bool = False,
                  known_records: np.ndarray | bool = True) -> None:
    """Events of the rows (unless ``events_known``: they are only looked up) and the actors' participations.

    ``known_records`` (a mask, or one value for every row): records imported before, whose
    participations may hold another role than the rows now give (:func:`_change_roles`).
    """
    events = mapping.events
    assert events is not None
    values = parsed.values
    e = store.events
    role = values.get(_ROLE, pd.Series("participant", index=records.index, dtype=object))
    if events.mode == "file":
        if not events_known:  # the file's event, described by its first row
            title = values[events.title].astype("string") if events.title else None
            when = values[events.date] if events.date else None
            place = values[events.place].astype("string") if events.place else None
            frame = pd.DataFrame({"key": stems.to_numpy(object),
                                  "title": title.to_numpy(object) if title is not None else None,
                                  "date": when.to_numpy(object) if when is not None else None,
                                  "place": place.to_numpy(object) if place is not None else None},
                                 index=records.index)
            per_file = frame.groupby("key", sort=True).first()
            per_file = per_file[per_file["title"].notna() & per_file["date"].notna()]
            if per_file.empty:
                return
            code = geo.find_communes(names=per_file["place"].astype(object).where(per_file["place"].notna(), None))
            points = _communes_points()
            rows = pd.DataFrame({
                "source": mapping.name, "source_key": per_file.index.to_numpy(object),
                "title": per_file["title"].to_numpy(object),
                "kind": _event_kind(per_file["title"], mapping).to_numpy(object),
                "starts_on": [date.fromisoformat(d) for d in per_file["date"]],
                "place": per_file["place"].astype(object).where(per_file["place"].notna(), None).to_numpy(object),
                "commune_code": code.to_numpy(object),
                "lon": code.map(points["lon"]).to_numpy(object), "lat": code.map(points["lat"]).to_numpy(object),
            })
            rows = rows.astype(object).where(rows.notna(), None)
            report.evenements += store.upsert(conn, e, rows, key=["source", "source_key"])
        event_key = pd.Series(stems.to_numpy(object), index=records.index)
        signed = values[events.signed].astype("boolean") if events.signed else pd.Series(pd.NA, index=records.index,
                                                                                         dtype="boolean")
        parts = pd.DataFrame({"event_key": event_key, "actor_id": actor, "signed": signed, "role": role,
                              "source_record_id": record_id}, index=records.index)
    else:
        titles = values[events.titles]
        exploded = pd.DataFrame({"title": titles, "actor_id": actor, "date": row_date, "role": role,
                                 "source_record_id": record_id}, index=records.index).explode("title")
        exploded = exploded[exploded["title"].notna() & exploded["actor_id"].notna()]
        if exploded.empty:
            return
        first = exploded.groupby("title")["date"].min()
        today = datetime.now(timezone.utc).date()
        rows = pd.DataFrame({
            "source": mapping.name, "source_key": first.index.to_numpy(object),
            "title": first.index.to_numpy(object),
            "kind": _event_kind(pd.Series(first.index, index=first.index), mapping).to_numpy(object),
            "starts_on": [date.fromisoformat(d) if isinstance(d, str) else today for d in first],
        })
        # the first date a démarche is seen (over a whole file, imported in slices, or later files)
        if not events_known:
            report.evenements += store.upsert(conn, e, rows, key=["source", "source_key"], update=["starts_on"],
                                              update_where=lambda excluded: excluded.starts_on < e.c.starts_on)
        parts = pd.DataFrame({"event_key": exploded["title"], "actor_id": exploded["actor_id"],
                              "signed": pd.Series(pd.NA, index=exploded.index, dtype="boolean"),
                              "role": exploded["role"], "source_record_id": exploded["source_record_id"]})
    parts = parts[parts["actor_id"].notna()]
    if parts.empty:
        return
    event_ids = store.select_in(conn, sa.select(e.c.id, e.c.source_key).where(e.c.source == mapping.name), e.c.source_key,
                           sorted(set(parts["event_key"]))).set_index("source_key")["id"]
    parts = parts.assign(event_id=parts["event_key"].map(event_ids)).dropna(subset=["event_id"])
    # one participation per (event, actor) from these rows: the strongest role, the best signature (yes > no > blank)
    pair = ["event_id", "actor_id"]
    signed_rank = parts["signed"].astype("Float64").fillna(-1)
    parts = (parts.assign(role_rank=parts["role"].map(_ROLE_RANK),
                          signed_rank=signed_rank.groupby([parts[c] for c in pair]).transform("max"))
             .sort_values(["role_rank", "signed_rank", "source_record_id"], ascending=[False, False, True])
             .drop_duplicates(pair))
    rows = pd.DataFrame({
        "event_id": parts["event_id"].astype("int64").to_numpy(object),
        "actor_id": parts["actor_id"].astype("int64").to_numpy(object),
        "role": parts["role"].to_numpy(object),
        "signed": np.select([parts["signed_rank"] > 0, parts["signed_rank"] == 0], [True, False], None),
        "source_record_id": parts["source_record_id"].astype("int64").to_numpy(object),
    })
    known = np.broadcast_to(np.asarray(known_records, dtype=bool), len(record_id))
    written = _change_roles(conn, rows, record_id[known], batch_id)
    written += store.upsert(conn, store.participations, rows, key=["event_id", "actor_id", "role"])
    report.participations += written
    if report.evenements or written:
        store.audit(conn, table="participations", count=written,
                    details={"lot": batch_id, "evenements": report.evenements})


def _change_roles(conn: Connection, rows: pd.DataFrame, records: np.ndarray, batch_id: int) -> int:
    """Give their new role to the participations that ``records`` brought earlier with another role.

    A row whose role changed (a corrected sheet, a mapping that now knows the
    word) keeps one participation per (event, actor): the row it brought is
    updated in place (a merge re-pointing it can still be undone), or deleted
    when the actor already has a participation with the new role. Returns the
    number of participations changed.
    """
    chosen = rows[rows["source_record_id"].isin({int(r) for r in records})]
    if chosen.empty:
        return 0
    p = store.participations
    held = store.select_in(conn, sa.select(p.c.id, p.c.event_id, p.c.actor_id, p.c.role, p.c.source_record_id),
                           p.c.source_record_id, sorted(set(chosen["source_record_id"])))
    pair = ["event_id", "actor_id"]
    stale = held.merge(chosen[[*pair, "source_record_id", "role"]], on=[*pair, "source_record_id"],
                       suffixes=("", "_new"))
    stale = stale[stale["role"] != stale["role_new"]]
    if stale.empty:
        return 0
    taken = store.select_in(conn, sa.select(p.c.event_id, p.c.actor_id, p.c.role), p.c.actor_id,
                            sorted(set(stale["actor_id"])))
    taken = set(zip(taken["event_id"], taken["actor_id"], taken["role"]))
    clash = pd.Series([key in taken for key in zip(stale["event_id"], stale["actor_id"], stale["role_new"])],
                      index=stale.index) | stale.duplicated(pair)
    gone = stale.loc[clash, "id"].astype(int).tolist()
    if gone:
        store.delete_in(conn, p, p.c.id, gone)
    for role, moved in stale[~clash].groupby("role_new"):
        ids = moved["id"].astype(int).tolist()
        for start in range(0, len(ids), store.IN_CHUNK):
            conn.execute(p.update().where(p.c.id.in_(ids[start:start + store.IN_CHUNK]))
                         .values(role=role, updated_at=datetime.now(timezone.utc)))
    store.audit(conn, table="participations", ids=stale["id"].astype(int).tolist(),
                details={"lot": batch_id, "motif": "rôle changé dans le fichier", "supprimées": gone})
    return len(stale)


def _rank_case(column: Any) -> Any:
    return sa.case({k: v for k, v in SUBSCRIPTION_RANK.items()}, value=column, else_=0)


def _write_subscriptions(conn: Connection, mapping: Mapping, parsed: _Parsed, records: pd.DataFrame,
                         actor: pd.Series, record_id: np.ndarray, person: pd.DataFrame, row_date: pd.Series,
                         report: ImportReport, batch_id: int) -> None:
    spec = mapping.subscriptions
    assert spec is not None
    values = parsed.values
    index = records.index

    def flag(name: str | None) -> pd.Series:
        if name is None:
            return pd.Series(False, index=index)
        return values[name].astype("boolean").fillna(False).astype(bool)

    blocked, unsub = flag(spec.blocklisted), flag(spec.unsubscribed)
    status = pd.Series(np.select([blocked, unsub], ["blocklisted", "unsubscribed"], "subscribed"), index=index)
    if spec.lists is not None:
        lists = values[spec.lists].map(lambda v: v if isinstance(v, list) else [])
        if spec.list:
            lists = lists.map(lambda v: v or [spec.list])
    else:
        wanted = flag(spec.when) if spec.when else pd.Series(True, index=index)
        lists = pd.Series([[spec.list] if w else [] for w in wanted], index=index, dtype=object)
    restrictive = status != "subscribed"
    if spec.default_list:
        lists = lists.where(~(restrictive & (lists.map(len) == 0)), pd.Series([[spec.default_list]] * len(index),
                                                                             index=index, dtype=object))
    when = pd.to_datetime(row_date, errors="coerce").dt.tz_localize("UTC")
    frame = pd.DataFrame({"actor_id": actor, "list_name": lists, "status": status,
                          "status_at": when, "source_record_id": record_id,
                          "email_key": person["email_key"],
                          "proof": records["file_name"].astype(str) + ", ligne " + records["line"].astype(str)},
                         index=index).explode("list_name")
    frame = frame[frame["actor_id"].notna() & frame["list_name"].notna()]
    if frame.empty:
        return
    frame["rank"] = frame["status"].map(SUBSCRIPTION_RANK)
    # protection by e-mail: a blocklisted address (any list) or an unsubscribed (address, list) elsewhere in the base
    a, s = store.actors, store.subscriptions
    emails = sorted({k for k in frame["email_key"].dropna()})
    known = store.select_in(
        conn,
        sa.select(a.c.email_key, s.c.list_name, s.c.status, s.c.actor_id).select_from(s.join(a, a.c.id == s.c.actor_id)),
        a.c.email_key, emails,
    )
    if not known.empty:
        known["rank"] = known["status"].map(SUBSCRIPTION_RANK)
        blocked_emails = set(known.loc[known["status"] == "blocklisted", "email_key"])
        per_list = known.groupby(["email_key", "list_name"])["rank"].max()
        pair_rank = pd.Series(list(zip(frame["email_key"], frame["list_name"])), index=frame.index).map(per_list)
        floor = np.maximum(pair_rank.fillna(0).to_numpy(), np.where(frame["email_key"].isin(blocked_emails), 2, 0))
        frame["rank"] = np.maximum(frame["rank"].to_numpy(), floor)
    # within the file too: an address blocklisted on one row is blocklisted on all; per list, the most
    # restrictive status of the address wins (as it would against rows already in the base)
    email = frame["email_key"]
    if email.notna().any():
        per_pair = frame["rank"].groupby([email.fillna(""), frame["list_name"]]).transform("max")
        blocked_here = set(email[frame["rank"] == 2].dropna())
        floor = np.maximum(per_pair.to_numpy(), np.where(email.isin(blocked_here), 2, 0))
        frame["rank"] = np.where(email.notna(), np.maximum(frame["rank"].to_numpy(), floor), frame["rank"].to_numpy())
    # between rows naming the same actor: the most restrictive wins
    frame = frame.sort_values("rank", ascending=False, kind="stable").drop_duplicates(["actor_id", "list_name"])
    names = {v: k for k, v in SUBSCRIPTION_RANK.items()}
    frame["status"] = frame["rank"].map(names)
    subscribed = frame["status"] == "subscribed"
    at = frame["status_at"].astype(object).where(frame["status_at"].notna(), datetime.now(timezone.utc))
    rows = pd.DataFrame({
        "actor_id": frame["actor_id"].astype("int64").to_numpy(object),
        "list_name": frame["list_name"].to_numpy(object),
        "status": frame["status"].to_numpy(object),
        "status_at": [t.to_pydatetime() if isinstance(t, pd.Timestamp) else t for t in at],
        "consent_proof": np.where(subscribed, mapping.label + " : " + frame["proof"], None),
        "consent_at": [t.to_pydatetime() if (ok and isinstance(t, pd.Timestamp)) else None
                       for t, ok in zip(frame["status_at"], subscribed)],
        "source": mapping.name,
        "source_record_id": frame["source_record_id"].astype("int64").to_numpy(object),
    })
    if not known.empty:  # skip what the base already holds (a re-import writes nothing)
        stored = known.set_index(["actor_id", "list_name"])["rank"]
        stored = stored[~stored.index.duplicated()]
        held = pd.Series(list(zip(rows["actor_id"], rows["list_name"])), index=rows.index).map(stored)
        rows = rows[~(held >= rows["status"].map(SUBSCRIPTION_RANK)).to_numpy(bool)]
    # never lower a status: subscribed < unsubscribed < blocklisted; update only when the status changes
    written = 0 if rows.empty else store.upsert(
        conn, s, rows, key=["actor_id", "list_name"],
        update_where=lambda excluded: sa.and_(excluded.status != s.c.status,
                                              _rank_case(excluded.status) >= _rank_case(s.c.status)),
    )
    # the same address under another actor (not yet linked) gets the restriction too
    restricted = frame[frame["rank"] > 0]
    if not known.empty and not restricted.empty:
        others = known[known["email_key"].isin(set(restricted["email_key"]))]
        worst_list = restricted.groupby(["email_key", "list_name"])["rank"].max()
        blocked_now = set(restricted.loc[restricted["rank"] == 2, "email_key"])
        rank_other = pd.Series(list(zip(others["email_key"], others["list_name"])), index=others.index).map(worst_list)
        target = np.maximum(rank_other.fillna(0).to_numpy(), np.where(others["email_key"].isin(blocked_now), 2, 0))
        lower = others[target > others["rank"].to_numpy()].assign(new=target[target > others["rank"].to_numpy()])
        if not lower.empty:
            down = pd.DataFrame({"actor_id": lower["actor_id"].astype("int64").to_numpy(object),
                                 "list_name": lower["list_name"].to_numpy(object),
                                 "status": lower["new"].map(names).to_numpy(object),
                                 "status_at": datetime.now(timezone.utc)}).drop_duplicates(["actor_id", "list_name"])
            written += store.upsert(conn, s, down, key=["actor_id", "list_name"],
                                    update_where=lambda excluded: _rank_case(excluded.status) > _rank_case(s.c.status))
    report.inscriptions += written
    if written:
        store.audit(conn, table="subscriptions", count=written, details={"lot": batch_id})


def _write_consent(conn: Connection, mapping: Mapping, parsed: _Parsed, records: pd.DataFrame, actor: pd.Series,
                   record_id: np.ndarray, row_date: pd.Series) -> int:
    """Statements of consent to be shown on a map (``[consent]`` of the mapping), one per row that answers.

    Dated by the row's day (midnight, Paris), else by the import; the proof names the source, file and
    line. The actors get their latest statement (:func:`carto.privacy.write_statements`).
    """
    assert mapping.consent is not None
    answer = parsed.values.get(mapping.consent.map)
    if answer is None:  # an optional column absent from this file
        return 0
    answer = answer.astype("boolean")
    said = (answer.notna() & actor.notna()).to_numpy(bool)
    if not said.any():
        return 0
    days = pd.to_datetime(row_date, errors="coerce")
    stated = [None if pd.isna(d) else privacy.paris_midnight(d.date()) for d in days[said]]
    statements = pd.DataFrame({
        "actor_id": actor[said].astype("int64").to_numpy(object),
        "consent": answer[said].astype(bool).to_numpy(object),
        "stated_at": pd.Series(stated, dtype=object).to_numpy(object),
        "proof": (mapping.label + " : " + records["file_name"].astype(str) + ", ligne "
                  + records["line"].astype(str))[said].to_numpy(object),
        "source_record_id": record_id[said].astype("int64"),
    })
    return privacy.write_statements(conn, statements)


def provisional_actor(conn: Connection, record_id: int, kind: str, actor_id: int) -> None:
    """Insert actor ``actor_id``: the provisional actor the import makes of record ``record_id``'s ``kind`` part.

    The same row as an import creates (:func:`_actor_rows`), from the
    record's stored ``fields``; a person points at the record's organisation
    actor. Used by :func:`carto.linkage.detach`.
    """
    sr = store.source_records
    row = conn.execute(sa.select(sr.c.source, sr.c.organisation_actor_id, sa.cast(sr.c.fields, sa.Text))
                       .where(sr.c.id == record_id)).one()
    fields = orjson.loads(row[2] or "{}").get(kind) or {}
    names = _PERSON_FIELDS if kind == "personne" else _ORG_FIELDS
    part = pd.DataFrame({name: [fields.get(name)] for name in names}, dtype=object)
    rows = _actor_rows(part, kind, row.source, np.array([actor_id], dtype=np.int64))
    if kind == "personne":
        rows["organisation_id"] = row.organisation_actor_id
    store.insert_rows(conn, store.actors, rows, json_text=["provenance"])


def rederive(conn: Connection, actors: dict[int, int]) -> None:
    """Write again, for the actors given, what records bring: participations and subscriptions.

    ``actors``: record id → actor id. Each record's raw row is parsed again
    with the mapping of its import batch (``import_batches.mapping``), and its
    participations (to events already in the base, looked up and never
    written) and subscriptions (never lowering a status, as every import) are
    upserted for its actor. :func:`carto.linkage.detach` uses it when a record
    leaves the actor it was attached to: its new actor gets what the record
    brings, the actor it leaves keeps what its other records bring.
    """
    sr, ib = store.source_records, store.import_batches
    statement = (sa.select(sr.c.id, sr.c.source_key, sr.c.file_name, sr.c.line, sr.c.batch_id,
                           sa.cast(sr.c.raw, sa.Text).label("raw"), ib.c.mapping)
                 .select_from(sr.join(ib, ib.c.id == sr.c.batch_id)).where(sr.c.status == "ok"))
    found = store.select_in(conn, statement, sr.c.id, sorted(actors))
    for (batch_id, text), group in found.groupby(["batch_id", "mapping"], sort=True):
        mapping = mapping_from_text(text, f"correspondance du lot {batch_id}")
        if mapping.events is None and mapping.subscriptions is None:
            continue
        group = group.sort_values(["file_name", "line"], ignore_index=True)
        table = pd.DataFrame([orjson.loads(raw) for raw in group["raw"]]).fillna("").astype(object)
        files = group["file_name"].astype("string")
        lines = group["line"].astype("int64")
        parsed = _parse_lines(table, lines, files, mapping)
        records = pd.DataFrame({"source_key": group["source_key"], "file_name": files, "line": lines})
        actor = pd.Series([float(actors[int(i)]) for i in group["id"]], index=table.index)
        record_id = group["id"].astype("int64").to_numpy()
        row_date = parsed.values.get("date", pd.Series(None, index=table.index, dtype=object))
        report = ImportReport(file="", source=mapping.name)
        if mapping.events is not None:
            stems = files.map(lambda f: Path(str(f)).stem).astype("string")
            _write_events(conn, mapping, parsed, records, actor, record_id, stems, files, row_date, report,
                          int(batch_id), events_known=True)
        if mapping.subscriptions is not None:
            person = _part(parsed, "personne", _PERSON_FIELDS, _PERSON_CORE, table.index)
            _write_subscriptions(conn, mapping, parsed, records, actor, record_id, person, row_date, report,
                                 int(batch_id))


# --------------------------------------------------------------------------- folder, quarantine


def import_folder(engine: Engine, folder: str | Path, *, who: str | None = None,
                  verbose: bool = False) -> list[ImportReport]:
    """Import the built-in sources of a folder laid out as :data:`carto.sources.SOURCE_FILES`.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    folder : str or Path
        The folder holding ``sources/`` (or the ``sources/`` folder itself).
    who : str, optional
        Author in the audit log.
    verbose : bool
        Progress bars.

    Returns
    -------
    list of ImportReport
        One per source, in the order lreav, jeparticipe, dispositifs,
        emargement (all sheets in one transaction), newsletter; sources whose
        file is absent are skipped.

    Examples
    --------
    >>> from carto import store
    >>> from carto.settings import REPO_DIR
    >>> reports = import_folder(store.init_base("sqlite://"), REPO_DIR / "data/demo")
    >>> [r.source for r in reports]
    ['lreav', 'jeparticipe', 'dispositifs', 'emargement', 'newsletter']
    """
    folder = Path(folder)
    base = folder / "sources" if (folder / "sources").is_dir() else folder
    reports = []
    for source, relative in SOURCE_FILES.items():
        path = base / relative
        if path.exists():
            reports.append(import_file(engine, path, source=source, who=who, verbose=verbose))
    if not reports:
        raise SourceFileError(f"Aucun fichier source dans « {base} » (attendus : {', '.join(SOURCE_FILES.values())}).")
    return reports


def quarantine(engine: Engine, *, source: str | None = None) -> pd.DataFrame:
    """The quarantined rows, with their French reason.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    source : str, optional
        Only this source.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``fichier``, ``ligne``, ``raison``, sorted.

    Examples
    --------
    >>> from carto import store
    >>> from carto.settings import REPO_DIR
    >>> engine = store.init_base("sqlite://")
    >>> _ = import_file(engine, REPO_DIR / "data/demo/sources/lreav.csv", source="lreav")
    >>> q = quarantine(engine)
    >>> list(q.columns), bool(q["raison"].str.startswith("fichier lreav.csv, ligne ").all())
    (['source', 'fichier', 'ligne', 'raison'], True)
    """
    sr = store.source_records
    statement = sa.select(sr.c.source, sr.c.file_name.label("fichier"), sr.c.line.label("ligne"),
                          sr.c.reason.label("raison")).where(sr.c.status == "quarantined")
    if source is not None:
        statement = statement.where(sr.c.source == source)
    with engine.connect() as conn:
        result = conn.execute(statement.order_by(sr.c.source, sr.c.file_name, sr.c.line))
        return pd.DataFrame(result.fetchall(), columns=["source", "fichier", "ligne", "raison"])
