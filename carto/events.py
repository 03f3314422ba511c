"""Events of the communities and their participations.

Events reach the base from the sign-in sheets and the participatory website
(:mod:`carto.ingest`), or are added by hand (:func:`add_event`). Each event
may belong to a community and has a thematic space; :func:`classify_events`
fills both from the title when they are missing (« Rencontre de la communauté
Biodiversité — mars 2024 » → community Biodiversité; « Commission citoyenne :
abeilles » → space biodiversité), and never overwrites what a person set.

The events **of a community** (its scope, :func:`community_scope`) are those
attached to it, those of its thematic space, and the kinds every community
shares (by default the yearly regional meeting, « Printemps citoyen »).

A participation is *present* unless its sign-in sheet says the person was
registered but did not sign (``signed`` false): those are counted apart as
« inscrits absents ».

Examples
--------
>>> from datetime import date
>>> from carto import events, store
>>> engine = store.init_base("sqlite://")
>>> with store.transaction(engine, action="exemple") as conn:
...     _ = conn.execute(store.communities.insert().values(slug="mer", name="Mer et littoral", theme="mer"))
>>> events.add_event(engine, title="Rencontre de la communauté Mer et littoral", kind="rencontre de communauté",
...                  starts_on=date(2024, 5, 2), commune="Sète", community="mer")
1
>>> events.event_stats(engine, community="mer")[["titre", "communauté", "présents"]].to_dict("records")
[{'titre': 'Rencontre de la communauté Mer et littoral', 'communauté': 'mer', 'présents': 0}]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carto import _fr, geo, normalize, store, themes
from carto._errors import CartoError, CommuneNotFoundError, NotFoundError

__all__ = [
    "SHARED_KINDS",
    "EventError",
    "CommunityNotFoundError",
    "actor_themes",
    "theme_actors",
    "add_event",
    "classify_events",
    "community_name",
    "community_scope",
    "find_community",
    "participations",
    "event_stats",
    "period_stats",
]

log = logging.getLogger(__name__)

#: Kinds of events that count for every community (the yearly regional meeting).
SHARED_KINDS: tuple[str, ...] = ("rencontre régionale annuelle",)
#: Periods of :func:`period_stats` and their French names.
_PERIODS = {"M": ("mois", "M"), "Q": ("trimestre", "Q"), "Y": ("année", "Y")}


class EventError(CartoError, ValueError):
    """An event or a community was asked with a wrong value (message in French)."""


class CommunityNotFoundError(EventError, NotFoundError):
    """No community has the slug, name or id given (the message lists the closest and the known ones)."""


# --------------------------------------------------------------------------- communities and scope


def find_community(conn: Connection, community: str | int) -> Any:
    """The row of ``communities`` named by its slug, its name or its id; a French error with the closest otherwise.

    Slug and name are compared without regard to accents, case or punctuation: « biodiversite »,
    « Biodiversité » and « BIODIVERSITÉ » name the same community; a number (or a text of digits that is no
    slug) is an id.

    Raises
    ------
    CommunityNotFoundError
        No community has this slug, name or id (the message lists the closest and the known ones).

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     _ = conn.execute(store.communities.insert().values(slug="mer", name="Mer et littoral", theme="mer"))
    >>> with engine.connect() as conn:
    ...     find_community(conn, "Mer et Littoral").slug, find_community(conn, 1).name
    ('mer', 'Mer et littoral')
    >>> with engine.connect() as conn:
    ...     find_community(conn, "Mer et littoralle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto.events.CommunityNotFoundError: Communauté « Mer et littoralle » inconnue. Vouliez-vous dire « Mer et ...
    """
    c = store.communities
    rows = conn.execute(sa.select(c).order_by(c.c.name)).all()
    if isinstance(community, int | np.integer) and not isinstance(community, bool):
        found = [r for r in rows if r.id == int(community)]
    else:
        key = _fr.fold(community)
        found = [r for r in rows if key in (_fr.fold(r.slug), _fr.fold(r.name))]
        if not found and str(community).strip().isdigit():
            found = [r for r in rows if r.id == int(str(community).strip())]
    if found:
        return found[0]
    if not rows:
        raise CommunityNotFoundError(f"Communauté « {community} » inconnue : aucune communauté dans la base (créez-les "
                                     "avec carto.communities.create_communities ou carto demo).")
    near = _fr.closest(community, [r.name for r in rows] + [r.slug for r in rows])
    names = {**{r.slug: r.name for r in rows}, **{r.name: r.name for r in rows}}
    hint = f" Vouliez-vous dire {_fr.quoted(dict.fromkeys(names[n] for n in near))} ?" if near else ""
    raise CommunityNotFoundError(f"Communauté « {community} » inconnue.{hint} Communautés connues : "
                                 f"{', '.join(f'{r.name} ({r.slug})' for r in rows)}.")


def community_name(engine: Engine, community: str | int) -> str:
    """The name of a community (« Biodiversité ») given by its slug, name or id (:func:`find_community`): for
    titles and headings, which never show a slug.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     _ = conn.execute(store.communities.insert().values(slug="mer", name="Mer et littoral", theme="mer"))
    >>> community_name(engine, "mer")
    'Mer et littoral'
    """
    with engine.connect() as conn:
        return str(find_community(conn, community).name)


def community_scope(community: Any, *, shared_kinds: Sequence[str] = SHARED_KINDS) -> Any:
    """Condition on ``events`` selecting the events of ``community`` (a row of ``communities``).

    Its own events, those of its thematic space, and the ``shared_kinds`` (every community's).
    """
    e = store.events
    parts = [e.c.community_id == community.id]
    if community.theme:
        parts.append(e.c.theme == community.theme)
    if shared_kinds:
        parts.append(e.c.kind.in_(list(shared_kinds)))
    return sa.or_(*parts)


def actor_themes(conn: Connection, actor_ids: Sequence[int] | None = None, *,
                 until: date | None = None) -> pd.DataFrame:
    """The thematic spaces of actors: one ``(actor_id, theme)`` row per actor and space (slugs).

    **The actors of a thematic space** are, everywhere in Terreau (the members map and its « Thème »
    filter, the graphs' ``theme``, the member table's): those with the space among

    - their own themes (``actors.themes``: an organisation's declared themes; a slug, a name or a word of
      the space's vocabulary, :func:`carto.themes.theme_of`);
    - the themes of their organisation (a person's ``organisation_id``);
    - the themes of the events they attended (``events.theme``; present, not a registered absentee);
    - the themes of the workshops where a relation of theirs was named (``workshops.theme``),

    events and workshops up to ``until`` (all by default). An actor working with an association on hedges,
    or who came to a biodiversity workshop, is « Biodiversité » even if it never said so itself.

    Parameters
    ----------
    actor_ids : sequence of int, optional
        Only these actors (all by default).
    until : datetime.date, optional
        Events and workshops up to this day.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     _ = conn.execute(store.actors.insert().values(id=1, kind="organisation", display_name="Les Amis",
    ...                                                   themes=["Biodiversité", "rivières"]))
    ...     _ = conn.execute(store.actors.insert().values(id=2, kind="personne", display_name="Alix",
    ...                                                   organisation_id=1))
    >>> with engine.connect() as conn:
    ...     actor_themes(conn).values.tolist()
    [[1, 'biodiversite'], [1, 'eau'], [2, 'biodiversite'], [2, 'eau']]
    """
    a, p, e, r, w = store.actors, store.participations, store.events, store.relations, store.workshops
    org = a.alias("org")
    own = sa.select(a.c.id.label("actor_id"), a.c.themes, org.c.themes.label("org_themes")).select_from(
        a.outerjoin(org, org.c.id == a.c.organisation_id))
    attended = (sa.select(p.c.actor_id, e.c.theme).select_from(p.join(e, e.c.id == p.c.event_id))
                .where(e.c.theme.is_not(None), sa.or_(p.c.signed.is_(None), p.c.signed == sa.true()))
                .group_by(p.c.actor_id, e.c.theme))
    named = [sa.select(end.label("actor_id"), w.c.theme).select_from(r.join(w, w.c.id == r.c.workshop_id))
             .where(w.c.theme.is_not(None)).group_by(end, w.c.theme) for end in (r.c.source_id, r.c.target_id)]
    if until is not None:
        attended = attended.where(e.c.starts_on <= until)
        named = [statement.where(w.c.held_on <= until) for statement in named]

    def read(statement: Any, column: Any) -> pd.DataFrame:
        if actor_ids is None:
            return store.read_frame(conn, statement)
        return store.select_in(conn, statement, column, [int(i) for i in actor_ids])

    mine = read(own, a.c.id)
    spaces = themes.theme_names()
    texts = pd.concat([mine.set_index("actor_id")["themes"], mine.set_index("actor_id")["org_themes"]]).explode()
    texts = texts.dropna().astype(str)
    texts = texts[texts.str.strip() != ""]
    unique = texts.unique()
    slug_of = dict(zip(unique, [t if t in spaces else found
                                for t, found in zip(unique, themes.theme_of(unique), strict=True)], strict=True))
    pairs = pd.concat([
        pd.DataFrame({"actor_id": texts.index.to_numpy(), "theme": texts.map(slug_of).to_numpy(object)}),
        read(attended, p.c.actor_id),
        *(read(statement, column) for statement, column in zip(named, (r.c.source_id, r.c.target_id), strict=True)),
    ], ignore_index=True)
    pairs = pairs[pairs["theme"].isin(list(spaces))].astype({"actor_id": "int64", "theme": object})
    return pairs.drop_duplicates().sort_values(["actor_id", "theme"], kind="stable").reset_index(drop=True)


def theme_actors(conn: Connection, theme: str, actor_ids: Sequence[int] | None = None, *,
                 until: date | None = None) -> set[int]:
    """The actors of a thematic space (slug or name, :func:`carto.themes.find_theme`): see :func:`actor_themes`.

    Examples
    --------
    >>> engine = store.init_base("sqlite://")
    >>> with engine.connect() as conn:
    ...     theme_actors(conn, "Biodiversité")
    set()
    """
    slug = themes.find_theme(theme)
    pairs = actor_themes(conn, actor_ids, until=until)
    return set(pairs.loc[pairs["theme"] == slug, "actor_id"].tolist())


# --------------------------------------------------------------------------- writing


def classify_events(engine: Engine, *, who: str | None = None) -> int:
    """Fill the community and thematic space of events that have none, from their title.

    An event whose title names a community (« … communauté Biodiversité … »,
    « Groupe de travail Biodiversité … ») belongs to it and takes its space;
    otherwise its space is the one whose name or vocabulary the title contains
    (:func:`carto.themes.theme_of`). Values already set are kept.

    Returns
    -------
    int
        Number of events changed.
    """
    e, c = store.events, store.communities
    with store.transaction(engine, action="classement des événements", who=who) as conn:
        todo = store.read_frame(conn, sa.select(e.c.id, e.c.title, e.c.community_id, e.c.theme)
                                .where(sa.or_(e.c.community_id.is_(None), e.c.theme.is_(None))))
        if todo.empty:
            return 0
        comms = store.read_frame(conn, sa.select(c.c.id, c.c.name, c.c.theme))
        title = normalize.name_keys(todo["title"]).fillna("")
        community = todo["community_id"].astype(object).where(todo["community_id"].notna(), None)
        found = pd.Series([None] * len(todo), index=todo.index, dtype=object)
        found_theme = pd.Series([None] * len(todo), index=todo.index, dtype=object)
        if not comms.empty:
            comms = comms.assign(key=normalize.name_keys(comms["name"]).fillna("")).sort_values(
                "key", key=lambda s: -s.str.len())
            for row in comms.itertuples():
                hit = title.str.contains(row.key, regex=False).to_numpy(bool) & found.isna().to_numpy()
                found[hit] = int(row.id)
                found_theme[hit] = row.theme
        new_community = community.where(community.notna(), found)
        theme = todo["theme"].astype(object).where(todo["theme"].notna(), None)
        new_theme = theme.where(theme.notna(), found_theme.where(found_theme.notna(), themes.theme_of(title)))
        changed = (new_community.fillna(-1) != community.fillna(-1)) | (new_theme.fillna("") != theme.fillna(""))
        rows = [{"_id": int(i), "_c": None if pd.isna(cm) else int(cm), "_t": th}
                for i, cm, th in zip(todo["id"][changed], new_community[changed], new_theme[changed], strict=True)]
        if rows:
            conn.execute(e.update().where(e.c.id == sa.bindparam("_id"))
                         .values(community_id=sa.bindparam("_c"), theme=sa.bindparam("_t")), rows)
            store.audit(conn, table="events", ids=[r["_id"] for r in rows], details={"motif": "titre"})
    log.info("%s par communauté ou thème", _fr.count(len(rows), "événement classé", "événements classés"))
    return len(rows)


def add_event(
    engine: Engine,
    *,
    title: str,
    kind: str,
    starts_on: date,
    ends_on: date | None = None,
    commune: str | None = None,
    community: str | int | None = None,
    theme: str | None = None,
    organisers: Sequence[int] = (),
    description: str | None = None,
    who: str | None = None,
) -> int:
    """Add an event by hand (a meeting no sign-in sheet describes), with its organisers.

    Parameters
    ----------
    title : str
        Title, e.g. « Rencontre de la communauté Biodiversité — juin 2025 ».
    kind : str
        One of :data:`carto.store.EVENT_KINDS`.
    starts_on, ends_on : datetime.date
        Dates (``ends_on`` for events over several days).
    commune : str, optional
        Commune: INSEE code or name (:func:`carto.geo.find_commune`).
    community : str or int, optional
        Community (slug, name or id); its space becomes the event's unless ``theme`` is given.
    theme : str, optional
        Thematic space, by slug or name (:func:`carto.themes.find_theme`: « mer », « Mer et littoral »).
    organisers : sequence of int
        Actors who organised it (participations with role « organisateur »).
    description : str, optional
        Free text.
    who : str, optional
        Author for the audit log.

    Returns
    -------
    int
        Id of the new event.
    """
    if kind not in store.EVENT_KINDS:
        raise EventError(f"Type d'événement « {kind} » inconnu : choisissez parmi {', '.join(store.EVENT_KINDS)}.")
    if not str(title or "").strip():
        raise EventError("Un événement a besoin d'un titre.")
    theme = None if theme is None else themes.find_theme(theme)
    code = lon = lat = None
    if commune:
        code = commune if commune in set(geo.communes()["code"]) else None
        if code is None:
            try:
                code = geo.find_commune(name=commune)
            except CommuneNotFoundError as exc:
                raise EventError(str(exc)) from exc
        point = geo.communes().set_index("code").loc[code]
        lon, lat = float(point["lon"]), float(point["lat"])
    e, a = store.events, store.actors
    with store.transaction(engine, action="ajout d'événement", who=who) as conn:
        community_id = None
        if community is not None:
            row = find_community(conn, community)
            community_id, theme = row.id, theme or row.theme
        wanted = sorted({int(i) for i in organisers})
        found = set(conn.execute(sa.select(a.c.id).where(a.c.id.in_(wanted), a.c.status == "active")).scalars())
        if set(wanted) - found:
            absent = sorted(set(wanted) - found)
            named = _fr.plural(len(absent), "Organisateur inconnu ou fusionné", "Organisateurs inconnus ou fusionnés")
            raise EventError(f"{named} : "
                             f"{', '.join(map(str, absent))} (donnez l'identifiant d'un acteur actif).")
        event_id = int(conn.execute(e.insert().values(
            title=title.strip(), kind=kind, starts_on=starts_on, ends_on=ends_on, place=commune,
            commune_code=code, lon=lon, lat=lat, community_id=community_id, theme=theme,
            description=description).returning(e.c.id)).scalar_one())
        if wanted:
            conn.execute(store.participations.insert(),
                         [{"event_id": event_id, "actor_id": i, "role": "organisateur", "signed": True} for i in wanted])
        store.audit(conn, table="events", ids=[event_id], details={"titre": title, "organisateurs": wanted})
    return event_id


# --------------------------------------------------------------------------- reading


def participations(conn: Connection, condition: Any = None, *, until: date | None = None) -> pd.DataFrame:
    """Participations of active actors in the events selected by ``condition`` (all by default).

    Returns
    -------
    pandas.DataFrame
        ``event_id``, ``actor_id``, ``role``, ``present`` (bool: not a registered absentee),
        ``day`` (datetime64 of the event), ``kind``, sorted by day then event.
    """
    p, e, a = store.participations, store.events, store.actors
    statement = (sa.select(p.c.event_id, p.c.actor_id, p.c.role, p.c.signed,
                           sa.cast(e.c.starts_on, sa.String).label("day"), e.c.kind)
                 .select_from(p.join(e, e.c.id == p.c.event_id).join(a, a.c.id == p.c.actor_id))
                 .where(a.c.status == "active"))
    if condition is not None:
        statement = statement.where(condition)
    if until is not None:
        statement = statement.where(e.c.starts_on <= until)
    frame = store.read_frame(conn, statement)
    if frame.empty:
        return pd.DataFrame({"event_id": pd.Series(dtype="int64"), "actor_id": pd.Series(dtype="int64"),
                             "role": pd.Series(dtype=object), "present": pd.Series(dtype=bool),
                             "day": pd.Series(dtype="datetime64[s]"), "kind": pd.Series(dtype=object)})
    frame["day"] = pd.to_datetime(frame["day"].astype(str).str.slice(0, 10), format="%Y-%m-%d").astype("datetime64[s]")
    signed = frame.pop("signed").to_numpy(object)
    frame["present"] = np.not_equal(signed, False)  # True or unknown (NULL): present; False: registered, absent
    frame = frame.astype({"event_id": "int64", "actor_id": "int64"})
    return frame.sort_values(["day", "event_id"], kind="stable").reset_index(drop=True)


def _first_times(parts: pd.DataFrame) -> pd.Series:
    """True for each present participation that is the actor's first (by day, then event id)."""
    present = parts[parts["present"]].sort_values(["day", "event_id"], kind="stable")
    first = ~present.duplicated("actor_id")
    return first.reindex(parts.index, fill_value=False)


def _scope(conn: Connection, community: str | int | None, shared_kinds: Sequence[str]) -> tuple[Any, Any]:
    if community is None:
        return None, None
    row = find_community(conn, community)
    return row, community_scope(row, shared_kinds=shared_kinds)


def event_stats(
    engine: Engine,
    *,
    community: str | int | None = None,
    start: date | None = None,
    end: date | None = None,
    shared_kinds: Sequence[str] = SHARED_KINDS,
) -> pd.DataFrame:
    """One row per event: who came, for the first time or again.

    Parameters
    ----------
    community : str or int, optional
        Only the events of this community (its scope, see :func:`community_scope`); first venues are then
        first venues to an event of the community.
    start, end : datetime.date, optional
        Only events between these dates (inclusive). First venues are still judged over all dates.
    shared_kinds : sequence of str
        Kinds counted for every community.

    Returns
    -------
    pandas.DataFrame
        ``événement`` (id), ``titre``, ``type``, ``date``, ``commune`` (INSEE code), ``communauté`` (slug),
        ``thème``, ``présents``, ``inscrits absents``, ``premières venues``, ``déjà venus``,
        ``organisateurs et intervenants``, ``communes des présents``; by date.
    """
    e, c, a = store.events, store.communities, store.actors
    with engine.connect() as conn:
        _, condition = _scope(conn, community, shared_kinds)
        statement = (sa.select(e.c.id, e.c.title, e.c.kind, e.c.starts_on, e.c.commune_code,
                               c.c.slug, e.c.theme).select_from(e.outerjoin(c, c.c.id == e.c.community_id)))
        if condition is not None:
            statement = statement.where(condition)
        listed = store.read_frame(conn, statement)
        parts = participations(conn, condition)
        communes = store.read_frame(conn, sa.select(a.c.id, a.c.commune_code).where(
            a.c.status == "active", a.c.id.in_(sa.select(store.participations.c.actor_id))))
    columns = {"id": "événement", "title": "titre", "kind": "type", "starts_on": "date", "commune_code": "commune",
               "slug": "communauté", "theme": "thème"}
    listed = listed.rename(columns=columns)
    parts["first"] = _first_times(parts)
    parts["commune"] = parts["actor_id"].map(communes.set_index("id")["commune_code"]) if len(communes) else None
    present = parts[parts["present"]]
    by_event = pd.DataFrame({
        "présents": present.groupby("event_id")["actor_id"].nunique(),
        "inscrits absents": parts[~parts["present"]].groupby("event_id")["actor_id"].nunique(),
        "premières venues": present[present["first"]].groupby("event_id")["actor_id"].nunique(),
        "organisateurs et intervenants": present[present["role"] != "participant"].groupby("event_id")["actor_id"]
        .nunique(),
        "communes des présents": present.groupby("event_id")["commune"].nunique(),
    })
    out = listed.join(by_event, on="événement").fillna({k: 0 for k in by_event.columns})
    out = out.astype({k: "int64" for k in by_event.columns})
    out.insert(out.columns.get_loc("premières venues") + 1, "déjà venus", out["présents"] - out["premières venues"])
    if start is not None:
        out = out[out["date"] >= start]
    if end is not None:
        out = out[out["date"] <= end]
    return out.sort_values(["date", "événement"], kind="stable").reset_index(drop=True)


def period_stats(
    engine: Engine,
    *,
    community: str | int | None = None,
    freq: str = "Q",
    shared_kinds: Sequence[str] = SHARED_KINDS,
) -> pd.DataFrame:
    """Participation per period (month, quarter or year): events, presences, new and returning participants.

    Parameters
    ----------
    community : str or int, optional
        Only the events of this community.
    freq : {"M", "Q", "Y"}
        Month, quarter or year.

    Returns
    -------
    pandas.DataFrame
        Indexed by period (``mois`` / ``trimestre`` / ``année``): ``événements``, ``présences``,
        ``participants``, ``nouveaux participants`` (first venue in the period), ``participants revenus``
        (came before the period).

    Examples
    --------
    >>> period_stats(store.init_base("sqlite://"), freq="Y").empty
    True
    """
    if freq not in _PERIODS:
        raise EventError(f"Période « {freq} » inconnue : M (mois), Q (trimestre) ou Y (année).")
    label, code = _PERIODS[freq]
    with engine.connect() as conn:
        _, condition = _scope(conn, community, shared_kinds)
        parts = participations(conn, condition)
    present = parts[parts["present"]].copy()
    present["first"] = _first_times(present)
    present["period"] = present["day"].dt.to_period(code)
    grouped = present.groupby("period")
    out = pd.DataFrame({
        "événements": grouped["event_id"].nunique(),
        "présences": grouped.size(),
        "participants": grouped["actor_id"].nunique(),
        "nouveaux participants": present[present["first"]].groupby("period")["actor_id"].nunique(),
    }).fillna(0).astype("int64")
    if len(out):  # every period between the first and the last, quiet ones included
        out = out.reindex(pd.period_range(out.index.min(), out.index.max(), freq=code), fill_value=0)
    out["participants revenus"] = out["participants"] - out["nouveaux participants"]
    out.index.name = label
    return out

