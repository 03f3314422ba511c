"""The thematic spaces of the communities (``carto/data/themes.toml``).

The Région's communities work in fourteen thematic spaces (citoyenneté,
biodiversité, alimentation…). Each space has a stable slug, a French name, a
colour for maps and charts, and a vocabulary: the words that say a text is
about it (« haies », « abeilles » for biodiversité). The file is configuration:
adding, removing or renaming a space there is enough.

Examples
--------
>>> from carto import themes
>>> len(themes.themes())
14
>>> themes.theme_of(["Commission citoyenne : abeilles (2023)", "Printemps"]).tolist()
['biodiversite', None]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import pandas as pd

from carto import _fr
from carto._errors import ConfigError, NotFoundError
from carto.normalize import name_keys
from carto.settings import read_config

__all__ = ["themes", "theme_names", "theme_of", "find_theme"]

_REQUIRED = ("slug", "nom", "couleur", "mots")


@lru_cache(maxsize=4)
def _load(path: str) -> pd.DataFrame:
    rows = read_config(path, "theme")
    for i, row in enumerate(rows, start=1):
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise ConfigError(f"Fichier « {path} », espace thématique n° {i} : il manque "
                              f"{_fr.plural(len(missing), 'la clé', 'les clés')} {', '.join(f'« {k} »' for k in missing)}.")
    frame = pd.DataFrame(rows)
    if frame["slug"].duplicated().any():
        raise ConfigError(f"Fichier « {path} » : slug d'espace thématique en double "
                          f"« {frame.loc[frame['slug'].duplicated(), 'slug'].iloc[0]} ».")
    return frame


def themes(path: str | Path = "themes.toml") -> pd.DataFrame:
    """The thematic spaces.

    Parameters
    ----------
    path : str or Path
        Configuration file (default: ``carto/data/themes.toml``).

    Returns
    -------
    pandas.DataFrame
        One row per space: ``slug``, ``nom``, ``couleur``, ``poids``, ``mots``.

    Examples
    --------
    >>> themes().set_index("slug").loc["biodiversite", "nom"]
    'Biodiversité'
    """
    return _load(str(path)).copy()


def theme_names(path: str | Path = "themes.toml") -> dict[str, str]:
    """French name of each space, by slug.

    Examples
    --------
    >>> theme_names()["mer"]
    'Mer et littoral'
    """
    frame = _load(str(path))
    return dict(zip(frame["slug"], frame["nom"], strict=True))


def find_theme(theme: object, path: str | Path = "themes.toml") -> str:
    """The slug of a thematic space given by its slug or its name, accents and case ignored.

    « biodiversite », « Biodiversité », « BIODIVERSITE » and « mer et littoral » are accepted; an unknown
    one raises a French :class:`~carto._errors.NotFoundError` naming it, the closest spaces and all of them.

    Examples
    --------
    >>> find_theme("Biodiversité"), find_theme("biodiversite"), find_theme("Mer et Littoral")
    ('biodiversite', 'biodiversite', 'mer')
    >>> find_theme("biodiv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.NotFoundError: Espace thématique « biodiv » inconnu. Vouliez-vous dire « Biodiversité » ? ...
    """
    names = theme_names(path)
    by_key = {_fr.fold(text): slug for slug, name in names.items() for text in (name, slug)}
    found = by_key.get(_fr.fold(theme))
    if found is not None:
        return found
    near = _fr.closest(theme, [*names.values(), *names])
    hint = f" Vouliez-vous dire {_fr.quoted(dict.fromkeys(names[by_key[_fr.fold(n)]] for n in near))} ?" if near else ""
    where = "carto/data/themes.toml" if str(path) == "themes.toml" else str(path)
    raise NotFoundError(f"Espace thématique « {theme} » inconnu.{hint} Valeurs possibles ({where}) : "
                        f"{', '.join(f'{slug} ({name})' for slug, name in names.items())}.")


def theme_of(texts: Iterable[object], path: str | Path = "themes.toml") -> pd.Series:
    """The thematic space each text is about, from the space's name or vocabulary (None if none).

    A text gets the space of the longest name or word it contains as whole words
    (compared by their :func:`carto.normalize.name_keys`: accents, case and punctuation
    ignored), so « zones humides » wins over « eau ».

    Examples
    --------
    >>> theme_of(["Webinaire : vélo (mars 2023)", "Atelier — Eau et rivières"]).tolist()
    ['mobilites', 'eau']
    """
    folded = name_keys(pd.Series(list(texts), dtype=object)).fillna("")
    found = pd.Series([None] * len(folded), index=folded.index, dtype=object)
    length = pd.Series(0, index=folded.index)
    frame = _load(str(path))
    for slug, name, words in zip(frame["slug"], frame["nom"], frame["mots"], strict=True):
        for term in name_keys(pd.Series([name, *words], dtype=object)).dropna():
            hit = folded.str.contains(rf"\b{re.escape(term)}\b", regex=True) & (length < len(term))
            found[hit] = slug
            length[hit] = len(term)
    return found
