"""Charts of a community's indicators (matplotlib), readable at a glance, in French.

Each function takes the DataFrame of the matching :mod:`carto.evaluation`
indicator and returns a :class:`matplotlib.figure.Figure` (shown by a notebook,
saved with :func:`carto.export.save_figure`). :func:`community_figures` makes
them all for one community.

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
from datetime import date

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sqlalchemy.engine import Engine

from carto import _fr, evaluation
from carto.communities import CIRCLE_COLOURS, CIRCLE_LABELS
from carto.events import find_community

__all__ = [
    "Chart",
    "circles_chart",
    "transitions_chart",
    "funnel_chart",
    "retention_chart",
    "participation_chart",
    "coverage_chart",
    "community_figures",
]

_TRANSITION_COLOURS = {"entrée": "#31a354", "promotion": "#08519c", "baisse": "#fd8d3c", "sortie": "#de2d26"}
_SIZE = (10, 5)
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


class Chart(Figure):
    """A matplotlib figure that a notebook shows as an image (no pyplot state, nothing to close)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, facecolor="white")
        return buffer.getvalue()


def _figure(title: str) -> tuple[Figure, object]:
    fig = Chart(figsize=_SIZE, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=13, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _empty(ax: object, message: str = "Pas encore de données pour cette communauté.") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#555555", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _period_ticks(ax: object, periods: pd.Index) -> None:
    """About eight readable period labels (« 2024 T2 ») under bars or points at 0, 1, 2…"""
    step = max(1, -(-len(periods) // 8))
    ax.set_xticks(np.arange(len(periods))[::step], [str(p).replace("Q", " T") for p in periods[::step]])


def _prefix(community: str | None) -> str:
    return f"{community} — " if community else ""


def circles_chart(by_month: pd.DataFrame, *, community: str | None = None) -> Figure:
    """Stacked areas: members per cercle at the end of each month (from :func:`evaluation.circles_by_month`)."""
    fig, ax = _figure(f"{_prefix(community)}membres par cercle, fin de mois")
    if by_month.empty or not by_month.to_numpy().any():
        _empty(ax)
        return fig
    x = by_month.index.to_timestamp(how="end")
    labels = list(CIRCLE_LABELS.values())
    ax.stackplot(x, *[by_month[label].to_numpy() for label in labels], labels=labels,
                 colors=[CIRCLE_COLOURS[c] for c in CIRCLE_LABELS], alpha=0.95)
    last = by_month.iloc[-1]
    month = f"{_MONTHS[by_month.index[-1].month - 1]} {by_month.index[-1].year}"
    ax.set_ylabel("membres")
    ax.set_xlabel("")
    ax.margins(x=0)
    ax.legend(loc="upper left", frameon=False, title=f"{month} : {_fr.integer(int(last.sum()))} membres")
    ax.grid(axis="y", alpha=0.3)
    return fig


def transitions_chart(by_month: pd.DataFrame, *, community: str | None = None) -> Figure:
    """Changes of cercle per quarter: entries and promotions up, declines and exits down."""
    fig, ax = _figure(f"{_prefix(community)}changements de cercle par trimestre")
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
    _period_ticks(ax, quarters.index)
    ax.set_ylabel("membres (en baisse ou sortis : sous l'axe)")
    ax.legend(loc="upper left", frameon=False, ncols=4)
    ax.grid(axis="y", alpha=0.3)
    return fig


def funnel_chart(table: pd.DataFrame, *, community: str | None = None) -> Figure:
    """Who climbs: by cercle of entry, the share of members who later reached cercle 2 and cercle 1."""
    fig, ax = _figure(f"{_prefix(community)}parcours : part des membres qui sont montés ensuite")
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
                        f" {int(n)} ({pct:.1f} %)".replace(".", ","), va="center", fontsize=9)
    ax.set_yticks(y, [f"entré·e·s au cercle {label}\n({_fr.integer(int(n))} membres)"
                      for label, n in zip(rows.index, rows["membres"], strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% des membres entrés à ce cercle")
    ax.legend(loc="lower right", frameon=False)
    return fig


def retention_chart(table: pd.DataFrame, *, community: str | None = None) -> Figure:
    """Share of first-time participants who came back within N months, by quarter of first venue."""
    fig, ax = _figure(f"{_prefix(community)}nouveaux participants revenus ensuite (%)")
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
    return fig


def participation_chart(table: pd.DataFrame, *, community: str | None = None) -> Figure:
    """Participants per period: first venues and returning participants (stacked), events written above."""
    fig, ax = _figure(f"{_prefix(community)}participants aux événements, par {table.index.name or 'période'}")
    if table.empty:
        _empty(ax)
        return fig
    x = np.arange(len(table))
    new = table["nouveaux participants"].to_numpy()
    back = table["participants revenus"].to_numpy()
    ax.bar(x, back, color="#4292c6", label="déjà venus")
    ax.bar(x, new, bottom=back, color="#fd8d3c", label="premières venues")
    for xi, total, n_events in zip(x, new + back, table["événements"].to_numpy(), strict=True):
        ax.text(xi, total, f"{n_events} év.", ha="center", va="bottom", fontsize=8, color="#555555")
    _period_ticks(ax, table.index)
    ax.set_ylabel("participants distincts")
    ax.legend(loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def coverage_chart(table: pd.DataFrame, *, community: str | None = None) -> Figure:
    """Members per 10,000 inhabitants by département, with the regional rate as a line."""
    fig, ax = _figure(f"{_prefix(community)}membres pour 10 000 habitants, par département")
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
                f" {members} membres, {reached}/{total} communes", va="center", fontsize=8)
    regional = float(table.loc["Occitanie", "membres pour 10 000 habitants"])
    ax.axvline(regional, color="#de2d26", linestyle="--", linewidth=1)
    ax.text(regional, len(deps) - 0.5, f" Occitanie : {regional:.1f}".replace(".", ","), color="#de2d26",
            fontsize=9, va="bottom")
    ax.set_xlabel("membres pour 10 000 habitants")
    ax.set_xlim(0, rate.max() * 1.45)
    return fig


def community_figures(engine: Engine, community: str | int, *, as_of: date | None = None) -> dict[str, Figure]:
    """Every indicator chart of a community, by French name (for a notebook, a report or :func:`export.save_figures`)."""
    with engine.connect() as conn:
        name = find_community(conn, community).name
    end = as_of or date.today()
    return {
        "cercles par mois": circles_chart(evaluation.circles_by_month(engine, community, end=end), community=name),
        "changements de cercle": transitions_chart(evaluation.transitions_by_month(engine, community, end=end),
                                                   community=name),
        "parcours": funnel_chart(evaluation.funnel(engine, community), community=name),
        "retours": retention_chart(evaluation.retention(engine, community, as_of=end), community=name),
        "participation": participation_chart(evaluation.participation(engine, community), community=name),
        "territoire": coverage_chart(evaluation.coverage(engine, community), community=name),
    }
