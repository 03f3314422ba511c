"""French formatting of numbers and dates for what users read (reports, summaries, CLI, charts), and of what they type.

:func:`fold` is the key by which a name typed by a user is compared with the names of the base (« Hérault »,
« herault », « HÉRAULT » are one), and :func:`did_you_mean` the hint of an error about a name that matches none.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Iterable

from unidecode import unidecode

__all__ = ["integer", "count", "plural", "decimal", "duration", "date", "month", "fold", "closest", "did_you_mean",
           "quoted"]

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
#: Abbreviations of the months as the French typographic usage writes them (« janv. », « juin »).
SHORT_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def integer(n: int) -> str:
    """An integer with the French thousands separator (narrow no-break space).

    Examples
    --------
    >>> integer(12480)
    '12\\u202f480'
    """
    return f"{n:,}".replace(",", "\u202f")


def count(n: int, one: str, many: str | None = None) -> str:
    """« 1 membre », « 12 membres » (French: the singular for 0 and 1; ``many`` default ``one`` + « s »).

    Examples
    --------
    >>> count(0, "lien"), count(2, "lien"), count(1200, "zone blanche", "zones blanches")
    ('0 lien', '2 liens', '1\u202f200 zones blanches')
    """
    return f"{integer(int(n))} {plural(n, one, many)}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """The words alone, singular for 0 and 1 (« la clé », « les clés »; ``many`` default ``one`` + « s »).

    Examples
    --------
    >>> plural(1, "colonne manquante", "colonnes manquantes"), plural(3, "lien")
    ('colonne manquante', 'liens')
    """
    return one if n <= 1 else (many or one + "s")


def decimal(x: float, digits: int = 2) -> str:
    """A number with a decimal comma (« 0,67 », « 71,3 »), thousands separated.

    Examples
    --------
    >>> decimal(0.6667), decimal(71.25, 1), decimal(12480.5, 1)
    ('0,67', '71,2', '12\\u202f480,5')
    """
    return f"{x:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def duration(seconds: float) -> str:
    """« 0,4 s », « 71,3 s », « 2 min 05 s ».

    Examples
    --------
    >>> duration(0.42), duration(71.3), duration(125)
    ('0,4 s', '71,3 s', '2 min 05 s')
    """
    if seconds < 100:
        return f"{decimal(seconds, 1)} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def date(day: _dt.date) -> str:
    """« 29/11/2026 » (jj/mm/aaaa), whatever the system locale.

    Examples
    --------
    >>> import datetime
    >>> date(datetime.date(2026, 1, 5)), date(datetime.datetime(2026, 11, 29, 14, 30))
    ('05/01/2026', '29/11/2026')
    """
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def month(day: _dt.date, *, short: bool = False) -> str:
    """« janvier 2026 », or with ``short`` « janv. 2026 » (month names written out, not from the locale).

    Examples
    --------
    >>> import datetime
    >>> month(datetime.date(2026, 2, 1)), month(datetime.date(2026, 2, 1), short=True)
    ('février 2026', 'févr. 2026')
    """
    return f"{(SHORT_MONTHS if short else MONTHS)[day.month - 1]} {day.year}"


def fold(text: object) -> str:
    """Key of a name as typed: accents, case, punctuation and spacing ignored.

    Examples
    --------
    >>> fold("Hérault"), fold("  HERAULT "), fold("alimentation-agriculture"), fold("L'Isle-Jourdain")
    ('herault', 'herault', 'alimentation agriculture', 'l isle jourdain')
    """
    return " ".join(re.sub(r"[^0-9a-z]+", " ", unidecode(str(text)).casefold()).split())


def closest(given: object, choices: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The ``choices`` closest to ``given`` (:mod:`difflib`, compared by :func:`fold`), best first.

    Examples
    --------
    >>> closest("biodiv", ["Biodiversité", "Mer et littoral", "Eau et rivières"])
    ['Biodiversité']
    """
    keys: dict[str, str] = {}
    for choice in choices:
        keys.setdefault(fold(choice), choice)
    return [keys[k] for k in difflib.get_close_matches(fold(given), list(keys), n=n, cutoff=cutoff)]


def quoted(values: Iterable[object], *, last: str = "ou") -> str:
    """« a », « b » ou « c ».

    Examples
    --------
    >>> quoted(["34", "Hérault"])
    '« 34 » ou « Hérault »'
    """
    shown = [f"« {v} »" for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} {last} {shown[-1]}" if shown else ""


def did_you_mean(given: object, choices: Iterable[str], *, n: int = 3) -> str:
    """« Vouliez-vous dire « … » ? » with the closest ``choices`` (an empty string when none is close).

    Examples
    --------
    >>> did_you_mean("Heraut", ["Hérault", "Aude", "Gard"])
    ' Vouliez-vous dire « Hérault » ?'
    >>> did_you_mean("zzz", ["Hérault"])
    ''
    """
    near = closest(given, choices, n=n)
    return f" Vouliez-vous dire {quoted(near)} ?" if near else ""
