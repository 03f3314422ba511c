"""Typed, documented settings of Terreau.

Every setting has a default that works on a fresh clone and can be changed
with an environment variable, so that notebooks, the CLI and the tests read
the same values.

========================  ==============================  ===========================
setting                   environment variable            default
========================  ==============================  ===========================
``data_dir``              ``CARTO_DATA_DIR``              ``<repo>/data``
``database_url``          ``CARTO_DATABASE_URL``          ``base`` of ``terreau.toml``, else ``sqlite:///<data_dir>/base.sqlite``
``ref_dir``               ``CARTO_REF_DIR``               ``<data_dir>/ref``
``out_dir``               ``CARTO_OUT_DIR``               ``out``
``seed``                  ``CARTO_SEED``                  ``20190901``
``user``                  ``CARTO_USER``                  login name (for the audit log)
``tiles``                 ``CARTO_TILES``                 ``auto`` (online basemap when reachable)
========================  ==============================  ===========================

The user's base
---------------
Notebooks, the ``carto`` command and the widgets all open **the user's base**, found in this order:

1. the environment variable ``CARTO_DATABASE_URL`` (an SQLAlchemy URL);
2. the key ``base`` of a ``terreau.toml`` file in the working folder or one of its parents (so the
   notebooks, which run in ``notebooks/``, find the one at the root of the project): an URL
   (``postgresql://…``) or the path of an SQLite file, relative to the ``terreau.toml`` file;
3. the file ``<data_dir>/base.sqlite``.

:attr:`Settings.database_origin` says, in French, which of the three gave the base.
A ``terreau.toml`` may also hold ``utilisateur`` (the name written in the audit log) and
``sorties`` (the output folder)::

    # terreau.toml — la base de la direction de la citoyenneté
    base = "//serveur/partage/terreau/base.sqlite"
    utilisateur = "Camille Martin"
"""

from __future__ import annotations

import getpass
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carto._errors import ConfigError

__all__ = ["Settings", "get_settings", "read_config", "find_config_file", "PACKAGE_DIR", "REPO_DIR", "CRS_STORAGE",
           "CRS_METRIC", "CONFIG_FILE"]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

#: CRS in which geometries are stored (WGS 84 longitude/latitude).
CRS_STORAGE = "EPSG:4326"
#: CRS used for distances and areas (RGF93 / Lambert-93, metres).
CRS_METRIC = "EPSG:2154"
#: Name of the settings file looked up in the working folder and its parents.
CONFIG_FILE = "terreau.toml"
#: Keys a ``terreau.toml`` may hold.
_CONFIG_KEYS = ("base", "utilisateur", "sorties")


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
    database_origin : str
        Where ``database_url`` comes from, in French (« variable CARTO_DATABASE_URL », « fichier
        …/terreau.toml », « base par défaut »).
    """

    data_dir: Path = field(default_factory=lambda: REPO_DIR / "data")
    database_url: str = ""
    ref_dir: Path = field(default_factory=lambda: REPO_DIR / "data" / "ref")
    out_dir: Path = field(default_factory=lambda: Path("out"))
    seed: int = 20190901
    user: str = field(default_factory=_default_user)
    tiles: str = "auto"
    database_origin: str = "base par défaut"

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{Path(self.data_dir) / 'base.sqlite'}"
            )


def get_settings(*, cwd: str | Path | None = None) -> Settings:
    """Read the settings from the environment and ``terreau.toml`` (see the module docstring).

    Parameters
    ----------
    cwd : str or Path, optional
        Folder from which ``terreau.toml`` is looked up (default: the working folder).

    Raises
    ------
    ConfigError
        ``terreau.toml`` is not valid TOML or holds an unknown key.

    Examples
    --------
    >>> from carto.settings import get_settings
    >>> get_settings().database_url.split(":")[0] in {"sqlite", "postgresql", "postgresql+psycopg"}
    True
    """
    env = os.environ
    data_dir = Path(env.get("CARTO_DATA_DIR", REPO_DIR / "data"))
    found = find_config_file(cwd)
    config = _read_settings_file(found) if found is not None else {}
    url, origin = "", "base par défaut"
    if env.get("CARTO_DATABASE_URL", "").strip():
        url, origin = env["CARTO_DATABASE_URL"].strip(), "variable d'environnement CARTO_DATABASE_URL"
    elif "base" in config and found is not None:
        url, origin = _base_url(str(config["base"]), found), f"fichier {found}"
    out_dir = env.get("CARTO_OUT_DIR") or (str(found.parent / config["sorties"]) if "sorties" in config and found
                                           else "out")
    return Settings(
        data_dir=data_dir,
        database_url=url,
        ref_dir=Path(env.get("CARTO_REF_DIR", REPO_DIR / "data" / "ref")),
        out_dir=Path(out_dir),
        seed=int(env.get("CARTO_SEED", "20190901")),
        user=env.get("CARTO_USER") or str(config.get("utilisateur") or _default_user()),
        tiles=_choice(env, "CARTO_TILES", ("auto", "on", "off"), "auto"),
        database_origin=origin,
    )


def find_config_file(cwd: str | Path | None = None) -> Path | None:
    """The ``terreau.toml`` of the working folder or of its nearest parent that has one, or None.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "terreau.toml").write_text('base = "ma-base.sqlite"')
    ...     (Path(folder) / "carnets").mkdir()
    ...     find_config_file(Path(folder) / "carnets").name
    'terreau.toml'
    """
    here = Path(cwd if cwd is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def _read_settings_file(path: Path) -> dict[str, Any]:
    data = read_config(path)
    unknown = sorted(set(data) - set(_CONFIG_KEYS))
    if unknown:
        raise ConfigError(
            f"Fichier de réglages « {path} » : clé inconnue « {unknown[0]} » (clés possibles : "
            f"{', '.join(_CONFIG_KEYS)}). Corrigez ou supprimez la ligne."
        )
    return data


def _base_url(value: str, config_file: Path) -> str:
    """URL of the ``base`` of a ``terreau.toml``: an URL as it is, a path relative to the file."""
    value = value.strip()
    if not value:
        raise ConfigError(f"Fichier de réglages « {config_file} » : « base » est vide. Donnez le chemin "
                          "d'un fichier SQLite ou une URL postgresql://…")
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = config_file.parent / path
    return f"sqlite:///{path.resolve()}"


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
