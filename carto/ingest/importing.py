"""Import orchestration: one file or a folder of one source (:func:`import_file`), in slices, a whole folder
laid out as :data:`carto.sources.SOURCE_FILES` (:func:`import_folder`), and the quarantine list."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carto import store
from carto._errors import SourceFileError
from carto.ingest.parsing import (
    _ORG_CORE,
    _ORG_FIELDS,
    _PERSON_CORE,
    _PERSON_FIELDS,
    _canonical_raw,
    _fields_text,
    _joined,
    _keys,
    _parse_lines,
    _part,
)
from carto.ingest.reading import _SPREADSHEET_SUFFIXES, _TEXT_SUFFIXES, read_table
from carto.ingest.report import ImportReport
from carto.ingest.writing import _clear_stale, _write
from carto.settings import get_settings
from carto.sources import SOURCE_FILES, Mapping, load_mapping

log = logging.getLogger("carto.ingest")


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
