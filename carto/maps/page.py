"""The pieces of HTML every map shares: colours of the kinds, CSS, escaping, title and legend boxes, cards."""

from __future__ import annotations

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
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from carto._errors import MapError
from carto._fr import integer

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
