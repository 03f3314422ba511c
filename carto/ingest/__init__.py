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

The package's modules, along these steps: :mod:`~carto.ingest.reading` (read a
file into a table of texts), :mod:`~carto.ingest.parsing` (normalise it into
fields and keys), :mod:`~carto.ingest.actors` (find or create each record's
actor), :mod:`~carto.ingest.writing` (write the records, events, subscriptions;
:func:`rederive`), :mod:`~carto.ingest.importing` (one file, a folder, the
quarantine list) and :mod:`~carto.ingest.report` (:class:`ImportReport`). Every
name is used as ``carto.ingest.X``.

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

from carto.ingest.actors import SURE_KEYS
from carto.ingest.importing import SLICE_ROWS, import_file, import_folder, quarantine
from carto.ingest.importing import _slices as _slices
from carto.ingest.parsing import _canonical_raw as _canonical_raw
from carto.ingest.parsing import _fields_text as _fields_text
from carto.ingest.parsing import _parse_roles as _parse_roles
from carto.ingest.reading import read_table
from carto.ingest.report import ImportReport
from carto.ingest.writing import SUBSCRIPTION_RANK, provisional_actor, rederive

__all__ = [
    "ImportReport",
    "import_file",
    "import_folder",
    "quarantine",
    "read_table",
    "rederive",
    "provisional_actor",
    "SUBSCRIPTION_RANK",
    "SURE_KEYS",
    "SLICE_ROWS",
]
