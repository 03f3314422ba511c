"""Normalisation of the values read from source files: names, emails, phones, postcodes, ids.

Every function takes a :class:`pandas.Series` (any sequence is accepted and
turned into one) and returns a new Series or DataFrame **with the same index**;
inputs are never modified. Work is done once per *distinct* value
(:func:`pandas.factorize`) and mapped back, so a million rows with a few
hundred thousand distinct values take seconds (``benchmarks/normalize_rates.py``).

Functions returning a DataFrame add an ``error`` column: a French sentence
saying what is wrong with the value (without file, line or column: the caller
prefixes them), ``<NA>`` when the value is fine or empty. Empty input
(``None``, NaN, blank text) gives ``<NA>`` everywhere, never an error.

Maintained libraries do the checking: ``email-validator`` (syntax only, never
DNS), ``phonenumbers`` (region FR, E.164), ``python-stdnum`` (SIRET/SIREN
Luhn keys), ``unidecode`` (matching keys) and :mod:`carto.geo` (postcode and
commune name → INSEE code).

Output dtypes: text columns are ``string`` (missing = ``<NA>``); ``dates``
gives ``datetime.date`` objects (``object`` dtype); ``amounts`` gives
``float64`` (NaN); ``booleans`` gives ``boolean``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Sequence
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import phonenumbers
import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import EMAIL_MAX_LENGTH, LOCAL_PART_MAX_LENGTH
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret
from unidecode import unidecode

from carto import geo

__all__ = [
    "text",
    "is_hostile",
    "person_names",
    "NAME_PARTICLES",
    "name_keys",
    "organisation_keys",
    "ORGANISATION_STOPWORDS",
    "emails",
    "phones",
    "postcodes",
    "sirets",
    "rnas",
    "urls",
    "dates",
    "amounts",
    "booleans",
]

log = logging.getLogger(__name__)

_STRING = "string"
Values = pd.Series | Sequence[object]


# ---------------------------------------------------------------------------
# Plumbing: one computation per distinct value
# ---------------------------------------------------------------------------

def _series(values: Values) -> pd.Series:
    """The input as a Series (the caller's object is never modified)."""
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pd.DataFrame):
        raise TypeError("Donnez une seule colonne (pandas.Series), pas un tableau entier.")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError("Donnez une colonne (pandas.Series ou liste de valeurs), "
                        f"pas une valeur isolée : {values!r}.")
    return pd.Series(list(values), dtype=object)


def _by_distinct(values: pd.Series, compute: Callable[[pd.Series], pd.DataFrame]) -> pd.DataFrame:
    """Run ``compute`` on the distinct non-missing values, map the result back to every row.

    ``compute`` receives a Series of distinct values (RangeIndex) and returns a
    DataFrame with one row per distinct value; missing inputs get missing rows.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    result = compute(pd.Series(uniques, dtype=uniques.dtype if hasattr(uniques, "dtype") else object))
    result = result.reset_index(drop=True).reindex(codes)
    result.index = values.index
    return result


def _to_str(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 31000.0 from a numeric spreadsheet cell
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _clean(uniques: pd.Series) -> pd.Series:
    """:func:`text` on distinct values (no missing values in ``uniques``)."""
    if not (pd.api.types.is_string_dtype(uniques.dtype) and uniques.dtype != object):
        uniques = pd.Series([_to_str(v) for v in uniques], index=uniques.index, dtype=object)
    out = (uniques.astype(_STRING).str.normalize("NFC").str.strip()
           .str.replace(_SPACES, " ", regex=True))
    return out.mask(out == "")


#: Every character Python's ``\s`` matches (``str.isspace``; Unicode puts them all below U+3001),
#: written out for character classes that pyarrow (RE2) runs: pandas sends a pattern with ``\s``
#: to Python's ``re``, one call per value. ``tests/test_normalize.py`` checks every code point.
_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
_SPACES = f"[{_WHITESPACE}]+"


def _text_frame(uniques: pd.Series) -> pd.DataFrame:
    return _clean(uniques).to_frame("text")


def _quote(values: pd.Series) -> pd.Series:
    return "« " + values.astype(_STRING) + " »"


def _errors(mask: pd.Series, shown: pd.Series, message: str | pd.Series) -> pd.Series:
    """French error text ``« value » message`` where ``mask``, else NA."""
    err = pd.Series(pd.NA, index=mask.index, dtype=_STRING)
    mask = mask.fillna(False).astype(bool)
    if mask.any():
        msg = message[mask] if isinstance(message, pd.Series) else message
        err[mask] = _quote(shown[mask]) + " " + msg
    return err


def _checked(values: pd.Series, check: Callable[[pd.Series, pd.Series], pd.DataFrame],
             what: str) -> pd.DataFrame:
    """Run a validator once per distinct value and build the French ``error`` column there too.

    ``check(raw, clean)`` receives the distinct raw values and their
    :func:`text` form (same RangeIndex; ``clean`` is NA for blank values) and
    returns the output columns plus ``reason`` (end of the French sentence,
    NA when the value is fine or empty).
    """
    def compute(raw: pd.Series) -> pd.DataFrame:
        clean = _clean(raw)
        result = check(raw, clean)
        reason = result.pop("reason").astype(_STRING)
        result["error"] = _errors(reason.notna(), clean, reason)
        return result

    out = _by_distinct(values, compute)
    log.debug("%s : %d valeurs, %d invalides.", what, int(values.notna().sum()), int(out["error"].notna().sum()))
    return out


def _per_value(clean: pd.Series, func: Callable[[str], tuple[object, ...]],
               columns: list[str]) -> pd.DataFrame:
    """Apply a scalar library check to each non-missing value (the values are distinct)."""
    present = clean.dropna()
    rows = pd.DataFrame([func(v) for v in present], columns=columns, index=present.index, dtype=_STRING)
    return rows.reindex(clean.index)


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------

def text(values: Values) -> pd.Series:
    """Clean text: ``str``, Unicode NFC, stripped, inner whitespace collapsed, ``""`` → NA.

    Numbers become text (``31000.0`` from a spreadsheet cell → ``"31000"``).
    Hostile text (HTML, formulas) is kept verbatim: see :func:`is_hostile`.

    Parameters
    ----------
    values : pandas.Series
        Any values.

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index.

    Examples
    --------
    >>> from carto import normalize
    >>> normalize.text(["  Jean   Dupont ", "", None, 31000.0, "<b>x</b>"]).tolist()
    ['Jean Dupont', <NA>, <NA>, '31000', '<b>x</b>']
    """
    values = _series(values)
    return _by_distinct(values, _text_frame)["text"].astype(_STRING)


_HOSTILE = re.compile(
    r"<\s*/?\s*[a-z!][^>]*>"              # an HTML tag: <script>, <img …>, </b>, <!-- …
    r"|<\s*(?:script|img|iframe|svg|object|embed|style|link|meta)\b"  # tag left open
    r"|(?:java|vb)script\s*:|data\s*:\s*text/html"
    r"|^[=+\-@]\s*[a-z(]"                 # spreadsheet formula: =HYPERLINK(, @SUM(, +cmd
    r"|^[=+\-@].*\|",                     # DDE: +cmd|' /C calc'!A0
    re.IGNORECASE,
)


def is_hostile(values: Values) -> pd.Series:
    """Whether each value holds HTML/JavaScript or a spreadsheet formula.

    Flags an HTML tag (``<script>``, ``<img src=x onerror=…>``, ``</b>``), a
    ``javascript:``/``vbscript:``/``data:text/html`` URL, and a value whose first
    character (after stripping) is ``=``, ``+``, ``-`` or ``@`` followed by a
    letter or ``(`` (``=HYPERLINK(…)``, ``@SUM(…)``, ``+cmd|…``) or containing a
    ``|`` (DDE). Phone numbers (``+33 6…``) and negative amounts (``-12``) are
    not flagged. Such values are stored as plain text; views and exports must
    escape them.

    Returns
    -------
    pandas.Series
        ``bool``, same index; ``False`` for missing values.

    Examples
    --------
    >>> from carto import normalize
    >>> normalize.is_hostile(["<script>alert(1)</script>", "=HYPERLINK(\\"http://x\\")",
    ...                       "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "+33 6 12 34 56 78",
    ...                       "Jean-Pierre", None]).tolist()
    [True, True, True, True, False, False, False]
    """
    flagged = _by_distinct(_series(values),
                           lambda u: _clean(u).str.contains(_HOSTILE, regex=True).to_frame("hostile"))
    return flagged["hostile"].fillna(False).astype(bool)


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

#: Name particles written in lower case in a re-cased name (« JEAN DE LA FONTAINE »
#: → « Jean de La Fontaine »), unless they are the whole name.
NAME_PARTICLES = ("de", "du", "des", "van", "von", "der", "den", "di", "da", "del")
_PARTICLE = re.compile(r"(?<=\w )(?:" + "|".join(p.title() for p in NAME_PARTICLES) + r")(?= )"
                       r"|^(?:" + "|".join(p.title() for p in NAME_PARTICLES) + r")(?= \w)")
_ELISION = re.compile(r"(?<![\w'’])D(?=['’]\w)")


def person_names(values: Values) -> pd.Series:
    """Display form of first names and surnames (accents kept).

    A value written all in capitals or all in lower case is re-cased: each part
    between spaces, hyphens and apostrophes gets a capital (« JEAN-PIERRE » →
    « Jean-Pierre », « o'neil » → « O'Neil »), the particles of
    :data:`NAME_PARTICLES` and the elided « d' » stay in lower case when more of
    the name follows (« DE LA FONTAINE » → « de La Fontaine », « D'ARTAGNAN »
    → « d'Artagnan »). A value in mixed case is kept as typed (« McDonald »).

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index.

    Examples
    --------
    >>> from carto import normalize
    >>> normalize.person_names(["JEAN-PIERRE", "élodie", "DE LA FONTAINE", "McDonald",
    ...                         "D'ARTAGNAN", " ", None]).tolist()
    ['Jean-Pierre', 'Élodie', 'de La Fontaine', 'McDonald', "d'Artagnan", <NA>, <NA>]
    """
    values = _series(values)

    def compute(uniques: pd.Series) -> pd.DataFrame:
        clean = _clean(uniques)
        upper, lower = clean.str.upper(), clean.str.lower()
        recase = ((clean == upper) | (clean == lower)) & (upper != lower)
        titled = clean.str.title().str.replace(
            _PARTICLE, lambda m: m[0].lower(), regex=True).str.replace(_ELISION, "d", regex=True)
        return clean.where(~recase.fillna(False), titled).to_frame("name")

    return _by_distinct(values, compute)["name"].astype(_STRING)


def _keys(uniques: pd.Series) -> pd.Series:
    clean = _clean(uniques)
    ascii_ = pd.Series([unidecode(v) if isinstance(v, str) else v for v in clean], index=clean.index,
                       dtype=_STRING)
    key = ascii_.str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    return key.mask(key == "")


def name_keys(values: Values) -> pd.Series:
    """Matching key of a name: ASCII (unidecode), lower case, punctuation → space, collapsed.

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index; NA for an empty name.

    Examples
    --------
    >>> from carto import normalize
    >>> normalize.name_keys(["Jean-Pierre", "JEAN PIERRE", "Hélène d'Aubigné", "--", None]).tolist()
    ['jean pierre', 'jean pierre', 'helene d aubigne', <NA>, <NA>]
    """
    values = _series(values)
    return _by_distinct(values, lambda u: _keys(u).to_frame("key"))["key"].astype(_STRING)


#: Words dropped from organisation keys: legal forms and filler words.
ORGANISATION_STOPWORDS = (
    # legal forms
    "association", "associations", "asso", "assoc", "sas", "sasu", "sarl", "eurl", "sa", "sci", "scic",
    "scop", "scm", "gie", "gaec", "earl", "ess", "esus", "eirl", "ei", "ste", "societe", "cie",
    "loi", "1901",
    # articles and linking words
    "les", "le", "la", "l", "de", "des", "du", "d", "et", "en", "au", "aux", "a", "pour", "sur",
)
_STOPWORDS = re.compile(r"\b(?:" + "|".join(ORGANISATION_STOPWORDS) + r")\b")
_TRAILING_PARENTHESES = re.compile(r"^(.*?\w.*?)\s*\([^()]*\)\s*$")


def organisation_keys(values: Values) -> pd.Series:
    """Matching key of an organisation name: :func:`name_keys` without legal forms and filler words.

    Drops a trailing parenthesised part (the acronym in « Les Amis des Haies
    (LAH) ») and the words of :data:`ORGANISATION_STOPWORDS` (legal forms:
    association, asso, SAS, SARL, SCIC, SCOP, SA, ESUS, loi 1901…; filler words:
    les, le, la, l, de, des, du, d, et, en, au, aux, à, pour, sur). When nothing
    would remain (« Association »), the plain name key is kept.

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index; NA for an empty name.

    Examples
    --------
    >>> from carto import normalize
    >>> normalize.organisation_keys(["Les Amis des Haies (LAH)", "LES AMIS DES HAIES",
    ...                              "Association L'Épi d'Or", "SCIC SAS Énergies du Lot",
    ...                              "Association", None]).tolist()
    ['amis haies', 'amis haies', 'epi or', 'energies lot', 'association', <NA>]
    """
    values = _series(values)

    def compute(uniques: pd.Series) -> pd.DataFrame:
        clean = _clean(uniques)
        key = _keys(clean.str.replace(_TRAILING_PARENTHESES, r"\1", regex=True))
        short = (key.str.replace(_STOPWORDS, " ", regex=True)
                 .str.replace(_SPACES, " ", regex=True).str.strip())
        return short.where(short.fillna("") != "", key).to_frame("key")

    return _by_distinct(values, compute)["key"].astype(_STRING)


# ---------------------------------------------------------------------------
# Emails and phones
# ---------------------------------------------------------------------------

def _email_reason(email: str) -> str:
    """French reason for an address that email-validator refused (it says why in English)."""
    invalid = "n'est pas une adresse de courriel valide : "
    if "@" not in email:
        return "n'est pas une adresse de courriel : il manque le « @ » (nom@domaine.fr)."
    if email.count("@") > 1:
        return invalid + "elle contient plusieurs « @ »."
    local, domain = email.rsplit("@", 1)
    if not local:
        return invalid + "le nom manque avant le « @ »."
    if not domain:
        return invalid + "le domaine manque après le « @ »."
    if "." not in domain:
        return invalid + f"le domaine « {domain} » n'a pas d'extension (.fr, .com…)."
    if ".." in email or local.startswith(".") or local.endswith("."):
        return invalid + "un point est mal placé (deux points qui se suivent, ou au début ou à la fin du nom)."
    if any(label.startswith("-") or label.endswith("-") for label in domain.split(".")):
        return invalid + f"le domaine « {domain} » est mal formé (un tiret au début ou à la fin d'une partie)."
    return invalid + "vérifiez l'orthographe (lettres, chiffres et . _ - + seulement, de la forme nom@domaine.fr)."


def _validate_email(value: str) -> tuple[object, object]:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower(), pd.NA
    except EmailNotValidError:
        return pd.NA, _email_reason(value)


#: Plain ASCII address that email-validator certainly accepts unchanged (see :func:`_plain_emails`):
#: a dot-atom local part of letters, digits and ``_ + -``, then at least two host labels of
#: letters, digits and inner hyphens (at most 63 characters each), the last one letters only.
#: No lookaround: it runs on Arrow strings (RE2).
_PLAIN_EMAIL = r"[a-z0-9_+\-]+(?:\.[a-z0-9_+\-]+)*@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"


def _plain_emails(lowered: pd.Series) -> pd.Series:
    """Which lower-case addresses email-validator would accept as they are, decided without calling it.

    A fast path only: a value matching :data:`_PLAIN_EMAIL`, at most 254
    characters long and outside the special-use domains that email-validator
    refuses (its own ``SPECIAL_USE_DOMAIN_NAMES``, read at each call) is an
    address that ``validate_email(..., check_deliverability=False)`` accepts
    with the same normalised form; every other value still goes through
    email-validator, which remains the authority (``tests/test_normalize.py``
    checks the two agree). Nothing is *refused* here.
    """
    special = "|".join(re.escape(d) for d in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    plain = (lowered.str.fullmatch(_PLAIN_EMAIL) & (lowered.str.len() <= EMAIL_MAX_LENGTH)
             & (lowered.str.find("@") <= LOCAL_PART_MAX_LENGTH) & ~lowered.str.contains("--", regex=False))
    if special:
        plain &= ~lowered.str.contains(rf"[@.](?:{special})$", regex=True)
    return plain.fillna(False).astype(bool)


def _check_emails(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
    lowered = clean.str.lower().str.removeprefix("mailto:")
    plain = _plain_emails(lowered)
    result = _per_value(lowered.mask(plain), _validate_email, ["email", "reason"])
    result["email"] = result["email"].mask(plain, lowered)
    parts = result["email"].str.rsplit("@", n=1)
    local = parts.str[0].str.split("+", n=1).str[0].str.replace(".", "", regex=False)
    domain = parts.str[-1].replace("googlemail.com", "gmail.com")
    return pd.DataFrame({"email": result["email"], "email_key": (local + "@" + domain).astype(_STRING),
                         "reason": result["reason"]})


def emails(values: Values) -> pd.DataFrame:
    """Validate emails (syntax only: no DNS look-up) and build their matching key.

    Parameters
    ----------
    values : pandas.Series
        Emails as typed (``Jean.Dupont@Gmail.com``, `` a@b.fr ``).

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``email`` (validated by ``email-validator``, lower
        case), ``email_key`` (lower case, local part without dots and without a
        ``+tag``, ``googlemail.com`` read as ``gmail.com``: the same mailbox
        typed differently gives the same key) and ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.emails(["Jean.Dupont+asso@Gmail.com", "jeandupont@googlemail.com",
    ...                        "a@@b.fr", "jean.dupont.fr", None])
    >>> df["email"].tolist()
    ['jean.dupont+asso@gmail.com', 'jeandupont@googlemail.com', <NA>, <NA>, <NA>]
    >>> df["email_key"].tolist()
    ['jeandupont@gmail.com', 'jeandupont@gmail.com', <NA>, <NA>, <NA>]
    >>> print(df.loc[3, "error"])
    « jean.dupont.fr » n'est pas une adresse de courriel : il manque le « @ » (nom@domaine.fr).
    """
    return _checked(_series(values), _check_emails, "courriels")


_PHONE_HINT = "(10 chiffres pour la France, ou +indicatif du pays)."


def _parse_phone(value: str) -> tuple[object, object]:
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return pd.NA, f"n'est pas un numéro de téléphone {_PHONE_HINT}"
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), pd.NA
    return pd.NA, f"n'est pas un numéro de téléphone valide {_PHONE_HINT}"


def _check_phones(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
    compact = clean.str.replace(f"[{_WHITESPACE}.\\-/]", "", regex=True)  # one library call per number
    return _by_distinct(compact, lambda u: _per_value(u, _parse_phone, ["phone", "reason"]))


def phones(values: Values) -> pd.DataFrame:
    """Phone numbers → E.164 (``+33612345678``) with ``phonenumbers`` (region FR).

    Parameters
    ----------
    values : pandas.Series
        Numbers as typed: ``06 12 34 56 78``, ``0612345678``, ``+33612345678``,
        ``06.12.34.56.78``, ``+33 6 12 34 56 78``, ``612345678`` (a spreadsheet
        cell that lost its leading zero), foreign numbers with their ``+`` code.

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``phone`` (E.164) and ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.phones(["06 12 34 56 78", "+33612345678", "06.12.34.56.78",
    ...                        "+33 6 12 34 56 78", "06 12", None])
    >>> df["phone"].tolist()
    ['+33612345678', '+33612345678', '+33612345678', '+33612345678', <NA>, <NA>]
    >>> print(df.loc[4, "error"])
    « 06 12 » n'est pas un numéro de téléphone valide (10 chiffres pour la France, ou +indicatif du pays).
    """
    return _checked(_series(values), _check_phones, "téléphones")


# ---------------------------------------------------------------------------
# Postcodes and communes
# ---------------------------------------------------------------------------

def _read_postcodes(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
    found = pd.Series([geo.normalise_postcode(v) if isinstance(v, str) else None for v in clean],
                      index=clean.index, dtype=object)
    # geo pads 4 digits with a zero (a number cell); here "3100" is an error, as the issue asks.
    spaced = clean.str.replace(f"[{_WHITESPACE}]", "", regex=True)
    complete = pd.Series([pc is not None and pc in s for pc, s in zip(found, spaced.fillna(""))],
                         index=clean.index, dtype=bool)
    postcode = found.astype(_STRING).where(complete)
    four = found.notna() & ~complete
    reason = pd.Series(pd.NA, index=clean.index, dtype=_STRING)
    reason[four] = "n'est pas un code postal (5 chiffres attendus)."
    reason[postcode.isna() & ~four & clean.notna()] = ("n'est pas un code postal (5 chiffres attendus, "
                                                         "par exemple 31000).")
    return pd.DataFrame({"postcode": postcode, "reason": reason})


def postcodes(postcodes: Values, communes: Values | None = None, *,
              shared: Literal["largest", "error"] = "largest") -> pd.DataFrame:
    """Postcodes (and commune names) → 5-digit postcode and INSEE code of the commune.

    The postcode is read with :func:`carto.geo.normalise_postcode` (« 31 000 »,
    « 31037 CEDEX 1 », ``31000.0``); a value of 4 digits (« 3100 », a leading
    zero lost) is an error. The commune is found by
    :func:`carto.geo.find_communes` from the postcode and the name (« ST
    GIRONS », « TOULOUSE CEDEX 9 »). A postcode shared by several communes and
    given without a name resolves, with ``shared="largest"``, to the most
    populous of them (the likeliest for a person); ``shared="error"`` makes it an
    error instead.

    Parameters
    ----------
    postcodes : pandas.Series
        Postcodes as typed.
    communes : pandas.Series, optional
        Commune names, same length.
    shared : {"largest", "error"}
        What a shared postcode without a commune name gives.

    Returns
    -------
    pandas.DataFrame
        Index of ``postcodes``; columns ``postcode``, ``commune_code`` (INSEE),
        ``error`` (French: bad postcode, outside Occitanie, no or several
        communes for that postcode and name).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.postcodes(["31 000", "09200", "31037 CEDEX 1", "3100", "75001", None],
    ...                          ["TOULOUSE", "ST GIRONS", "TOULOUSE CEDEX 1", "Toulouse", "Paris", None])
    >>> df[["postcode", "commune_code"]].values.tolist()
    [['31000', '31555'], ['09200', '09261'], ['31037', '31555'], [<NA>, <NA>], ['75001', <NA>], [<NA>, <NA>]]
    >>> print(df.loc[3, "error"])
    « 3100 » n'est pas un code postal (5 chiffres attendus).
    >>> print(df.loc[4, "error"])
    « 75001 » (Paris) : ce code postal n'est pas en Occitanie.
    """
    if shared not in ("largest", "error"):
        raise ValueError(f"shared doit valoir « largest » ou « error », pas {shared!r}.")
    pcs_in = _series(postcodes)
    if communes is None:
        raw_name = pd.Series(pd.NA, index=pcs_in.index, dtype=_STRING)
    else:
        names_in = _series(communes)
        if len(names_in) != len(pcs_in):
            raise ValueError(f"Les colonnes code postal et commune n'ont pas la même longueur "
                             f"({len(pcs_in)} et {len(names_in)}).")
        raw_name = text(names_in).set_axis(pcs_in.index)
    # One resolution per distinct (postcode, name) pair as typed.
    raw_pc = text(pcs_in)
    pair = (raw_pc.fillna(_NONE) + _SEP + raw_name.fillna(_NONE)).mask(raw_pc.isna() & raw_name.isna())
    out = _by_distinct(pair, lambda pairs: _resolve_pairs(pairs, shared))
    log.debug("codes postaux : %d valeurs, %d invalides.", int(pair.notna().sum()), int(out["error"].notna().sum()))
    return out


_SEP, _NONE = "\x1f", "\x00"


def _resolve_pairs(pairs: pd.Series, shared: str) -> pd.DataFrame:
    """:func:`postcodes` on distinct ``postcode␟name`` pairs."""
    split = pairs.str.split(_SEP, n=1, regex=False)
    raw_pc, raw_name = (split.str[i].astype(_STRING).replace(_NONE, pd.NA) for i in (0, 1))
    read = _read_postcodes(raw_pc, raw_pc)
    pc = read["postcode"]
    error = _errors(read["reason"].notna(), raw_pc, read["reason"])

    to_find = (pc.notna() | (raw_name.notna() & raw_pc.isna())).to_numpy()
    code = pd.Series(pd.NA, index=pairs.index, dtype=_STRING)
    if to_find.any():
        found = geo.find_communes(pc[to_find].astype(object).where(pc[to_find].notna(), None),
                                  raw_name[to_find].astype(object).where(raw_name[to_find].notna(), None))
        code[to_find] = pd.Series(found, dtype=_STRING).to_numpy()

    by_pc = geo.postcodes()
    if shared == "largest":
        population = geo.communes().set_index("code")["population"]
        ranked = by_pc.assign(pop=by_pc["code"].map(population)).sort_values(
            ["code_postal", "pop"], ascending=[True, False])
        largest = ranked.drop_duplicates("code_postal").set_index("code_postal")["code"]
        fill = code.isna() & pc.notna() & raw_name.isna()
        code[fill] = pc[fill].map(largest).astype(_STRING)

    unresolved = code.isna() & error.isna() & (pc.notna() | raw_name.notna())
    if unresolved.any():
        occitanie = set(geo.communes()["code_departement"])
        outside = unresolved & pc.notna() & ~pc.str[:2].isin(occitanie).fillna(False)
        known_pc = pc.isin(set(by_pc["code_postal"])).fillna(False)
        message = pd.Series(
            np.select(
                [outside.to_numpy(),
                 (raw_name.isna() & known_pc).to_numpy(),
                 raw_name.isna().to_numpy(),
                 raw_pc.isna().to_numpy()],
                [": ce code postal n'est pas en Occitanie.",
                 ": ce code postal est commun à plusieurs communes ; indiquez le nom de la commune.",
                 ": ce code postal n'est celui d'aucune commune d'Occitanie (code CEDEX ?) ; "
                 "indiquez le nom de la commune.",
                 ": aucune commune d'Occitanie ne porte ce nom (ou plusieurs) ; vérifiez "
                 "l'orthographe ou indiquez le code postal."],
                default=": aucune commune d'Occitanie ne correspond à ce code postal et ce nom ; "
                        "vérifiez l'un et l'autre."),
            index=pairs.index, dtype=_STRING)
        error[unresolved] = _unresolved_text(raw_pc, raw_name, message)[unresolved]
    return pd.DataFrame({"postcode": pc, "commune_code": code, "error": error}, index=pairs.index)


def _unresolved_text(raw_pc: pd.Series, raw_name: pd.Series, message: pd.Series) -> pd.Series:
    """« 75001 » (Paris) : …, « 75001 » : … or « Paris » : …"""
    pc_part = _quote(raw_pc)
    name_part = _quote(raw_name)
    both = pc_part + " (" + raw_name.astype(_STRING) + ")"
    shown = both.fillna(pc_part).fillna(name_part)
    return (shown + " " + message).astype(_STRING)


# ---------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------

def _check_siret(value: str) -> tuple[object, object, object]:
    number = stdnum_siret.compact(value)
    try:
        if len(number) == 9:
            return pd.NA, stdnum_siren.validate(number), pd.NA
        number = stdnum_siret.validate(number)
        return number, number[:9], pd.NA
    except InvalidLength:
        return pd.NA, pd.NA, ("n'est ni un SIRET (14 chiffres) ni un SIREN (9 chiffres) : "
                              f"{len(number)} caractères.")
    except InvalidFormat:
        return pd.NA, pd.NA, "n'est pas un SIRET : seuls des chiffres sont attendus."
    except (InvalidChecksum, InvalidComponent):
        kind = "SIREN" if len(number) == 9 else "SIRET"
        return pd.NA, pd.NA, f"n'est pas un {kind} valide (clé de contrôle fausse : faute de frappe ?)."
    except ValidationError:  # pragma: no cover - any other stdnum refusal
        return pd.NA, pd.NA, "n'est pas un SIRET valide."


def sirets(values: Values) -> pd.DataFrame:
    """SIRET (14 digits) and SIREN (9 digits) checked with ``python-stdnum``.

    Spaces and dots are allowed (``123 456 789 00012``). A 9-digit value is a
    SIREN: ``siret`` stays NA and ``siren`` is set. For a SIRET, ``siren`` is its
    first 9 digits.

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``siret``, ``siren``, ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.sirets(["732 829 320 00074", "732829320", "73282932000075", None])
    >>> df[["siret", "siren"]].values.tolist()
    [['73282932000074', '732829320'], [<NA>, '732829320'], [<NA>, <NA>], [<NA>, <NA>]]
    >>> print(df.loc[2, "error"])
    « 73282932000075 » n'est pas un SIRET valide (clé de contrôle fausse : faute de frappe ?).
    """
    return _checked(_series(values),
                    lambda raw, clean: _per_value(clean, _check_siret, ["siret", "siren", "reason"]), "SIRET")


def rnas(values: Values) -> pd.DataFrame:
    """Numéro RNA of an association: ``W`` + 9 digits (spaces and case tolerated, output upper case).

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``rna`` and ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.rnas(["W313012345", "w 313 012 345", "W31301234", None])
    >>> df["rna"].tolist()
    ['W313012345', 'W313012345', <NA>, <NA>]
    >>> print(df.loc[2, "error"])
    « W31301234 » n'est pas un numéro RNA (W suivi de 9 chiffres, par exemple W313012345).
    """
    def check(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
        compact = clean.str.upper().str.replace(f"[{_WHITESPACE}.\\-]", "", regex=True)
        ok = compact.str.fullmatch(r"W\d{9}").fillna(False).astype(bool)
        reason = pd.Series(pd.NA, index=clean.index, dtype=_STRING)
        reason[clean.notna() & ~ok] = "n'est pas un numéro RNA (W suivi de 9 chiffres, par exemple W313012345)."
        return pd.DataFrame({"rna": compact.where(ok).astype(_STRING), "reason": reason})

    return _checked(_series(values), check, "RNA")


_HOST = re.compile(r"(?=.{4,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]*[a-z0-9]")


def _check_url(value: str) -> tuple[object, object]:
    scheme = re.match(r"^([a-z][a-z0-9+.\-]*):(?!\d)", value, re.IGNORECASE)  # not host:port
    if scheme and scheme[1].lower() not in ("http", "https"):
        return pd.NA, "n'est pas une adresse web (seules http:// et https:// sont acceptées)."
    candidate = value if scheme else f"https://{value}"
    try:
        parts = urlsplit(candidate)
        host = parts.hostname or ""
        ascii_host = host.encode("idna").decode("ascii")
        port = parts.port
    except (ValueError, UnicodeError):
        return pd.NA, "n'est pas une adresse web valide."
    if not _HOST.fullmatch(ascii_host) or parts.username or parts.password:
        return pd.NA, "n'est pas une adresse web valide : nom de domaine incorrect (par exemple www.exemple.fr)."
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment)), pd.NA


def urls(values: Values) -> pd.DataFrame:
    """Web addresses: ``https://`` added when missing, scheme http(s) only, host checked.

    The host must be a domain name with an extension (``www.exemple.fr``;
    internationalised names accepted and kept readable); scheme and host are lower-cased, the
    path is kept as typed.

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``url`` and ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.urls(["www.Exemple.fr/Agenda", "http://asso.org", "javascript:alert(1)",
    ...                      "pas une adresse", None])
    >>> df["url"].tolist()
    ['https://www.exemple.fr/Agenda', 'http://asso.org', <NA>, <NA>, <NA>]
    >>> print(df.loc[2, "error"])
    « javascript:alert(1) » n'est pas une adresse web (seules http:// et https:// sont acceptées).
    """
    return _checked(_series(values), lambda raw, clean: _per_value(clean, _check_url, ["url", "reason"]),
                    "adresses web")


# ---------------------------------------------------------------------------
# Dates, amounts, booleans
# ---------------------------------------------------------------------------

_DATE_FORMATS = (
    (r"\d{1,2}/\d{1,2}/\d{4}", "%d/%m/%Y"),
    (r"\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y"),
    (r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
    (r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", "ISO8601"),
    (r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(?::\d{2})?", "%d/%m/%Y %H:%M"),
)


def _parse_dates(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
    out = pd.Series(pd.NA, index=raw.index, dtype=object)
    is_date = np.array([isinstance(v, (dt.date, np.datetime64)) for v in raw], dtype=bool)
    if is_date.any():
        out[is_date] = [pd.Timestamp(v).date() for v in raw[is_date]]
    strings = clean[~is_date]
    for pattern, fmt in _DATE_FORMATS:
        if fmt == "%d/%m/%Y %H:%M":
            strings = strings.str.replace(r"^(\S+) (\d{1,2}:\d{2})(?::\d{2})?$", r"\1 \2", regex=True)
        match = strings.str.fullmatch(pattern).fillna(False).astype(bool) & out[strings.index].isna()
        if match.any():
            parsed = pd.to_datetime(strings[match], format=fmt, errors="coerce")
            out[parsed.index] = [v.date() if not pd.isna(v) else pd.NA for v in parsed]
    reason = pd.Series(pd.NA, index=raw.index, dtype=_STRING)
    bad = out.isna() & clean.notna()
    known = pd.Series(False, index=raw.index)
    for pattern, _ in _DATE_FORMATS:
        known[strings.index] |= strings.str.fullmatch(pattern).fillna(False).astype(bool)
    reason[bad & known] = "n'est pas une date qui existe (jour ou mois hors limites)."
    reason[bad & ~known] = "n'est pas une date (formats attendus : jj/mm/aaaa ou aaaa-mm-jj)."
    return pd.DataFrame({"date": out, "reason": reason})


def dates(values: Values) -> pd.DataFrame:
    """Dates → ``datetime.date``: ``jj/mm/aaaa``, ``jj-mm-aaaa``, ``jj.mm.aaaa``, ISO, spreadsheet cells.

    ISO dates may carry a time (``2021-03-04 18:30:00``, dropped). Date and
    datetime objects (spreadsheet date cells, ``pandas.Timestamp``) are taken as
    they are. Day first everywhere except ISO (``aaaa-mm-jj``).

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``date`` (``datetime.date``, object dtype) and
        ``error`` (French).

    Examples
    --------
    >>> import datetime
    >>> from carto import normalize
    >>> df = normalize.dates(["04/03/2021", "04-03-2021", "2021-03-04 18:30:00",
    ...                       datetime.datetime(2021, 3, 4, 9, 0), "31/02/2021", "demain", None])
    >>> [str(d) for d in df["date"]]
    ['2021-03-04', '2021-03-04', '2021-03-04', '2021-03-04', '<NA>', '<NA>', '<NA>']
    >>> print(df.loc[4, "error"])
    « 31/02/2021 » n'est pas une date qui existe (jour ou mois hors limites).
    """
    result = _checked(_series(values), _parse_dates, "dates")
    result["date"] = result["date"].astype(object).where(result["date"].notna(), pd.NA)
    return result


def _parse_amounts(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
    is_number = np.array([isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                          for v in raw], dtype=bool)
    amount = pd.Series(np.nan, index=raw.index, dtype="float64")
    amount[is_number] = raw[is_number].astype("float64")
    strings = clean[~is_number].dropna()
    s = strings.str.replace(r"(?i)\s*(?:€|eur(?:os?)?)\s*$", "", regex=True)
    s = s.str.replace(r"[\s\u00a0\u202f']", "", regex=True)
    # Both separators: the last one is the decimal separator.
    both = s.str.contains(",").fillna(False) & s.str.contains(r"\.").fillna(False)
    comma_last = both & (s.str.rfind(",") > s.str.rfind("."))
    s = s.mask(comma_last, s.str.replace(".", "", regex=False))
    s = s.mask(both & ~comma_last, s.str.replace(",", "", regex=False))
    s = s.str.replace(",", ".", regex=False)
    ok = s.str.fullmatch(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)").fillna(False).astype(bool)
    amount[strings.index[ok.to_numpy()]] = pd.to_numeric(s[ok]).astype("float64")
    reason = pd.Series(pd.NA, index=raw.index, dtype=_STRING)
    reason[strings.index[~ok.to_numpy()]] = "n'est pas un montant (par exemple 12 500,00 €)."
    return pd.DataFrame({"amount": amount, "reason": reason})


def amounts(values: Values) -> pd.DataFrame:
    """Amounts → float: « 12 500,00 € », « 12500.5 », « 1.250,5 », numbers.

    Spaces (including non-breaking ones) group thousands; a lone ``,`` is the
    decimal separator; with both ``,`` and ``.``, the last one is the decimal
    separator. « € » / « EUR » at the end is dropped.

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``amount`` (float64, NaN when missing or wrong) and
        ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.amounts(["12 500,00 €", "12500.5", 3000, "1.250,5", "beaucoup", None])
    >>> df["amount"].tolist()
    [12500.0, 12500.5, 3000.0, 1250.5, nan, nan]
    >>> print(df.loc[4, "error"])
    « beaucoup » n'est pas un montant (par exemple 12 500,00 €).
    """
    result = _checked(_series(values), _parse_amounts, "montants")
    result["amount"] = result["amount"].astype("float64")
    return result


_TRUE = ("oui", "o", "yes", "y", "vrai", "true", "1", "x", "coché", "coche")
_FALSE = ("non", "n", "no", "faux", "false", "0")


def booleans(values: Values, *, empty: bool | None = None) -> pd.DataFrame:
    """Yes/no values: oui/non, yes/no, vrai/faux, true/false, 1/0, x (case-insensitive).

    Parameters
    ----------
    values : pandas.Series
        Values as typed (also Python booleans and the numbers 1 and 0).
    empty : bool, optional
        Value given to empty cells: NA by default; ``False`` for a column where
        a box is ticked with « x » and left empty otherwise.

    Returns
    -------
    pandas.DataFrame
        Same index; columns ``value`` (``boolean`` dtype) and ``error`` (French).

    Examples
    --------
    >>> from carto import normalize
    >>> df = normalize.booleans(["Oui", "non", "X", 1, "peut-être", None], empty=False)
    >>> df["value"].tolist()
    [True, False, True, True, <NA>, False]
    >>> print(df.loc[4, "error"])
    « peut-être » n'est pas une réponse oui/non (attendu : oui, non, vrai, faux, 1, 0 ou x).
    """
    def check(raw: pd.Series, clean: pd.Series) -> pd.DataFrame:
        lowered = clean.str.lower()
        value = pd.Series(pd.NA, index=clean.index, dtype="boolean")
        value[lowered.isin(_TRUE).fillna(False).astype(bool)] = True
        value[lowered.isin(_FALSE).fillna(False).astype(bool)] = False
        reason = pd.Series(pd.NA, index=clean.index, dtype=_STRING)
        reason[clean.notna() & value.isna()] = ("n'est pas une réponse oui/non "
                                                "(attendu : oui, non, vrai, faux, 1, 0 ou x).")
        return pd.DataFrame({"value": value, "reason": reason})

    result = _checked(_series(values), check, "réponses oui/non")
    result["value"] = result["value"].astype("boolean")
    if empty is not None:
        result.loc[result["value"].isna() & result["error"].isna(), "value"] = empty
    return result
