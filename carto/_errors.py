"""Errors of Terreau.

Every error a user can meet is a subclass of :class:`CartoError` whose
message is in French, names the bad value (and the file, line and column
when it comes from a file) and says how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CartoError",
    "ConfigError",
    "ReferenceDataError",
    "NotFoundError",
    "CommuneNotFoundError",
    "AmbiguousCommuneError",
    "SchemaError",
    "StoreError",
    "AssetError",
    "BrowserError",
    "ExportError",
    "MappingError",
    "SourceFileError",
    "MapError",
    "NetworkError",
]


class CartoError(Exception):
    """Base class of Terreau's errors (message in French)."""


class ConfigError(CartoError):
    """A setting or a configuration file is wrong."""


class ReferenceDataError(CartoError):
    """The reference geography under ``data/ref`` is missing or damaged."""


class NotFoundError(CartoError, LookupError):
    """A community, thematic space or territory named by the user matches none (the message lists the closest)."""


class CommuneNotFoundError(NotFoundError):
    """No commune (or territory) of Occitanie matches a postcode, a code and/or a name."""


class AmbiguousCommuneError(CartoError, LookupError):
    """Several communes match; the message lists them."""


class StoreError(CartoError):
    """The base cannot be opened or written."""


class SchemaError(StoreError):
    """The base was made by another version of the schema."""


class AssetError(CartoError):
    """A JavaScript/CSS asset needed for offline HTML is missing."""


class BrowserError(CartoError):
    """Headless Chromium is missing or failed."""


class ExportError(CartoError):
    """An export file cannot be written (open in another program, no permission, wrong extension)."""


class MappingError(ConfigError):
    """A source mapping file (TOML) is wrong; the message names the file and the key."""


class SourceFileError(CartoError):
    """A source file cannot be read (encoding, format, missing columns)."""


class MapError(CartoError, ValueError):
    """A map was asked with a wrong value (missing column, colour, position, shape)."""


class NetworkError(CartoError, ValueError):
    """A graph of actors was asked with a wrong value (unknown actor, theme, territory; no path)."""


def _show_in_notebook(shell, etype, value, tb, tb_offset=None):  # type: ignore[no-untyped-def]
    """IPython handler of :class:`CartoError`: only the French message, no Python traceback."""
    import html

    text = f"Terreau — erreur : {value}"
    try:
        from IPython.display import display

        display({"text/plain": text,
                 "text/html": ('<div style="border-left:4px solid #c0392b;background:#fdecea;padding:.6em 1em;'
                               'font-family:sans-serif"><b>Terreau — erreur</b><br>'
                               f"{html.escape(str(value))}</div>")}, raw=True)
    except Exception:  # pragma: no cover - no display: plain text
        print(text)
    return None


def install_notebook_handler() -> bool:
    """In a Jupyter kernel, show Terreau's errors as their French message only (no traceback).

    Called when ``carto`` is imported; does nothing outside IPython. Other
    exceptions keep their traceback (they are bugs to report).

    Returns
    -------
    bool
        Whether a handler was installed.
    """
    import sys

    if "IPython" not in sys.modules:  # a kernel has loaded it already: never import it just for this
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((CartoError,), _show_in_notebook)
    return True


install_notebook_handler()
