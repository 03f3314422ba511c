"""Graphs from the base: who meets whom at events, who is tied to whom, and their stored metrics.

Three graphs are built from the base for one scope — a community, a thematic
space, a period, a territory, or any combination of them:

- :func:`bipartite_graph` — actors and the events they were present at;
- :func:`actor_graph` — actors tied by co-participation, by the relations
  declared or named in a workshop, and by a person's membership of an
  organisation: an undirected simple graph, **the model users handle**, on
  which metrics (:mod:`carto.netmetrics`) and views (:mod:`carto.netviz`) run;
- :func:`relation_graph` — the relations as they are recorded: typed,
  directed, dated, with their provenance (a ``networkx.MultiDiGraph``).

On an actor graph, :func:`ego_network` keeps one actor's neighbourhood and
:func:`introductions` finds who can introduce one actor to another through
trusted ties. Metrics are stored for reuse by :func:`store_metrics` and read
back by :func:`stored_metrics`.

Scope
-----
The actors of a graph are chosen in three steps:

1. a ``community`` (slug, name or id: :func:`carto.events.find_community`) keeps
   its members (memberships with a cercle, computed or set by a jardinier) and
   the organisations of its members; without one, every active actor of the base;
2. a ``territory`` (départements, EPCI or communes by code or name:
   :func:`carto.geo.find_territory`) keeps those whose commune is in it;
3. a ``theme`` (slug or name: :func:`carto.themes.find_theme`) keeps **the actors
   of the theme** (:func:`carto.events.actor_themes` up to ``end``: the same as the
   members map's « Thème » filter and the member table's), and a period
   (``start``, ``end``) those present at one of the selected events or, with
   ``relations``, at one end of a relation valid then — then the organisations
   of the persons kept (with ``memberships``). Without a theme nor a period, no
   actor is dropped at this step: isolated members stay in the graph (they are
   the ones to bring in).

The events are those of the community's scope (:func:`carto.events.community_scope`)
— and, with a ``theme``, those of the theme (``events.theme``): a community's
graph under another space keeps the ties of both —, dated between ``start`` and
``end`` (inclusive). The relations are those valid in the period (``valid_from`` ≤
``end`` and ``valid_to`` ≥ ``start``; an undated bound never excludes).
Registered people who did not sign the sheet are not present and make no tie.

Ties of the actor graph
-----------------------
Two actors present at the same event are tied by **Newman's collaboration
weighting**: an event where :math:`n_e` actors were present (all actors of the
base, whatever the filters) gives each pair of them :math:`1/(n_e - 1)`, so
that one large meeting does not outweigh repeated small ones — in the graph
of the whole base, an actor's co-participation weights from one event sum to
1 (Newman, *Phys. Rev. E* 64, 016132, 2001). Each edge carries:

``co_participation``
    :math:`\\sum_e 1/(n_e - 1)` over the events both were present at;
``events``
    the number of those events;
``relations``, ``provenance``
    sorted lists of the types and provenances (workshop, declared, inferred) of
    the relations between them, whatever their direction;
``membership``
    True when one is a person whose organisation is the other;
``weight``
    ``co_participation`` + the sum of the relations' ``weight`` (1 unless
    given) + :data:`MEMBERSHIP_WEIGHT` (1) for a membership;
``trusted``
    a declared or workshop relation, a membership, or at least
    :data:`TRUSTED_EVENTS` (2) events together — inferred relations and a
    single meeting are not enough to ask someone for an introduction.

Nodes are actor ids (int) with ``name``, ``kind`` (« personne » /
« organisation »), ``shown`` (an organisation, or a person who agreed to be
shown on a map: views print only these names), ``circle`` (1, 2, 3 in the
community, else None), ``commune`` (INSEE code), ``organisation_id``. The
graph's ``graph`` dict holds ``name`` (a French title) and ``filters`` (the
scope, JSON-ready: pass it on to :func:`store_metrics`).

Examples
--------
>>> from datetime import date
>>> from carto import network, store
>>> engine = store.init_base("sqlite://")
>>> with store.transaction(engine, action="exemple") as conn:
...     _ = conn.execute(store.actors.insert(), [
...         {"id": i, "kind": k, "display_name": n, "organisation_id": o, "consent_map": i == 2}
...         for i, k, n, o in [(1, "organisation", "Les Semeurs", None), (2, "personne", "Léa", 1),
...                            (3, "personne", "Tom", None), (4, "personne", "Inès", None)]])
...     _ = conn.execute(store.events.insert(), [
...         {"id": 1, "title": "Atelier", "kind": "atelier de cartographie", "starts_on": date(2025, 3, 1)},
...         {"id": 2, "title": "Webinaire", "kind": "webinaire", "starts_on": date(2025, 4, 1)}])
...     _ = conn.execute(store.participations.insert(), [
...         {"event_id": 1, "actor_id": 2}, {"event_id": 1, "actor_id": 3}, {"event_id": 1, "actor_id": 4},
...         {"event_id": 2, "actor_id": 2}, {"event_id": 2, "actor_id": 3}])
>>> G = network.actor_graph(engine)
>>> G.edges[2, 3]["co_participation"], G.edges[2, 3]["events"], G.edges[2, 3]["trusted"]
(1.5, 2, True)
>>> G.edges[1, 2]["membership"], G.edges[3, 4]["weight"]
(True, 0.5)
>>> network.introductions(G, 1, 3)[["intermédiaires", "noms"]].to_dict("records")  # Tom did not agree
[{'intermédiaires': 1, 'noms': 'Les Semeurs → Léa → personne non nommée'}]
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy import sparse
from sqlalchemy.engine import Connection, Engine

from carto import _fr, events, geo, store, themes
from carto._errors import NetworkError

__all__ = [
    "EVENT_NODE",
    "TRUSTED_EVENTS",
    "TRUSTED_PROVENANCES",
    "MEMBERSHIP_WEIGHT",
    "ROLES",
    "METRIC_COLUMNS",
    "UNNAMED_PERSON",
    "gc_paused",
    "bipartite_graph",
    "actor_graph",
    "relation_graph",
    "ego_network",
    "introductions",
    "store_metrics",
    "stored_metrics",
]

log = logging.getLogger(__name__)

#: First item of the node id of an event in :func:`bipartite_graph`: ``("evenement", event id)``.
EVENT_NODE = "evenement"
#: Events attended together that make a tie trusted without any declared relation.
TRUSTED_EVENTS = 2
#: Provenances of the relations that make a tie trusted (« inferred » ones do not).
TRUSTED_PROVENANCES = ("declared", "workshop")
#: Weight a person's membership of an organisation adds to their tie.
MEMBERSHIP_WEIGHT = 1.0
#: Roles at an event, the most engaged first: an actor with several roles at one event keeps the first.
ROLES = ("organisateur", "intervenant", "participant")
#: French column of a metric (:func:`carto.netmetrics.metrics`) → column of ``network_metrics``.
METRIC_COLUMNS: dict[str, str] = {
    "degré": "degree",
    "degré pondéré": "weighted_degree",
    "intermédiarité": "betweenness",
    "pagerank": "pagerank",
    "portée à 2 pas": "reach_2",
    "contrainte": "burt_constraint",
    "taille effective": "effective_size",
    "cœur": "core",
    "groupe": "cluster",
    "nom du groupe": "cluster_name",
}
#: Names the group columns had before (a table computed or saved by an older Terreau): read as the new ones.
_OLD_METRIC_NAMES = {"communauté": "groupe", "nom de la communauté": "nom du groupe"}
_INTEGER_METRICS = ("degree", "reach_2", "core", "cluster")
#: Columns of :func:`stored_metrics` before the metrics.
_ACTOR_COLUMNS = ("nom", "type")
#: Most candidate paths :func:`introductions` compares (per path asked) before ranking them.
_CANDIDATES_PER_PATH = 10


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True)
class _Scope:
    """What a graph is built from (see the module docstring, « Scope »)."""

    actors: pd.DataFrame  # index: actor id; name, kind, shown, circle, commune, organisation_id
    present: pd.DataFrame  # event_id, actor_id, role, size (actors present at the event) — kept actors only
    events: pd.DataFrame  # index: event id; title, kind, day, theme, commune (the selected events)
    relations: pd.DataFrame  # relation rows between kept actors, valid in the period
    filters: dict[str, Any]
    label: str  # French description of the scope, for titles


def _check_period(start: date | None, end: date | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not isinstance(value, date):
            raise NetworkError(f"Date « {value!r} » ({name}) : donnez une date, par exemple date(2025, 1, 1).")
    if start is not None and end is not None and start > end:
        raise NetworkError(f"Période vide : le début ({start:%d/%m/%Y}) est après la fin ({end:%d/%m/%Y}) ; "
                           "inversez start et end.")


def _event_condition(community: Any, theme: str | None, start: date | None, end: date | None) -> Any:
    e = store.events
    parts = []
    if community is not None and theme is not None:  # the community's events and the theme's
        parts.append(sa.or_(events.community_scope(community), e.c.theme == theme))
    elif community is not None:
        parts.append(events.community_scope(community))
    elif theme is not None:
        parts.append(e.c.theme == theme)
    if start is not None:
        parts.append(e.c.starts_on >= start)
    if end is not None:
        parts.append(e.c.starts_on <= end)
    return sa.and_(sa.true(), *parts)


def _relation_rows(conn: Connection, start: date | None, end: date | None, *, empty: bool = False) -> pd.DataFrame:
    """The relations valid between ``start`` and ``end``, with the theme of their workshop (``empty``: none, typed)."""
    r, w = store.relations, store.workshops
    statement = (sa.select(r.c.id, r.c.source_id, r.c.target_id, r.c.type, r.c.directed, r.c.weight, r.c.provenance,
                           r.c.workshop_id, r.c.valid_from, r.c.valid_to, w.c.theme.label("workshop_theme"))
                 .select_from(r.outerjoin(w, w.c.id == r.c.workshop_id)).order_by(r.c.id))
    if start is not None:
        statement = statement.where(sa.or_(r.c.valid_to.is_(None), r.c.valid_to >= start))
    if end is not None:
        statement = statement.where(sa.or_(r.c.valid_from.is_(None), r.c.valid_from <= end))
    if empty:
        statement = statement.where(sa.false())
    frame = store.read_frame(conn, statement)
    return frame.astype({"id": "int64", "source_id": "int64", "target_id": "int64", "workshop_id": "Int64",
                         "weight": float, "directed": bool})


def _present(parts: pd.DataFrame) -> pd.DataFrame:
    """One row per actor present at an event (the most engaged role), with ``size``: actors present there."""
    present = parts[parts["present"]].copy()
    present["rank"] = present["role"].map({role: i for i, role in enumerate(ROLES)})
    present = present.sort_values(["event_id", "actor_id", "rank"], kind="stable").drop_duplicates(
        ["event_id", "actor_id"])
    present["size"] = present.groupby("event_id")["actor_id"].transform("size")
    return present[["event_id", "actor_id", "role", "size"]].reset_index(drop=True)


def _label(community: Any, theme_name: str | None, start: date | None, end: date | None,
           territory: Sequence[str] | None) -> str:
    parts = []
    if community is not None:
        parts.append(f"communauté {community.name}")
    if theme_name is not None:
        parts.append(f"espace {theme_name}")
    if start is not None and end is not None:
        parts.append(f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}")
    elif start is not None:
        parts.append(f"depuis le {start:%d/%m/%Y}")
    elif end is not None:
        parts.append(f"jusqu'au {end:%d/%m/%Y}")
    if territory is not None:
        parts.append(f"territoire {', '.join(territory)}")
    return " — ".join(parts) or "toute la base"


def _scope(
    engine: Engine, *, community: str | int | None, theme: str | None, start: date | None, end: date | None,
    territory: str | Sequence[str] | None, relations: bool = True, memberships: bool = True,
) -> _Scope:
    """Read the actors, presences, events and relations of a scope (see the module docstring)."""
    theme = None if theme is None else themes.find_theme(theme)
    theme_name = None if theme is None else themes.theme_names()[theme]
    _check_period(start, end)
    places = None if territory is None else [territory] if isinstance(territory, str) else list(territory)
    communes = None if places is None else geo.territory_communes(places)
    places = None if places is None else [geo.find_territory(t) for t in places]
    a, m = store.actors, store.memberships
    with engine.connect() as conn:
        row = None if community is None else events.find_community(conn, community)
        actors = store.read_frame(conn, sa.select(
            a.c.id, a.c.display_name, a.c.kind, a.c.consent_map, a.c.commune_code, a.c.organisation_id)
            .where(a.c.status == "active").order_by(a.c.id))
        circles = pd.Series(dtype="Int64")
        if row is not None:
            circle = sa.func.coalesce(m.c.override_circle, m.c.computed_circle)
            listed = store.read_frame(conn, sa.select(m.c.actor_id, circle.label("circle"))
                                      .where(m.c.community_id == row.id, circle.is_not(None)))
            circles = listed.set_index("actor_id")["circle"].astype("Int64")
        condition = _event_condition(row, theme, start, end)
        present = _present(events.participations(conn, condition))
        e = store.events
        listed_events = store.read_frame(conn, sa.select(e.c.id, e.c.title, e.c.kind, e.c.starts_on, e.c.theme,
                                                         e.c.commune_code).where(condition).order_by(e.c.id))
        rels = _relation_rows(conn, start, end, empty=not relations)
        of_theme = None if theme is None else events.theme_actors(conn, theme, until=end)
    actors = actors.astype({"id": "int64"}).set_index("id")
    organisation = actors["organisation_id"].astype("Int64")
    is_person = actors["kind"].eq("personne")

    def with_organisations(ids: pd.Index, within: pd.Index) -> pd.Index:
        orgs = organisation.reindex(ids)[is_person.reindex(ids, fill_value=False)].dropna().astype("int64")
        return ids.union(pd.Index(orgs.unique()).intersection(within))

    kept = actors.index
    if row is not None:  # members and their organisations
        kept = kept.intersection(circles.index)
        kept = with_organisations(kept, actors.index)
    if communes is not None:
        kept = kept[actors.loc[kept, "commune_code"].isin(communes).to_numpy()]
    within = kept
    if of_theme is not None:  # the actors of the theme (carto.events.actor_themes)
        kept = kept.intersection(pd.Index(sorted(of_theme), dtype="int64"))
    if start is not None or end is not None:  # active in the period: at an event, or a relation valid then
        active = pd.Index(present["actor_id"]).union(pd.Index(rels["source_id"])).union(pd.Index(rels["target_id"]))
        kept = kept.intersection(active)
    if (of_theme is not None or start is not None or end is not None) and memberships:
        kept = with_organisations(kept, within)
    kept = kept.sort_values()
    chosen = actors.loc[kept]
    out = pd.DataFrame({
        "name": chosen["display_name"],
        "kind": chosen["kind"],
        "shown": chosen["kind"].eq("organisation") | chosen["consent_map"].fillna(False).astype(bool),
        "circle": circles.reindex(kept),
        "commune": chosen["commune_code"],
        "organisation_id": organisation.reindex(kept),
    }, index=kept)
    present = present[present["actor_id"].isin(kept)].reset_index(drop=True)
    rels = rels[rels["source_id"].isin(kept) & rels["target_id"].isin(kept)].reset_index(drop=True)
    filters = {"community": None if row is None else row.slug, "theme": theme,
               "start": None if start is None else start.isoformat(), "end": None if end is None else end.isoformat(),
               "territory": None if places is None else [t.code for t in places]}
    return _Scope(actors=out, present=present, events=listed_events.set_index("id"), relations=rels,
                  filters=filters, label=_label(row, theme_name, start, end,
                                                None if places is None else [t.label for t in places]))


def _python(values: pd.Series) -> list[Any]:
    """Values as Python objects, None for missing ones (for node and edge attributes)."""
    objects = values.astype(object)
    return objects.where(objects.notna(), None).tolist()


def _actor_nodes(actors: pd.DataFrame, **extra: Any) -> list[tuple[int, dict[str, Any]]]:
    columns = ["name", "kind", "shown", "circle", "commune", "organisation_id"]
    values = [_python(actors[c]) for c in columns]
    return [(int(i), {**dict(zip(columns, row)), **extra}) for i, row in zip(actors.index, zip(*values))]


def _graph(kind: type[nx.Graph], title: str, scope: _Scope, **filters: Any) -> nx.Graph:
    return kind(name=f"{title} — {scope.label}", filters={**scope.filters, **filters})


# --------------------------------------------------------------------------- graphs


def bipartite_graph(
    engine: Engine, *, community: str | int | None = None, theme: str | None = None, start: date | None = None,
    end: date | None = None, territory: str | Sequence[str] | None = None,
) -> nx.Graph:
    """Actors and the events they were present at (registered absentees are left out).

    The scope (``community``, ``theme``, ``start``, ``end``, ``territory``) is chosen as for
    :func:`actor_graph`, without relations nor memberships.

    Returns
    -------
    networkx.Graph
        Actor nodes (int ids) with ``bipartite`` 0 and the attributes of :func:`actor_graph`; event nodes
        ``("evenement", event id)`` with ``bipartite`` 1, ``name`` (title), ``kind`` « événement », ``type``
        (kind of event), ``date``, ``theme``, ``commune`` and ``present`` (actors present, whole base). Edges carry
        ``role`` (the most engaged of the actor's roles there, :data:`ROLES`). Only actors present at one of
        the events and events with one of the actors are nodes.

    Examples
    --------
    >>> from carto import store
    >>> B = bipartite_graph(store.init_base("sqlite://"))
    >>> B.number_of_nodes(), B.graph["name"]
    (0, 'Acteurs et événements — toute la base')
    """
    started = time.perf_counter()
    scope = _scope(engine, community=community, theme=theme, start=start, end=end, territory=territory,
                   relations=False, memberships=False)
    present = scope.present
    G = _graph(nx.Graph, "Acteurs et événements", scope)
    listed = scope.events.loc[scope.events.index.isin(present["event_id"])]
    size = present.groupby("event_id")["size"].first().reindex(listed.index)
    with gc_paused():
        G.add_nodes_from(_actor_nodes(scope.actors.loc[scope.actors.index.isin(present["actor_id"])], bipartite=0))
        G.add_nodes_from(
            ((EVENT_NODE, i), {"bipartite": 1, "name": title, "kind": "événement", "type": kind, "date": day,
                               "theme": theme_, "commune": commune, "present": n})
            for i, title, kind, day, theme_, commune, n in zip(
                listed.index.tolist(), listed["title"], listed["kind"], listed["starts_on"], _python(listed["theme"]),
                _python(listed["commune_code"]), size.tolist()))
        G.add_edges_from((a, (EVENT_NODE, e), {"role": role}) for a, e, role in zip(
            present["actor_id"].tolist(), present["event_id"].tolist(), present["role"].tolist()))
    _log_built(G, started)
    return G


def _co_participation(present: pd.DataFrame) -> pd.DataFrame:
    """Pairs of actors present at the same events: ``co_participation`` (Newman) and ``events``, by (a, b), a < b.

    Sparse products of the actor × event incidence matrix: no Python loop over pairs, and an event of
    hundreds of actors costs its pairs once, in C.
    """
    index = pd.MultiIndex.from_arrays([pd.Index([], dtype="int64")] * 2, names=["a", "b"])
    if present.empty:
        return pd.DataFrame({"co_participation": pd.Series(dtype=float), "events": pd.Series(dtype="int64")},
                            index=index)
    actor_ids, rows = np.unique(present["actor_id"].to_numpy("int64"), return_inverse=True)
    event_ids, columns = np.unique(present["event_id"].to_numpy("int64"), return_inverse=True)
    shape = (len(actor_ids), len(event_ids))
    incidence = sparse.csr_array((np.ones(len(present)), (rows, columns)), shape=shape)
    size = present["size"].to_numpy(float)
    newman = sparse.csr_array((np.divide(1.0, size - 1, out=np.zeros(len(size)), where=size > 1),
                                (rows, columns)), shape=shape)
    frames = []
    for name, left in (("co_participation", newman), ("events", incidence)):
        pairs = sparse.triu(left @ incidence.T, k=1).tocoo()
        frames.append(pd.Series(pairs.data, index=pd.MultiIndex.from_arrays(
            [actor_ids[pairs.row], actor_ids[pairs.col]], names=["a", "b"]), name=name))
    out = pd.concat(frames, axis=1).sort_index()
    return out.astype({"co_participation": float, "events": "int64"})


def _pairs(first: pd.Series, second: pd.Series) -> pd.MultiIndex:
    a, b = first.to_numpy("int64"), second.to_numpy("int64")
    return pd.MultiIndex.from_arrays([np.minimum(a, b), np.maximum(a, b)], names=["a", "b"])


def _relation_ties(relations: pd.DataFrame) -> pd.DataFrame:
    """``relations``, ``provenance`` (sorted lists), ``relation_weight``, ``declared`` by actor pair (a, b)."""
    frame = relations.set_index(_pairs(relations["source_id"], relations["target_id"]))
    grouped = frame.groupby(level=["a", "b"])
    return pd.DataFrame({
        "relations": grouped["type"].agg(lambda s: sorted(set(s))),
        "provenance": grouped["provenance"].agg(lambda s: sorted(set(s))),
        "relation_weight": grouped["weight"].sum().astype(float),
        "declared": frame["provenance"].isin(TRUSTED_PROVENANCES).groupby(level=["a", "b"]).any(),
    })


def _membership_ties(actors: pd.DataFrame) -> pd.Series:
    """True for each (person, their organisation) pair of the graph, by actor pair (a, b)."""
    organisation = actors["organisation_id"]
    linked = actors[actors["kind"].eq("personne").to_numpy() & organisation.isin(actors.index).to_numpy()]
    index = _pairs(pd.Series(linked.index), linked["organisation_id"].astype("int64"))
    return pd.Series(True, index=index, name="membership", dtype=bool)


#: Edge attributes of :func:`actor_graph`, in order.
_EDGE_ATTRIBUTES = ("co_participation", "events", "relations", "provenance", "membership", "weight", "trusted")


def _edges(scope: _Scope, *, memberships: bool) -> pd.DataFrame:
    """The ties of :func:`actor_graph` (:data:`_EDGE_ATTRIBUTES`), by actor pair (a, b)."""
    parts: list[pd.DataFrame | pd.Series] = [_co_participation(scope.present)]
    if len(scope.relations):
        parts.append(_relation_ties(scope.relations))
    if memberships:
        parts.append(_membership_ties(scope.actors))
    edges = pd.concat(parts, axis=1).sort_index()
    for name, default in (("relations", None), ("provenance", None), ("relation_weight", 0.0), ("declared", False),
                          ("membership", False)):
        if name not in edges:
            edges[name] = default
    for name in ("relations", "provenance"):
        edges[name] = [v if isinstance(v, list) else [] for v in edges[name]]
    edges = edges.fillna({"co_participation": 0.0, "events": 0, "relation_weight": 0.0, "declared": False,
                          "membership": False}).astype({"events": "int64", "declared": bool, "membership": bool})
    edges["weight"] = edges["co_participation"] + edges["relation_weight"] + MEMBERSHIP_WEIGHT * edges["membership"]
    edges["trusted"] = edges["declared"] | edges["membership"] | (edges["events"] >= TRUSTED_EVENTS)
    return edges[list(_EDGE_ATTRIBUTES)]


def actor_graph(
    engine: Engine, *, community: str | int | None = None, theme: str | None = None, start: date | None = None,
    end: date | None = None, territory: str | Sequence[str] | None = None, relations: bool = True,
    memberships: bool = True,
) -> nx.Graph:
    """The actors of a scope and their ties: co-participation, relations, membership (undirected, simple).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    community : str or int, optional
        Slug, name or id of a community (« biodiversite », « Biodiversité »): its members, their
        organisations, the events of its scope.
    theme : str, optional
        Thematic space (slug or name, « mer » or « Mer et littoral »): the actors of the space
        (:func:`carto.events.actor_themes`) and its events.
    start, end : datetime.date, optional
        Events between these dates (inclusive), relations valid then, and the actors they concern.
    territory : str or sequence of str, optional
        Départements (« 34 », « Hérault »), EPCI (SIREN or name) or communes (INSEE code or name), see
        :func:`carto.geo.find_territory`: actors whose commune is in them.
    relations : bool
        Add the relations of the base (declared, from workshops, inferred).
    memberships : bool
        Tie each person to their organisation.

    Returns
    -------
    networkx.Graph
        Nodes: actor ids with ``name``, ``kind``, ``shown``, ``circle``, ``commune``, ``organisation_id``.
        Edges: ``co_participation``, ``events``, ``relations``, ``provenance``, ``membership``, ``weight``,
        ``trusted`` (see the module docstring for the formulas). ``G.graph``: ``name``, ``filters``.

    Raises
    ------
    NetworkError
        A period that ends before it starts.
    carto._errors.NotFoundError
        Unknown community, theme or territory (the message gives the closest); an ambiguous commune name
        raises :class:`~carto._errors.AmbiguousCommuneError`.

    Examples
    --------
    >>> from carto import store
    >>> G = actor_graph(store.init_base("sqlite://"), start=date(2025, 1, 1))
    >>> G.number_of_nodes(), G.graph["name"]
    (0, 'Réseau des acteurs — depuis le 01/01/2025')
    >>> actor_graph(store.init_base("sqlite://"), territory="99")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.CommuneNotFoundError: Territoire « 99 » inconnu. Pour un territoire, donnez un département ...
    """
    started = time.perf_counter()
    scope = _scope(engine, community=community, theme=theme, start=start, end=end, territory=territory,
                   relations=relations, memberships=memberships)
    G = _graph(nx.Graph, "Réseau des acteurs", scope, relations=relations, memberships=memberships)
    with gc_paused():
        G.add_nodes_from(_actor_nodes(scope.actors))
        edges = _edges(scope, memberships=memberships)
        values = [edges[c].tolist() for c in _EDGE_ATTRIBUTES]
        G.add_edges_from(zip(edges.index.get_level_values("a").tolist(), edges.index.get_level_values("b").tolist(),
                             (dict(zip(_EDGE_ATTRIBUTES, row)) for row in zip(*values))))
    _log_built(G, started)
    return G


def relation_graph(
    engine: Engine, *, community: str | int | None = None, theme: str | None = None, start: date | None = None,
    end: date | None = None, territory: str | Sequence[str] | None = None,
) -> nx.MultiDiGraph:
    """The relations between the actors of a scope as recorded: typed, directed, dated, with provenance.

    The nodes are those of :func:`actor_graph` for the same scope. Each relation is one edge from its
    ``source_id`` to its ``target_id``, keyed by its id; an undirected one (``directed`` false) is still
    stored once, from source to target.

    Returns
    -------
    networkx.MultiDiGraph
        Edge attributes: ``type``, ``directed``, ``weight``, ``provenance`` (workshop, declared, inferred),
        ``workshop_id``, ``valid_from``, ``valid_to``.

    Examples
    --------
    >>> from carto import store
    >>> relation_graph(store.init_base("sqlite://")).is_directed()
    True
    """
    started = time.perf_counter()
    scope = _scope(engine, community=community, theme=theme, start=start, end=end, territory=territory)
    G = _graph(nx.MultiDiGraph, "Relations entre acteurs", scope)
    rels = scope.relations
    names = ["type", "directed", "weight", "provenance", "workshop_id", "valid_from", "valid_to"]
    values = [_python(rels[c]) for c in names]
    with gc_paused():
        G.add_nodes_from(_actor_nodes(scope.actors))
        G.add_edges_from((s, t, key, dict(zip(names, row))) for s, t, key, row in zip(
            rels["source_id"].tolist(), rels["target_id"].tolist(), rels["id"].tolist(), zip(*values)))
    _log_built(G, started)
    return G


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a graph is built.

    Building a graph allocates millions of small dicts and lists (no cycles): each allocation burst
    triggers full collections that walk every object already made — 3 to 4 times the time of the
    build itself at 800 000 ties.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _log_built(G: nx.Graph, started: float) -> None:
    log.info("%s : %s nœuds, %s liens (%.1f s)", G.graph["name"], _fr.integer(G.number_of_nodes()),
             _fr.integer(G.number_of_edges()), time.perf_counter() - started)


# --------------------------------------------------------------------------- neighbourhoods and paths


#: What views print instead of the name of a person who did not agree to be shown.
UNNAMED_PERSON = "personne non nommée"


def _name(G: nx.Graph, node: Hashable) -> str:
    """The name of a node as people may read it: « personne non nommée » when its ``shown`` is false."""
    data = G.nodes[node]
    if not data.get("shown", True):
        return UNNAMED_PERSON if data.get("kind", "personne") == "personne" else "organisation non nommée"
    return str(data.get("name") or node)


def _check_actor(G: nx.Graph, actor: Hashable) -> Hashable:
    """``actor`` as a node of ``G`` (numpy integers accepted); a French error if it is not one."""
    node = int(actor) if isinstance(actor, np.integer) else actor
    try:
        found = node in G
    except TypeError:  # unhashable
        found = False
    if not found:
        raise NetworkError(
            f"L'acteur « {actor} » n'est pas dans ce graphe ({_fr.integer(G.number_of_nodes())} nœuds) : vérifiez "
            "son identifiant (colonne « acteur » du tableau des membres), ou élargissez les filtres du graphe "
            "(communauté, thème, période, territoire).")
    return node


def ego_network(G: nx.Graph, actor: Hashable, *, radius: int = 1) -> nx.Graph:
    """The neighbourhood of one actor: the actors at most ``radius`` steps away and the ties between them.

    Parameters
    ----------
    G : networkx.Graph
        A graph of :func:`actor_graph` (or any networkx graph; directed ones are walked both ways).
    actor : hashable
        The actor in focus (its id).
    radius : int
        Number of steps (1: its direct ties; 2: also their ties…).

    Returns
    -------
    networkx.Graph
        A copy (``G`` is not changed) with the node attribute ``distance`` (steps from ``actor``) and
        ``graph["ego"]``, ``graph["radius"]``, ``graph["name"]`` (« Voisinage de … (2 pas) », « personne
        non nommée » for a person who did not agree to be shown).

    Raises
    ------
    NetworkError
        ``actor`` is not in ``G`` or ``radius`` is not a whole number ≥ 0.

    Examples
    --------
    >>> import networkx as nx
    >>> ego = ego_network(nx.path_graph(5), 2, radius=1)
    >>> sorted(ego.nodes(data="distance"))
    [(1, 1), (2, 0), (3, 1)]
    >>> ego_network(nx.path_graph(5), 9)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.NetworkError: L'acteur « 9 » n'est pas dans ce graphe (5 nœuds) : ...
    """
    node = _check_actor(G, actor)
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise NetworkError(f"Rayon « {radius!r} » : donnez un nombre de pas entier, 1 (liens directs) ou plus.")
    ego = nx.ego_graph(G, node, radius=int(radius), undirected=G.is_directed())
    walk = ego.to_undirected(as_view=True) if ego.is_directed() else ego
    nx.set_node_attributes(ego, nx.single_source_shortest_path_length(walk, node), "distance")
    name = _name(G, node)
    ego.graph.update(name=f"Voisinage de {name} ({int(radius)} pas)", ego=node, radius=int(radius))
    return ego


def _tie_label(data: Mapping[str, Any]) -> str:
    """French description of a tie of :func:`actor_graph`, e.g. « partenaire, 2 événements en commun »."""
    parts = list(data.get("relations") or [])
    if data.get("membership"):
        parts.append("membre de l'organisation")
    n = int(data.get("events") or 0)
    if n:
        parts.append(f"{_fr.count(n, 'événement')} en commun")
    return ", ".join(parts) or "lien"


def introductions(G: nx.Graph, source: Hashable, target: Hashable, *, trusted_only: bool = True,
                  k: int = 3) -> pd.DataFrame:
    """Who can introduce ``source`` to ``target``: the ``k`` shortest chains of ties between them.

    Chains are ranked by their number of intermediaries, then by the weight of their weakest tie (a chain
    is as strong as its weakest link), then by their total weight. With ``trusted_only``, only the ties
    whose ``trusted`` attribute is true are walked (see :func:`actor_graph`).

    Parameters
    ----------
    G : networkx.Graph
        A graph of :func:`actor_graph` (ties with ``weight`` and ``trusted``).
    source, target : hashable
        The two actors (ids).
    trusted_only : bool
        Only through trusted ties.
    k : int
        Number of chains.

    Returns
    -------
    pandas.DataFrame
        One row per chain, best first: ``rang``, ``intermédiaires`` (number), ``noms``
        (« A → B → C »), ``liens`` (what ties each step), ``lien le plus faible`` (its weight), ``chemin``
        (list of actor ids, ``source`` first). A person who did not agree to be shown (node attribute
        ``shown`` false) is written « personne non nommée », in the names, the ties and the error messages
        (the ``chemin`` gives the ids, for the jardiniers).

    Raises
    ------
    NetworkError
        An actor is not in ``G``, both are the same, or no chain joins them.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.Graph()
    >>> G.add_edge(1, 2, weight=1.0, trusted=True, relations=["partenaire"])
    >>> G.add_edge(2, 3, weight=2.0, trusted=True, events=2)
    >>> G.add_edge(1, 3, weight=0.1, trusted=False, events=1)
    >>> introductions(G, 1, 3)[["intermédiaires", "liens", "lien le plus faible"]].to_dict("records")
    [{'intermédiaires': 1, 'liens': '1 → 2 : partenaire ; 2 → 3 : 2 événements en commun', 'lien le plus faible': 1.0}]
    >>> introductions(G, 1, 3, trusted_only=False)["chemin"].tolist()
    [[1, 3], [1, 2, 3]]
    """
    first, last = _check_actor(G, source), _check_actor(G, target)
    if first == last:
        raise NetworkError(f"« {_name(G, first)} » ({first}) est à la fois la source et la cible : "
                           "donnez deux acteurs différents.")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise NetworkError(f"Nombre de chemins « {k!r} » : donnez un entier ≥ 1.")
    if G.is_multigraph():
        raise NetworkError("introductions s'applique au graphe des acteurs (carto.network.actor_graph), "
                           "pas à un multigraphe comme celui des relations.")
    walked = nx.subgraph_view(G, filter_edge=lambda u, v: bool(G[u][v].get("trusted"))) if trusted_only else G
    found: list[list[Hashable]] = []
    try:
        for path in nx.shortest_simple_paths(walked, first, last):
            if (len(found) >= k and len(path) > len(found[k - 1])) or len(found) >= _CANDIDATES_PER_PATH * k:
                break
            found.append(path)
    except nx.NetworkXNoPath:
        how = "par des liens de confiance " if trusted_only else ""
        hint = ("essayez trusted_only=False (tous les liens), ou élargissez les filtres du graphe" if trusted_only
                else "ils ne sont reliés par aucune suite de liens dans ce graphe ; élargissez ses filtres")
        raise NetworkError(f"Aucun chemin {how}entre « {_name(G, first)} » ({first}) et « {_name(G, last)} » "
                           f"({last}) : {hint}.") from None
    rows = []
    for path in found:
        ties = [G.edges[u, v] for u, v in zip(path, path[1:])]
        weights = [float(t.get("weight", 1.0)) for t in ties]
        rows.append({
            "intermédiaires": len(path) - 2,
            "noms": " → ".join(_name(G, n) for n in path),
            "liens": " ; ".join(f"{_name(G, u)} → {_name(G, v)} : {_tie_label(t)}"
                                for (u, v), t in zip(zip(path, path[1:]), ties)),
            "lien le plus faible": min(weights),
            "_total": sum(weights),
            "chemin": list(path),
        })
    out = pd.DataFrame(rows).sort_values(["intermédiaires", "lien le plus faible", "_total"],
                                         ascending=[True, False, False], kind="stable").head(k)
    out.insert(0, "rang", range(1, len(out) + 1))
    return out.drop(columns="_total").reset_index(drop=True)


# --------------------------------------------------------------------------- stored metrics


def _scope_condition(conn: Connection, community: str | int | None) -> tuple[Any, Any]:
    """(row of the community or None, condition on ``network_metrics`` selecting its rows)."""
    nm = store.network_metrics
    if community is None:
        return None, nm.c.community_id.is_(None)
    row = events.find_community(conn, community)
    return row, nm.c.community_id == row.id


def store_metrics(
    engine: Engine, frame: pd.DataFrame, *, community: str | int | None = None, as_of: date,
    parameters: Mapping[str, Any], who: str | None = None,
) -> int:
    """Store the metrics of a graph's actors, replacing those stored before for the same community.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    frame : pandas.DataFrame
        Indexed by actor id, with French columns of :data:`METRIC_COLUMNS` (as given by
        :func:`carto.netmetrics.metrics`; missing ones are stored empty; « nom » and « type » are ignored;
        the old names « communauté » and « nom de la communauté » are read as « groupe » and « nom du groupe »).
    community : str or int, optional
        Community (slug, name or id) the metrics were computed for; None: the whole base (or any scope that is
        not a community — say which in ``parameters``).
    as_of : datetime.date
        Date of the data.
    parameters : mapping
        How they were computed (JSON-ready): the graph's filters (``G.graph["filters"]``), resolution, seed,
        backend…
    who : str, optional
        Author for the audit log.

    Returns
    -------
    int
        Rows written.

    Examples
    --------
    >>> from carto import store
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     _ = conn.execute(store.actors.insert().values(id=7, kind="personne", display_name="Léa"))
    >>> frame = pd.DataFrame({"degré": [3], "pagerank": [0.25]}, index=pd.Index([7], name="acteur"))
    >>> store_metrics(engine, frame, as_of=date(2026, 11, 29), parameters={"resolution": 1.0})
    1
    >>> stored_metrics(engine)[["nom", "degré", "pagerank"]].to_dict("index")
    {7: {'nom': 'Léa', 'degré': 3, 'pagerank': 0.25}}
    """
    frame = frame.rename(columns={old: new for old, new in _OLD_METRIC_NAMES.items() if new not in frame})
    unknown = [str(c) for c in frame.columns if c not in METRIC_COLUMNS and c not in _ACTOR_COLUMNS]
    if unknown:
        raise NetworkError(f"{_fr.count(len(unknown), 'colonne inconnue', 'colonnes inconnues')} : "
                           f"{', '.join(unknown)} ; les mesures stockées sont {', '.join(METRIC_COLUMNS)}.")
    if not isinstance(as_of, date):
        raise NetworkError(f"Date des données « {as_of!r} » : donnez une date, par exemple date(2026, 11, 29).")
    try:
        ids = pd.Index(frame.index).astype("int64")
    except (TypeError, ValueError):
        raise NetworkError("Le tableau des mesures doit être indexé par les identifiants des acteurs (entiers), "
                           "comme celui de carto.netmetrics.metrics.") from None
    if ids.has_duplicates:
        twice = sorted(set(ids[ids.duplicated()]))
        raise NetworkError(f"{_fr.count(len(twice), 'acteur')} en double dans le tableau des mesures : {twice[:10]}.")
    rows = pd.DataFrame({"actor_id": ids})
    for french, column in METRIC_COLUMNS.items():
        if french in frame:
            values = frame[french].to_numpy()
            rows[column] = pd.array(values, dtype="Int64") if column in _INTEGER_METRICS else values
    n = len(rows)
    rows["computed_at"] = pd.Series([datetime.now(timezone.utc)] * n, dtype=object)
    rows["as_of"] = pd.Series([as_of] * n, dtype=object)
    rows["parameters"] = pd.Series([dict(parameters)] * n, dtype=object)
    a, nm = store.actors, store.network_metrics
    with store.transaction(engine, action="mesures du réseau", who=who) as conn:
        row, condition = _scope_condition(conn, community)
        known = store.select_in(conn, sa.select(a.c.id), a.c.id, ids.tolist())["id"]
        missing = sorted(set(ids) - set(known.astype("int64")))
        if missing:
            raise NetworkError(f"{_fr.count(len(missing), 'acteur inconnu', 'acteurs inconnus')} de la base : "
                               f"{missing[:10]} — les mesures viennent-elles d'un graphe d'une autre base ?")
        replaced = conn.execute(nm.delete().where(condition)).rowcount
        rows["community_id"] = None if row is None else int(row.id)
        written = store.insert_rows(conn, nm, rows)
        store.audit(conn, table="network_metrics", count=written, details={
            "communauté": None if row is None else row.slug, "date": as_of.isoformat(), "remplacées": replaced,
            "paramètres": dict(parameters)})
    log.info("Mesures du réseau enregistrées : %s acteurs (%s remplacées)", _fr.integer(written),
             _fr.integer(replaced))
    return written


def stored_metrics(engine: Engine, *, community: str | int | None = None, shown_only: bool = False) -> pd.DataFrame:
    """The metrics last stored by :func:`store_metrics` for a community (None: for the whole base).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    community : str or int, optional
        Slug, name or id of the community; None: the metrics computed on the whole base.
    shown_only : bool
        Name only the actors a view may name (organisations, persons who agreed to be shown on a map);
        the others are « personne non nommée » (what the notebooks show). Default: every name (the
        jardiniers' working table).

    Returns
    -------
    pandas.DataFrame
        Indexed by actor id (``acteur``): ``nom``, ``type``, then the French columns of
        :data:`METRIC_COLUMNS`; empty if none were stored. ``attrs`` holds ``computed_at``, ``as_of`` and
        ``parameters`` of that computation.

    Examples
    --------
    >>> from carto import store
    >>> stored_metrics(store.init_base("sqlite://")).empty
    True
    """
    nm, a = store.network_metrics, store.actors
    english = list(METRIC_COLUMNS.values())
    with engine.connect() as conn:
        _, condition = _scope_condition(conn, community)
        latest = sa.select(sa.func.max(nm.c.computed_at)).where(condition).scalar_subquery()
        frame = store.read_frame(conn, sa.select(
            nm.c.actor_id, a.c.display_name, a.c.kind, a.c.consent_map, *(nm.c[c] for c in english),
            nm.c.computed_at, nm.c.as_of, nm.c.parameters).select_from(nm.join(a, a.c.id == nm.c.actor_id))
            .where(condition, nm.c.computed_at == latest).order_by(nm.c.actor_id))
    if shown_only:
        shown = frame["kind"].eq("organisation") | frame["consent_map"].fillna(False).astype(bool)
        frame["display_name"] = frame["display_name"].where(shown, UNNAMED_PERSON)
    out = frame[["display_name", "kind", *english]].set_axis([*_ACTOR_COLUMNS, *METRIC_COLUMNS], axis=1)
    out = out.astype({french: "Int64" if column in _INTEGER_METRICS else ("str" if column == "cluster_name" else float)
                      for french, column in METRIC_COLUMNS.items()})
    out.index = pd.Index(frame["actor_id"].astype("int64"), name="acteur")
    if len(frame):
        out.attrs.update(computed_at=frame["computed_at"].iloc[0], as_of=frame["as_of"].iloc[0],
                         parameters=frame["parameters"].iloc[0])
    return out
