"""Schema versions: Alembic revisions, creating, checking and upgrading a base."""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection, Engine

from carto import __version__, _fr
from carto._errors import SchemaError, StoreError
from carto.settings import PACKAGE_DIR
from carto.store.backup import backup_base, has_file
from carto.store.engine import _normalise_url, _sqlite_path, _write_connection, connect, display_url
from carto.store.schema import APPLICATION, _utcnow, metadata, schema_info
from carto.store.transactions import _audited, audit

log = logging.getLogger("carto.store")

#: Folder of the Alembic migration scripts (tests may point it elsewhere).
MIGRATIONS_DIR: Path = PACKAGE_DIR / "migrations"
#: PostgreSQL advisory lock taken by :func:`init_base` (serialises concurrent inits).
_INIT_LOCK = 0x7E44EA0


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = metadata
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def schema_revision() -> str:
    """Schema revision this version of Terreau writes (Alembic head).

    Examples
    --------
    >>> len(schema_revision()) > 0
    True
    """
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - broken installation
        raise SchemaError(f"Aucune révision de schéma dans « {MIGRATIONS_DIR} » : réinstallez Terreau.")
    return str(head)


#: Schema revision written by this version of Terreau (see :func:`schema_revision`).
SCHEMA_VERSION: str = schema_revision()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _state(conn: Connection) -> tuple[str, str | None]:
    """("empty" | "terreau" | "foreign", current revision) of the base behind ``conn``."""
    names = set(sa.inspect(conn).get_table_names())
    if not names:
        return "empty", None
    if not {"schema_info", "alembic_version"} <= names:
        return "foreign", None
    application = conn.execute(sa.select(schema_info.c.application)).scalar()
    if application != APPLICATION:
        return "foreign", None
    return "terreau", _current_revision(conn)


def _probe(engine: Engine) -> tuple[str, str | None]:
    """:func:`_state` of the base, refusing a foreign base; French error if unreachable."""
    try:
        with engine.connect() as conn:
            kind, current = _state(conn)
            if kind == "foreign":
                raise _foreign_error(engine, conn)
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise StoreError(
            f"Impossible d'ouvrir la base « {display_url(engine)} » : {reason}. "
            "Vérifiez CARTO_DATABASE_URL (fichier SQLite valide ? serveur PostgreSQL démarré, base créée, "
            "droits d'accès ?)."
        ) from exc
    return kind, current


def _foreign_error(engine: Engine, conn: Connection) -> SchemaError:
    names = sorted(sa.inspect(conn).get_table_names())
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    return SchemaError(
        f"« {display_url(engine)} » n'est pas une base Terreau (tables trouvées : {shown}). "
        "Vérifiez CARTO_DATABASE_URL, ou lancez `carto init` sur une base vide."
    )


def _revision_status(current: str | None) -> str:
    """"current", "older" or "newer" for a revision found in a Terreau base."""
    if current == schema_revision():
        return "current"
    try:
        known = current is not None and _script().get_revision(current) is not None
    except CommandError:
        known = False
    return "older" if known else "newer"


def _newer_error(engine: Engine, current: str | None) -> SchemaError:
    return SchemaError(
        f"La base « {display_url(engine)} » a été faite par une version plus récente de Terreau "
        f"(schéma « {current} », inconnu de cette version {__version__}, qui connaît « {schema_revision()} »). "
        "Mettez Terreau à jour (git pull puis make setup) avant de l'ouvrir."
    )


def _upgrade(conn: Connection) -> None:
    command.upgrade(_alembic_config(conn), "head")
    if conn.dialect.name == "sqlite":
        problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise SchemaError(
                f"La mise à niveau du schéma laisserait "
                f"{_fr.count(len(problems), 'référence cassée', 'références cassées')} "
                f"(première : table « {problems[0][0]} », ligne {problems[0][1]}) : rien n'a été modifié. "
                "Signalez-le à l'équipe Terreau avec ce message."
            )


@dataclass(frozen=True)
class SchemaUpgrade:
    """An upgrade of a base's schema done by :func:`open_base` or :func:`init_base` (see :func:`last_upgrade`).

    ``str()`` of it is the French line that was logged, e.g. « Base
    sqlite:///data/base.sqlite : schéma mis à niveau de 0004 vers 0006 ;
    copie de sauvegarde : data/base.avant-0004-20261129-101500.sqlite ».

    Attributes
    ----------
    base : str
        URL of the base, password masked (:func:`display_url`).
    from_revision, to_revision : str
        Schema revision before and after.
    backup : pathlib.Path or None
        Backup copy made just before (:func:`carto.store.backup_base`); None
        for an in-memory base, or when ``init_base(backup=False)`` was asked.
    at : datetime.datetime
        When the upgrade was committed (aware, UTC).
    """

    base: str
    from_revision: str
    to_revision: str
    backup: Path | None
    at: datetime

    def __str__(self) -> str:
        copy = f"copie de sauvegarde : {self.backup}" if self.backup is not None else "sans copie de sauvegarde"
        return f"Base {self.base} : schéma mis à niveau de {self.from_revision} vers {self.to_revision} ; {copy}"


_UPGRADES: weakref.WeakKeyDictionary[Engine, SchemaUpgrade] = weakref.WeakKeyDictionary()


def last_upgrade(engine: Engine) -> SchemaUpgrade | None:
    """The schema upgrade that :func:`open_base` or :func:`init_base` did when it returned ``engine``, or None.

    None when the base was already at this version's schema (or was just
    created), so a caller can tell the user, e.g.
    ``print(f"base mise à niveau, sauvegarde : {upgrade.backup}")``.

    Examples
    --------
    >>> engine = init_base("sqlite://")
    >>> last_upgrade(engine) is None
    True
    """
    return _UPGRADES.get(engine)


def init_base(url: str | URL | None = None, *, who: str | None = None, backup: bool = True) -> Engine:
    """Create the base at ``url``, or upgrade it to this version's schema.

    Idempotent: on a base already at the current schema nothing is written.
    Creating or upgrading is one transaction with its audit-log row (action
    ``init``); a failure leaves the base as it was. An upgrade is preceded by
    a backup copy (:func:`carto.store.backup_base`) and is logged (INFO, in
    French) and told by :func:`last_upgrade`. A base that is not a Terreau
    base, or that a newer Terreau made, is refused (:class:`SchemaError`).

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL, optional
        Base URL (default: ``settings.database_url``).
    who : str, optional
        Name written in the audit log (default: ``settings.user``).
    backup : bool
        False: upgrade without a backup copy, for a base saved by hand
        (``carto init --sans-sauvegarde``; e.g. PostgreSQL without ``pg_dump``).

    Returns
    -------
    sqlalchemy.Engine

    Examples
    --------
    >>> engine = init_base("sqlite://", who="doctest")
    >>> init_base(engine.url) is not None
    True
    """
    engine = connect(url)
    try:
        kind, current = _probe(engine)
        if kind == "terreau":
            status = _revision_status(current)
            if status == "current":
                return engine
            if status == "newer":
                raise _newer_error(engine, current)
        _create_or_upgrade(engine, kind=kind, current=current, who=who, backup=backup)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _create_or_upgrade(engine: Engine, *, kind: str, current: str | None, who: str | None, backup: bool) -> None:
    """Create an empty base, or upgrade an older one after a backup copy (``backup``), and say so."""
    head = schema_revision()
    copy = None
    if kind == "terreau" and backup and has_file(engine.url):
        copy = backup_base(engine, reason=f"avant-{current}")
    try:
        _create_or_upgrade_locked(engine, kind=kind, current=current, who=who, backup=copy)
    except _AlreadyDone:  # another init did it meanwhile
        if copy is not None:
            log.info("Base %s : déjà mise à niveau par un autre processus ; copie de sauvegarde faite : %s",
                     display_url(engine), copy)
        return
    if kind == "empty":
        log.info("Base %s : créée", display_url(engine))
        return
    upgrade = SchemaUpgrade(base=display_url(engine), from_revision=str(current), to_revision=head, backup=copy,
                            at=_utcnow())
    _UPGRADES[engine] = upgrade
    log.info("%s", upgrade)


class _AlreadyDone(Exception):
    """Raised to roll back an init that another process has done meanwhile."""


def _create_or_upgrade_locked(
    engine: Engine, *, kind: str, current: str | None, who: str | None, backup: Path | None
) -> None:
    head = schema_revision()
    # SQLite: table rebuilds of an upgrade must not fire ON DELETE actions, so foreign
    # keys are off during it and checked (PRAGMA foreign_key_check) before commit.
    with _write_connection(engine, foreign_keys=kind == "empty") as conn:
        with _audited(conn, action="init", who=who):
            if conn.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE already serialises
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_INIT_LOCK)))
            now = _state(conn)
            if now == ("terreau", head):
                raise _AlreadyDone
            if now != (kind, current):
                raise StoreError(
                    f"La base « {display_url(engine)} » a changé pendant son initialisation "
                    "(un autre `carto init` en même temps ?) : relancez `carto init`."
                )
            if kind == "empty":
                metadata.create_all(conn)
                command.stamp(_alembic_config(conn), "head")
                conn.execute(
                    schema_info.insert().values(
                        id=1, application=APPLICATION, schema_revision=head, terreau_version=__version__
                    )
                )
                audit(conn, table="schema_info", details={"création": True, "schéma": head})
            else:
                _upgrade(conn)
                conn.execute(
                    schema_info.update().values(
                        schema_revision=head, terreau_version=__version__, upgraded_at=_utcnow()
                    )
                )
                audit(conn, table="schema_info", details={
                    "de": current, "vers": head, "sauvegarde": str(backup) if backup is not None else None})


def open_base(url: str | URL | None = None) -> Engine:
    """Open an existing base, upgrading it first if an older Terreau made it.

    An older base is upgraded as by :func:`init_base` (one transaction with
    its audit row), after a backup copy (:func:`carto.store.backup_base`:
    SQLite backup API next to the file, ``pg_dump`` for PostgreSQL — if the
    copy cannot be made, nothing is upgraded and the French message says how
    to back up by hand); the upgrade is logged at INFO level (« Base … :
    schéma mis à niveau de 0004 vers 0006 ; copie de sauvegarde : … ») and
    told by :func:`last_upgrade`. A base made by a newer Terreau, a base that
    is not Terreau's, or no base at all are refused, untouched, with a French
    message saying what to do.

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL, optional
        Base URL (default: ``settings.database_url``).

    Returns
    -------
    sqlalchemy.Engine

    Raises
    ------
    StoreError
        No base at ``url``, or the backup copy failed.
    SchemaError
        Newer or foreign schema; PostgreSQL base to upgrade that ``pg_dump``
        could not back up.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     init_base(f"sqlite:///{folder}/base.sqlite").dispose()
    ...     engine = open_base(f"sqlite:///{folder}/base.sqlite")
    ...     engine.dispose()
    >>> engine.dialect.name, last_upgrade(engine)
    ('sqlite', None)
    """
    parsed = _normalise_url(url)
    path = _sqlite_path(parsed)
    if path is not None and not path.exists():
        raise StoreError(f"Aucune base à « {path} » : lancez `carto init` pour la créer.")
    engine = connect(parsed)
    try:
        kind, current = _probe(engine)
        if kind == "empty":
            raise StoreError(f"La base « {display_url(engine)} » est vide : lancez `carto init` pour la créer.")
        status = _revision_status(current)
        if status == "newer":
            raise _newer_error(engine, current)
        if status == "older":
            _create_or_upgrade(engine, kind=kind, current=current, who=None, backup=True)
    except BaseException:
        engine.dispose()
        raise
    return engine
