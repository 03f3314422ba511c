"""The overview map of Occitanie (organisations and events) and the events map of a community."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import folium
import numpy as np
import pandas as pd

from carto import events, geo, themes
from carto._fr import count, integer
from carto.maps.frame import (
    _BACKGROUND_LEGEND,
    _LEGEND_WIDTH,
    _bounds,
    _community_frame,
    add_background,
    add_points,
    base_map,
)
from carto.maps.page import (
    EVENT_TYPES,
    ORGANISATION_TYPES,
    LegendEntry,
    LegendSection,
    _card,
    _esc,
    _kind_entries,
    _kinds,
    _located,
    _missing,
    _place,
    add_box,
    legend_html,
    title_html,
)

log = logging.getLogger(__name__)


_EVENT_R_MIN, _EVENT_R_MAX = 4.0, 18.0

def _event_radius(participants: pd.Series, top: float) -> pd.Series:
    share = np.sqrt(participants.clip(lower=0) / max(top, 1.0))
    return _EVENT_R_MIN + (_EVENT_R_MAX - _EVENT_R_MIN) * share


def _size_entries(top: float) -> list[LegendEntry]:
    """Reference circles for the attendance sizes (two round values and the largest)."""
    values = [*[v for v in (10, 50, 100, 250, 500, 1000) if v < 0.8 * top][-2:], max(int(top), 1)]
    radii = _event_radius(pd.Series(values, dtype=float), top)
    return [LegendEntry(f"{integer(v)} participant{'s' if v > 1 else ''}", "#9e9e9e", "circle",
                        int(round(2 * r)))
            for v, r in zip(values, radii, strict=True)]


def overview_map(
    organisations: pd.DataFrame,
    events: pd.DataFrame,
    *,
    title: str,
    data_date: date,
    communes: Any | None = None,
    departements: Any | None = None,
    credits: str = "Fond : IGN ADMIN EXPRESS, INSEE",
) -> folium.Map:
    """Overview map of Occitanie: organisations (clustered) and events on communes/départements.

    Parameters
    ----------
    organisations : pandas.DataFrame
        Columns ``id``, ``nom``, ``type``, ``theme``, ``code_commune``, ``lon``, ``lat``
        (``sigle`` used when present). Rows without coordinates are left out.
    events : pandas.DataFrame
        Columns ``id``, ``titre``, ``type``, ``date``, ``code_commune``, ``lon``, ``lat``,
        ``participants``, ``theme``.
    title : str
        Title shown in the title box.
    data_date : datetime.date
        Date of the data, shown as « Données au JJ/MM/AAAA ».
    communes, departements : geopandas.GeoDataFrame, optional
        Background (columns ``code``, ``nom``, ``geometry``); default
        :func:`carto.geo.communes` and :func:`carto.geo.departements`.
    credits : str
        Sources line of the title box (say there where the data come from).

    Returns
    -------
    folium.Map
        Offline map (no tiles); write it with :func:`carto.export.save_html`.

    Raises
    ------
    carto._errors.MapError
        A column is missing in ``organisations`` or ``events`` (the message lists them).

    Examples
    --------
    >>> from datetime import date
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import box
    >>> from carto.maps import overview_map
    >>> deps = gpd.GeoDataFrame({"code": ["31"], "nom": ["Haute-Garonne"]},
    ...                         geometry=[box(0.4, 42.7, 2.0, 43.9)], crs=4326)
    >>> orgs = pd.DataFrame({"id": ["O1"], "nom": ["Asso"], "type": ["association"], "theme": ["mer"],
    ...                      "code_commune": ["31555"], "lon": [1.44], "lat": [43.6]})
    >>> evts = pd.DataFrame({"id": ["E1"], "titre": ["Rencontre"], "type": ["concertation"],
    ...                      "date": ["2024-05-02"], "code_commune": ["31555"], "lon": [1.44],
    ...                      "lat": [43.6], "participants": [25], "theme": ["mer"]})
    >>> m = overview_map(orgs, evts, title="Essai", data_date=date(2024, 6, 1),
    ...                  communes=deps, departements=deps)
    >>> sorted(layer.layer_name for layer in m._children.values() if hasattr(layer, "rows"))
    ['Organisations (1)', 'Événements (1)']
    """
    if communes is None or departements is None:
        communes = geo.communes() if communes is None else communes
        departements = geo.departements() if departements is None else departements
    orgs = _located(organisations, ("id", "nom", "type", "theme", "code_commune", "lon", "lat"), "organisations")
    evts = _located(events, ("id", "titre", "type", "date", "code_commune", "lon", "lat", "participants", "theme"),
                    "événements")
    names = dict(zip(communes["code"].astype(str), communes["nom"].astype(str), strict=True)) \
        if "code" in communes.columns else {}
    spaces = themes.theme_names()  # the thematic spaces of carto/data/themes.toml

    m = base_map(bounds=_bounds(departements), legend_width=_LEGEND_WIDTH)
    add_background(m, communes=communes, departements=departements)

    org_labels, org_colours = _kinds(orgs["type"], ORGANISATION_TYPES)
    sigles = orgs["sigle"] if "sigle" in orgs.columns else pd.Series([""] * len(orgs))
    org_points = pd.DataFrame({
        "lat": orgs["lat"], "lon": orgs["lon"], "colour": org_colours, "radius": 6,
        "popup": [_card(nom + (f" ({s})" if _esc(s) else ""), [
                      ("Type", label), ("Thème", spaces.get(str(theme), theme)),
                      ("Commune", _place(code, names))])
                  for nom, s, label, theme, code in zip(orgs["nom"].fillna("").astype(str), sigles, org_labels,
                                                        orgs["theme"], orgs["code_commune"], strict=True)],
        "tooltip": orgs["nom"].map(_esc),
    })
    add_points(m, org_points, name=f"Organisations ({integer(len(orgs))})", shape="square", cluster=True,
               palette=[c for _, c in ORGANISATION_TYPES.values()])

    participants = pd.to_numeric(evts["participants"], errors="coerce").fillna(0)
    top = float(participants.max()) if len(evts) else 1.0
    ev_labels, ev_colours = _kinds(evts["type"], EVENT_TYPES)
    dates = pd.to_datetime(evts["date"], errors="coerce")
    ev_points = pd.DataFrame({
        "lat": evts["lat"], "lon": evts["lon"], "colour": ev_colours, "radius": _event_radius(participants, top),
        "popup": [_card(titre, [
                      ("Type", label), ("Date", f"{d:%d/%m/%Y}" if pd.notna(d) else ""),
                      ("Commune", _place(code, names)), ("Participants", integer(int(p))),
                      ("Thème", spaces.get(str(theme), theme))])
                  for titre, label, d, code, p, theme in zip(evts["titre"].fillna("").astype(str), ev_labels, dates,
                                                             evts["code_commune"], participants, evts["theme"],
                                                             strict=True)],
        "tooltip": evts["titre"].map(_esc),
        "participants": participants,
    }).sort_values("participants", ascending=False, kind="stable")
    add_points(m, ev_points, name=f"Événements ({integer(len(evts))})", shape="circle")

    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(title, data_date, sources=credits),
            position="topleft", kind="title")
    legend = [
        LegendSection(f"Organisations ({integer(len(orgs))})", _kind_entries(org_labels, org_colours,
                      ORGANISATION_TYPES, "square"), note="Regroupées quand elles sont proches (camembert des types)."),
        LegendSection(f"Événements ({integer(len(evts))})", [
            *_kind_entries(ev_labels, ev_colours, EVENT_TYPES, "circle"), *(_size_entries(top) if len(evts) else [])],
            note="Taille du cercle : nombre de participants."),
        LegendSection("Fond", [LegendEntry("Limite de département", "#4a4a4a", "line", 2),
                               LegendEntry("Commune", "#f4f1e8", "fill", 14)]),
    ]
    add_box(m, legend_html(legend), position="bottomright", kind="legend")
    log.info("Carte d'ensemble : %s organisations, %s événements, %s communes en fond",
             integer(len(orgs)), integer(len(evts)), integer(len(communes)))
    return m



def _day(value: Any) -> str:
    return "" if _missing(value) else f"{pd.Timestamp(value):%d/%m/%Y}"


@dataclass(frozen=True)
class EventTable:
    """Events placed at their commune, coloured by kind and sized by attendance: what :func:`event_map` and the
    print map (:func:`carto.printmap.print_map`) draw.

    Attributes
    ----------
    placed : pandas.DataFrame
        The events with a known commune, by date: the columns of :func:`carto.events.event_stats`, then
        ``lon``, ``lat`` (the commune's point), ``libellé`` (kind shown), ``couleur``, ``rayon`` (radius of
        the circle in pixels, from the attendance).
    total : int
        All events, placed or not.
    legend : list of LegendEntry
        The kinds present (with their number of events), then reference circle sizes.
    title, subtitle : str
        Default title and what it counts (events on the map, without a place).
    """

    placed: pd.DataFrame
    total: int
    legend: list[LegendEntry]
    title: str
    subtitle: str


def event_table(engine: Any, community: str | int | None = None, *, start: date | None = None,
                end: date | None = None, communes: Any | None = None) -> EventTable:
    """The events of a community (all by default) placed at their commune, with their colour, size and legend.

    Parameters
    ----------
    community : str or int, optional
        Only this community's events (its scope: :func:`carto.events.community_scope`); all by default.
    start, end : datetime.date, optional
        Only events between these dates.
    communes : geopandas.GeoDataFrame, optional
        Commune points (``code``, ``lon``, ``lat``; default :func:`carto.geo.communes`).

    Returns
    -------
    EventTable

    Examples
    --------
    >>> from carto import store
    >>> table = event_table(store.init_base("sqlite://"))
    >>> table.total, len(table.placed), table.subtitle
    (0, 0, '0 événements : 0 sur la carte, 0 sans lieu (en ligne, concertations)')
    """
    communes = geo.communes() if communes is None else communes
    stats = events.event_stats(engine, community=community, start=start, end=end)
    points = communes.set_index(communes["code"].astype(str))
    stats = stats.assign(lon=stats["commune"].map(points["lon"]), lat=stats["commune"].map(points["lat"]))
    placed = stats[stats["lon"].notna()]
    labels, colours = _kinds(placed["type"], EVENT_TYPES)
    top = float(placed["présents"].max()) if len(placed) else 1.0
    placed = placed.assign(libellé=labels, couleur=colours, rayon=_event_radius(placed["présents"].astype(float), top))
    return EventTable(
        placed=placed, total=len(stats),
        legend=[*_kind_entries(labels, colours, EVENT_TYPES, "circle"), *(_size_entries(top) if len(placed) else [])],
        title="Événements" + (f" — {events.community_name(engine, community)}" if community is not None else ""),
        subtitle=f"{integer(len(stats))} événements : {integer(len(placed))} sur la carte, "
                 f"{integer(len(stats) - len(placed))} sans lieu (en ligne, concertations)",
    )


def event_map(
    engine: Any,
    community: str | int | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    as_of: date | None = None,
    title: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
    credits: str = "Base Terreau (feuilles d'émargement, site de participation) ; fond : IGN ADMIN EXPRESS, INSEE",
) -> folium.Map:
    """Map of events, coloured by kind and sized by attendance, one layer per year (the time filter).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    community : str or int, optional
        Only this community's events (its scope: :func:`carto.events.community_scope`); all by default.
    start, end : datetime.date, optional
        Only events between these dates.
    as_of : datetime.date, optional
        Date of the data shown in the title box (default today).

    Returns
    -------
    folium.Map
        Offline map; events without a place (website concertations) are counted in the subtitle.
    """
    as_of = as_of or date.today()
    m, communes, departements, names = _community_frame(communes, departements)
    table = event_table(engine, community, start=start, end=end, communes=communes)
    placed = table.placed
    spaces = themes.theme_names()

    years = pd.to_datetime(placed["date"]).dt.year
    for year in sorted(years.unique()):
        part = placed[(years == year).to_numpy()].sort_values("présents", ascending=False, kind="stable")
        if part.empty:
            continue
        add_points(m, pd.DataFrame({
            "lat": part["lat"], "lon": part["lon"], "colour": part["couleur"], "radius": part["rayon"],
            "popup": [_card(t, [("Type", label), ("Date", _day(d)), ("Commune", _place(code, names)),
                                ("Présents", integer(int(n))), ("Dont premières venues", integer(int(first))),
                                ("Thème", spaces.get(str(theme), theme))])
                      for label, t, d, code, n, first, theme in zip(
                          part["libellé"], part["titre"], part["date"], part["commune"], part["présents"],
                          part["premières venues"], part["thème"], strict=True)],
            "tooltip": part["titre"].map(_esc),
        }), name=f"{year} ({count(len(part), 'événement', 'événements')})", shape="circle")
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(table.title if title is None else title, as_of, sources=credits, subtitle=table.subtitle),
            position="topleft", kind="title")
    legend = [
        LegendSection("Types d'événements", table.legend,
                      note="Taille du cercle : personnes présentes. Une couche par année (cochez-les)."),
        _BACKGROUND_LEGEND,
    ]
    add_box(m, legend_html(legend), position="bottomright", kind="legend")
    return m
