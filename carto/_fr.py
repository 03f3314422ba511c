"""French formatting of numbers for what users read (reports, summaries, CLI)."""

from __future__ import annotations

__all__ = ["integer"]


def integer(n: int) -> str:
    """An integer with the French thousands separator (narrow no-break space).

    Examples
    --------
    >>> integer(12480)
    '12\\u202f480'
    """
    return f"{n:,}".replace(",", "\u202f")
