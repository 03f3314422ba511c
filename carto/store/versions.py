"""Schema versions: Alembic revisions, creating, checking and upgrading a base."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import URL, Connection, Engine

from carto import __version__
from carto._errors import SchemaError, StoreError
from carto.settings import PACKAGE_DIR
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
                f"La mise à niveau du schéma laisserait {len(problems)} référence(s) cassée(s) "
                f"(première : table « {problems[0][0]} », ligne {problems[0][1]}) : rien n'a été modifié. "
                "Signalez-le à l'équipe Terreau avec ce message."
            )


def init_base(url: str | URL | None = None, *, who: str | None = None) -> Engine:
    """Create the base at ``url``, or upgrade it to this version's schema.

    Idempotent: on a base already at the current schema nothing is written.
    Creating or upgrading is one transaction with its audit-log row (action
    ``init``); a failure leaves the base as it was. A base that is not a
    Terreau base, or that a newer Terreau made, is refused (:class:`SchemaError`).

    Parameters
    ----------
    url : str or sqlalchemy.engine.URL, optional
        Base URL (default: ``settings.database_url``).
    who : str, optional
        Name written in the audit log (default: ``settings.user``).

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
        _create_or_upgrade(engine, who=who)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _create_or_upgrade(engine: Engine, *, who: str | None) -> None:
    head = schema_revision()
    kind, current = _probe(engine)
    if kind == "terreau":
        status = _revision_status(current)
        if status == "current":
            return
        if status == "newer":
            raise _newer_error(engine, current)
    try:
        _create_or_upgrade_locked(engine, kind=kind, current=current, who=who)
    except _AlreadyDone:  # another init did it meanwhile
        return
    log.info(
        "Base %s : %s",
        display_url(engine),
        "créée" if kind == "empty" else f"schéma mis à niveau de {current} vers {head}",
    )


class _AlreadyDone(Exception):
    """Raised to roll back an init that another process has done meanwhile."""


def _create_or_upgrade_locked(engine: Engine, *, kind: str, current: str | None, who: str | None) -> None:
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
                audit(conn, table="schema_info", details={"de": current, "vers": head})


def open_base(url: str | URL | None = None) -> Engine:
    """Open an existing base, checking that it has this version's schema.

    An older base is **not** upgraded silently: the message says to run
    ``carto init`` (after a backup). A base made by a newer Terreau, a base
    that is not Terreau's, or no base at all are refused with a French
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
        No base at ``url``.
    SchemaError
        Older, newer or foreign schema.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     init_base(f"sqlite:///{folder}/base.sqlite").dispose()
    ...     engine = open_base(f"sqlite:///{folder}/base.sqlite")
    ...     engine.dispose()
    >>> engine.dialect.name
    'sqlite'
    """
    parsed = _normalise_url(url)
    path = _sqlite_path(parsed)
    if path is not None and not path.exists():
        raise StoreError(f"Aucune base à « {path} » : lancez `carto init` pour la créer.")
    engine = connect(parsed)
    try:
        _check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _check_schema(engine: Engine) -> None:
    kind, current = _probe(engine)
    if kind == "empty":
        raise StoreError(f"La base « {display_url(engine)} » est vide : lancez `carto init` pour la créer.")
    status = _revision_status(current)
    if status == "older":
        raise SchemaError(
            f"La base « {display_url(engine)} » a un schéma plus ancien (« {current} ») que celui de "
            f"cette version de Terreau (« {schema_revision()} ») : sauvegardez-la puis lancez "
            "`carto init` pour la mettre à niveau."
        )
    if status == "newer":
        raise _newer_error(engine, current)
