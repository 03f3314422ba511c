"""Bridges between territories: links between the communes of a community's members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import folium
import numpy as np
import pandas as pd
import sqlalchemy as sa
from folium.map import Layer
from folium.template import Template

from carto import events, geo, store
from carto._fr import count, integer
from carto.maps.frame import _BACKGROUND_LEGEND, _community_frame, add_points
from carto.maps.page import LegendEntry, LegendSection, _colour, _esc, add_box, legend_html, title_html, to_js


class _FlowLayer(Layer):
    """Straight lines between places, built in the browser from one array ``[lat1, lon1, lat2, lon2, px, tip]``."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var group = L.featureGroup();
            {{ this.rows_js }}.forEach(function (r) {
                L.polyline([[r[0], r[1]], [r[2], r[3]]], {color: {{ this.colour_js }}, weight: r[4],
                    opacity: 0.55, lineCap: "round"}).bindTooltip(r[5], {sticky: true}).addTo(group);
            });
            return group;
        })();
        {% endmacro %}
    """)

    def __init__(self, rows: list[list[Any]], *, name: str, colour: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "CartoFlows"
        self.rows = rows
        self.rows_js = to_js(rows)
        self.colour_js = to_js(_colour(colour))


FLOW_COLOUR = "#7b3294"


def commune_flows(engine: Any, community: str | int, *, as_of: date | None = None) -> pd.DataFrame:
    """Links between the communes of a community's members: events attended together, and declared relations.

    Two communes are linked once per event of the community where people of both were present, and once
    per relation (``relations``) between actors of the two. Only places, never persons, come out.

    Returns
    -------
    pandas.DataFrame
        ``commune_a``, ``commune_b`` (INSEE codes, a < b), ``evenements``, ``relations``, ``force``
        (their sum), strongest first.
    """
    a, r = store.actors, store.relations
    with engine.connect() as conn:
        row = events.find_community(conn, community)
        parts = events.participations(conn, events.community_scope(row), until=as_of)
        places = store.read_frame(conn, sa.select(a.c.id, a.c.commune_code).where(a.c.commune_code.is_not(None)))
        rel = store.read_frame(conn, sa.select(r.c.source_id, r.c.target_id))
    where = dict(zip(places["id"].astype("int64"), places["commune_code"], strict=True)) if len(places) else {}
    present = parts[parts["present"]].assign(commune=lambda f: f["actor_id"].map(where)).dropna(subset=["commune"])
    per_event = present[["event_id", "commune"]].drop_duplicates()
    pairs = per_event.merge(per_event, on="event_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["commune_a"] < pairs["commune_b"]]
    together = pairs.groupby(["commune_a", "commune_b"]).size().rename("evenements")
    if len(rel):
        ends = pd.DataFrame({"x": rel["source_id"].astype("int64").map(where),
                             "y": rel["target_id"].astype("int64").map(where)}).dropna()
        ends = ends[ends["x"] != ends["y"]]
        linked = pd.DataFrame({"commune_a": ends.min(axis=1), "commune_b": ends.max(axis=1)})
        declared = linked.groupby(["commune_a", "commune_b"]).size().rename("relations")
    else:
        declared = pd.Series(dtype="int64", name="relations", index=together.index[:0])
    out = pd.concat([together, declared], axis=1).fillna(0).astype("int64")
    out["force"] = out["evenements"] + out["relations"]
    return out.reset_index().rename(columns={"level_0": "commune_a", "level_1": "commune_b"}) \
        .sort_values(["force", "commune_a", "commune_b"], ascending=[False, True, True]).reset_index(drop=True)


def _flow_width(force: Any, strongest: float) -> Any:
    """Width in pixels of a link (0.8 to 7, square root of its strength)."""
    return 0.8 + 6.2 * np.sqrt(force / strongest)


@dataclass(frozen=True)
class FlowTable:
    """The strongest links between communes of a community, placed: what :func:`flow_map` and the print map
    (:func:`carto.printmap.print_map`) draw.

    Attributes
    ----------
    links : pandas.DataFrame
        The links drawn, weakest first (the strongest drawn last, on top): the columns of
        :func:`commune_flows`, then ``lon_a``, ``lat_a``, ``lon_b``, ``lat_b`` (the communes' points) and
        ``largeur`` (line width in pixels).
    total : int
        Links between communes of the map (drawn or not).
    joined : list of str
        INSEE codes of the communes the drawn links join.
    legend : list of LegendEntry
        Reference line widths.
    title, subtitle : str
        Default title and what is drawn (« Les 100 liens les plus forts sur 250 »).
    """

    links: pd.DataFrame
    total: int
    joined: list[str]
    legend: list[LegendEntry]
    title: str
    subtitle: str


def flow_table(engine: Any, community: str | int, *, top: int = 100, as_of: date | None = None,
               communes: Any | None = None) -> FlowTable:
    """The ``top`` strongest links of :func:`commune_flows` between communes of the map, with their width.

    Examples
    --------
    >>> from carto import communities, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> # nobody met yet: no link
    >>> table = flow_table(engine, "biodiversite")
    >>> table.total, table.subtitle
    (0, 'Les 0 liens les plus forts sur 0')
    """
    communes = geo.communes() if communes is None else communes
    flows = commune_flows(engine, community, as_of=as_of)
    points = communes.set_index(communes["code"].astype(str))
    flows = flows[flows["commune_a"].isin(points.index) & flows["commune_b"].isin(points.index)]
    drawn = flows.head(int(top)).iloc[::-1]  # the strongest drawn last, on top
    strongest = float(drawn["force"].max()) if len(drawn) else 1.0
    drawn = drawn.assign(lon_a=drawn["commune_a"].map(points["lon"]), lat_a=drawn["commune_a"].map(points["lat"]),
                         lon_b=drawn["commune_b"].map(points["lon"]), lat_b=drawn["commune_b"].map(points["lat"]),
                         largeur=_flow_width(drawn["force"].astype(float), strongest))
    sizes = [v for v in (1, 5, 20, 50) if v < strongest][-2:] + [int(strongest)] if len(drawn) else []
    return FlowTable(
        links=drawn, total=len(flows), joined=sorted(set(drawn["commune_a"]) | set(drawn["commune_b"])),
        legend=[LegendEntry(f"{count(v, 'événement ou relation', 'événements ou relations')} en commun", FLOW_COLOUR, "line",
                            int(round(_flow_width(v, strongest)))) for v in sizes],
        title=f"Communauté {events.community_name(engine, community)} : liens entre territoires",
        subtitle=f"Les {integer(len(drawn))} liens les plus forts sur {integer(len(flows))}",
    )


def flow_map(
    engine: Any,
    community: str | int,
    *,
    top: int = 100,
    as_of: date | None = None,
    title: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
    credits: str = "Base Terreau (émargements, relations) ; fond : IGN ADMIN EXPRESS, INSEE",
) -> folium.Map:
    """Bridges between territories: the links of :func:`commune_flows` drawn between communes.

    The ``top`` strongest links are drawn, thicker when stronger (1 to 7 pixels, square root of the
    strength), with the number of events in common and of relations in the tooltip; the communes they join
    are marked. Places only: no person is shown.
    """
    as_of = as_of or date.today()
    m, communes, departements, names = _community_frame(communes, departements)
    table = flow_table(engine, community, top=top, as_of=as_of, communes=communes)
    drawn = table.links
    rows = [[round(float(la), 5), round(float(oa), 5), round(float(lb), 5), round(float(ob), 5), round(float(w), 1),
             f"{_esc(names.get(ca, ca))} ↔ {_esc(names.get(cb, cb))} : {count(int(ev), 'événement')} en commun"
             + (f", {count(int(rl), 'relation')}" if rl else "")]
            for ca, cb, ev, rl, la, oa, lb, ob, w in zip(
                drawn["commune_a"], drawn["commune_b"], drawn["evenements"], drawn["relations"], drawn["lat_a"],
                drawn["lon_a"], drawn["lat_b"], drawn["lon_b"], drawn["largeur"], strict=True)]
    m.add_child(_FlowLayer(rows, name=f"Liens entre communes ({integer(len(rows))})", colour=FLOW_COLOUR))
    if table.joined:
        points = communes.set_index(communes["code"].astype(str)).loc[table.joined]
        add_points(m, pd.DataFrame({
            "lat": points["lat"].to_numpy(), "lon": points["lon"].to_numpy(),
            "colour": "#3f3f3f", "radius": 3, "popup": "", "tooltip": [_esc(names.get(c, c)) for c in table.joined],
        }), name=f"Communes reliées ({integer(len(table.joined))})")
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(title or table.title, as_of, sources=credits, subtitle=table.subtitle),
            position="topleft", kind="title")
    legend = [
        LegendSection("Liens entre communes", table.legend,
                      note="Épaisseur : nombre d'événements où des membres des deux communes étaient présents, "
                           "plus les relations déclarées entre eux."),
        _BACKGROUND_LEGEND,
    ]
    add_box(m, legend_html(legend), position="bottomright", kind="legend")
    return m
