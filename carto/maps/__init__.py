"""Maps of Occitanie drawn with folium: readable with no internet.

Every map here is built on the same pieces, so that the later maps (actors by
cercle, events, territorial gaps, flows) look alike:

- :func:`base_map`: a :class:`folium.Map` with **no tile server** (offline), a
  scale, the zoom buttons at the bottom left and the view fitted to Occitanie;
- :func:`add_background`: communes (light fill, thin grey borders, name on hover)
  and départements (darker borders, names as labels) as simplified GeoJSON;
- :func:`add_points`: one layer of points built in the browser from a compact
  data array (no per-marker HTML), optionally clustered with a pie of colours;
- :func:`add_box`: an HTML box (title, legend) as a Leaflet control, so that
  boxes in the same corner stack instead of overlapping; :func:`title_html`
  and :func:`legend_html` write their content.

Every text that comes from data is escaped (:func:`html.escape`) before it
reaches the page. Persons are never placed at an address. Write the map with
:func:`carto.export.save_html` (self-contained) and :func:`carto.export.save_png`.

The sub-modules: :mod:`~carto.maps.page` (escaping, title and legend boxes, cards), :mod:`~carto.maps.frame`
(base map, background, point layers), :mod:`~carto.maps.overview` (overview and events maps),
:mod:`~carto.maps.members` (members map and its filters), :mod:`~carto.maps.gaps` (zones blanches) and
:mod:`~carto.maps.flows` (links between communes); every public name is importable from :mod:`carto.maps`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import folium

from carto._errors import MapError
from carto.maps.flows import FLOW_COLOUR, FlowTable, commune_flows, flow_map, flow_table
from carto.maps.frame import (
    OFFLINE_LABEL,
    TILES_ATTRIBUTION,
    TILES_LABEL,
    TILES_URL,
    add_background,
    add_points,
    base_map,
    online_tiles,
)
from carto.maps.gaps import GAP_COLOUR, GAP_OUTLINE, PRESENCE_COLOURS, GapTable, gap_map, gap_table
from carto.maps.members import actor_map
from carto.maps.overview import EventTable, event_map, event_table, overview_map
from carto.maps.page import (
    EVENT_TYPES,
    MAP_CSS,
    OCCITANIE_BOUNDS,
    ORGANISATION_TYPES,
    LegendEntry,
    LegendSection,
    add_box,
    legend_html,
    title_html,
    to_js,
)

__all__ = [
    "MAP_CSS",
    "to_js",
    "EVENT_TYPES",
    "OCCITANIE_BOUNDS",
    "ORGANISATION_TYPES",
    "EventTable",
    "FlowTable",
    "GapTable",
    "LegendEntry",
    "LegendSection",
    "add_background",
    "add_box",
    "add_points",
    "actor_map",
    "community_map",
    "event_map",
    "event_table",
    "flow_map",
    "flow_table",
    "gap_map",
    "gap_table",
    "MAP_KINDS",
    "base_map",
    "legend_html",
    "overview_map",
    "title_html",
    "FLOW_COLOUR",
    "GAP_COLOUR",
    "GAP_OUTLINE",
    "PRESENCE_COLOURS",
    "OFFLINE_LABEL",
    "TILES_ATTRIBUTION",
    "TILES_LABEL",
    "TILES_URL",
    "commune_flows",
    "online_tiles",
]


#: The maps of a community, by the French name the CLI and the demo use.
MAP_KINDS = {"membres": actor_map, "evenements": event_map, "zones-blanches": gap_map, "liens": flow_map}


def community_map(engine: Any, community: str | int, kind: str, *, as_of: date | None = None,
                  **options: Any) -> folium.Map:
    """One of the maps of a community by its French name (:data:`MAP_KINDS`): membres, evenements, zones-blanches,
    liens.

    ``options`` go to the map function (e.g. ``level="commune"`` for the zones blanches).

    Examples
    --------
    >>> community_map(None, "mer", "réseau")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.MapError: Carte « réseau » inconnue : choisissez parmi membres, evenements, zones-blanches, liens.
    """
    if kind not in MAP_KINDS:
        raise MapError(f"Carte « {kind} » inconnue : choisissez parmi {', '.join(MAP_KINDS)}.")
    return MAP_KINDS[kind](engine, community, as_of=as_of, **options)
