"""French formatting of numbers for what users read (reports, summaries, CLI)."""

from __future__ import annotations

__all__ = ["integer", "count", "decimal", "duration"]


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
    return f"{integer(int(n))} {one if n <= 1 else (many or one + 's')}"


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
