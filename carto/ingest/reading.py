"""Reading a source file into a table of texts (:func:`read_table`): encoding, delimiter, header, XLSX."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from carto import _fr
from carto._errors import SourceFileError
from carto.ingest.sniffing import sniff
from carto.sources import Mapping, load_mapping

log = logging.getLogger("carto.ingest")
_DELIMITERS = (";", ",", "\t", "|")
_HEADER_SCAN = 50
_SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm"}
_TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}


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
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # « texte Unicode » of a spreadsheet
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SourceFileError(f"{name} : texte UTF-16 illisible ({exc}). Enregistrez-le en CSV UTF-8.") from exc
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
    one = len(missing) == 1
    raise SourceFileError(
        f"{name} : {_fr.plural(len(missing), 'colonne manquante', 'colonnes manquantes')} dans l'en-tête "
        f"(ligne {best + 1}) : {', '.join('« ' + c + ' »' for c in missing)}. "
        f"Ajoutez-{'la' if one else 'les'} au fichier, ou marquez-{'la' if one else 'les'} "
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
        CSV (any of UTF-8, UTF-8 with BOM, cp1252, latin-1, UTF-16 with BOM; ``;``, ``,``,
        tab or ``|``) or XLSX file. What the file really is comes from its first bytes
        (:func:`carto.ingest.sniffing.sniff`), not its extension: a workbook renamed ``.csv`` is read as a
        workbook, a CSV renamed ``.xlsx`` as text.
    mapping : Mapping or str
        The mapping (or built-in source name) whose columns locate the header.
    fmt : {"csv", "xlsx"}, optional
        Format expected (default: the one the extension says). The content of the file decides, as for the
        mapping's ``format``; when it disagrees, a line of the log says what the file really is.

    Returns
    -------
    pandas.DataFrame
        Columns as named in the file, every value a ``str`` (``""`` when
        empty); index ``ligne``: the line number a spreadsheet shows.
        Entirely empty rows and unnamed empty columns are dropped.

    Raises
    ------
    SourceFileError
        Unreadable file, a file that holds no table (an image, a PDF, a Word document, an archive, a web
        page saved as ``.xls``, an empty file: :func:`~carto.ingest.sniffing.sniff`), or columns of the
        mapping missing from the header.

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
    suffix = path.suffix.lower()
    named = fmt or ("xlsx" if suffix in _SPREADSHEET_SUFFIXES else "csv" if suffix in _TEXT_SUFFIXES else None)
    fmt = sniff(path)  # the bytes decide, not the extension nor the mapping: a sign-in sheet folder mixes both
    if fmt != named:
        log.info("%s est en fait %s : lu comme tel.", path.name,
                 "un classeur XLSX" if fmt == "xlsx" else "un fichier texte CSV")
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
        if "\x00" in text[:4096]:  # bytes decoded with an encoding the mapping forces, not the file's
            raise SourceFileError(
                f"{path.name} : ce n'est pas du texte en {mapping.encoding} (octets nuls). Mettez "
                "« encoding = \"auto\" » dans la correspondance, ou enregistrez le fichier en CSV UTF-8."
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
