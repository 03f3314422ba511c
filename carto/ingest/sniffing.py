"""What a source file really is, by its first bytes, not its extension (:func:`sniff`).

A workbook renamed ``.csv`` is read as a workbook, a CSV renamed ``.xlsx`` as text; a file that holds no table
(an image, a PDF, a Word document, an archive, a web page saved as ``.xls``, an empty file, binary data) is
refused with a French message naming the file and what it is.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "liste.xlsx").write_bytes(b"nom;courriel\\nL\\xe9a;lea@example.org\\n")
>>> sniff(folder / "liste.xlsx")
'csv'
>>> _ = (folder / "photo.csv").write_bytes(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(40))
>>> sniff(folder / "photo.csv")
Traceback (most recent call last):
...
carto._errors.SourceFileError: photo.csv : ce fichier est une image PNG, pas un tableau. Exportez le tableau au format CSV ou XLSX et importez ce fichier-là.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from carto._errors import SourceFileError

__all__ = ["sniff"]

_SAMPLE = 8192
_EXPORT = "Exportez le tableau au format CSV ou XLSX et importez ce fichier-là."
_RESAVE = "Ouvrez-le dans un tableur et enregistrez-le au format .xlsx (classeur Excel) ou .csv."
#: Leading bytes of files that are not tables → (what the file is, what to do).
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "une image PNG", _EXPORT),
    (b"\xff\xd8\xff", "une image JPEG", _EXPORT),
    (b"GIF87a", "une image GIF", _EXPORT),
    (b"GIF89a", "une image GIF", _EXPORT),
    (b"II*\x00", "une image TIFF", _EXPORT),
    (b"MM\x00*", "une image TIFF", _EXPORT),
    (b"%PDF-", "un document PDF",
     "Un PDF ne se lit pas comme un tableau : demandez le fichier d'origine (CSV ou XLSX)."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "un ancien fichier Office 97-2003 (.xls ou .doc)", _RESAVE),
    (b"\x1f\x8b", "une archive compressée (gzip)", "Décompressez-la et importez le fichier CSV ou XLSX qu'elle contient."),
    (b"7z\xbc\xaf\x27\x1c", "une archive 7-Zip", "Décompressez-la et importez les fichiers CSV ou XLSX qu'elle contient."),
    (b"Rar!", "une archive RAR", "Décompressez-la et importez les fichiers CSV ou XLSX qu'elle contient."),
)
#: Starts of text files that are markup, not a table (after a BOM and blanks, case-folded).
_MARKUP = (
    ("<!doctype html", "une page web (HTML)"),
    ("<html", "une page web (HTML)"),
    ("<table", "une page web (HTML)"),
    ("<?xml", "un fichier XML"),
)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Inside a ZIP: a member that tells what the document is, or None for a workbook openpyxl reads.
_ZIP_KINDS = (
    ("xl/workbook.xml", None),
    ("xl/workbook.bin", "un classeur Excel binaire (.xlsb)"),
    ("word/document.xml", "un document Word (.docx)"),
    ("ppt/presentation.xml", "une présentation PowerPoint (.pptx)"),
)
_OPENDOCUMENT = {
    b"application/vnd.oasis.opendocument.spreadsheet": "un classeur OpenDocument (.ods)",
    b"application/vnd.oasis.opendocument.text": "un document OpenDocument texte (.odt)",
}


def _refuse(path: Path, what: str, advice: str) -> SourceFileError:
    return SourceFileError(f"{path.name} : ce fichier est {what}, pas un tableau. {advice}")


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype").strip() if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError):
        return "xlsx"  # a damaged workbook: the reader says « classeur XLSX illisible » and what to do
    for member, what in _ZIP_KINDS:
        if member in names:
            if what is None:
                return "xlsx"
            raise _refuse(path, what, _RESAVE if "classeur" in what else
                          "Copiez le tableau dans un tableur et enregistrez-le au format .xlsx ou .csv.")
    if mimetype in _OPENDOCUMENT:
        raise _refuse(path, _OPENDOCUMENT[mimetype], _RESAVE)
    raise _refuse(path, "une archive ZIP", "Décompressez-la et importez les fichiers CSV ou XLSX qu'elle contient.")


def _is_binary(sample: bytes) -> bool:
    """Bytes that no text file holds: a NUL, or more than 1 % of control characters (tab, line ends, form feed
    and escape apart)."""
    if b"\x00" in sample:
        return True
    controls = sum(sample.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13, 27))
    return controls > 0.01 * len(sample)


def sniff(path: str | Path) -> str:
    """``"xlsx"`` or ``"csv"``: what a source file really is, read from its first bytes (not its extension).

    Raises
    ------
    SourceFileError
        The file is empty, or is no table: an image (PNG, JPEG, GIF, TIFF), a PDF, a Word or PowerPoint
        document, an archive (ZIP that is no XLSX, gzip, 7-Zip, RAR), an old Office 97-2003 file, an
        OpenDocument file, a web page or an XML file (such as a web export saved as ``.xls``), or binary data.
        The message names the file, says what it is and what to do.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE)
    if not head:
        raise SourceFileError(f"{path.name} : ce fichier est vide (0 octet), il ne contient aucun tableau. "
                              "Vérifiez l'export ou le téléchargement et importez-le à nouveau.")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path)
    for magic, what, advice in _MAGIC:
        if head.startswith(magic):
            raise _refuse(path, what, advice)
    if head.startswith(_UTF16_BOMS):
        return "csv"  # « texte Unicode » of a spreadsheet: UTF-16, read by the CSV reader
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").decode("latin-1")[:64].casefold()
    for prefix, what in _MARKUP:
        if start.startswith(prefix):
            raise _refuse(path, what, f"{_RESAVE} Une page web enregistrée en « .xls » n'est pas un classeur.")
    if _is_binary(head):
        raise SourceFileError(f"{path.name} : ce fichier contient des données binaires, pas un tableau (ni CSV ni "
                              f"XLSX). {_EXPORT}")
    return "csv"
