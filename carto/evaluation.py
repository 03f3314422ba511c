"""Indicators to evaluate a community over time (the experiment's evaluation step).

All indicators are DataFrames with French labels, computed from the base:

- :func:`circles_by_month` — members per cercle at the end of each month;
- :func:`transitions_by_month` — entries, promotions, declines and exits per month;
- :func:`funnel` — of the members who entered in cercle 3 (or 2), how many later reached 2, then 1;
- :func:`retention` — share of first-time participants who came back within 3, 6, 12 months;
- :func:`participation` — participation per period (new and returning participants), and per event
  with :func:`carto.events.event_stats`;
- :func:`coverage` — territory reached: communes, EPCI, départements, members per 10,000 inhabitants.

Series over time use the *computed* cercles of the history (:func:`carto.communities.update_circles`);
the jardiniers' overrides show in the member-tracking table and in the current counts.

Examples
--------
>>> from datetime import date
>>> from carto import communities, evaluation, store
>>> engine = store.init_base("sqlite://")
>>> _ = communities.create_communities(engine)
>>> evaluation.circles_by_month(engine, "biodiversite", end=date(2021, 5, 31)).to_dict("list")
{'1 — engagé·e': [0, 0, 0], '2 — impliqué·e': [0, 0, 0], '3 — informé·e': [0, 0, 0]}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from carto import events, geo, store
from carto._errors import ConfigError
from carto.communities import CIRCLE_LABELS, TRANSITION_LABELS, CircleRules, load_rules
from carto.events import find_community

__all__ = ["circles_by_month", "transitions_by_month", "funnel", "retention", "participation", "coverage",
           "presence", "LEVELS"]

#: Territorial levels of :func:`presence`: French name → (column of the communes table, reference table).
LEVELS = {"commune": ("code", "communes"), "epci": ("code_epci", "epci"), "departement": ("code_departement",
                                                                                         "departements")}


def _history(engine: Engine, community: str | int) -> tuple[object, pd.DataFrame]:
    h = store.membership_history
    with engine.connect() as conn:
        row = find_community(conn, community)
        frame = store.read_frame(conn, sa.select(h.c.actor_id, sa.cast(h.c.changed_on, sa.String).label("day"),
                                                 h.c.from_circle, h.c.to_circle, h.c.transition)
                                 .where(h.c.community_id == row.id, h.c.by_override.is_(False)))
    if frame.empty:
        frame = pd.DataFrame({"actor_id": pd.Series(dtype="int64"), "day": pd.Series(dtype="datetime64[s]"),
                              "from_circle": pd.Series(dtype="Int64"), "to_circle": pd.Series(dtype="Int64"),
                              "transition": pd.Series(dtype=object)})
    else:
        frame["day"] = pd.to_datetime(frame["day"].astype(str).str.slice(0, 10), format="%Y-%m-%d")
        frame = frame.astype({"actor_id": "int64", "from_circle": "Int64", "to_circle": "Int64"})
    return row, frame.sort_values(["day", "actor_id"], kind="stable").reset_index(drop=True)


def _months(row: object, frame: pd.DataFrame, start: date | None, end: date | None) -> pd.PeriodIndex:
    first = start or getattr(row, "start_date", None) or (frame["day"].min().date() if len(frame) else date.today())
    last = end or date.today()
    return pd.period_range(pd.Period(first, "M"), pd.Period(last, "M"), freq="M", name="mois")


def circles_by_month(engine: Engine, community: str | int, *, start: date | None = None,
                     end: date | None = None) -> pd.DataFrame:
    """Members per cercle at the end of each month.

    Parameters
    ----------
    community : str or int
        Slug, name or id (:func:`carto.events.find_community`).
    start, end : datetime.date, optional
        First and last month (default: the community's start, and today).

    Returns
    -------
    pandas.DataFrame
        Index ``mois`` (monthly periods), one column per cercle (:data:`carto.communities.CIRCLE_LABELS`).
    """
    row, frame = _history(engine, community)
    months = _months(row, frame, start, end)
    out = pd.DataFrame(0, index=months, columns=list(CIRCLE_LABELS.values()))
    if frame.empty:
        return out
    month = frame["day"].dt.to_period("M")
    for circle, label in CIRCLE_LABELS.items():
        delta = (frame["to_circle"] == circle).fillna(False).astype(int) - (frame["from_circle"] == circle).fillna(False).astype(int)
        per_month = delta.groupby(month).sum().sort_index().cumsum()
        out[label] = per_month.reindex(months.union(per_month.index)).ffill().fillna(0).reindex(months).astype(int)
    return out


def transitions_by_month(engine: Engine, community: str | int, *, start: date | None = None,
                         end: date | None = None) -> pd.DataFrame:
    """Changes of cercle per month: ``entrée``, ``promotion``, ``baisse``, ``sortie`` (index ``mois``)."""
    row, frame = _history(engine, community)
    months = _months(row, frame, start, end)
    counts = frame.groupby([frame["day"].dt.to_period("M"), frame["transition"]]).size().unstack(fill_value=0)
    counts = counts.reindex(index=months, columns=list(TRANSITION_LABELS), fill_value=0)
    counts.columns = list(TRANSITION_LABELS.values())
    counts.index.name = "mois"
    return counts.astype(int)


def funnel(engine: Engine, community: str | int) -> pd.DataFrame:
    """How members climb: by the cercle they entered in, how many later reached cercle 2, then cercle 1.

    Returns
    -------
    pandas.DataFrame
        Index ``cercle d'entrée`` (CIRCLE_LABELS); ``membres``, ``ont atteint le cercle 2``,
        ``ont atteint le cercle 1`` and the same as percentages.

    Examples
    --------
    >>> from carto import communities, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> funnel(engine, "biodiversite")["membres"].tolist()
    [0, 0, 0]
    """
    _, frame = _history(engine, community)
    entries = frame[frame["transition"] == "entry"].drop_duplicates("actor_id")
    entry_circle = entries.set_index("actor_id")["to_circle"]
    later = frame.merge(entries[["actor_id", "day"]].rename(columns={"day": "entered"}), on="actor_id")
    later = later[later["day"] >= later["entered"]]
    best = later.groupby("actor_id")["to_circle"].min()
    rows = {}
    for circle, label in CIRCLE_LABELS.items():
        who = entry_circle.index[entry_circle == circle]
        reached = best.reindex(who)
        rows[label] = {"membres": len(who),
                       "ont atteint le cercle 2": int((reached <= 2).sum()) if circle > 2 else np.nan,
                       "ont atteint le cercle 1": int((reached <= 1).sum()) if circle > 1 else np.nan}
    out = pd.DataFrame.from_dict(rows, orient="index")
    for column in ("ont atteint le cercle 2", "ont atteint le cercle 1"):
        out[f"{column} (%)"] = (100 * out[column] / out["membres"].where(out["membres"] > 0)).round(1)
    out.index.name = "cercle d'entrée"
    return out


def retention(engine: Engine, community: str | int, *, months: Sequence[int] = (3, 6, 12),
              as_of: date | None = None, rules: CircleRules | None = None) -> pd.DataFrame:
    """Share of first-time participants who came back, by quarter of their first venue.

    A participant « came back within N months » if they were present at another event of the community
    within N months after their first. A cohort whose N months are not over at ``as_of`` has no value (NaN).

    Returns
    -------
    pandas.DataFrame
        Index ``trimestre`` (quarter of the first venue); ``nouveaux participants`` and
        ``revenus sous N mois (%)`` for each N.
    """
    rules = rules or load_rules()
    as_of = pd.Timestamp(as_of or date.today())
    with engine.connect() as conn:
        row = find_community(conn, community)
        parts = events.participations(conn, events.community_scope(row, shared_kinds=rules.shared_kinds),
                                      until=as_of.date())
    present = parts[parts["present"]].sort_values(["actor_id", "day", "event_id"], kind="stable")
    if present.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in
                              ["nouveaux participants", *[f"revenus sous {n} mois (%)" for n in months]]})
        return empty.rename_axis("trimestre")
    first = present.drop_duplicates("actor_id").set_index("actor_id")["day"]
    again = present[present.duplicated("actor_id")]
    next_day = again[again["day"] > again["actor_id"].map(first)].groupby("actor_id")["day"].min()
    cohort = first.dt.to_period("Q")
    out = pd.DataFrame({"nouveaux participants": first.groupby(cohort).size()})
    if len(out):  # every quarter, those without newcomers included
        out = out.reindex(pd.period_range(out.index.min(), out.index.max(), freq="Q"), fill_value=0)
    back = next_day.reindex(first.index)
    for n in months:
        came = (back.notna() & (back <= first + pd.DateOffset(months=n))).groupby(cohort).mean().reindex(out.index)
        complete = pd.Series([(q.end_time.normalize() + pd.DateOffset(months=n)) <= as_of for q in out.index],
                             index=out.index, dtype=bool)
        out[f"revenus sous {n} mois (%)"] = (100 * came).round(1).where(complete)
    out.index.name = "trimestre"
    return out


def participation(engine: Engine, community: str | int, *, freq: str = "Q",
                  rules: CircleRules | None = None) -> pd.DataFrame:
    """Participation per period: events, presences, new and returning participants (:func:`events.period_stats`)."""
    rules = rules or load_rules()
    return events.period_stats(engine, community=community, freq=freq, shared_kinds=rules.shared_kinds)


def _member_communes(engine: Engine, community: str | int) -> pd.Series:
    """Commune code of each current member (effective cercle) of a community (None when unknown)."""
    m, a = store.memberships, store.actors
    with engine.connect() as conn:
        row = find_community(conn, community)
        codes = store.read_frame(conn, sa.select(a.c.commune_code).select_from(m.join(a, a.c.id == m.c.actor_id))
                                 .where(m.c.community_id == row.id, a.c.status == "active",
                                        sa.func.coalesce(m.c.override_circle, m.c.computed_circle).is_not(None)))
    return codes["commune_code"] if len(codes) else pd.Series([], dtype=object)


def presence(engine: Engine, community: str | int, *, level: str = "epci") -> pd.DataFrame:
    """Current members and inhabitants per commune, EPCI or département of Occitanie.

    Parameters
    ----------
    level : {"commune", "epci", "departement"}

    Returns
    -------
    pandas.DataFrame
        Index ``code``; ``nom``, ``habitants``, ``membres``, ``membres pour 10 000 habitants``,
        ``zone blanche`` (inhabitants but no member).

    Examples
    --------
    >>> from carto import communities, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> table = presence(engine, "biodiversite", level="departement")
    >>> len(table), int(table["zone blanche"].sum())
    (13, 13)
    """
    if level not in LEVELS:
        raise ConfigError(f"Niveau « {level} » inconnu : choisissez commune, epci ou departement.")
    column, reference = LEVELS[level]
    communes = pd.DataFrame(geo.communes().drop(columns="geometry"))
    counts = _member_communes(engine, community).value_counts()
    communes["membres"] = communes["code"].map(counts).fillna(0).astype(int)
    grouped = communes.groupby(column).agg(habitants=("population", "sum"), membres=("membres", "sum"))
    names = getattr(geo, reference)().set_index("code")["nom"]
    out = grouped.assign(nom=grouped.index.map(names))[["nom", "habitants", "membres"]]
    out["membres pour 10 000 habitants"] = (10_000 * out["membres"] / out["habitants"].where(out["habitants"] > 0)
                                            ).round(2)
    out["zone blanche"] = (out["habitants"] > 0) & (out["membres"] == 0)
    out.index.name = "code"
    return out


def coverage(engine: Engine, community: str | int) -> pd.DataFrame:
    """Territory reached by the community's current members (effective cercle), by département.

    Returns
    -------
    pandas.DataFrame
        One row per département of Occitanie, a row « Occitanie », and a row « commune inconnue ou hors
        région » when some members have no commune in the region: ``département`` (name),
        ``membres``, ``habitants``, ``membres pour 10 000 habitants``, ``communes touchées``, ``communes``,
        ``EPCI touchés``, ``EPCI``.

    Examples
    --------
    >>> from carto import communities, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> coverage(engine, "mer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto.events.CommunityNotFoundError: Communauté « mer » inconnue. Communautés connues : ...
    >>> coverage(engine, "biodiversite").loc["Occitanie", ["membres", "communes"]].tolist()
    [0, 4446]
    """
    codes = _member_communes(engine, community)
    communes = pd.DataFrame(geo.communes().drop(columns="geometry"))
    names = geo.departements().set_index("code")["nom"]
    counts = codes.value_counts()
    communes["membres"] = communes["code"].map(counts).fillna(0).astype(int)
    communes["touchée"] = communes["membres"] > 0

    def summary(group: pd.DataFrame) -> pd.Series:
        return pd.Series({
            "membres": int(group["membres"].sum()),
            "habitants": int(group["population"].sum()),
            "communes touchées": int(group["touchée"].sum()),
            "communes": len(group),
            "EPCI touchés": int(group.loc[group["touchée"], "code_epci"].nunique()),
            "EPCI": int(group["code_epci"].nunique()),
        })

    by_dep = communes.groupby("code_departement")[list(communes.columns)].apply(summary)
    by_dep.index = by_dep.index.map(names)
    by_dep.loc["Occitanie"] = summary(communes)
    unknown = int(len(codes) - communes["membres"].sum())
    if unknown:  # members with no commune (e.g. known only by a newsletter address), or outside the region
        by_dep.loc["commune inconnue ou hors région"] = [unknown, 0, 0, 0, 0, 0]
    by_dep.insert(2, "membres pour 10 000 habitants",
                  (10_000 * by_dep["membres"] / by_dep["habitants"].where(by_dep["habitants"] > 0)).round(2))
    by_dep.index.name = "département"
    return by_dep
