"""Privacy: a person's consent to be shown on a map, statement by statement, with its proof.

Maps, directories and the élus' exports show a person by name only if that person agreed to it. Each
« oui » or « non » is a **statement** (``consent_statements``): when the person said it, on which document
(the proof), and who recorded it. It comes from a source file (a sign-in sheet's « Accord carte » column,
mapping section ``[consent]``) or is recorded by a jardinier with :func:`state_map_consent` (a signed
form, an e-mail…). The **latest statement wins**: ``actors.consent_map`` (and ``consent_map_at``,
``consent_proof``) is always the latest statement of the actor and of every actor merged into it —
:func:`refresh_consent` keeps it so after an import, a merge, its undoing or a detachment. A person with no
statement is not shown.

This module is on the ground floor with :mod:`carto.store`: import and linkage call it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import store
from carto._errors import CartoError
from carto.settings import get_settings

__all__ = ["ConsentError", "CONSENT_COLUMNS", "state_map_consent", "consent_history", "refresh_consent",
           "write_statements"]

log = logging.getLogger(__name__)

_PARIS = ZoneInfo("Europe/Paris")

#: Columns of :func:`consent_history` (French).
CONSENT_COLUMNS = ("déclaration", "acteur", "nom", "accord", "déclaré le", "preuve", "enregistrement source",
                   "enregistré par", "enregistré le")


class ConsentError(CartoError, ValueError):
    """A consent statement that cannot be recorded (unknown actor, no proof, date in the future…)."""


def paris_midnight(day: date) -> datetime:
    """The start of a day in Paris, in UTC: the moment of a statement known only by its day.

    >>> paris_midnight(date(2026, 7, 14)).isoformat()
    '2026-07-13T22:00:00+00:00'
    """
    return datetime.combine(day, time(0, 0), tzinfo=_PARIS).astimezone(timezone.utc)


def _moment(value: date | datetime | None) -> datetime:
    """A statement's moment in UTC: a day is its midnight in Paris; a naive datetime is Paris time."""
    if value is None:
        return datetime.now(timezone.utc)
    if not isinstance(value, datetime):
        return paris_midnight(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_PARIS)
    return value.astimezone(timezone.utc)


def _latest(conn: sa.Connection, actor_ids: list[int]) -> pd.DataFrame:
    """The latest statement of each actor (most recent ``stated_at``, then the last recorded), by actor id."""
    s = store.consent_statements
    found = store.select_in(conn, sa.select(s.c.id, s.c.actor_id, s.c.consent, s.c.stated_at, s.c.proof)
                            .where(s.c.scope == "carte"), s.c.actor_id, actor_ids)
    if found.empty:
        return found.set_index("actor_id")
    found = found.sort_values(["actor_id", "stated_at", "id"])
    return found.groupby("actor_id").tail(1).set_index("actor_id")


def refresh_consent(conn: sa.Connection, actor_ids: Iterable[int]) -> int:
    """Make ``actors.consent_map`` (with its date and proof) the latest statement of each actor given.

    An actor with no statement is not shown (``consent_map`` false, no date, no proof). Only the actors
    whose values change are written; returns how many. Call it in the transaction that changed the
    statements or moved them between actors.
    """
    ids = sorted({int(i) for i in actor_ids})
    if not ids:
        return 0
    a = store.actors
    current = store.select_in(conn, sa.select(a.c.id, a.c.consent_map, a.c.consent_map_at, a.c.consent_proof),
                              a.c.id, ids).set_index("id")
    latest = _latest(conn, ids).reindex(current.index)
    stated = latest["consent"].notna().to_numpy() if len(latest.columns) else np.zeros(len(current), dtype=bool)
    want = pd.DataFrame({
        "consent_map": np.where(stated, latest.get("consent", pd.Series(index=current.index, dtype=object))
                                .fillna(False).astype(bool), False),
        "consent_map_at": pd.to_datetime(latest.get("stated_at", pd.Series(index=current.index, dtype=object)),
                                         utc=True).where(stated),
        "consent_proof": latest.get("proof", pd.Series(index=current.index, dtype=object)).where(stated),
    }, index=current.index)
    have_at = pd.to_datetime(current["consent_map_at"], utc=True)
    differs = ((want["consent_map"].to_numpy() != current["consent_map"].fillna(False).astype(bool).to_numpy())
               | ~((want["consent_map_at"] == have_at) | (want["consent_map_at"].isna() & have_at.isna())).to_numpy()
               | ~((want["consent_proof"] == current["consent_proof"])
                   | (want["consent_proof"].isna() & current["consent_proof"].isna())).to_numpy())
    rows = want[differs]
    changed = [{"_id": int(i), "consent_map": bool(c), "consent_map_at": None if pd.isna(t) else t.to_pydatetime(),
                "consent_proof": None if pd.isna(p) else str(p)}
               for i, c, t, p in zip(rows.index, rows["consent_map"], rows["consent_map_at"], rows["consent_proof"])]
    if changed:  # one statement, executed for every row
        conn.execute(a.update().where(a.c.id == sa.bindparam("_id")).values(
            consent_map=sa.bindparam("consent_map"), consent_map_at=sa.bindparam("consent_map_at"),
            consent_proof=sa.bindparam("consent_proof")), changed)
    if changed:
        store.audit(conn, table="actors", ids=[r["_id"] for r in changed],
                    details={"motif": "accord pour la carte : dernière déclaration",
                             "montrés": sum(r["consent_map"] for r in changed)})
    return len(changed)


def write_statements(conn: sa.Connection, statements: pd.DataFrame, *, who: str | None = None) -> int:
    """Record the statements of source rows (import): one per ``source_record_id``, updated on re-import.

    ``statements`` has ``actor_id``, ``consent`` (bool), ``stated_at`` (UTC datetime; ``None`` for an
    undated row: the date already stored, else now), ``proof`` and ``source_record_id``. A row whose value,
    date or actor changed is updated; the actors concerned (new and former) get their latest statement
    (:func:`refresh_consent`). Returns the statements written.
    """
    if statements.empty:
        return 0
    s = store.consent_statements
    now = datetime.now(timezone.utc)
    frame = statements.assign(scope="carte", who=who, created_at=now)
    old = store.select_in(conn, sa.select(s.c.source_record_id, s.c.actor_id, s.c.consent, s.c.stated_at, s.c.proof)
                          .where(s.c.scope == "carte"), s.c.source_record_id,
                          frame["source_record_id"].astype(int).tolist()).set_index("source_record_id")
    known = frame["source_record_id"].isin(old.index)
    before = old.reindex(frame["source_record_id"])
    undated = frame["stated_at"].isna().to_numpy()
    kept = before["stated_at"].to_numpy(object)
    frame["stated_at"] = [(now if pd.isna(k) else pd.Timestamp(k).to_pydatetime()) if u else t
                          for u, k, t in zip(undated, kept, frame["stated_at"].to_numpy(object))]
    same = (known.to_numpy()
            & (before["actor_id"].to_numpy(object) == frame["actor_id"].to_numpy(object))
            & (before["consent"].to_numpy(object) == frame["consent"].to_numpy(object))
            & (pd.to_datetime(before["stated_at"], utc=True).to_numpy() == pd.to_datetime(frame["stated_at"], utc=True)
               .to_numpy())
            & (before["proof"].to_numpy(object) == frame["proof"].to_numpy(object)))
    write = frame[~same]
    if write.empty:
        return 0
    columns = ["actor_id", "scope", "consent", "stated_at", "proof", "source_record_id", "who", "created_at"]
    store.upsert(conn, s, write[columns], key=["source_record_id", "scope"],
                 update=["actor_id", "consent", "stated_at", "proof", "who"])
    touched = {*write["actor_id"].astype(int), *before.loc[~same & known.to_numpy(), "actor_id"].dropna().astype(int)}
    store.audit(conn, table="consent_statements", count=len(write),
                details={"motif": "accord pour la carte déclaré dans un fichier source",
                         "oui": int(write["consent"].sum()), "non": int((~write["consent"].astype(bool)).sum())})
    refresh_consent(conn, touched)
    return len(write)


def state_map_consent(
    engine: sa.Engine,
    actor_id: int,
    consent: bool,
    *,
    proof: str,
    stated_at: date | datetime | None = None,
    who: str | None = None,
) -> int:
    """Record that a person agrees (``True``) or no longer agrees (``False``) to be shown on a map.

    Parameters
    ----------
    actor_id : int
        An active person of the base (an organisation is not personal data: it is always shown).
    consent : bool
        The person's answer.
    proof : str
        Where the answer is written (« formulaire signé le 12/03/2026, classé au dossier… », « courriel du
        … »): required, kept with the statement.
    stated_at : datetime.date or datetime.datetime, optional
        When the person said it (default now; a day is its midnight in Paris). Not in the future. If the
        person said something else later, that later statement stays the one that counts.
    who : str, optional
        Who records it (default ``settings.user``), written in the audit log.

    Returns
    -------
    int
        Id of the statement.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     _ = conn.execute(store.actors.insert().values(id=1, kind="personne", display_name="Ana"))
    >>> state_map_consent(engine, 1, True, proof="formulaire papier du 02/03/2026", stated_at=date(2026, 3, 2))
    1
    >>> consent_history(engine)[["acteur", "accord", "déclaré le"]].values.tolist()
    [[1, 'oui', '02/03/2026']]
    >>> state_map_consent(engine, 1, True, proof=" ")
    Traceback (most recent call last):
    ...
    carto.privacy.ConsentError: Accord de l'acteur 1 non enregistré : indiquez la preuve (document, date, lieu de classement).
    """
    proof = (proof or "").strip()
    if not proof:
        raise ConsentError(f"Accord de l'acteur {actor_id} non enregistré : indiquez la preuve (document, date, "
                           "lieu de classement).")
    moment = _moment(stated_at)
    if moment > datetime.now(timezone.utc):
        raise ConsentError(f"Accord de l'acteur {actor_id} non enregistré : la date "
                           f"{moment.astimezone(_PARIS):%d/%m/%Y %H:%M} est dans le futur.")
    a, s = store.actors, store.consent_statements
    with store.transaction(engine, action="accord carte", who=who) as conn:
        row = conn.execute(sa.select(a.c.kind, a.c.status, a.c.merged_into_id, a.c.display_name)
                           .where(a.c.id == int(actor_id))).one_or_none()
        if row is None:
            raise ConsentError(f"Acteur {actor_id} introuvable : vérifiez son identifiant (colonne « acteur » du "
                               "tableau des membres).")
        if row.status == "merged":
            raise ConsentError(f"L'acteur {actor_id} a été fusionné dans l'acteur {row.merged_into_id} : "
                               f"enregistrez l'accord sur l'acteur {row.merged_into_id}.")
        if row.kind != "personne":
            raise ConsentError(f"L'acteur {actor_id} ({row.display_name}) est une organisation : les organisations "
                               "figurent sur les cartes sans accord (ce ne sont pas des données personnelles).")
        statement_id = conn.execute(s.insert().returning(s.c.id).values(
            actor_id=int(actor_id), scope="carte", consent=bool(consent), stated_at=moment, proof=proof,
            who=who or get_settings().user, created_at=datetime.now(timezone.utc))).scalar_one()
        store.audit(conn, table="consent_statements", ids=[statement_id],
                    details={"acteur": int(actor_id), "accord": "oui" if consent else "non", "preuve": proof})
        refresh_consent(conn, [int(actor_id)])
    log.info("Accord pour la carte de l'acteur %s : %s", actor_id, "oui" if consent else "non")
    return int(statement_id)


def _paris_text(value: Any, fmt: str) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert(_PARIS).strftime(fmt)


def consent_history(engine: sa.Engine, actor_id: int | None = None) -> pd.DataFrame:
    """Every consent statement (of one actor, or all), oldest first, French columns :data:`CONSENT_COLUMNS`.

    ``acteur`` is the actor the statement now belongs to (after merges); dates are Paris time (« déclaré
    le » JJ/MM/AAAA, « enregistré le » JJ/MM/AAAA HH:MM).
    """
    a, s = store.actors, store.consent_statements
    query = (sa.select(s.c.id, s.c.actor_id, a.c.display_name, s.c.consent, s.c.stated_at, s.c.proof,
                       s.c.source_record_id, s.c.who, s.c.created_at)
             .select_from(s.join(a, a.c.id == s.c.actor_id)).order_by(s.c.stated_at, s.c.id))
    if actor_id is not None:
        query = query.where(s.c.actor_id == int(actor_id))
    with engine.connect() as conn:
        frame = store.read_frame(conn, query)
    out = pd.DataFrame({
        "déclaration": frame["id"].astype("int64"),
        "acteur": frame["actor_id"].astype("int64"),
        "nom": frame["display_name"].astype(object),
        "accord": frame["consent"].map(lambda v: "oui" if bool(v) else "non").astype(object),
        "déclaré le": frame["stated_at"].map(lambda v: _paris_text(v, "%d/%m/%Y")).astype(object),
        "preuve": frame["proof"].astype(object),
        "enregistrement source": frame["source_record_id"].astype("Int64"),
        "enregistré par": frame["who"].astype(object),
        "enregistré le": frame["created_at"].map(lambda v: _paris_text(v, "%d/%m/%Y %H:%M")).astype(object),
    }, columns=list(CONSENT_COLUMNS))
    return out.reset_index(drop=True)
