"""Source mappings: how the columns of a source file feed Terreau's canonical fields.

Each source format is described by one TOML file (the five built-in ones live
next to this module: ``lreav.toml``, ``jeparticipe.toml``, ``dispositifs.toml``,
``emargement.toml``, ``newsletter.toml``). A user adds a new source by writing
one such file — no code; the format is documented in ``docs/mappings.md``.

A mapping names, for each column of the file, the canonical field it feeds
(``personne.email``, ``organisation.siret``, ``date``, ``extra.<nom>``…), the
parser (default: the field's), whether the value is required, what to do with
an invalid value (``quarantine`` the row or ``warn``: drop the value and keep
a warning), whether it is personal data, the recipe of the source's stable key,
and how events, participations and subscriptions are derived.

:func:`load_mapping` validates the file and raises :class:`MappingError`
naming the TOML file and the key at fault.

Examples
--------
>>> from carto import sources
>>> sources.builtin_sources()
('lreav', 'jeparticipe', 'dispositifs', 'emargement', 'newsletter')
>>> m = sources.load_mapping("newsletter")
>>> m.key, m.columns["EMAIL"].field, m.columns["EMAIL"].required
(('personne.email',), 'personne.email', True)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carto._errors import MappingError
from carto.store import EVENT_KINDS, PARTICIPATION_ROLES

__all__ = [
    "Column",
    "Events",
    "Subscriptions",
    "Consent",
    "Mapping",
    "load_mapping",
    "builtin_sources",
    "FIELDS",
    "PARSERS",
    "SOURCES_DIR",
    "SOURCE_FILES",
]

#: Folder of the built-in mapping files.
SOURCES_DIR = Path(__file__).parent

#: File (or folder, for émargement) of each built-in source inside a ``sources/``
#: folder, in import order — the layout :func:`carto.synth.generate` writes and
#: :func:`carto.ingest.import_folder` reads.
SOURCE_FILES: dict[str, str] = {
    "lreav": "lreav.csv",
    "jeparticipe": "jeparticipe.csv",
    "dispositifs": "dispositifs.xlsx",
    "emargement": "emargement",
    "newsletter": "newsletter.csv",
}

_BUILTIN = tuple(SOURCE_FILES)

#: Canonical fields a column may feed, with their default parser.
#: ``extra.<nom>`` (any name) is also accepted, parser ``text`` by default.
FIELDS: dict[str, str] = {
    "personne.first_name": "person_name",
    "personne.last_name": "person_name",
    "personne.full_name": "full_name",
    "personne.email": "email",
    "personne.phone": "phone",
    "personne.postcode": "postcode",
    "personne.commune": "commune",
    "personne.pseudo": "text",
    "organisation.name": "organisation_name",
    "organisation.acronym": "text",
    "organisation.siret": "siret",
    "organisation.rna": "rna",
    "organisation.org_type": "text",
    "organisation.address": "text",
    "organisation.postcode": "postcode",
    "organisation.commune": "commune",
    "organisation.url": "url",
    "organisation.email": "email",
    "organisation.phone": "phone",
    "organisation.themes": "list",
    "date": "date",
}

#: Parsers, and what an invalid value does by default (``quarantine`` or ``warn``).
PARSERS: dict[str, str] = {
    "text": "warn",
    "person_name": "warn",
    "full_name": "warn",
    "organisation_name": "warn",
    "commune": "warn",
    "email": "quarantine",
    "phone": "warn",
    "postcode": "quarantine",
    "siret": "warn",
    "rna": "warn",
    "url": "warn",
    "date": "warn",
    "amount": "warn",
    "boolean": "warn",
    "list": "warn",
}

_ON_ERROR = ("quarantine", "warn")
_COLUMN_KEYS = {"field", "parser", "required", "on_error", "personal", "optional", "separator"}
_TOP_KEYS = {"name", "label", "format", "encoding", "delimiter", "sheet", "key", "columns", "events",
             "subscriptions", "consent", "description"}
_EVENT_KEYS = {"mode", "title", "date", "place", "signed", "role", "titles", "kinds", "roles", "default_kind"}
_SUBSCRIPTION_KEYS = {"lists", "list", "when", "blocklisted", "unsubscribed", "default_list"}
_CONSENT_KEYS = {"map"}


@dataclass(frozen=True)
class Column:
    """One column of a source file and the canonical field it feeds."""

    name: str
    field: str
    parser: str
    required: bool = False
    on_error: str = "warn"
    personal: bool = False
    optional: bool = False
    separator: str = ","


@dataclass(frozen=True)
class Events:
    """How rows become events and participations.

    ``mode = "file"``: the whole file is one event (title, date and place read
    from the fields ``title``, ``date``, ``place``; ``signed`` is the boolean
    field kept in ``participations.signed``); ``mode = "list"``: each value of
    the list field ``titles`` is an event the row's person took part in.
    ``kinds`` maps a word of the title to the event kind (first match wins,
    case and accents ignored), else ``default_kind``. ``role`` is the field
    holding the person's role at the event; ``roles`` maps a word of its value
    to a role of :data:`carto.store.PARTICIPATION_ROLES` (first match wins,
    case and accents ignored; then the role names themselves); an empty value
    is ``participant``, a value matching nothing too, with a warning.
    """

    mode: str
    title: str | None = None
    date: str | None = None
    place: str | None = None
    signed: str | None = None
    role: str | None = None
    titles: str | None = None
    kinds: tuple[tuple[str, str], ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    default_kind: str = "rencontre de communauté"


@dataclass(frozen=True)
class Subscriptions:
    """How rows become newsletter subscriptions.

    ``lists`` (a list field) names the lists of the row, or ``list`` is one
    fixed list subscribed to when the boolean field ``when`` is true.
    ``blocklisted`` / ``unsubscribed`` are boolean fields; a row that names no
    list applies them to ``default_list``.
    """

    lists: str | None = None
    list: str | None = None
    when: str | None = None
    blocklisted: str | None = None
    unsubscribed: str | None = None
    default_list: str | None = None


@dataclass(frozen=True)
class Consent:
    """A person's answer to « may you be shown on the map? » in the rows (see :mod:`carto.privacy`).

    ``map`` is a boolean field: oui → a statement of consent, non → a refusal (or a withdrawal), empty → no
    statement. The statement is dated by the row's ``date`` (the event's day for a sign-in sheet), else by
    the import.
    """

    map: str


@dataclass(frozen=True)
class Mapping:
    """A validated source mapping (see :func:`load_mapping`)."""

    name: str
    label: str
    path: Path
    columns: dict[str, Column]
    key: tuple[str, ...]
    format: str = "auto"
    encoding: str = "auto"
    delimiter: str = "auto"
    sheet: str | None = None
    events: Events | None = None
    subscriptions: Subscriptions | None = None
    consent: Consent | None = None
    text: str = field(default="", repr=False)

    @property
    def personal_columns(self) -> tuple[str, ...]:
        """Columns holding personal data (RGPD)."""
        return tuple(c.name for c in self.columns.values() if c.personal)

    @property
    def fields(self) -> dict[str, Column]:
        """Columns by canonical field."""
        return {c.field: c for c in self.columns.values()}


def builtin_sources() -> tuple[str, ...]:
    """Names of the built-in source formats.

    Examples
    --------
    >>> "newsletter" in builtin_sources()
    True
    """
    return _BUILTIN


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Read and validate a source mapping: a built-in name or the path of a TOML file.

    Parameters
    ----------
    name_or_path : str or Path
        ``lreav``, ``jeparticipe``, ``dispositifs``, ``emargement``,
        ``newsletter``, or the path of a mapping file (``ma_source.toml``).

    Returns
    -------
    Mapping

    Raises
    ------
    MappingError
        Unknown source, unreadable TOML, or a wrong key; the French message
        names the file and the key.

    Examples
    --------
    >>> m = load_mapping("lreav")
    >>> m.name, m.columns["SIRET"].field, m.key
    ('lreav', 'organisation.siret', ('organisation.rna|organisation.siret|organisation.name', 'date'))
    >>> load_mapping("inconnue")
    Traceback (most recent call last):
    ...
    carto._errors.MappingError: Source inconnue : « inconnue ». Sources intégrées : lreav, jeparticipe, dispositifs, emargement, newsletter ; ou donnez le chemin d'un fichier de correspondance .toml.
    """
    text_name = str(name_or_path)
    if text_name in _BUILTIN and not Path(text_name).suffix:
        path = SOURCES_DIR / f"{text_name}.toml"
    else:
        path = Path(name_or_path)
        if path.suffix.lower() != ".toml" or not path.is_file():
            if path.suffix.lower() == ".toml":
                raise MappingError(f"Fichier de correspondance introuvable : « {path} ».")
            raise MappingError(
                f"Source inconnue : « {text_name} ». Sources intégrées : {', '.join(_BUILTIN)} ; "
                "ou donnez le chemin d'un fichier de correspondance .toml."
            )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path.name} : le fichier n'est pas en UTF-8 ({exc.reason}).") from exc
    return _from_text(text, path)


def mapping_from_text(text: str, label: str) -> Mapping:
    """A mapping from its TOML text, as kept with each import batch (``import_batches.mapping``).

    ``label`` names it in error messages.

    Examples
    --------
    >>> mapping_from_text(load_mapping("newsletter").text, "lot 1").name
    'newsletter'
    """
    return _from_text(text, Path(label))


def _from_text(text: str, path: Path) -> Mapping:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path.name} : TOML illisible ({exc}).") from exc
    return _validate(data, path, text)


def _fail(path: Path, key: str, message: str) -> MappingError:
    return MappingError(f"{path.name}, clé « {key} » : {message}")


def _str(data: MappingABC[str, Any], key: str, path: Path, where: str, default: Any = None) -> Any:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise _fail(path, f"{where}{key}", f"texte attendu, trouvé {_shown(value)}.")
    return value


def _bool(data: MappingABC[str, Any], key: str, path: Path, where: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _fail(path, f"{where}{key}", f"true ou false attendu, trouvé {_shown(value)}.")
    return value


def _shown(value: Any) -> str:
    """A TOML value as the user wrote it: « oui », true, 3, [...]."""
    if isinstance(value, str):
        return f"« {value} »"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _table(data: Any, allowed: set[str], path: Path, key: str) -> dict[str, Any] | None:
    """An optional TOML table (``None`` when absent), checked for unknown keys."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _fail(path, key, "table attendue.")
    _unknown(data, allowed, path, f"{key}.")
    return data


def _unknown(data: MappingABC[str, Any], allowed: set[str], path: Path, where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise _fail(path, f"{where}{extra[0]}", f"clé inconnue ; clés possibles : {', '.join(sorted(allowed))}.")


def _check_field(value: str, path: Path, key: str) -> None:
    if value not in FIELDS and not (value.startswith("extra.") and len(value) > 6):
        raise _fail(
            path, key,
            f"champ inconnu « {value} ». Champs possibles : {', '.join(FIELDS)}, ou extra.<nom>.",
        )


def _column(name: str, spec: Any, path: Path) -> Column:
    where = f"columns.\"{name}\"."
    if isinstance(spec, str):
        spec = {"field": spec}
    if not isinstance(spec, dict):
        raise _fail(path, f"columns.\"{name}\"", "table attendue, par exemple { field = \"personne.email\" }.")
    _unknown(spec, _COLUMN_KEYS, path, where)
    target = _str(spec, "field", path, where)
    if target is None:
        raise _fail(path, f"{where}field", "champ manquant : dites quel champ canonique la colonne alimente.")
    _check_field(target, path, f"{where}field")
    parser = _str(spec, "parser", path, where, FIELDS.get(target, "text"))
    if parser not in PARSERS:
        raise _fail(path, f"{where}parser", f"analyseur inconnu « {parser} » ; possibles : {', '.join(PARSERS)}.")
    on_error = _str(spec, "on_error", path, where, PARSERS[parser])
    if on_error not in _ON_ERROR:
        raise _fail(path, f"{where}on_error", f"« {on_error} » : valeurs possibles quarantine ou warn.")
    personal = _bool(spec, "personal", path, where, target.startswith("personne."))
    separator = _str(spec, "separator", path, where, ",")
    if not separator:
        raise _fail(path, f"{where}separator", "séparateur vide.")
    return Column(
        name=name, field=target, parser=parser, required=_bool(spec, "required", path, where),
        on_error=on_error, personal=personal, optional=_bool(spec, "optional", path, where),
        separator=separator,
    )


def _field_ref(value: Any, path: Path, key: str, known: set[str]) -> str:
    if not isinstance(value, str):
        raise _fail(path, key, f"nom de champ attendu, trouvé {_shown(value)}.")
    if value not in known:
        raise _fail(path, key, f"le champ « {value} » n'est alimenté par aucune colonne (section columns).")
    return value


def _events(data: Any, path: Path, known: set[str]) -> Events | None:
    data = _table(data, _EVENT_KEYS, path, "events")
    if data is None:
        return None
    mode = data.get("mode")
    if mode not in ("file", "list"):
        raise _fail(path, "events.mode", f"« {mode} » : valeurs possibles file ou list.")
    refs = {}
    needed = ("title", "date") if mode == "file" else ("titles",)
    for name in ("title", "date", "place", "signed", "role", "titles"):
        if name in data:
            refs[name] = _field_ref(data[name], path, f"events.{name}", known)
        elif name in needed:
            raise _fail(path, f"events.{name}", "clé manquante.")
    kinds = _words(data.get("kinds", {}), path, "events.kinds", "type")
    for word, kind in [*kinds, ("default_kind", data.get("default_kind", "rencontre de communauté"))]:
        if kind not in EVENT_KINDS:
            key = "events.default_kind" if word == "default_kind" else f"events.kinds.\"{word}\""
            raise _fail(path, key, f"type d'événement inconnu « {kind} » ; possibles : {', '.join(EVENT_KINDS)}.")
    roles = _words(data.get("roles", {}), path, "events.roles", "rôle")
    for word, role in roles:
        if role not in PARTICIPATION_ROLES:
            raise _fail(path, f"events.roles.\"{word}\"",
                        f"rôle inconnu {_shown(role)} ; possibles : {', '.join(PARTICIPATION_ROLES)}.")
    if roles and "role" not in refs:
        raise _fail(path, "events.role", "clé manquante : nommez le champ du rôle (par exemple "
                                         "role = \"extra.role\") pour utiliser [events.roles].")
    return Events(
        mode=mode, kinds=tuple((w.casefold(), k) for w, k in kinds),
        roles=tuple((w.casefold(), r) for w, r in roles),
        default_kind=data.get("default_kind", "rencontre de communauté"), **refs,
    )


def _words(data: Any, path: Path, key: str, what: str) -> list[tuple[str, Any]]:
    """The (word, value) pairs of a ``{ mot = "valeur" }`` table, in order; words must not be blank."""
    if not isinstance(data, dict):
        raise _fail(path, key, f"table {{ mot = \"{what}\" }} attendue.")
    for word in data:
        if not str(word).strip():
            raise _fail(path, f"{key}.\"{word}\"", "mot vide : donnez un mot à chercher.")
    return [(str(w), v) for w, v in data.items()]


def _subscriptions(data: Any, path: Path, known: set[str]) -> Subscriptions | None:
    data = _table(data, _SUBSCRIPTION_KEYS, path, "subscriptions")
    if data is None:
        return None
    refs = {
        name: _field_ref(data[name], path, f"subscriptions.{name}", known)
        for name in ("lists", "when", "blocklisted", "unsubscribed") if name in data
    }
    fixed = {name: _str(data, name, path, "subscriptions.") for name in ("list", "default_list")}
    if "lists" not in refs and not fixed["list"]:
        raise _fail(path, "subscriptions.lists", "donnez lists (champ des listes) ou list (une liste fixe).")
    return Subscriptions(**refs, **fixed)


def _consent(data: Any, path: Path, columns: dict[str, Column]) -> Consent | None:
    data = _table(data, _CONSENT_KEYS, path, "consent")
    if data is None:
        return None
    if "map" not in data:
        raise _fail(path, "consent.map", "donnez le champ (booléen) de l'accord pour la carte, par exemple "
                                         "map = \"extra.accord_carte\".")
    parsers = {col.field: col.parser for col in columns.values()}
    name = _field_ref(data["map"], path, "consent.map", set(parsers))
    if parsers[name] != "boolean":
        raise _fail(path, "consent.map", f"le champ « {name} » doit être lu comme un booléen (parser = \"boolean\" "
                                         "dans sa colonne) : oui/non.")
    return Consent(map=name)


def _validate(data: dict[str, Any], path: Path, text: str) -> Mapping:
    _unknown(data, _TOP_KEYS, path, "")
    name = _str(data, "name", path, "")
    if not name:
        raise _fail(path, "name", "nom de la source manquant (par exemple name = \"ma_source\").")
    columns_data = data.get("columns")
    if not isinstance(columns_data, dict) or not columns_data:
        raise _fail(path, "columns", "section [columns] manquante ou vide : nommez les colonnes du fichier.")
    columns = {str(col): _column(str(col), spec, path) for col, spec in columns_data.items()}
    by_field: dict[str, str] = {}
    for col in columns.values():
        if col.field in by_field and not col.field.startswith("extra."):
            raise _fail(path, f"columns.\"{col.name}\".field",
                        f"le champ « {col.field} » est déjà alimenté par la colonne « {by_field[col.field]} ».")
        by_field[col.field] = col.name
    known = set(by_field)
    key = data.get("key")
    if isinstance(key, str):
        key = [key]
    if not isinstance(key, list) or not key or not all(isinstance(k, str) and k for k in key):
        raise _fail(path, "key", "liste de champs attendue, par exemple key = [\"personne.email\"].")
    for part in key:
        for alternative in part.split("|"):
            if alternative != "fichier" and alternative not in known:
                raise _fail(path, "key", f"« {alternative} » n'est alimenté par aucune colonne (ni « fichier »).")
    fmt = _str(data, "format", path, "", "auto")
    if fmt not in ("auto", "csv", "xlsx"):
        raise _fail(path, "format", f"« {fmt} » : valeurs possibles auto, csv ou xlsx.")
    delimiter = _str(data, "delimiter", path, "", "auto")
    if delimiter not in ("auto", ";", ",", "\t", "|"):
        raise _fail(path, "delimiter", f"« {delimiter} » : valeurs possibles auto, « ; », « , », tabulation, « | ».")
    return Mapping(
        name=name,
        label=_str(data, "label", path, "", name),
        path=path,
        columns=columns,
        key=tuple(key),
        format=fmt,
        encoding=_str(data, "encoding", path, "", "auto"),
        delimiter=delimiter,
        sheet=_str(data, "sheet", path, ""),
        events=_events(data.get("events"), path, known),
        subscriptions=_subscriptions(data.get("subscriptions"), path, known),
        consent=_consent(data.get("consent"), path, columns),
        text=text,
    )
