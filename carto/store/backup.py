"""Backup copies of a base, made before its schema is upgraded: :func:`backup_base`.

A SQLite file is copied with SQLite's online backup API (a consistent copy
even while the base is in WAL mode and other connections write: copying the
file alone would miss what is still in ``-wal``), next to the base. A
PostgreSQL base is dumped with ``pg_dump --format=custom`` (to restore:
``pg_restore``) into ``<data_dir>/sauvegardes``; the password, if the URL has
one, goes to ``pg_dump`` through its environment (``PGPASSWORD``), never on
its command line. An existing file is never overwritten.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.engine import URL, Engine

from carto._errors import SchemaError, StoreError
from carto.settings import get_settings
from carto.store.engine import _normalise_url, _sqlite_path

log = logging.getLogger("carto.store")

#: Folder of ``data_dir`` where the PostgreSQL dumps are written.
BACKUP_FOLDER = "sauvegardes"

_REASON = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def backup_base(engine_or_url: Engine | str | URL, *, reason: str) -> Path:
    """Make a backup copy of the base and return the path of the copy.

    SQLite file ``dossier/base.sqlite``: ``dossier/base.<reason>-<AAAAMMJJ-HHMMSS>.sqlite``,
    a SQLite base made by the online backup API. PostgreSQL database
    ``terreau``: ``<data_dir>/sauvegardes/terreau.<reason>-<AAAAMMJJ-HHMMSS>.dump``,
    made by ``pg_dump --format=custom``. The time is the local time; if a file
    of that name exists, ``-2``, ``-3``… is added: nothing is overwritten.

    Parameters
    ----------
    engine_or_url : sqlalchemy.Engine, str or sqlalchemy.engine.URL
        The base (an engine, or its URL).
    reason : str
        Short label put in the file name, e.g. ``"avant-0004"`` (letters,
        digits, ``-``, ``_`` and ``.``).

    Returns
    -------
    pathlib.Path
        The copy.

    Raises
    ------
    StoreError
        Bad ``reason``, in-memory base (nothing to copy: a base in memory
        disappears with its engine), no base file, or the copy failed.
    SchemaError
        PostgreSQL: ``pg_dump`` is missing or failed (the message says how
        to back up by hand).

    Examples
    --------
    >>> import tempfile
    >>> from carto.store import init_base
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     init_base(f"sqlite:///{folder}/base.sqlite").dispose()
    ...     copy = backup_base(f"sqlite:///{folder}/base.sqlite", reason="avant-essai")
    ...     copy.parent == Path(folder), copy.name.startswith("base.avant-essai-"), copy.suffix
    (True, True, '.sqlite')
    """
    if not isinstance(reason, str) or _REASON.fullmatch(reason) is None:
        raise StoreError(
            f"Motif de sauvegarde invalide : « {reason} ». Donnez un court libellé fait de lettres, de chiffres, "
            "de « - », « _ » ou « . » (par exemple « avant-0004 »)."
        )
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else _normalise_url(engine_or_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _backup_sqlite(url, reason)
    if backend == "postgresql":
        return _backup_postgresql(url, reason)
    raise StoreError(f"Sauvegarde impossible : base non prise en charge « {url.render_as_string(hide_password=True)} ».")


def has_file(url: URL) -> bool:
    """False for an in-memory SQLite base (nothing to back up), True for every other base."""
    return url.get_backend_name() != "sqlite" or _sqlite_source(url) is not None


def _sqlite_source(url: URL) -> tuple[Path, str, bool] | None:
    """(file, what to give to sqlite3.connect, uri) of a SQLite URL; None for an in-memory base."""
    path = _sqlite_path(url)
    if path is not None:
        return path, str(path), False
    database = url.database or ""
    if not database.startswith("file:"):  # "" or ":memory:"
        return None
    parts = urlsplit(database)
    name = unquote(parts.path)
    if name in {"", ":memory:"} or "memory" in parse_qs(parts.query).get("mode", []):
        return None
    return Path(name), database, True


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _reserve(folder: Path, stem: str, suffix: str) -> Path:
    """A new, empty file ``folder/stem[-n]suffix`` created here (never one that exists)."""
    for n in range(1, 1000):
        target = folder / f"{stem}{'' if n == 1 else f'-{n}'}{suffix}"
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        except OSError as exc:
            raise StoreError(
                f"Impossible de créer la copie de sauvegarde « {target} » : {exc}. "
                "Vérifiez les droits d'écriture du dossier."
            ) from exc
        return target
    raise StoreError(f"Trop de copies de sauvegarde nommées « {stem}… » dans « {folder} » : faites-y de la place.")


def _backup_sqlite(url: URL, reason: str) -> Path:
    source = _sqlite_source(url)
    if source is None:
        raise StoreError(
            "Une base SQLite en mémoire n'a pas de fichier à sauvegarder : elle disparaît avec son moteur."
        )
    path, database, uri = source
    if not path.is_file():
        raise StoreError(f"Aucune base à « {path} » : rien à sauvegarder.")
    target = _reserve(path.parent, f"{path.stem}.{reason}-{_stamp()}", ".sqlite")
    try:
        src = sqlite3.connect(database, uri=uri, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except (sqlite3.Error, OSError) as exc:
        target.unlink(missing_ok=True)
        raise StoreError(
            f"La copie de sauvegarde de « {path} » a échoué : {exc}. Rien n'a été modifié ; "
            "vérifiez la place disque et les droits du dossier."
        ) from exc
    log.debug("Copie de sauvegarde de %s : %s", path, target)
    return target


def _backup_postgresql(url: URL, reason: str) -> Path:
    shown = url.render_as_string(hide_password=True)
    name = url.database or "postgres"
    by_hand = (
        f"Sauvegardez-la à la main (pg_dump --format=custom --file={name}.dump {name}, avec l'hôte, le port et "
        "l'utilisateur de la base), puis lancez `carto init --sans-sauvegarde` pour la mettre à niveau."
    )
    program = shutil.which("pg_dump")
    if program is None:
        raise SchemaError(
            f"Impossible de sauvegarder la base « {shown} » avant de la mettre à niveau : pg_dump est absent "
            f"(paquet postgresql-client). Rien n'a été modifié. {by_hand}"
        )
    folder = Path(get_settings().data_dir) / BACKUP_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SchemaError(
            f"Impossible de créer le dossier des sauvegardes « {folder} » : {exc}. Rien n'a été modifié. {by_hand}"
        ) from exc
    target = _reserve(folder, f"{name}.{reason}-{_stamp()}", ".dump")
    # libpq URI without the password (psycopg and libpq read the same query parameters)
    dsn = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database,
                     query=url.query).render_as_string(hide_password=False)
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    try:
        done = subprocess.run(
            [program, "--format=custom", f"--file={target}", f"--dbname={dsn}"],
            env=environment, capture_output=True, text=True, check=False,
        )
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise SchemaError(
            f"Impossible de lancer pg_dump pour sauvegarder la base « {shown} » : {exc}. Rien n'a été modifié. "
            f"{by_hand}"
        ) from exc
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        reason_given = (done.stderr.strip().splitlines() or [f"code de sortie {done.returncode}"])[-1]
        raise SchemaError(
            f"La sauvegarde de la base « {shown} » par pg_dump a échoué ({reason_given}). Rien n'a été modifié. "
            f"{by_hand}"
        )
    log.debug("Copie de sauvegarde de %s : %s", shown, target)
    return target
