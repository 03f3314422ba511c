"""The map of a community's members, with its « Filtres » panel (cercle, type, source, thème)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from typing import Any

import folium
import numpy as np
import pandas as pd
import sqlalchemy as sa
from branca.element import MacroElement
from folium.template import Template

from carto import _fr, communities, events, store, themes
from carto._errors import MapError
from carto._fr import count, integer
from carto.maps.frame import _BACKGROUND_LEGEND, _community_frame
from carto.maps.page import (
    LegendEntry,
    LegendSection,
    _colour,
    _esc,
    _place,
    _symbol,
    add_box,
    legend_html,
    title_html,
    to_js,
)
from carto.sources import builtin_sources, load_mapping

log = logging.getLogger(__name__)


_PERSON_SHOWN_R = 5
_COUNT_COLOUR = "#6b6b6b"


def _member_places(engine: Any, table: pd.DataFrame, communes: Any, *,
                   as_of: date) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Members with their commune code, consent to appear on a map, map position, sources and themes.

    Persons are placed at their commune's point (never an address); organisations at their address
    point when known, else at their commune. Two bit masks are added: ``sources`` (bit *i*: the *i*-th
    of the returned ``(name, French label)`` sources fed the member — ``source_records`` linked to it, status
    ok; the last bit: no source file, e.g. entered in a workshop) and ``themes`` (bit *i*: the *i*-th
    thematic space of :func:`carto.themes.theme_names`; the last bit: none). The themes of a member are those
    of :func:`carto.events.actor_themes` up to ``as_of`` (the same as the graphs' and the member table's).
    """
    a, sr = store.actors, store.source_records
    ids = [int(i) for i in table["acteur"]]
    with engine.connect() as conn:
        extra = store.select_in(conn, sa.select(a.c.id, a.c.commune_code, a.c.consent_map, a.c.location_precision,
                                                a.c.lon, a.c.lat), a.c.id, ids)
        fed = store.select_in(conn, sa.select(sr.c.actor_id, sr.c.source).where(sr.c.status == "ok")
                              .group_by(sr.c.actor_id, sr.c.source), sr.c.actor_id, ids)
        spaces_of = events.actor_themes(conn, ids, until=as_of)
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

    # themes: the thematic spaces of each member (carto.events.actor_themes), one bit each
    position = {slug: i for i, slug in enumerate(spaces)}
    found = _masks(spaces_of["actor_id"], spaces_of["theme"].map(position), table["acteur"], none=len(spaces))
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
    """Bit mask and labels of the chosen ``values``: keys of ``valid`` (accents, case ignored) → ``(bit, label)``.

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
    folded = {_fr.fold(key): entry for key, entry in valid.items()}
    mask, labels = 0, []
    for value in _listed(values):
        key = _fr.fold(value)
        if key not in folded:
            raise MapError(f"{unknown} : « {value} ». Valeurs possibles : {', '.join(choices)}.")
        bit, label = folded[key]
        mask |= 0 if bit is None else 1 << bit
        labels.append(label)
    return mask, list(dict.fromkeys(labels))


def _listed(values: Any) -> list[Any]:
    return [values] if isinstance(values, str | int) else list(values)


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
        "thèmes": _choose(None if themes_ is None else [themes.find_theme(v) for v in _listed(themes_)],
                          {slug: (i, name) for i, (slug, name) in enumerate(spaces.items())}, "Thème inconnu",
                          list(spaces)),
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
    their mapping (« Feuilles d'émargement »…). Its **themes** are those of :func:`carto.events.actor_themes`
    up to ``as_of`` — its own (an organisation's declared themes), its organisation's, those of the events it
    attended and of the workshops where a relation of its was named —, the same as in the graphs
    (:func:`carto.network.actor_graph`) and the member table (:func:`carto.communities.members`): a member
    working with an association on hedges, or who came to a biodiversity workshop, is « Biodiversité » even
    if it never said so itself.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base (cercles computed by :func:`carto.communities.update_circles`).
    community : str or int
        Slug, name or id (:func:`carto.events.find_community`: « biodiversite » or « Biodiversité »).
    as_of : datetime.date, optional
        Date of the data shown in the title box (default today).
    title : str, optional
        Default « Membres de la communauté <nom> ».
    communes, departements : geopandas.GeoDataFrame, optional
        Background and commune points (default :func:`carto.geo.communes`, :func:`carto.geo.departements`).
    circles, kinds, sources, themes : str, int or list, optional
        Only these members (one value or several; all by default): cercles ``1``, ``2``, ``3``; kinds
        ``"personne"``, ``"organisation"``; sources by name (``"emargement"``) or label; thematic spaces by
        slug (``"biodiversite"``) or name (:func:`carto.themes.find_theme`; accents and case ignored). A
        member is kept when it has one of the given values of every filter. An unknown value raises a
        :class:`~carto._errors.MapError` listing the valid ones (a
        :class:`~carto._errors.NotFoundError` with the closest for a theme). The subtitle says which filters
        are applied.
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
    name = events.community_name(engine, community)
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
        LegendSection("Membres", note="Couleur : le cercle. Rond : des personnes, placées au centre de leur commune ; "
                                      "carré : des organisations. Un symbole par lieu et par cercle, plus grand quand "
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
