"""Charts of a community's indicators (matplotlib), readable at a glance, in French.

Each function takes the DataFrame of the matching :mod:`carto.evaluation`
indicator and returns a :class:`matplotlib.figure.Figure` (shown by a notebook,
saved with :func:`carto.export.save_figure`). :func:`community_figures` makes
them all for one community.

Every chart takes the keyword options ``community`` (its name, at the head of
the title), ``as_of`` (the date of the data, default today) and ``sources``
(default « base Terreau »; :func:`data_sources` reads them from the base) and
carries the footer « Données au JJ/MM/AAAA — sources : … » (:func:`footer`).
Numbers are written the French way on every tick (« 0,5 », « 1 200 »), dates
too (« janv. 2026 », « 29/11/2026 »), whatever the system locale.

Examples
--------
>>> from datetime import date
>>> from carto import charts, communities, evaluation, store
>>> engine = store.init_base("sqlite://")
>>> _ = communities.create_communities(engine)
>>> fig = charts.circles_chart(evaluation.circles_by_month(engine, "biodiversite", end=date(2022, 1, 1)),
...                            community="Biodiversité")
>>> fig.axes[0].get_title(loc="left")
'Biodiversité — membres par cercle, fin de mois'
>>> fig._repr_png_()[:4]  # what a notebook shows
b'\x89PNG'
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator, ScalarFormatter
from sqlalchemy.engine import Engine

from carto import _fr, evaluation, store
from carto.communities import CIRCLE_COLOURS, CIRCLE_LABELS
from carto.events import find_community
from carto.sources import builtin_sources, load_mapping

__all__ = [
    "Chart",
    "circles_chart",
    "transitions_chart",
    "funnel_chart",
    "retention_chart",
    "participation_chart",
    "coverage_chart",
    "community_figures",
    "data_sources",
    "footer",
]

_TRANSITION_COLOURS = {"entrée": "#31a354", "promotion": "#08519c", "baisse": "#fd8d3c", "sortie": "#de2d26"}
_SIZE = (10, 5)
#: Sources line of a chart when the caller names none (:func:`community_figures` reads them from the base).
DEFAULT_SOURCES = "base Terreau"
_POPULATION_SOURCE = "populations municipales INSEE"
_NO_SOURCE = "saisies dans Terreau (ateliers, jardiniers)"
_FOOTER_GID = "carto-footer"
_GREY = "#555555"


class Chart(Figure):
    """A matplotlib figure that a notebook shows as an image (no pyplot state, nothing to close)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, facecolor="white")
        return buffer.getvalue()


class _FrenchNumbers(Formatter):
    """Tick labels as a French reader writes numbers: « 0,5 », « 1 200 » (narrow no-break space), « −3 ».

    As many decimals as the ticks of the axis need, the same for all of them; ``absolute`` drops the sign
    (counts drawn under the axis are still counts).
    """

    def __init__(self, *, absolute: bool = False) -> None:
        self.absolute = absolute

    def _label(self, value: float, digits: int) -> str:
        value = abs(value) if self.absolute else value
        if round(value, digits) == 0:
            return "0"  # not « −0 » nor « 0,000 »
        text = _fr.decimal(abs(value), digits)
        return f"\u2212{text}" if value < 0 else text

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        digits = _digits(values)
        return [self._label(v, digits) for v in values]

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._label(x, _digits([x]))


def _digits(values: Sequence[float]) -> int:
    """The fewest decimals (0 to 3) that write every value exactly."""
    for digits in range(3):
        if all(abs(round(v, digits) - v) <= 1e-9 * max(1.0, abs(v)) for v in values):
            return digits
    return 3


class _FrenchDates(Formatter):
    """Date tick labels written out in French, never from the system locale.

    Ticks all on the 1st of January: « 2026 »; all on the 1st of a month: « janv. 2026 »; otherwise
    « 29/11/2026 ».
    """

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        days = [mdates.num2date(v).date() for v in values]
        if days and all(d.month == 1 and d.day == 1 for d in days):
            return [str(d.year) for d in days]
        if days and all(d.day == 1 for d in days):
            return [_fr.month(d, short=True) for d in days]
        return [_fr.date(d) for d in days]

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _fr.date(mdates.num2date(x).date())


def _date_axis(axis: object) -> None:
    """A date axis with at most eight French labels."""
    axis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    axis.set_major_formatter(_FrenchDates())


def _french_numbers(ax: object, *, absolute: str = "", counts: str = "") -> None:
    """French labels on every numeric axis of ``ax`` still showing matplotlib's default numbers, at round
    steps (1, 2, 5 × 10ⁿ). ``absolute``: the axes (``"x"``, ``"y"``) whose labels lose their sign;
    ``counts``: the axes of counts (whole ticks only, never « 2,5 participants »)."""
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        if isinstance(axis.get_major_formatter(), ScalarFormatter):
            axis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=name in counts))
            axis.set_major_formatter(_FrenchNumbers(absolute=name in absolute))


def footer(fig: Figure) -> str:
    """The line « Données au JJ/MM/AAAA — sources : … » under a chart of this module.

    Examples
    --------
    >>> fig = funnel_chart(pd.DataFrame({"membres": []}), as_of=date(2026, 11, 29), sources="émargements")
    >>> footer(fig)
    'Données au 29/11/2026 — sources : émargements'
    """
    return next((t.get_text().replace("\n", " ") for t in fig.texts if t.get_gid() == _FOOTER_GID), "")


def _footer_text(as_of: date | None, sources: str | None) -> str:
    day = as_of or date.today()
    return f"Données au {_fr.date(day)} — sources : {sources or DEFAULT_SOURCES}"


def _figure(title: str, as_of: date | None, sources: str | None) -> tuple[Figure, object]:
    """A figure with its title and, under it, the footer naming the date of the data and its sources."""
    fig = Chart(figsize=_SIZE, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=13, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    # a figure label, so that the constrained layout keeps room for it under the axes
    fig.supxlabel(textwrap.fill(_footer_text(as_of, sources), 150), x=0.01, ha="left", fontsize=8,
                  color=_GREY, gid=_FOOTER_GID)
    return fig, ax


def _empty(ax: object, message: str = "Pas encore de données pour cette communauté.") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color=_GREY, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def period_label(period: pd.Period | object) -> str:
    """A period as a French reader names it: « 2024 », « T2 2024 », « janv. 2024 », else its first day.

    Examples
    --------
    >>> [period_label(pd.Period(p, freq)) for p, freq in [("2024", "Y"), ("2024Q2", "Q"), ("2024-01", "M"),
    ...                                                    ("2024-03-04", "W")]]
    ['2024', 'T2 2024', 'janv. 2024', '04/03/2024']
    """
    if not isinstance(period, pd.Period):
        return str(period)
    name = period.freqstr.split("-")[0]
    if name.startswith(("Y", "A")):
        return str(period.year)
    if name.startswith("Q"):
        return f"T{period.quarter} {period.year}"
    if name.startswith("M"):
        return _fr.month(period.start_time, short=True)
    return _fr.date(period.start_time)


def _period_ticks(ax: object, periods: pd.Index) -> None:
    """About eight readable period labels (« T2 2024 ») under bars or points at 0, 1, 2…"""
    step = max(1, -(-len(periods) // 8))
    ax.set_xticks(np.arange(len(periods))[::step], [period_label(p) for p in periods[::step]])


def _headroom(ax: object, share: float = 0.18) -> None:
    """Room above the highest bar for the legend and the labels written over the bars."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + share * (high - low))


def _prefix(community: str | None) -> str:
    return f"{community} — " if community else ""


def circles_chart(by_month: pd.DataFrame, *, community: str | None = None, as_of: date | None = None,
                  sources: str | None = None) -> Figure:
    """Stacked areas: members per cercle at the end of each month (from :func:`evaluation.circles_by_month`)."""
    fig, ax = _figure(f"{_prefix(community)}membres par cercle, fin de mois", as_of, sources)
    if by_month.empty or not by_month.to_numpy().any():
        _empty(ax)
        return fig
    x = by_month.index.to_timestamp(how="start")
    labels = list(CIRCLE_LABELS.values())
    ax.stackplot(x, *[by_month[label].to_numpy() for label in labels], labels=labels,
                 colors=[CIRCLE_COLOURS[c] for c in CIRCLE_LABELS], alpha=0.95)
    last = by_month.iloc[-1]
    month = _fr.month(by_month.index[-1].start_time)
    ax.set_ylabel("membres")
    ax.set_xlabel("")
    ax.margins(x=0)
    _date_axis(ax.xaxis)
    ax.legend(loc="upper left", frameon=False, title=f"{month} : {_fr.count(int(last.sum()), 'membre')}")
    ax.grid(axis="y", alpha=0.3)
    _french_numbers(ax, counts="y")
    return fig


def transitions_chart(by_month: pd.DataFrame, *, community: str | None = None, as_of: date | None = None,
                      sources: str | None = None) -> Figure:
    """Changes of cercle per quarter: entries and promotions up, declines and exits down."""
    fig, ax = _figure(f"{_prefix(community)}changements de cercle par trimestre", as_of, sources)
    if by_month.empty or not by_month.to_numpy().any():
        _empty(ax)
        return fig
    quarters = by_month.groupby(by_month.index.asfreq("Q")).sum()
    x = np.arange(len(quarters))
    up = np.zeros(len(quarters))
    down = np.zeros(len(quarters))
    for column, colour in _TRANSITION_COLOURS.items():
        values = quarters[column].to_numpy()
        if column in ("entrée", "promotion"):
            ax.bar(x, values, bottom=up, color=colour, label=f"{column}s")
            up += values
        else:
            ax.bar(x, -values, bottom=-down, color=colour, label=f"{column}s")
            down += values
    ax.axhline(0, color="#333333", linewidth=0.8)
    _headroom(ax)
    _period_ticks(ax, quarters.index)
    ax.set_ylabel("membres (en baisse ou sortis : sous l'axe)")
    ax.legend(loc="upper left", frameon=False, ncols=4)
    ax.grid(axis="y", alpha=0.3)
    # a count of members under the axis is still a count: « 3 », not « −3 »
    _french_numbers(ax, absolute="y", counts="y")
    return fig


def funnel_chart(table: pd.DataFrame, *, community: str | None = None, as_of: date | None = None,
                 sources: str | None = None) -> Figure:
    """Who climbs: by cercle of entry, the share of members who later reached cercle 2 and cercle 1."""
    fig, ax = _figure(f"{_prefix(community)}parcours : part des membres qui sont montés ensuite", as_of, sources)
    rows = table[(table["membres"] > 0) & (table.index != CIRCLE_LABELS[1])]
    if rows.empty:
        _empty(ax)
        return fig
    y = np.arange(len(rows))
    height = 0.38
    for k, target in enumerate((2, 1)):
        share = rows[f"ont atteint le cercle {target} (%)"].to_numpy(float)
        count = rows[f"ont atteint le cercle {target}"].to_numpy(float)
        bars = ax.barh(y + (k - 0.5) * height, np.nan_to_num(share), height=height, color=CIRCLE_COLOURS[target],
                       label=f"ont atteint le cercle {CIRCLE_LABELS[target]}")
        for bar, pct, n in zip(bars, share, count, strict=True):
            if not np.isnan(pct):
                ax.text(bar.get_width(), bar.get_y() + height / 2,
                        f" {_fr.integer(int(n))} ({_fr.decimal(pct, 1)} %)", va="center", fontsize=9)
    ax.set_yticks(y, [f"entré·e·s au cercle {label}\n({_fr.count(int(n), 'membre')})"
                      for label, n in zip(rows.index, rows["membres"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% des membres entrés à ce cercle")
    ax.legend(loc="lower right", frameon=False)
    _french_numbers(ax)
    return fig


def retention_chart(table: pd.DataFrame, *, community: str | None = None, as_of: date | None = None,
                    sources: str | None = None) -> Figure:
    """Share of first-time participants who came back within N months, by quarter of first venue."""
    fig, ax = _figure(f"{_prefix(community)}nouveaux participants revenus ensuite (%)", as_of, sources)
    columns = [c for c in table.columns if c.startswith("revenus sous")]
    if table.empty or table[columns].isna().all().all():
        _empty(ax, "Pas encore assez de recul pour mesurer les retours.")
        return fig
    x = np.arange(len(table))
    for column, colour in zip(columns, ["#9ecae1", "#4292c6", "#08519c", "#08306b"], strict=False):
        ax.plot(x, table[column].to_numpy(float), marker="o", color=colour, label=column)
    _period_ticks(ax, table.index)
    ax.set_ylim(0, 100)
    ax.set_ylabel("% des nouveaux participants du trimestre")
    ax.legend(loc="upper right", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    _french_numbers(ax)
    return fig


def participation_chart(table: pd.DataFrame, *, community: str | None = None, as_of: date | None = None,
                        sources: str | None = None) -> Figure:
    """Participants per period: first venues and returning participants (stacked), events written above."""
    fig, ax = _figure(f"{_prefix(community)}participants aux événements, par {table.index.name or 'période'}",
                      as_of, sources)
    if table.empty:
        _empty(ax)
        return fig
    x = np.arange(len(table))
    new = table["nouveaux participants"].to_numpy()
    back = table["participants revenus"].to_numpy()
    ax.bar(x, back, color="#4292c6", label="déjà venus")
    ax.bar(x, new, bottom=back, color="#fd8d3c", label="premières venues")
    for xi, total, n_events in zip(x, new + back, table["événements"].to_numpy(), strict=True):
        ax.text(xi, total, f"{_fr.integer(int(n_events))} év.", ha="center", va="bottom", fontsize=8, color=_GREY)
    _headroom(ax)
    _period_ticks(ax, table.index)
    ax.set_ylabel("participants distincts")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    _french_numbers(ax, counts="y")
    return fig


def coverage_chart(table: pd.DataFrame, *, community: str | None = None, as_of: date | None = None,
                   sources: str | None = None) -> Figure:
    """Members per 10,000 inhabitants by département, with the regional rate as a line.

    The footer adds the INSEE populations to ``sources``: the rate is computed with them.
    """
    fig, ax = _figure(f"{_prefix(community)}membres pour 10\u202f000 habitants, par département", as_of,
                      f"{sources or DEFAULT_SOURCES}, {_POPULATION_SOURCE}")
    deps = table.drop(index=[i for i in ("Occitanie", "commune inconnue ou hors région") if i in table.index])
    if deps["membres"].sum() == 0:
        _empty(ax)
        return fig
    deps = deps.sort_values("membres pour 10 000 habitants")
    rate = deps["membres pour 10 000 habitants"].to_numpy(float)
    bars = ax.barh(deps.index, rate, color=CIRCLE_COLOURS[2])
    for bar, members, reached, total in zip(bars, deps["membres"], deps["communes touchées"], deps["communes"],
                                            strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {_fr.count(int(members), 'membre')}, {_fr.integer(int(reached))}/{_fr.integer(int(total))} "
                "communes", va="center", fontsize=8)
    regional = float(table.loc["Occitanie", "membres pour 10 000 habitants"])
    ax.axvline(regional, color="#de2d26", linestyle="--", linewidth=1)
    ax.text(regional, len(deps) - 0.5, f" Occitanie : {_fr.decimal(regional, 1 if regional >= 1 else 2)}",
            color="#de2d26",
            fontsize=9, va="bottom")
    ax.set_xlabel("membres pour 10\u202f000 habitants")
    ax.set_xlim(0, rate.max() * 1.45)
    _french_numbers(ax)
    return fig


def data_sources(engine: Engine, community: str | int) -> str:
    """The sources of a community's members, in French, for the footer of its charts.

    The source files that fed its members (imported rows, not quarantined), by their label, and « saisies
    dans Terreau » when some members came from no file (a workshop, a jardinier).

    Examples
    --------
    >>> from carto import communities
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> data_sources(engine, "biodiversite")  # no member yet
    'base Terreau'
    """
    m, sr = store.memberships, store.source_records
    with engine.connect() as conn:
        row = find_community(conn, community)
        members = sa.select(m.c.actor_id).where(m.c.community_id == row.id)
        fed = conn.execute(sa.select(sr.c.source).distinct()
                           .where(sr.c.status == "ok", sr.c.actor_id.in_(members))).scalars().all()
        unfed = conn.execute(sa.select(sa.func.count()).select_from(m).where(
            m.c.community_id == row.id,
            ~sa.exists().where(sr.c.actor_id == m.c.actor_id, sr.c.status == "ok"))).scalar_one()
    builtin = set(builtin_sources())
    labels = sorted({_lower_first(load_mapping(s).label) if s in builtin else s for s in fed}, key=str.casefold)
    if unfed:
        labels.append(_NO_SOURCE)
    return ", ".join(labels) or DEFAULT_SOURCES


def _lower_first(label: str) -> str:
    """« Feuilles d'émargement » → « feuilles d'émargement » (inside a sentence), acronyms kept (« INSEE »)."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def community_figures(engine: Engine, community: str | int, *, as_of: date | None = None) -> dict[str, Figure]:
    """Every indicator chart of a community, by French name (for a notebook, a report or :func:`export.save_figures`).

    Each chart's footer gives ``as_of`` (default today) and the sources of the community's members
    (:func:`data_sources`).
    """
    with engine.connect() as conn:
        name = find_community(conn, community).name
    end = as_of or date.today()
    if isinstance(end, datetime):
        end = end.date()
    keys = {"community": name, "as_of": end, "sources": data_sources(engine, community)}
    return {
        "cercles par mois": circles_chart(evaluation.circles_by_month(engine, community, end=end), **keys),
        "changements de cercle": transitions_chart(evaluation.transitions_by_month(engine, community, end=end),
                                                   **keys),
        "parcours": funnel_chart(evaluation.funnel(engine, community), **keys),
        "retours": retention_chart(evaluation.retention(engine, community, as_of=end), **keys),
        "participation": participation_chart(evaluation.participation(engine, community), **keys),
        "territoire": coverage_chart(evaluation.coverage(engine, community), **keys),
    }
