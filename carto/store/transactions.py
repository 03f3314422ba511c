"""Transactions and their audit log: :func:`transaction`, :func:`audit`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carto import _fr
from carto._errors import StoreError
from carto.settings import get_settings
from carto.store.engine import _write_connection
from carto.store.schema import _utcnow, audit_log, metadata

#: Largest number of row ids kept in one audit row (the count is always kept).
AUDIT_MAX_IDS = 10_000

_PENDING: dict[int, list[dict[str, Any]]] = {}


@contextmanager
def _audited(conn: Connection, *, action: str, who: str | None) -> Iterator[Connection]:
    if not action or not action.strip():
        raise StoreError("Toute écriture doit nommer son action (action=…) pour le journal d'audit.")
    author = who or get_settings().user
    key = id(conn)
    _PENDING[key] = []
    try:
        with conn.begin():
            yield conn
            entries = _PENDING[key] or [{}]
            transaction_id = uuid.uuid4().hex
            now = _utcnow()
            conn.execute(
                audit_log.insert(),
                [
                    {
                        "transaction_id": transaction_id,
                        "at": now,
                        "who": author,
                        "action": action,
                        "table_name": entry.get("table_name"),
                        "row_count": entry.get("row_count"),
                        "row_ids": entry.get("row_ids"),
                        "details": entry.get("details"),
                    }
                    for entry in entries
                ],
            )
    finally:
        del _PENDING[key]


@contextmanager
def transaction(
    engine: Engine, *, action: str, who: str | None = None, check_tables: Sequence[str] | None = None
) -> Iterator[Connection]:
    """One database transaction with its audit-log rows.

    Yields a :class:`sqlalchemy.Connection` in a transaction. Describe what
    is written with :func:`audit` (table, row ids, details); at the end, the
    audit rows are written in the same transaction and everything is
    committed. Any exception rolls back everything, audit rows included.
    Do not nest transactions: pass the yielded connection to the functions
    that write.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From :func:`open_base` or :func:`init_base`.
    action : str
        Short name of the action, e.g. ``"import"``, ``"merge"``, ``"override"``.
    who : str, optional
        Author written in the audit log (default: ``settings.user``).
    check_tables : sequence of str, optional
        For bulk writes: on SQLite, foreign keys are then not checked row by
        row but once, on these tables, just before commit (a broken reference
        raises :class:`StoreError` and nothing is written) — several times
        faster for statements that touch hundreds of thousands of rows of
        much-referenced tables. PostgreSQL checks them as usual.

    Examples
    --------
    >>> from carto.store import communities, init_base
    >>> engine = init_base("sqlite://")
    >>> with transaction(engine, action="ajout", who="camille") as conn:
    ...     ids = conn.execute(communities.insert().returning(communities.c.id),
    ...                        [{"slug": "mer", "name": "Mer"}]).scalars().all()
    ...     audit(conn, table="communities", ids=ids, details={"motif": "exemple"})
    >>> with engine.connect() as conn:
    ...     conn.execute(sa.select(audit_log.c.who, audit_log.c.action, audit_log.c.row_ids)
    ...                  .where(audit_log.c.action == "ajout")).one()
    ('camille', 'ajout', [1])
    """
    with _write_connection(engine, foreign_keys=check_tables is None) as conn:
        with _audited(conn, action=action, who=who):
            yield conn
            if check_tables is not None and conn.dialect.name == "sqlite":
                _check_foreign_keys(conn, check_tables)


def _check_foreign_keys(conn: Connection, tables: Sequence[str]) -> None:
    """Raise :class:`StoreError` if a row of ``tables`` names a row that does not exist (SQLite)."""
    for name in tables:
        broken = conn.exec_driver_sql(f'PRAGMA foreign_key_check("{name}")').fetchall()
        if broken:
            raise StoreError(
                f"L'écriture laisserait {_fr.count(len(broken), 'référence cassée', 'références cassées')} "
                f"(table « {name} », ligne "
                f"{broken[0][1]}, vers « {broken[0][2]} ») : rien n'a été écrit. "
                "Signalez-le à l'équipe Terreau avec ce message."
            )


def audit(
    conn: Connection,
    *,
    table: str | None = None,
    ids: Iterable[Any] | None = None,
    count: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Describe a write of the current :func:`transaction` in its audit log.

    Each call becomes one audit row at commit (same transaction, author,
    action and time). ``ids`` are kept up to :data:`AUDIT_MAX_IDS`; beyond,
    only the count is (bulk writes are better described by their import
    batch id in ``details``).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The connection yielded by :func:`transaction`.
    table : str, optional
        Table written.
    ids : iterable, optional
        Ids of the rows written.
    count : int, optional
        Number of rows written (default: the number of ``ids``).
    details : mapping, optional
        JSON-serialisable details (French keys welcome).

    Examples
    --------
    >>> from carto.store import init_base
    >>> engine = init_base("sqlite://")
    >>> with transaction(engine, action="exemple") as conn:
    ...     audit(conn, table="actors", count=0, details={"motif": "rien"})
    """
    pending = _PENDING.get(id(conn))
    if pending is None:
        raise StoreError("audit() s'utilise dans un bloc `with transaction(...) as conn` avec sa connexion.")
    id_list = list(ids) if ids is not None else None
    if count is None and id_list is not None:
        count = len(id_list)
    if id_list is not None and len(id_list) > AUDIT_MAX_IDS:
        id_list = None
    pending.append(
        {
            "table_name": table,
            "row_count": count,
            "row_ids": id_list,
            "details": dict(details) if details is not None else None,
        }
    )


def base_summary(engine: Engine) -> dict[str, int]:
    """Number of rows of each table of the base.

    Examples
    --------
    >>> from carto.store import init_base
    >>> summary = base_summary(init_base("sqlite://"))
    >>> summary["actors"], summary["schema_info"]
    (0, 1)
    """
    with engine.connect() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for name, table in metadata.tables.items()
        }
