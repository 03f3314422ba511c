"""French formatting of numbers for what users read (reports, summaries, CLI)."""

from __future__ import annotations

__all__ = ["integer", "count"]


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
