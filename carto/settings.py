"""Typed, documented settings of Terreau.

Every setting has a default that works on a fresh clone and can be changed
with an environment variable, so that notebooks, the CLI and the tests read
the same values.

========================  ==============================  ===========================
setting                   environment variable            default
========================  ==============================  ===========================
``data_dir``              ``CARTO_DATA_DIR``              ``<repo>/data``
``database_url``          ``CARTO_DATABASE_URL``          ``sqlite:///<data_dir>/base.sqlite``
``ref_dir``               ``CARTO_REF_DIR``               ``<data_dir>/ref``
``out_dir``               ``CARTO_OUT_DIR``               ``out``
``seed``                  ``CARTO_SEED``                  ``20190901``
``user``                  ``CARTO_USER``                  login name (for the audit log)
``tiles``                 ``CARTO_TILES``                 ``auto`` (online basemap when reachable)
========================  ==============================  ===========================
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carto._errors import ConfigError

__all__ = ["Settings", "get_settings", "read_config", "PACKAGE_DIR", "REPO_DIR", "CRS_STORAGE", "CRS_METRIC"]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

#: CRS in which geometries are stored (WGS 84 longitude/latitude).
CRS_STORAGE = "EPSG:4326"
#: CRS used for distances and areas (RGF93 / Lambert-93, metres).
CRS_METRIC = "EPSG:2154"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no login name (containers)
        return "inconnu"


@dataclass(frozen=True)
class Settings:
    """Settings in force, read from the environment by :func:`get_settings`.

    Attributes
    ----------
    data_dir : Path
        Folder of the base and of the reference geography.
    database_url : str
        SQLAlchemy URL of the base (SQLite file by default, PostgreSQL by URL).
    ref_dir : Path
        Folder of the reference geography (GeoParquet files).
    out_dir : Path
        Folder where maps, reports and exports are written.
    seed : int
        Seed of the synthetic data generator.
    user : str
        Name recorded in the audit log for every write.
    tiles : str
        Online basemap under the maps: ``auto`` (when its server answers, else the offline background
        only), ``on`` (always: the map then needs the internet to show it) or ``off`` (never).
    """

    data_dir: Path = field(default_factory=lambda: REPO_DIR / "data")
    database_url: str = ""
    ref_dir: Path = field(default_factory=lambda: REPO_DIR / "data" / "ref")
    out_dir: Path = field(default_factory=lambda: Path("out"))
    seed: int = 20190901
    user: str = field(default_factory=_default_user)
    tiles: str = "auto"

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{Path(self.data_dir) / 'base.sqlite'}"
            )


def get_settings() -> Settings:
    """Read the settings from the environment (see the module docstring).

    Examples
    --------
    >>> from carto.settings import get_settings
    >>> get_settings().database_url.split(":")[0] in {"sqlite", "postgresql", "postgresql+psycopg"}
    True
    """
    env = os.environ
    data_dir = Path(env.get("CARTO_DATA_DIR", REPO_DIR / "data"))
    return Settings(
        data_dir=data_dir,
        database_url=env.get("CARTO_DATABASE_URL", ""),
        ref_dir=Path(env.get("CARTO_REF_DIR", REPO_DIR / "data" / "ref")),
        out_dir=Path(env.get("CARTO_OUT_DIR", "out")),
        seed=int(env.get("CARTO_SEED", "20190901")),
        user=env.get("CARTO_USER", _default_user()),
        tiles=_choice(env, "CARTO_TILES", ("auto", "on", "off"), "auto"),
    )


def _choice(env: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, default).strip().lower() or default
    if value not in allowed:
        raise ConfigError(f"Variable d'environnement {name} = « {value} » : valeurs possibles "
                          f"{', '.join(allowed)}.")
    return value


def read_config(path: str | Path, key: str | None = None) -> Any:
    """Read a TOML configuration file (themes, communities, rules of the cercles).

    Parameters
    ----------
    path : str or Path
        The file; a bare name (``"themes.toml"``) is looked up in ``carto/data``.
    key : str, optional
        Section to return (e.g. ``"theme"`` for the ``[[theme]]`` tables); the whole file by default.

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML (the message gives the line and column), or has no
        section ``key``.

    Examples
    --------
    >>> [t["slug"] for t in read_config("themes.toml", "theme")][:2]
    ['citoyennete', 'biodiversite']
    """
    path = Path(path)
    if not path.is_absolute() and path.parent == Path(".") and not path.exists():
        path = PACKAGE_DIR / "data" / path
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"Fichier de configuration « {path} » illisible ({exc.strerror}) : vérifiez le chemin.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Fichier de configuration « {path} » invalide : {exc}. Corrigez la syntaxe TOML.") from exc
    if key is None:
        return data
    if key not in data:
        raise ConfigError(f"Le fichier de configuration « {path} » n'a pas de section [[{key}]] : ajoutez-la.")
    return data[key]
