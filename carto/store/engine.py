"""Engines: URLs, SQLite connections (WAL, foreign keys, write lock at BEGIN) and writer connections."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from carto._errors import StoreError
from carto.settings import get_settings


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (see _sqlite_on_begin): this
    # makes DDL transactional and SAVEPOINT usable.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 30000")
    # switching a new file to WAL needs a lock that another process creating the base may hold: SQLite
    # then answers « database is locked » at once, without waiting (busy_timeout): wait here
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


#: Tries to switch a SQLite base to WAL while another connection holds its lock (50 ms apart: 30 s).
_WAL_ATTEMPTS = 600


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers take the write lock at once: a deferred transaction that upgrades to a
    # writer later fails at once with "database is locked" instead of waiting.
    mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("carto_write") else "BEGIN"
    conn.exec_driver_sql(mode)


def _json_dumps(value: Any) -> str:
    """JSON text of a value for the JSON columns, with orjson (about 5x the standard library).

    Non-ASCII characters are kept (UTF-8), dates and datetimes become ISO
    strings, NaN becomes ``null`` (the standard library wrote ``NaN``, which is
    not JSON), dict keys that are not strings become strings. What orjson
    refuses (integers beyond 64 bits…) goes to :func:`json.dumps`, as before.

    Examples
    --------
    >>> from datetime import date
    >>> _json_dumps({"nom": "Léa", "le": date(2024, 5, 1), 1: [None, float("nan")]})
    '{"nom":"Léa","le":"2024-05-01","1":[null,null]}'
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False)


def _json_loads(text: str | bytes) -> Any:
    """Value of a JSON text (orjson; the standard library for ``NaN`` written by older versions)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text if isinstance(text, str | bytes) else bytes(text))


def _normalise_url(url: str | URL | None) -> URL:
    given = url if url is not None else get_settings().database_url
    try:
        parsed = make_url(given)
    except sa.exc.ArgumentError as exc:
        raise StoreError(
            f"URL de base invalide : « {given} ». Exemples : sqlite:///data/base.sqlite, "
            "postgresql://utilisateur@serveur/terreau (variable CARTO_DATABASE_URL)."
        ) from exc
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_path(url: URL) -> Path | None:
    """File of a SQLite URL, or None for an in-memory base."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database)


def connect(url: str | URL | None = None) -> Engine:
    """Engine of the base at ``url`` (default: ``settings.database_url``).

    SQLite: the folder of the file is created, and every connection has
    ``journal_mode=WAL``, ``foreign_keys=ON`` and a 30 s busy timeout.
    ``postgresql://`` URLs are mapped to the psycopg 3 driver. Nothing is
    checked about the schema: use :func:`open_base` for that.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL, optional
        SQLAlchemy URL (``sqlite:///chemin/base.sqlite``, ``postgresql://…``).

    Returns
    -------
    sqlalchemy.Engine

    Examples
    --------
    >>> connect("sqlite://").dialect.name
    'sqlite'
    >>> connect("postgresql://terreau@localhost/terreau").url.drivername
    'postgresql+psycopg'
    """
    parsed = _normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(parsed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"Impossible de créer le dossier de la base « {path.parent} » : {exc}. "
                    "Vérifiez CARTO_DATABASE_URL ou CARTO_DATA_DIR."
                ) from exc
        engine = sa.create_engine(parsed, json_serializer=_json_dumps, json_deserializer=_json_loads,
                                   connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        return sa.create_engine(parsed, json_serializer=_json_dumps, json_deserializer=_json_loads,
                                pool_pre_ping=True)
    raise StoreError(
        f"Base de données non prise en charge : « {parsed.render_as_string(hide_password=True)} ». "
        "Utilisez une URL sqlite:///… ou postgresql://…"
    )



def display_url(base: Engine | str) -> str:
    """URL of a base as it may be shown to a user: the password is masked.

    Examples
    --------
    >>> display_url("postgresql://agent:secret@serveur/terreau")
    'postgresql://agent:***@serveur/terreau'
    """
    url = base.url if isinstance(base, Engine) else make_url(base)
    return url.render_as_string(hide_password=True)


_OPEN = threading.local()


@contextmanager
def _write_connection(engine: Engine, *, foreign_keys: bool = True) -> Iterator[Connection]:
    """A connection whose transactions take SQLite's write lock at BEGIN.

    One writer per base and thread: a nested one would wait for the outer one's
    lock forever (SQLite) or commit separately from it (PostgreSQL).
    """
    base = engine.url.render_as_string(hide_password=False)
    open_bases: set[str] = _OPEN.__dict__.setdefault("bases", set())
    if base in open_bases:
        raise StoreError(
            "Transaction imbriquée sur la même base : passez la connexion de la transaction "
            "en cours aux fonctions qui écrivent au lieu d'en ouvrir une autre."
        )
    open_bases.add(base)
    try:
        with _sqlite_foreign_keys(engine, on=foreign_keys) as conn:
            yield conn
    finally:
        open_bases.discard(base)


@contextmanager
def _sqlite_foreign_keys(engine: Engine, *, on: bool) -> Iterator[Connection]:
    """A writer connection; on SQLite, foreign keys off when ``on`` is false."""
    with engine.connect() as conn:
        conn.execution_options(carto_write=True)
        switch = conn.dialect.name == "sqlite" and not on
        driver = conn.connection.driver_connection
        if switch:  # outside any transaction, where the pragma has an effect
            driver.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            yield conn
        finally:
            if switch:
                driver.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
