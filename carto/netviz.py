"""Views of a network of actors: a notebook widget, an offline HTML page and an A4 picture, in French.

The three views draw the same thing from a graph of :mod:`carto.network` (node attributes ``name``,
``kind``, ``shown``, ``circle``, ``commune``; edge attribute ``weight``) and, optionally, the table of
:func:`carto.netmetrics.metrics` (one row per actor, French column names):

- the **colour** says the cercle (``colour="cercle"``, :data:`carto.communities.CIRCLE_COLOURS`) or the
  group found in the network (``colour="groupe"``, :data:`GROUP_COLOURS`: the « groupe » column of the
  metrics, a group of network science — not one of Terreau's communities of engagement);
- the **size** says a metric (``size="degré pondéré"`` by default; any numeric column of the metrics);
- **names**: an organisation is named, a person only if she agreed to be shown (``shown``); any other
  person is « personne (cercle 2) », and her name never reaches the widget, the page or the picture;
- the **card** of an actor (page and widget) says what the metrics mean in words
  (:func:`carto.netmetrics.in_words`: « 12 liens directs », « touche 120 acteurs en deux pas »…), never
  raw figures (those are in the XLSX table);
- the **positions** come from :func:`network_layout` (ForceAtlas2, computed in Python with a fixed seed):
  compute them once and pass them as ``pos`` to draw the same picture in the three views.

:func:`network_widget` is the ipysigma widget of a notebook (search, click to focus on a node's
neighbours, legend; its buttons are in English). :func:`network_page` writes the same view as a French
HTML page on the pinned sigma.js and graphology (``make assets``) with every script inlined: it works opened
from a file with no network, and in a notebook with ``carto.export.show(netviz.network_page(...))``.
:func:`save_network_html` writes it. :func:`network_picture` draws the A4 landscape picture for a note
(header, legend panel, the most central organisations named), written with
:func:`carto.export.save_print_map` (PDF and PNG).

Examples
--------
>>> import networkx as nx
>>> from datetime import date
>>> from carto import netviz
>>> G = nx.Graph()
>>> G.add_node(1, name="Les Amis de l'Étang", kind="organisation", shown=True, circle=1, commune="Sète")
>>> G.add_node(2, name="Camille Secret", kind="personne", shown=False, circle=2, commune="Sète")
>>> G.add_edge(1, 2, weight=3)
>>> page = netviz.network_page(G, title="Réseau Mer", as_of=date(2026, 11, 29))
>>> "Les Amis de l" in page, "Camille Secret" in page, "Personne non nommée" in page
(True, False, True)
"""

from __future__ import annotations

import hashlib
import html
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from carto import _fr, geo, netmetrics
from carto._errors import CartoError, NetworkError
from carto._fr import integer
from carto.communities import CIRCLE_COLOURS, CIRCLE_LABELS
from carto.maps import MAP_CSS, LegendEntry, LegendSection, legend_html, title_html, to_js
from carto.printmap import GREY, PX, a4_sheet, empty_sheet, legend_panel, place_labels, sheet_caption, sheet_header
from carto.settings import get_settings

__all__ = [
    "COLOUR_CHOICES",
    "GROUP_COLOURS",
    "NO_CIRCLE_COLOUR",
    "network_layout",
    "network_page",
    "network_picture",
    "network_widget",
    "strong_ties",
    "DENSE_TIES",
]

log = logging.getLogger(__name__)

#: What the colour of an actor can say.
COLOUR_CHOICES = ("cercle", "groupe")
#: Colour of an actor with no cercle (and of the groups beyond :data:`GROUP_COLOURS`).
NO_CIRCLE_COLOUR = "#b3b3b3"
#: Colours of the biggest groups of a network (Tableau 10 without its grey), biggest first.
GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                 "#17becf")

_INSEE = re.compile(r"\d[\dAB]\d{3}")
_GROUP, _GROUP_NAME, _NO_GROUP = "groupe", "nom du groupe", "sans groupe"
#: Title of the legend (and line of the card) of the groups found in the network.
_GROUP_TITLE = "Groupe du réseau"
_DEGREE, _WEIGHTED_DEGREE = "degré", "degré pondéré"
_SOURCES = "Base Terreau (feuilles d'émargement, relations déclarées, ateliers de cartographie)"
#: Colour and width (CSS pixels) of the ties, from the weakest to the strongest.
_TIE_STYLES = (("#d4d4d4", 1.0), ("#ababab", 1.5), ("#7a7a7a", 2.0), ("#474747", 3.0))
# CDN addresses of the pinned libraries: carto.export.inline_assets puts the vendored files in their place
_SCRIPTS = ("https://cdn.jsdelivr.net/npm/graphology/dist/graphology.umd.min.js",
            "https://cdn.jsdelivr.net/npm/sigma/dist/sigma.min.js")


# --------------------------------------------------------------------------- the actors, as every view draws them


@dataclass(frozen=True)
class _Actors:
    """The actors of a graph ready to draw: one row per node, in the graph's order.

    ``table`` columns: ``label`` (the name, or None when it must not be shown), ``neutral`` (« personne
    (cercle 2) »), ``kind``, ``group`` (what the colour says), ``colour``, ``value`` (the size metric),
    ``degree``, ``commune`` (None when the actor is not named), ``words`` (the sentences of
    :func:`carto.netmetrics.in_words`), ``network_group`` (the group's name, when the metrics have groups)
    and the numeric metrics.
    """

    table: pd.DataFrame
    colour_title: str
    colour_entries: list[LegendEntry]
    size: str
    metrics: list[str]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per actor, a missing label, commune or cercle as None."""
        records = self.table.astype(object).where(self.table.notna(), None).to_dict("records")
        for record in records:
            record["circle"] = _circle(record["circle"])
        return records


def _circle(value: Any) -> int | None:
    try:
        circle = int(value)
    except (TypeError, ValueError):
        return None
    return circle if circle in CIRCLE_LABELS else None


def _circle_group(value: Any) -> str:
    circle = _circle(value)
    return f"cercle {CIRCLE_LABELS[circle]}" if circle is not None else "hors cercle"


def _commune_names(values: Sequence[Any]) -> dict[str, str]:
    """Names of the communes given by INSEE code (``carto.geo``); other values are not in the answer."""
    codes = {str(v) for v in values if v is not None and _INSEE.fullmatch(str(v))}
    if not codes:
        return {}
    try:
        ref = geo.communes()
    except CartoError:  # no reference geography: the codes stay
        return {}
    known = ref[ref["code"].astype(str).isin(codes)]
    return dict(zip(known["code"].astype(str), known["nom"].astype(str), strict=True))


def _default_metrics(G: nx.Graph) -> pd.DataFrame:
    """Degree and weighted degree (what a view needs when no metrics table is given)."""
    return pd.DataFrame({_DEGREE: dict(G.degree()), _WEIGHTED_DEGREE: dict(G.degree(weight="weight"))},
                        index=pd.Index(list(G.nodes)), dtype=float)


def _label(value: Any) -> str:
    """A group's number as users read it (« 3 », not « 3.0 »).

    >>> _label(3.0), _label("B")
    ('3', 'B')
    """
    return _number(value) if isinstance(value, (int, float, np.number)) else str(value)


def _safe_name(text: Any, hidden: Sequence[str], fallback: str) -> str:
    """A group's name, unless it holds the name of a person who is not shown."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return fallback
    text = str(text).strip()
    return fallback if any(name and name.casefold() in text.casefold() for name in hidden) else text


def _actors(G: nx.Graph, metrics: pd.DataFrame | None, colour: str, size: str) -> _Actors:
    if colour not in COLOUR_CHOICES:
        hint = (" (les groupes du réseau ne s'appellent pas « communauté » : ce mot désigne les communautés "
                "d'engagement)") if str(colour).strip().casefold() in ("communauté", "communaute") else ""
        raise NetworkError(f"Couleur « {colour} » inconnue{hint} : choisissez "
                           + " ou ".join(f"« {c} »" for c in COLOUR_CHOICES) + ".")
    metrics = _default_metrics(G) if metrics is None else metrics
    numeric = [str(c) for c in metrics.columns if pd.api.types.is_numeric_dtype(metrics[c])
               and not pd.api.types.is_bool_dtype(metrics[c]) and c != _GROUP]
    if size not in numeric:
        raise NetworkError(f"Mesure « {size} » absente des mesures du réseau : choisissez parmi "
                           + ", ".join(f"« {c} »" for c in numeric) + ".")
    nodes = list(G.nodes)
    rows = []
    for node in nodes:
        attrs = G.nodes[node]
        kind = "organisation" if attrs.get("kind") == "organisation" else "personne"
        shown = attrs.get("shown", kind == "organisation")
        named = isinstance(shown, (bool, np.bool_)) and bool(shown)  # a missing consent names nobody
        name = str(attrs.get("name") or "").strip()
        circle = _circle(attrs.get("circle"))
        rows.append({"label": name if named and name else None, "hidden": "" if named else name, "kind": kind,
                     "circle": circle, "neutral": f"{kind} ({_circle_group(circle).split(' — ')[0]})",
                     "commune": (str(attrs["commune"]) if named and attrs.get("commune") else None),
                     "degree": G.degree(node)})
    names = _commune_names([row["commune"] for row in rows])
    for row in rows:
        row["commune"] = names.get(row["commune"], row["commune"])
    table = pd.DataFrame(rows, index=pd.Index(nodes), columns=["label", "hidden", "kind", "circle", "neutral",
                                                               "commune", "degree"]).astype({"circle": "Int64"})
    values = metrics.reindex(table.index)
    if len(table) and len(metrics) and not metrics.index.isin(table.index).any():
        raise NetworkError("Les mesures ne correspondent à aucun acteur du réseau : calculez-les sur ce graphe "
                           "(netmetrics.metrics(G)), indexées par l'identifiant des acteurs.")
    for column in numeric:
        table[column] = pd.to_numeric(values[column], errors="coerce").astype(float).fillna(0.0).to_numpy()
    table["value"] = table[size]
    hidden = [h for h in table.pop("hidden") if h]
    words = values.assign(**{_DEGREE: table["degree"].to_numpy()})  # the graph's degree, even when not measured
    table["words"] = [text.split(" ; ") if text else [] for text in netmetrics.in_words(words)]
    if _GROUP in values.columns:
        ids = values[_GROUP]
        names = values[_GROUP_NAME] if _GROUP_NAME in values.columns else pd.Series(None, index=ids.index)
        table["network_group"] = [_safe_name(name, hidden, f"groupe {_label(i)}") if pd.notna(i) else _NO_GROUP
                                  for i, name in zip(ids, names, strict=True)]
    if colour == "cercle":
        table["group"] = [_circle_group(c) for c in table["circle"]]
        table["colour"] = [CIRCLE_COLOURS.get(_circle(c), NO_CIRCLE_COLOUR) for c in table["circle"]]
        order = [_circle_group(c) for c in (*CIRCLE_LABELS, None)]
        title = "Cercle"
    else:
        if _GROUP not in metrics.columns:
            raise NetworkError("Pour colorer par groupe du réseau, passez les mesures du réseau "
                               "(metrics=netmetrics.metrics(G)) : la colonne « groupe » manque.")
        labels = table["network_group"]
        biggest = labels[labels != _NO_GROUP].value_counts(sort=True).index.tolist()
        palette = dict(zip(biggest[:len(GROUP_COLOURS)], GROUP_COLOURS, strict=False))
        others = "autres groupes"
        table["group"] = [label if label in palette or label == _NO_GROUP else others for label in labels]
        table["colour"] = [palette.get(g, NO_CIRCLE_COLOUR) for g in table["group"]]
        order = [*palette, others, _NO_GROUP]
        title = _GROUP_TITLE
    counts = table["group"].value_counts()
    entries = [LegendEntry(f"{group} ({integer(int(counts[group]))})",
                           table.loc[table["group"] == group, "colour"].iloc[0], "circle", 12)
               for group in order if group in counts.index]
    return _Actors(table, title, entries, size, numeric)


@dataclass(frozen=True)
class _Ties:
    """The ties between drawn actors, weakest first, in up to four levels of strength.

    ``table`` columns: ``source``, ``target`` (positions of the actors), ``weight``, ``level``; ``styles`` and
    ``labels`` give the (colour, width) and the legend of each level. The levels cut the weights at their
    median and 80th and 95th percentiles (rounded): the weights of :func:`carto.network.actor_graph` are
    sums of fractions (Newman's weighting), their scale depends on the network.
    """

    table: pd.DataFrame
    styles: list[tuple[str, float]]
    labels: list[str]
    total: int  # ties between the actors, before those weaker than ``min_weight`` were left out

    def caption(self) -> str | None:
        """« Seuls les 1 200 liens les plus forts sont dessinés (sur 6 000). », or None when all are drawn.

        >>> _Ties(pd.DataFrame({"level": [0] * 3}), [], [], 40).caption()
        'Seuls les 3 liens les plus forts sont dessinés (sur 40).'
        >>> _Ties(pd.DataFrame({"level": [0]}), [], [], 1).caption() is None
        True
        """
        drawn = len(self.table)
        if drawn >= self.total:
            return None
        if drawn == 0:
            return f"Aucun lien n'est assez fort pour être dessiné (sur {integer(self.total)})."
        if drawn == 1:
            return f"Seul le lien le plus fort est dessiné (sur {integer(self.total)})."
        return f"Seuls les {integer(drawn)} liens les plus forts sont dessinés (sur {integer(self.total)})."

    def legend(self, thinner: float = 1.0) -> LegendSection:
        """Legend of the levels drawn (line widths times ``thinner``)."""
        present = set(self.table["level"].tolist())
        entries = [LegendEntry(label, colour, "line", width * thinner) for i, (label, (colour, width))
                   in enumerate(zip(self.labels, self.styles, strict=True)) if i in present]
        return LegendSection("Force des liens", entries,
                             note="Événements partagés (une petite réunion compte plus qu'une grande), relations "
                                  "déclarées et appartenance à une organisation.")


def _ties(G: nx.Graph, index: Mapping[Any, int], min_weight: float) -> _Ties:
    rows = [(index[u], index[v], float(d.get("weight", 1.0) or 0.0)) for u, v, d in G.edges(data=True)
            if u in index and v in index and u != v]
    table = pd.DataFrame(rows, columns=["source", "target", "weight"]).astype({"source": int, "target": int})
    total = len(table)
    table = table[table["weight"] >= min_weight]
    weights = table["weight"].to_numpy(float)
    bounds = sorted({float(f"{q:.2g}") for q in np.quantile(weights, [0.5, 0.8, 0.95])}) if len(weights) else []
    bounds = [b for b in bounds if weights.min() < b <= weights.max()]
    table = table.assign(level=np.searchsorted(bounds, weights, side="right"))
    if bounds:
        labels = [f"moins de {_number(bounds[0])}",
                  *(f"{_number(low)} à {_number(high)}" for low, high in zip(bounds, bounds[1:], strict=False)),
                  f"{_number(bounds[-1])} et plus"]
        styles = list(_TIE_STYLES[:len(bounds) + 1])
    else:
        labels, styles = ["lien"], [_TIE_STYLES[1]]
    return _Ties(table.sort_values(["level", "weight"], kind="stable").reset_index(drop=True), styles, labels, total)


def _size_scale(values: np.ndarray, smallest: float, biggest: float) -> Callable[[Any], np.ndarray]:
    """Sizes whose area grows with the values (square root), from ``smallest`` to ``biggest``."""
    values = np.asarray(values, dtype=float)
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)

    def scale(v: Any) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        if high <= low:
            return np.full(v.shape, (smallest + biggest) / 2)
        return smallest + (biggest - smallest) * np.sqrt(np.clip((v - low) / (high - low), 0.0, 1.0))

    return scale


def _number(value: float) -> str:
    """A metric in French: an integer with spaces, or three significant digits with a comma."""
    if float(value).is_integer():
        return integer(int(value))
    return f"{value:.3g}".replace(".", ",")


def _nice(value: float) -> float:
    """The round number (1, 2 or 5 times a power of ten) at or below a positive value."""
    power = 10.0 ** math.floor(math.log10(value))
    return max(step * power for step in (1, 2, 5) if step * power <= value * (1 + 1e-9))


def _size_legend(size: str, values: np.ndarray, scale: Callable[[Any], np.ndarray], factor: float) -> LegendSection:
    """Three discs of the size legend: round values at about a tenth and a third of the largest, the largest.

    ``factor`` turns a size of ``scale`` into the diameter in CSS pixels of a :class:`LegendEntry`.
    """
    top = float(values.max()) if len(values) else 0.0
    references = sorted({_nice(top * share) for share in (0.1, 0.33) if top * share > 0} | {top} if top > 0 else set())
    entries = [LegendEntry(_number(v), "#9a9a9a", "circle", float(scale(v)) * factor)
               for v in references if v >= float(values.min())]
    return LegendSection(f"Taille : {size}", entries, note="La surface du disque croît avec la mesure.")


def _label_order(table: pd.DataFrame, sizes: np.ndarray) -> np.ndarray:
    """Positions of the actors that may be named, in the order they get a name: organisations, then persons
    who agreed to be shown, the biggest first."""
    named = np.flatnonzero(table["label"].notna().to_numpy())
    person = (table["kind"].to_numpy() == "personne")[named]
    return named[np.lexsort((-sizes[named], person))]


def _subtitle(actors: _Actors, n_edges: int) -> str:
    table = actors.table
    orgs = int((table["kind"] == "organisation").sum())
    alone = int((table["degree"] == 0).sum())
    details = " et ".join(part for part in (_fr.count(orgs, "organisation") if orgs else "",
                                         f"{integer(alone)} sans lien" if alone else "") if part)
    return (f"{_fr.count(len(table), 'acteur')}{f' dont {details}' if details else ''}, {_fr.count(n_edges, 'lien')} — "
            f"couleur : {actors.colour_title.lower()} ; taille : {actors.size}")


def _title(G: nx.Graph, title: str | None) -> str:
    return title or str(G.graph.get("name") or "Réseau des acteurs")


def _names_note() -> str:
    return "Les organisations sont nommées ; une personne ne l'est que si elle a accepté d'être montrée."


# --------------------------------------------------------------------------- layout


def _spread(G: nx.Graph, seed: int, iterations: int) -> np.ndarray:
    """ForceAtlas2 positions of a connected graph, centred, the largest extent scaled to [-1, 1]."""
    if len(G) == 1:
        return np.zeros((1, 2))
    raw = nx.forceatlas2_layout(G, seed=seed, weight="weight", max_iter=iterations, scaling_ratio=10.0,
                                gravity=0.5, distributed_action=True)
    xy = np.array([raw[n] for n in G.nodes], dtype=float)
    xy -= xy.mean(axis=0)
    _, _, axes = np.linalg.svd(xy, full_matrices=False)  # the longest extent horizontal: sheets and
    xy = xy @ axes.T * np.sign(np.diag(axes))            # screens are landscape
    extent = np.ptp(xy, axis=0)
    if 0 < extent[1] < 0.6 * extent[0]:  # a long, thin network: stretched (at most twice) to fill the sheet
        xy[:, 1] *= min(2.0, 0.6 * extent[0] / extent[1])
    xy -= (xy.max(axis=0) + xy.min(axis=0)) / 2
    return xy / (float(np.abs(xy).max()) or 1.0)


_LAYOUTS: OrderedDict[str, dict[Any, tuple[float, float]]] = OrderedDict()
_LAYOUTS_SIZE = 4


def _digest(G: nx.Graph, seed: int, iterations: int) -> str:
    """A digest of what the layout depends on: the actors, the ties and their weights, the settings."""
    digest = hashlib.blake2b(f"{seed}|{iterations}|".encode(), digest_size=20)
    digest.update(repr(list(G.nodes)).encode())
    digest.update(repr([(u, v, d.get("weight", 1)) for u, v, d in G.edges(data=True)]).encode())
    return digest.hexdigest()


def network_layout(G: nx.Graph, *, seed: int | None = None, iterations: int = 100) -> dict[Any, tuple[float, float]]:
    """Positions of the actors: the main network by ForceAtlas2, the small groups and lone actors in rows below.

    The largest connected part of the network fills about [-1, 1] × [-1, 1] (ForceAtlas2 on the weighted
    ties, groups apart); each other part (a few actors tied together, or an actor without any tie)
    is drawn in its own small box, the boxes in rows under it, biggest first, so that they do not push
    the main drawing into a corner.

    Parameters
    ----------
    G : networkx.Graph
        The network (edge attribute ``weight``; 1 when missing).
    seed : int, optional
        Seed of the layout (default ``carto.settings``' seed): the same graph gives the same picture.
    iterations : int
        Iterations of ForceAtlas2 (about 15 s for 1 500 actors and 20 000 ties at 100).

    Returns
    -------
    dict
        Node → ``(x, y)``. The last layouts are kept for the session: the widget, the page and the
        picture of the same network share one.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.path_graph(4)
    >>> G.add_node(9)
    >>> pos = network_layout(G, seed=1)
    >>> sorted(pos), pos[9][1] < min(pos[n][1] for n in range(4))
    ([0, 1, 2, 3, 9], True)
    """
    seed = get_settings().seed if seed is None else seed
    key = _digest(G, seed, iterations)
    if key not in _LAYOUTS:
        while len(_LAYOUTS) >= _LAYOUTS_SIZE:
            _LAYOUTS.popitem(last=False)
        _LAYOUTS[key] = _layout(G, seed, iterations)
    return dict(_LAYOUTS[key])


def _layout(G: nx.Graph, seed: int, iterations: int) -> dict[Any, tuple[float, float]]:
    order = {n: i for i, n in enumerate(G.nodes)}
    parts = sorted((sorted(c, key=order.__getitem__) for c in nx.connected_components(G)), key=len, reverse=True)
    pos: dict[Any, tuple[float, float]] = {}
    top, unit = 0.0, 0.15  # where the rows start; side of the box of one actor
    if parts and len(parts[0]) >= 3:
        main = parts.pop(0)
        xy = _spread(G.subgraph(main), seed, iterations)
        pos.update({n: (float(x), float(y)) for n, (x, y) in zip(main, xy, strict=True)})
        extent = np.ptp(xy, axis=0)
        unit = float(np.clip(math.sqrt(max(extent[0] * extent[1], 0.04) / len(main)) * 1.5, 0.04, 0.3))
        top = float(xy[:, 1].min()) - 2 * unit
    x, row = -1.0, 0.0
    for i, part in enumerate(parts):
        side = unit * math.sqrt(len(part)) if len(part) > 1 else unit / 2  # lone actors: a compact block
        first_alone = len(part) == 1 and i > 0 and len(parts[i - 1]) > 1
        if x > -1.0 and (x + side > 1.0 + 1e-9 or first_alone):
            x, top, row = -1.0, top - row - (unit if first_alone else 0.0), 0.0
        inner = _spread(G.subgraph(part), seed, 50) * side * 0.35 if len(part) > 1 else np.zeros((1, 2))
        for n, (dx, dy) in zip(part, inner, strict=True):
            pos[n] = (x + side / 2 + float(dx), top - side / 2 + float(dy))
        x, row = x + side, max(row, side)
    return pos


def _positions(G: nx.Graph, pos: Mapping[Any, Sequence[float]] | None, seed: int | None) -> np.ndarray:
    pos = network_layout(G, seed=seed) if pos is None else pos
    missing = [n for n in G.nodes if n not in pos]
    if missing:
        raise NetworkError(f"Positions absentes pour {_fr.count(len(missing), 'acteur')} (par exemple {missing[0]!r}) : "
                           "recalculez-les avec netviz.network_layout(G).")
    return np.array([pos[n] for n in G.nodes], dtype=float).reshape(-1, 2)


def _drawing(G: nx.Graph, metrics: pd.DataFrame | None, colour: str, size: str,
             pos: Mapping[Any, Sequence[float]] | None, min_weight: float, seed: int | None
             ) -> tuple[_Actors, np.ndarray, _Ties]:
    """What every view draws: the actors, their positions (in the graph's order) and the ties."""
    actors = _actors(G, metrics, colour, size)
    xy = _positions(G, pos, seed)
    return actors, xy, _ties(G, {node: i for i, node in enumerate(actors.table.index)}, min_weight)


# --------------------------------------------------------------------------- notebook widget


def network_widget(
    G: nx.Graph,
    metrics: pd.DataFrame | None = None,
    *,
    colour: str = "cercle",
    size: str = _WEIGHTED_DEGREE,
    pos: Mapping[Any, Sequence[float]] | None = None,
    name: str | None = None,
    height: int = 650,
    all_labels: bool | None = None,
    seed: int | None = None,
) -> Any:
    """An interactive view of the network in a notebook (ipysigma): colours, sizes, names, search and focus.

    Only what the view needs reaches the browser: the label (the name of an organisation or of a person who
    agreed to be shown, « personne (cercle 2) » for anyone else), the type, the cercle or group, what the
    metrics say in words (« dans le réseau » : :func:`carto.netmetrics.in_words`) and the metric of the size. Click an actor to see its neighbours, search it by name or id in the box.

    Parameters
    ----------
    G : networkx.Graph
        Graph of :func:`carto.network.actor_graph` (node ids: actor ids).
    metrics : pandas.DataFrame, optional
        Table of :func:`carto.netmetrics.metrics` (default: degrees only).
    colour : {"cercle", "groupe"}
        What the colour says (« groupe », the group found in the network, needs ``metrics``).
    size : str
        Numeric column of ``metrics`` that sets the size (« degré pondéré » by default).
    pos : dict, optional
        Positions of :func:`network_layout` (computed when not given).
    name : str, optional
        Name of the network shown above the buttons.
    height : int
        Height in pixels.
    all_labels : bool, optional
        Show every label (default: when there are at most 80 actors; otherwise those of the biggest).
    seed : int, optional
        Seed of the layout when ``pos`` is not given.

    Returns
    -------
    ipysigma.Sigma
        The widget; ``widget.get_selected_node()`` gives the actor id of the node clicked.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.Graph()
    >>> G.add_node(1, name="Asso", kind="organisation", shown=True, circle=1)
    >>> G.add_node(2, name="Camille Secret", kind="personne", shown=False, circle=2)
    >>> G.add_edge(1, 2, weight=2)
    >>> widget = network_widget(G)
    >>> sorted(n["attributes"]["nom"] for n in widget.data["nodes"])
    ['Asso', 'personne (cercle 2)']
    """
    from ipysigma import Sigma  # a notebook library: loaded when a widget is asked for

    actors, xy, ties = _drawing(G, metrics, colour, size, pos, 0.0, seed)
    table = actors.table
    view = nx.Graph()
    key = "cercle" if colour == "cercle" else "groupe"  # the attribute the colour says
    for node, row in zip(table.index, actors.rows(), strict=True):
        attributes = {"nom": row["label"] or row["neutral"], "type": row["kind"], "cercle": _circle_group(row["circle"]),
                      **({"groupe": row["network_group"]} if "network_group" in row else {}), key: row["group"],
                      "dans le réseau": " ; ".join(row["words"]), size: float(row["value"])}
        view.add_node(node, **attributes)
    nodes = list(table.index)
    for source, target, weight in ties.table[["source", "target", "weight"]].itertuples(index=False):
        view.add_edge(nodes[source], nodes[target], poids=float(weight))
    palette = dict(zip(table["group"], table["colour"], strict=True))
    layout = {node: {"x": float(x), "y": float(y)} for node, (x, y) in zip(nodes, xy, strict=True)}
    return Sigma(view, name=name, height=height, layout=layout, start_layout=False,
                 node_color=key, node_color_palette=palette, default_node_color=NO_CIRCLE_COLOUR,
                 max_categorical_colors=max(len(palette), 1), node_size=size, node_size_range=(3, 16),
                 node_label="nom", edge_size="poids", edge_size_range=(0.4, 3), default_edge_color="#cccccc",
                 edge_weight="poids", show_all_labels=len(view) <= 80 if all_labels is None else all_labels,
                 label_font="DejaVu Sans, Liberation Sans, Arial, sans-serif", default_edge_type="line")


# --------------------------------------------------------------------------- offline HTML page


_PAGE_CSS = """
<style>
html, body { margin: 0; height: 100%; overflow: hidden; background: #fbfbf8; font: 13px/1.35 "DejaVu Sans",
  "Liberation Sans", Arial, sans-serif; color: #222; }
body { display: flex; flex-direction: column; }
#carto-entete { flex: none; padding: 8px 14px 7px; background: #fff; border-bottom: 1px solid #ddd; }
#carto-entete h1 { font-size: 19px; margin: 0 0 2px 0; }
#carto-entete p { margin: 0; color: #444; }
#carto-entete p.carto-sources { font-size: 11px; color: #666; }
#carto-corps { flex: 1; display: flex; min-height: 0; }
#carto-reseau { flex: 1; position: relative; min-width: 0; }
#carto-cote { flex: none; width: 310px; overflow-y: auto; padding: 10px 12px; background: #fff;
  border-left: 1px solid #ddd; box-sizing: border-box; }
#carto-cote .carto-legend { max-height: none; overflow: visible; margin-top: 10px; border-top: 1px solid #ddd;
  padding-top: 6px; }
#carto-aide { font-size: 11px; color: #555; margin: 2px 0 0 0; }
#carto-recherche { width: 100%; box-sizing: border-box; font: inherit; padding: 5px 7px; border: 1px solid #999;
  border-radius: 4px; }
#carto-recherche-etat { font-size: 12px; color: #555; min-height: 1em; margin-top: 3px; }
#carto-fiche { margin-top: 6px; border: 1px solid #ddd; border-radius: 4px; padding: 6px 8px; background: #fafafa; }
#carto-fiche[hidden], #carto-tout[hidden] { display: none; }
#carto-fiche h2 { font-size: 14px; margin: 0 0 4px 0; overflow-wrap: anywhere; }
#carto-fiche dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 8px; margin: 0; font-size: 12px; }
#carto-fiche dt { color: #555; }
#carto-fiche dd { margin: 0; overflow-wrap: anywhere; }
#carto-fiche p { font-size: 11px; color: #555; margin: 4px 0 0 0; }
#carto-fiche ul.carto-fiche-mots { margin: 0 0 5px 0; padding-left: 16px; font-size: 12.5px; }
#carto-fiche ul.carto-fiche-mots:empty { display: none; }
#carto-tout { margin-top: 6px; font: inherit; font-size: 12px; cursor: pointer; }
.carto-erreur { display: flex; align-items: center; justify-content: center; font-size: 16px; padding: 40px;
  text-align: center; }
</style>
"""

# The page's behaviour. It reads its data from the JSON block and writes every text with textContent (never
# innerHTML): a name from the sources stays text. Zoomed out, only the names chosen in Python (``f``: they
# do not overlap) are drawn; zoomed in, sigma.js shows the other names the space allows.
_PAGE_JS = r"""
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("carto-reseau-donnees").textContent);
  var container = document.getElementById("carto-reseau");
  var card = document.getElementById("carto-fiche");
  var search = document.getElementById("carto-recherche");
  var status = document.getElementById("carto-recherche-etat");
  var all = document.getElementById("carto-tout");
  var graph = new graphology.Graph({type: "undirected"});
  data.nodes.forEach(function (n, i) {
    graph.addNode(String(i), {x: n.x, y: n.y, size: n.s, color: n.c, label: n.l, headline: !!n.f,
                              zIndex: n.f ? 2 : 1});
  });
  data.edges.forEach(function (e) {
    var style = data.edgeStyles[e[2]];
    graph.addEdge(String(e[0]), String(e[1]), {size: style[0], color: style[1], zIndex: e[2]});
  });
  var state = {focus: null, neighbours: null, hover: null, zoomed: false};
  var renderer;
  try {
    renderer = new Sigma(graph, container, {
      zIndex: true, renderEdgeLabels: false, labelFont: data.font, labelSize: 12, labelWeight: "normal",
      labelDensity: 0.6, labelGridCellSize: 110, labelRenderedSizeThreshold: 0, stagePadding: 24,
      minCameraRatio: 0.03, maxCameraRatio: 4,
      nodeReducer: function (node, attrs) {
        var out = Object.assign({}, attrs);
        out.forceLabel = attrs.headline && attrs.label !== null;
        if (!state.zoomed && !attrs.headline) { out.label = null; }
        if (state.focus !== null) {
          if (node === state.focus || state.neighbours.has(node)) {  // a hub's neighbours: as space allows
            out.label = attrs.label; out.zIndex = 3;
            out.forceLabel = attrs.label !== null && (node === state.focus || state.neighbours.size <= 12);
            if (node === state.focus) { out.highlighted = true; }
          } else {
            out.color = "#e3e3e3"; out.label = null; out.forceLabel = false; out.zIndex = 0;
          }
        }
        if (node === state.hover) { out.highlighted = true; }
        return out;
      },
      edgeReducer: function (edge, attrs) {
        if (state.focus === null) { return attrs; }
        var out = Object.assign({}, attrs);
        if (!graph.hasExtremity(edge, state.focus)) { out.hidden = true; } else { out.zIndex = 9; }
        return out;
      }
    });
  } catch (error) {
    container.className = "carto-erreur";
    container.textContent = "Ce navigateur n'a pas pu dessiner le réseau (WebGL indisponible) : ouvrez la page "
      + "dans un navigateur récent (Firefox, Chrome, Edge).";
    return;
  }
  renderer.getCamera().on("updated", function (camera) {
    var zoomed = camera.ratio < 0.7;
    if (zoomed !== state.zoomed) { state.zoomed = zoomed; renderer.refresh(); }
  });

  function showCard(node) {
    if (node === null || node === undefined) { card.hidden = true; return; }
    var info = data.nodes[Number(node)].i;
    card.textContent = "";
    var title = document.createElement("h2");
    title.textContent = info[0];
    var list = document.createElement("dl");
    info[1].forEach(function (line) {
      var term = document.createElement("dt");
      var value = document.createElement("dd");
      term.textContent = line[0];
      value.textContent = line[1];
      list.appendChild(term);
      list.appendChild(value);
    });
    var words = document.createElement("ul");
    words.className = "carto-fiche-mots";
    info[2].forEach(function (sentence) {
      var item = document.createElement("li");
      item.textContent = sentence;
      words.appendChild(item);
    });
    card.appendChild(title);
    card.appendChild(words);
    card.appendChild(list);
    if (state.focus === node) {
      var hint = document.createElement("p");
      var degree = graph.degree(node);
      hint.textContent = (degree > 1 ? degree + " liens montrés" : degree + " lien montré")
        + " ; cliquez dans le vide ou sur « Tout afficher » pour revoir tout le réseau.";
      card.appendChild(hint);
    }
    card.hidden = false;
  }
  function focus(node, move) {
    node = String(node);
    state.focus = node;
    state.neighbours = new Set(graph.neighbors(node));
    all.hidden = false;
    showCard(node);
    renderer.refresh();
    if (move) {  // frame the actor and its neighbours
      var xs = [], ys = [];
      [node].concat(graph.neighbors(node)).forEach(function (key) {
        var where = renderer.getNodeDisplayData(key);
        xs.push(where.x);
        ys.push(where.y);
      });
      var left = Math.min.apply(null, xs), right = Math.max.apply(null, xs);
      var bottom = Math.min.apply(null, ys), top = Math.max.apply(null, ys);
      var ratio = Math.min(1, Math.max(0.08, 1.3 * Math.max(right - left, top - bottom)));
      renderer.getCamera().animate({x: (left + right) / 2, y: (bottom + top) / 2, ratio: ratio}, {duration: 400});
    }
  }
  function clear() {
    state.focus = null;
    state.neighbours = null;
    all.hidden = true;
    showCard(state.hover);
    renderer.refresh();
  }
  renderer.on("enterNode", function (event) { state.hover = event.node; showCard(event.node); renderer.refresh(); });
  renderer.on("leaveNode", function () { state.hover = null; showCard(state.focus); renderer.refresh(); });
  renderer.on("clickNode", function (event) { focus(event.node, false); });
  renderer.on("clickStage", function () { clear(); });
  all.addEventListener("click", function () { search.value = ""; status.textContent = ""; clear(); });

  var named = [];
  data.nodes.forEach(function (n, i) { if (n.l !== null) { named.push([n.l, String(i)]); } });
  named.sort(function (a, b) { return a[0].localeCompare(b[0], "fr"); });
  var options = document.getElementById("carto-noms");
  named.forEach(function (item) {
    var option = document.createElement("option");
    option.value = item[0];
    options.appendChild(option);
  });
  function matches(text) {
    var query = text.trim().toLocaleLowerCase("fr");
    var exact = named.filter(function (item) { return item[0].toLocaleLowerCase("fr") === query; });
    if (exact.length) { return exact; }
    return named.filter(function (item) { return item[0].toLocaleLowerCase("fr").indexOf(query) >= 0; });
  }
  function find(pick) {
    if (!search.value.trim()) { status.textContent = ""; clear(); return; }
    var found = matches(search.value);
    if (found.length === 0) { status.textContent = "Aucun acteur nommé ne correspond."; return; }
    if (found.length === 1 || pick) {
      status.textContent = found.length > 1 ? found.length + " acteurs correspondent : le premier est montré." : "";
      focus(found[0][1], true);
      return;
    }
    status.textContent = found.length + " acteurs correspondent : précisez, ou Entrée pour le premier.";
  }
  search.addEventListener("input", function () { find(false); });
  search.addEventListener("keydown", function (event) { if (event.key === "Enter") { find(true); } });
  window.cartoReseau = {
    graph: graph, renderer: renderer, focus: focus, clear: clear,
    focused: function () { return state.focus; }
  };
  document.body.setAttribute("data-carto-pret", "oui");
})();
</script>
"""

#: Size of the drawing area the names shown zoomed out are chosen for, in CSS pixels.
_VIEW_PX = (1000.0, 650.0)


def _headline(xy: np.ndarray, radii: np.ndarray, texts: Sequence[Any], order: np.ndarray, most: int) -> set[int]:
    """The names drawn when the whole network is in view: at most ``most``, in ``order``, none overlapping.

    The page is assumed to show the network in about :data:`_VIEW_PX` (as sigma.js fits it); a name takes
    7 pixels a character, right of its disc, like sigma.js draws it.
    """
    if not len(xy):
        return set()
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    scale = min((_VIEW_PX[0] - 48) / span[0], (_VIEW_PX[1] - 48) / span[1])
    boxes: list[tuple[float, float, float, float]] = []
    chosen: set[int] = set()
    for i in order:
        if len(chosen) >= most:
            break
        x, y = (xy[i] - low) * scale
        left = x + radii[i] + 3
        box = (left, y - 8, left + 7 * len(str(texts[i])), y + 8)
        if box[2] > _VIEW_PX[0]:  # would run off the right edge
            continue
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            boxes.append(box)
            chosen.add(int(i))
    return chosen


def _card(row: dict[str, Any]) -> list[Any]:
    """Title, lines and sentences of an actor's card (shown on hover and click): what the metrics say in
    words (:func:`carto.netmetrics.in_words`), no raw figure."""
    title = row["label"] or ("Personne non nommée" if row["kind"] == "personne" else "Organisation non nommée")
    lines = [["Type", row["kind"]], ["Cercle", _circle_group(row["circle"])]]
    if "network_group" in row:
        lines.append([_GROUP_TITLE, row["network_group"]])
    if row["commune"]:
        lines.append(["Commune", row["commune"]])
    if not row["label"]:
        lines.append(["Nom", "non diffusé (pas d'accord pour être montré·e)"])
    return [title, lines, [sentence[:1].upper() + sentence[1:] for sentence in row["words"]]]


def network_page(
    G: nx.Graph,
    metrics: pd.DataFrame | None = None,
    *,
    title: str | None = None,
    as_of: date | None = None,
    colour: str = "cercle",
    size: str = _WEIGHTED_DEGREE,
    pos: Mapping[Any, Sequence[float]] | None = None,
    labels: int = 20,
    min_weight: float = 0.0,
    sources: str | None = None,
    seed: int | None = None,
) -> str:
    """The interactive view of the network as one self-contained HTML page, in French.

    A title box (title, counts, « Données au … »), a legend, a search box over the names shown, and the
    network drawn by sigma.js (WebGL): hover an actor to read its card, click it (or find it) to show only
    its ties, click in the void to see everything again. sigma.js and graphology (pinned in
    ``assets/package.json``) are inlined: the page needs no network.

    Parameters
    ----------
    G : networkx.Graph
        Graph of :func:`carto.network.actor_graph`.
    metrics : pandas.DataFrame, optional
        Table of :func:`carto.netmetrics.metrics` (default: degrees only). The cards say them in words
        (:func:`carto.netmetrics.in_words`).
    title : str, optional
        Title of the page (escaped; default the graph's name, ``G.graph["name"]``).
    as_of : datetime.date, optional
        Date of the data (default today).
    colour : {"cercle", "groupe"}
        What the colour says (« groupe », the group found in the network, needs ``metrics``).
    size : str
        Numeric column of ``metrics`` that sets the size.
    pos : dict, optional
        Positions of :func:`network_layout` (computed when not given).
    labels : int
        Organisations always named on the drawing (the biggest); other names appear as one zooms in.
    min_weight : float
        Ties weaker than this are not drawn (the actors stay).
    sources : str, optional
        Sources line of the title box.
    seed : int, optional
        Seed of the layout when ``pos`` is not given.

    Returns
    -------
    str
        The HTML text; write it with :func:`save_network_html`, show it in a notebook with
        :func:`carto.export.show`.

    Raises
    ------
    carto._errors.AssetError
        sigma.js or graphology are not in ``carto/_vendor``: run ``make assets``.
    carto._errors.NetworkError
        Unknown colour or size (the message lists the metrics).
    """
    as_of, title = as_of or date.today(), _title(G, title)
    actors, xy, ties = _drawing(G, metrics, colour, size, pos, min_weight, seed)
    table, edges, n = actors.table, ties.table, len(actors.table)
    values = table["value"].to_numpy(float)
    scale = _size_scale(values, 2.5 if n > 300 else 4.0, 14.0 if n > 300 else 18.0)  # radii in pixels
    radii = scale(values)
    headline = _headline(xy, radii, table["label"].tolist(), _label_order(table, radii), labels)
    nodes = [{"x": round(float(x), 5), "y": round(float(y), 5), "s": round(float(r), 2), "c": row["colour"],
              "l": row["label"], "f": i in headline, "i": _card(row)}
             for i, (row, (x, y), r) in enumerate(zip(actors.rows(), xy, radii, strict=True))]
    data = {"nodes": nodes, "edges": edges[["source", "target", "level"]].to_numpy(int).tolist(),
            "edgeStyles": [[width, shade] for shade, width in ties.styles],
            "font": '"DejaVu Sans", "Liberation Sans", Arial, sans-serif'}
    legend = [LegendSection(actors.colour_title, actors.colour_entries), _size_legend(size, values, scale, 2.0),
              ties.legend(), LegendSection("Noms", [], note=_names_note())]
    heading = title_html(title, as_of, subtitle=_subtitle(actors, len(edges)), sources=sources or _SOURCES)
    scripts = "".join(f'<script src="{url}"></script>\n' for url in _SCRIPTS)
    page = f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{scripts}{MAP_CSS}{_PAGE_CSS}</head>
<body>
<header id="carto-entete" class="carto-title">{heading}</header>
<div id="carto-corps">
<div id="carto-reseau" role="img" aria-label="{html.escape(title, quote=True)}"></div>
<aside id="carto-cote">
<input id="carto-recherche" type="search" list="carto-noms" autocomplete="off"
 placeholder="Rechercher un acteur nommé…" aria-label="Rechercher un acteur nommé">
<datalist id="carto-noms"></datalist>
<div id="carto-recherche-etat" aria-live="polite"></div>
<p id="carto-aide">Survolez un acteur pour lire sa fiche, cliquez pour ne voir que ses liens ; molette : zoom
(plus de noms) ; glisser : déplacer.</p>
<button id="carto-tout" type="button" hidden>Tout afficher</button>
<div id="carto-fiche" hidden></div>
<div id="carto-legende" class="carto-legend"><details open><summary>Légende</summary>
{legend_html(legend)}</details></div>
</aside>
</div>
<script type="application/json" id="carto-reseau-donnees">{to_js(data)}</script>
{_PAGE_JS}</body>
</html>
"""
    return page  # CDN addresses: carto.export.save_html / show put the vendored libraries in their place


# --------------------------------------------------------------------------- A4 picture


def _fit(ax: Any, xy: np.ndarray) -> None:
    """Same scale on both axes, the drawing centred, a margin for the names."""
    box = ax.get_position()
    width, height = box.width * ax.figure.get_figwidth(), box.height * ax.figure.get_figheight()
    low, high = (xy.min(axis=0), xy.max(axis=0)) if len(xy) else (np.zeros(2), np.ones(2))
    span = np.maximum(high - low, 1e-9)
    per_inch = 1.1 * max(span[0] / width, span[1] / height)
    centre = (low + high) / 2
    ax.set_xlim(centre[0] - per_inch * width / 2, centre[0] + per_inch * width / 2)
    ax.set_ylim(centre[1] - per_inch * height / 2, centre[1] + per_inch * height / 2)


#: Ties from which :func:`network_picture` draws only the strongest fifth by default.
DENSE_TIES = 1_000


def strong_ties(G: nx.Graph, *, share: float = 0.2) -> float:
    """The weight from which a tie is among the strongest ``share`` of the graph's ties (0 for a sparse graph).

    >>> G = nx.Graph()
    >>> G.add_weighted_edges_from([(1, 2, 1.0), (2, 3, 3.0)])
    >>> strong_ties(G)
    0.0
    """
    weights = [float(w) for *_, w in G.edges(data="weight", default=1.0)]
    if len(weights) <= DENSE_TIES:
        return 0.0
    return float(np.quantile(weights, 1.0 - share))


def network_picture(
    G: nx.Graph,
    metrics: pd.DataFrame | None = None,
    *,
    title: str | None = None,
    as_of: date | None = None,
    colour: str = "cercle",
    size: str = _WEIGHTED_DEGREE,
    labels: int = 20,
    pos: Mapping[Any, Sequence[float]] | None = None,
    min_weight: float | None = None,
    sources: str | None = None,
    seed: int | None = None,
) -> Figure:
    """The network on an A4 landscape sheet, for a note: header, drawing, legend panel, sources.

    Organisations are squares and persons discs, coloured by cercle or group, sized by a metric;
    ties are grey lines, darker and thicker when stronger. The most central organisations and persons who
    agreed to be shown are named, without overlaps; no other person is ever named. Every text is drawn
    literally (a ``$`` in a name stays a dollar).

    Parameters
    ----------
    G : networkx.Graph
        Graph of :func:`carto.network.actor_graph`.
    metrics : pandas.DataFrame, optional
        Table of :func:`carto.netmetrics.metrics` (default: degrees only).
    title : str, optional
        Title of the sheet (default the graph's name, ``G.graph["name"]``).
    as_of : datetime.date, optional
        Date of the data (« Données au … »; default today).
    colour : {"cercle", "groupe"}
        What the colour says (« groupe », the group found in the network, needs ``metrics``).
    size : str
        Numeric column of ``metrics`` that sets the size.
    labels : int
        Most actors named (the biggest first; a name that would overlap another is left out).
    pos : dict, optional
        Positions of :func:`network_layout` (computed when not given).
    min_weight : float, optional
        Ties weaker than this are not drawn (the actors stay). Default: :func:`strong_ties` — on A4, a
        graph of more than :data:`DENSE_TIES` ties shows its strongest fifth only (a meeting of the whole
        community links everyone, and every tie drawn would hide the structure).
    sources : str, optional
        Sources line under the drawing.
    seed : int, optional
        Seed of the layout when ``pos`` is not given.

    Returns
    -------
    matplotlib.figure.Figure
        11.69 × 8.27 in; a notebook shows it; write it with :func:`carto.export.save_print_map`.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.Graph()
    >>> G.add_node(1, name="Asso", kind="organisation", shown=True, circle=1)
    >>> G.add_node(2, name="Camille Secret", kind="personne", shown=False, circle=2)
    >>> G.add_edge(1, 2, weight=2)
    >>> fig = network_picture(G, title="Réseau", as_of=date(2026, 11, 29))
    >>> [round(float(v), 2) for v in fig.get_size_inches()]
    [11.69, 8.27]
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['Asso']
    """
    as_of, title = as_of or date.today(), _title(G, title)
    if min_weight is None:
        min_weight = strong_ties(G)
    actors, xy, ties = _drawing(G, metrics, colour, size, pos, min_weight, seed)
    table, edges = actors.table, ties.table
    fig, ax, panel = a4_sheet()
    _fit(ax, xy)
    n = len(table)
    smallest, biggest = (5.0, 20.0) if n <= 100 else (3.0, 15.0) if n <= 500 else (2.0, 12.0)
    values = table["value"].to_numpy(float)
    scale = _size_scale(values, smallest, biggest)
    diameters = scale(values)
    thinner = 0.6 if len(edges) > 3000 else 1.0  # a dense network: light ties, the actors stay readable
    for level, group in edges.groupby("level"):
        shade, width = ties.styles[int(level)]
        segments = np.stack([xy[group["source"].to_numpy()], xy[group["target"].to_numpy()]], axis=1)
        ax.add_collection(LineCollection(segments, colors=shade, linewidths=width * PX * thinner,
                                         alpha=(0.8 * thinner ** 2 if level == 0 else 0.9), zorder=1 + level),
                          autolim=False)
    order = np.argsort(diameters, kind="stable")  # the biggest on top
    for kind, marker, shrink in (("personne", "o", 1.0), ("organisation", "s", 0.9)):
        mine = order[(table["kind"].to_numpy() == kind)[order]]
        ax.scatter(xy[mine, 0], xy[mine, 1], s=(diameters[mine] * shrink) ** 2, c=table["colour"].to_numpy()[mine],
                   marker=marker, edgecolors="white", linewidths=0.5 if n <= 500 else 0.3, zorder=6)
    alone = np.flatnonzero(table["degree"].to_numpy() == 0)
    if len(alone) and len(alone) < n:  # a caption over the block of actors without ties
        ax.annotate(f"Sans lien : {_fr.count(len(alone), 'acteur')}", (xy[alone, 0].min(), xy[alone, 1].max()),
                    xytext=(0, 6), textcoords="offset points", ha="left", va="bottom", fontsize=7, color=GREY,
                    style="italic", parse_math=False, annotation_clip=False, gid="carto-note")
    named = _label_order(table, diameters)
    place_labels(ax, xy[named, 0], xy[named, 1], table["label"].to_numpy()[named].tolist(), diameters[named] / 2,
                  most=labels)
    if not n:
        empty_sheet(ax, "Aucun acteur dans ce réseau.")
    legend = [
        LegendSection(actors.colour_title, actors.colour_entries),
        _size_legend(size, values, scale, 1 / PX),
        LegendSection("Acteurs", [LegendEntry("Organisation", "#9a9a9a", "square", 11),
                                  LegendEntry("Personne", "#9a9a9a", "circle", 11)], note=_names_note()),
        ties.legend(thinner),
    ]
    sheet_header(fig, title, _subtitle(actors, len(edges)), as_of, sources or _SOURCES)
    caption = ties.caption()
    if caption:
        sheet_caption(fig, caption)
    legend_panel(panel, legend)
    log.info("Image A4 du réseau « %s » dessinée (%s acteurs, %s liens)", title, n, len(edges))
    return fig
