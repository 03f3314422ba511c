"""Communities of citizen engagement: binômes, members and their cercles.

A community (« Biodiversité », « Alimentation et agriculture »…) has a
thematic space, a directorate, a **binôme** of jardiniers (a Région agent,
and an actor of the base from civil society), a cultivateur, a start date and
a monthly newsletter list. The pilot communities are described in
``carto/data/communautes.toml`` (:func:`create_communities`); others are
added with :func:`add_community`.

Cercles
-------
Every actor with an engagement signal for a community is one of its members,
in the most engaged cercle its signals give, as of a date (the rules are in
``carto/data/cercles.toml``, :class:`CircleRules`; defaults):

1. **engagé·e** — took part in a working group, or organised / spoke at an
   event of the community, in the last 12 months;
2. **impliqué·e** — took part in an event or a concertation of the community in
   the last 12 months;
3. **informé·e** — subscribed to the community's newsletter, or took part (or
   registered without coming) in the last 36 months.

An event counts from its date until the day before the same date 12 months
later. Without any signal a member leaves the cercles (exit) and stays in the
history. A jardinier may **override** a member's cercle with a reason
(:func:`set_override`): the override is kept apart from the computed cercle,
survives every recomputation, and says who set it and when; the *effective*
cercle is the override when there is one.

History
-------
Cercles change only on the days a signal starts or stops counting, so the
whole history is computed exactly from the signals (not sampled at each run):
:func:`update_circles` writes every dated change (entry, promotion, decline,
exit) into ``membership_history``, replacing the computed changes the base held
by the new ones where they differ (an import of old sign-in sheets rewrites
the past it describes) and keeping the jardiniers' overrides. Cercles as of a
past date are given by :func:`circles` (``as_of``), without writing.

Examples
--------
>>> from datetime import date
>>> from carto import communities, store
>>> engine = store.init_base("sqlite://")
>>> communities.create_communities(engine)["communauté"].tolist()
['alimentation-agriculture', 'biodiversite', 'engagement-citoyen']
>>> print(communities.update_circles(engine, as_of=date(2026, 11, 29)))  # doctest: +NORMALIZE_WHITESPACE
Cercles au 29/11/2026 :
  Alimentation et agriculture : 0 membre (cercle 1 : 0, cercle 2 : 0, cercle 3 : 0)
  Biodiversité : 0 membre (cercle 1 : 0, cercle 2 : 0, cercle 3 : 0)
  Engagement citoyen : 0 membre (cercle 1 : 0, cercle 2 : 0, cercle 3 : 0)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from carto import _fr, events, geo, normalize, store, themes
from carto._errors import ConfigError, NotFoundError
from carto.events import find_community
from carto.settings import get_settings, read_config

__all__ = [
    "CIRCLE_LABELS",
    "TRANSITION_LABELS",
    "CircleRules",
    "CirclesReport",
    "load_rules",
    "create_communities",
    "add_community",
    "set_binome",
    "list_communities",
    "circles",
    "update_circles",
    "CIRCLE_COLOURS",
    "CIRCLE_TINTS",
    "KEEP",
    "edit_member",
    "set_override",
    "set_notes",
    "set_charter",
    "members",
    "to_relaunch",
    "history",
]

log = logging.getLogger(__name__)

#: French names of the cercles.
CIRCLE_LABELS = {1: "1 — engagé·e", 2: "2 — impliqué·e", 3: "3 — informé·e"}
#: French names of the transitions of ``membership_history``.
TRANSITION_LABELS = {"entry": "entrée", "promotion": "promotion", "decline": "baisse", "exit": "sortie"}
#: Colour of each cercle in charts (dark: the most engaged), and its light tint behind table cells.
CIRCLE_COLOURS = {1: "#08519c", 2: "#4292c6", 3: "#9ecae1"}
CIRCLE_TINTS = {1: "#b3d1ec", 2: "#d4e5f5", 3: "#edf4fb"}
_PARIS = ZoneInfo("Europe/Paris")
#: Days since 1970-01-01 standing for « never ends ».
_NEVER = np.int64(10**7)
_EPOCH = np.datetime64("1970-01-01", "D")


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class CircleRules:
    """Rules of the cercles (``carto/data/cercles.toml``; see the module docstring).

    Attributes
    ----------
    window_months : int
        Months a participation counts for cercles 1 and 2 (``fenetre_mois``).
    engaged_kinds : tuple of str
        Event kinds whose participation gives cercle 1 (``engage.types``).
    engaged_roles : tuple of str
        Roles that give cercle 1 at any event (``engage.roles``).
    involved_kinds : tuple of str
        Event kinds whose participation gives cercle 2; empty: every kind (``implique.types``).
    newsletter : bool
        A subscription to the community's newsletter gives cercle 3 (``informe.lettre``).
    registered : bool
        Registering for an event without coming gives cercle 3 (``informe.inscrits_absents``).
    informed_months : int
        Months a participation keeps a member in cercle 3 (``informe.anciennete_mois``).
    shared_kinds : tuple of str
        Event kinds counted for every community (``evenements.communs``).
    relaunch_months : int
        Months without activity after which a member is « à relancer » (``relance.mois``).
    """

    window_months: int = 12
    engaged_kinds: tuple[str, ...] = ("groupe de travail",)
    engaged_roles: tuple[str, ...] = ("organisateur", "intervenant")
    involved_kinds: tuple[str, ...] = ()
    newsletter: bool = True
    registered: bool = True
    informed_months: int = 36
    shared_kinds: tuple[str, ...] = events.SHARED_KINDS
    relaunch_months: int = 6


#: Keys of ``cercles.toml``: (section or None, key) → (attribute, kind).
_RULE_KEYS: dict[tuple[str | None, str], tuple[str, str]] = {
    (None, "fenetre_mois"): ("window_months", "months"),
    ("engage", "types"): ("engaged_kinds", "kinds"),
    ("engage", "roles"): ("engaged_roles", "roles"),
    ("implique", "types"): ("involved_kinds", "kinds"),
    ("informe", "lettre"): ("newsletter", "bool"),
    ("informe", "inscrits_absents"): ("registered", "bool"),
    ("informe", "anciennete_mois"): ("informed_months", "months"),
    ("evenements", "communs"): ("shared_kinds", "kinds"),
    ("relance", "mois"): ("relaunch_months", "months"),
}


def _rule_value(path: Path | str, where: str, value: Any, kind: str) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(f"Fichier « {path} », clé « {where} » : {expected} attendu, reçu {value!r}.")

    if kind == "months":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 240:
            raise fail("un nombre entier de mois entre 1 et 240")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail("true ou false")
        return value
    allowed = store.EVENT_KINDS if kind == "kinds" else store.PARTICIPATION_ROLES
    if not isinstance(value, list) or any(v not in allowed for v in value):
        raise fail(f"une liste de valeurs parmi {', '.join(allowed)}")
    return tuple(value)


def load_rules(path: str | Path = "cercles.toml") -> CircleRules:
    """Read the rules of the cercles.

    Parameters
    ----------
    path : str or Path
        Rules file (default: ``carto/data/cercles.toml``). Missing keys keep their default.

    Raises
    ------
    ConfigError
        Unknown key, or a value of the wrong type (the message names the file and the key).

    Examples
    --------
    >>> load_rules().window_months
    12
    """
    data = read_config(path)
    values: dict[str, Any] = {}
    for name, content in data.items():
        if isinstance(content, dict):
            for key, value in content.items():
                if (name, key) not in _RULE_KEYS:
                    raise ConfigError(f"Fichier « {path} » : clé inconnue « {name}.{key} » "
                                      f"(clés possibles : {_known_rule_keys()}).")
                attribute, kind = _RULE_KEYS[(name, key)]
                values[attribute] = _rule_value(path, f"{name}.{key}", value, kind)
        elif (None, name) in _RULE_KEYS:
            attribute, kind = _RULE_KEYS[(None, name)]
            values[attribute] = _rule_value(path, name, content, kind)
        else:
            raise ConfigError(f"Fichier « {path} » : clé inconnue « {name} » (clés possibles : {_known_rule_keys()}).")
    return CircleRules(**values)


def _known_rule_keys() -> str:
    return ", ".join(key if section is None else f"{section}.{key}" for section, key in _RULE_KEYS)


# --------------------------------------------------------------------------- communities


def _community_rows(engine: Engine) -> pd.DataFrame:
    c, a = store.communities, store.actors
    with engine.connect() as conn:
        frame = store.read_frame(conn, sa.select(
            c.c.slug, c.c.name, c.c.theme, c.c.directorate, c.c.jardinier_region,
            a.c.display_name, c.c.cultivateur, c.c.start_date, c.c.newsletter_list,
        ).select_from(c.outerjoin(a, a.c.id == c.c.jardinier_acteurs_id)).order_by(c.c.slug))
    return frame.set_axis(["communauté", "nom", "thème", "direction", "jardinier Région", "jardinier Acteurs",
                           "cultivateur", "lancement", "lettre"], axis=1)


def list_communities(engine: Engine) -> pd.DataFrame:
    """The communities of the base, with their binôme (French column names)."""
    return _community_rows(engine)


def _theme_in_file(path: str | Path, i: int, theme: str) -> str:
    """The slug of a community's theme given in a configuration file (a ConfigError naming the file if unknown)."""
    try:
        return themes.find_theme(theme)
    except NotFoundError as exc:
        raise ConfigError(f"Fichier « {path} », communauté n° {i} : {exc}") from None


def _actor_by_email(conn: Connection, email: str) -> int | None:
    a = store.actors
    key = normalize.emails([email])["email_key"].iloc[0]  # the key the import gives addresses
    if pd.isna(key):
        raise ConfigError(f"Courriel du jardinier Acteurs invalide : « {email} ».")
    found = conn.execute(sa.select(a.c.id).where(a.c.email_key == key, a.c.status == "active")
                         .order_by(a.c.id)).scalars().all()
    return int(found[0]) if found else None


def create_communities(engine: Engine, path: str | Path = "communautes.toml", *,
                       who: str | None = None) -> pd.DataFrame:
    """Create (or update) the communities described in a configuration file.

    Parameters
    ----------
    path : str or Path
        File of ``[[communaute]]`` tables (default: the three pilot communities,
        ``carto/data/communautes.toml``): ``slug``, ``nom``, ``theme`` and optionally ``direction``,
        ``jardinier_region``, ``jardinier_acteurs`` (e-mail of an actor of the base), ``cultivateur``,
        ``lancement``, ``liste``, ``description``.

    Returns
    -------
    pandas.DataFrame
        The communities of the base (:func:`list_communities`).
    """
    rows = read_config(path, "communaute")
    c = store.communities
    with store.transaction(engine, action="communautés", who=who) as conn:
        written = []
        for i, row in enumerate(rows, start=1):
            missing = [k for k in ("slug", "nom", "theme") if not row.get(k)]
            if missing:
                raise ConfigError(f"Fichier « {path} », communauté n° {i} : il manque "
                                  f"{_fr.plural(len(missing), 'la clé', 'les clés')} "
                                  f"{', '.join(f'« {k} »' for k in missing)}.")
            values = {"slug": row["slug"], "name": row["nom"], "theme": _theme_in_file(path, i, row["theme"]),
                      "directorate": row.get("direction"), "jardinier_region": row.get("jardinier_region"),
                      "cultivateur": row.get("cultivateur"), "start_date": row.get("lancement"),
                      "newsletter_list": row.get("liste"), "description": row.get("description")}
            if row.get("jardinier_acteurs"):
                values["jardinier_acteurs_id"] = _actor_by_email(conn, row["jardinier_acteurs"])
                if values["jardinier_acteurs_id"] is None:
                    log.warning("Communauté %s : aucun acteur de la base n'a le courriel %s (jardinier Acteurs "
                                "à désigner plus tard)", row["nom"], row["jardinier_acteurs"])
            written.append(values)
        n = store.upsert(conn, c, written, key=["slug"])
        store.audit(conn, table="communities", count=n, details={"fichier": str(path)})
    return list_communities(engine)


def add_community(engine: Engine, *, slug: str, name: str, theme: str, directorate: str | None = None,
                  jardinier_region: str | None = None, jardinier_acteurs: int | None = None,
                  cultivateur: str | None = None, start_date: date | None = None,
                  newsletter_list: str | None = None, description: str | None = None,
                  who: str | None = None) -> int:
    """Add a community (a new directorate replicating the experiment); returns its id.

    ``theme`` is a thematic space by slug or name (:func:`carto.themes.find_theme`: « mer » or « Mer et
    littoral »); the slug is stored.
    """
    theme = themes.find_theme(theme)
    if not slug or not slug.replace("-", "").isalnum():
        raise ConfigError(f"Identifiant de communauté « {slug} » invalide : lettres, chiffres et tirets seulement.")
    c = store.communities
    with store.transaction(engine, action="communautés", who=who) as conn:
        if conn.execute(sa.select(c.c.id).where(c.c.slug == slug)).first() is not None:
            raise ConfigError(f"La communauté « {slug} » existe déjà : choisissez un autre identifiant.")
        if jardinier_acteurs is not None:
            _active_actor(conn, jardinier_acteurs)
        new_id = int(conn.execute(c.insert().values(
            slug=slug, name=name, theme=theme, directorate=directorate, jardinier_region=jardinier_region,
            jardinier_acteurs_id=jardinier_acteurs, cultivateur=cultivateur, start_date=start_date,
            newsletter_list=newsletter_list, description=description).returning(c.c.id)).scalar_one())
        store.audit(conn, table="communities", ids=[new_id], details={"communauté": slug})
    return new_id


def _active_actor(conn: Connection, actor_id: int) -> Any:
    a = store.actors
    row = conn.execute(sa.select(a.c.id, a.c.status, a.c.merged_into_id, a.c.display_name)
                       .where(a.c.id == int(actor_id))).first()
    if row is None:
        raise ConfigError(f"Acteur {actor_id} inconnu : donnez l'identifiant d'un acteur de la base.")
    if row.status != "active":
        raise ConfigError(f"L'acteur {actor_id} a été fusionné dans l'acteur {row.merged_into_id} : utilisez ce dernier.")
    return row


def set_binome(engine: Engine, community: str | int, *, jardinier_region: str | None = None,
               jardinier_acteurs: int | None = None, cultivateur: str | None = None,
               who: str | None = None) -> None:
    """Name the binôme of jardiniers (and the cultivateur) of a community; what is not given is kept."""
    c = store.communities
    with store.transaction(engine, action="binôme", who=who) as conn:
        row = find_community(conn, community)
        values: dict[str, Any] = {}
        if jardinier_region is not None:
            values["jardinier_region"] = jardinier_region
        if jardinier_acteurs is not None:
            _active_actor(conn, jardinier_acteurs)
            values["jardinier_acteurs_id"] = int(jardinier_acteurs)
        if cultivateur is not None:
            values["cultivateur"] = cultivateur
        if values:
            conn.execute(c.update().where(c.c.id == row.id).values(**values, updated_at=datetime.now(timezone.utc)))
            store.audit(conn, table="communities", ids=[row.id], details={k: str(v) for k, v in values.items()})


# --------------------------------------------------------------------------- signals and cercles


def _days(values: pd.Series) -> np.ndarray:
    return (values.to_numpy("datetime64[D]") - _EPOCH).astype(np.int64)


def _plus_months(days: pd.Series, months: int) -> np.ndarray:
    return _days(pd.Series(pd.DatetimeIndex(days) + pd.DateOffset(months=months)))


def _signals(conn: Connection, community: Any, rules: CircleRules, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Intervals ``[start, end)`` (days since 1970) during which each signal puts an actor in a cercle,
    and the actors' activity (present participations: count and last day)."""
    parts = events.participations(conn, events.community_scope(community, shared_kinds=rules.shared_kinds),
                                  until=as_of)
    present = parts["present"].to_numpy()
    engaged = present & (parts["kind"].isin(rules.engaged_kinds) | parts["role"].isin(rules.engaged_roles)).to_numpy()
    involved = present & ~engaged
    if rules.involved_kinds:
        involved &= parts["kind"].isin(rules.involved_kinds).to_numpy()
    counted = present | (rules.registered & ~present)
    start = _days(parts["day"])
    window_end = _plus_months(parts["day"], rules.window_months)
    informed_end = _plus_months(parts["day"], rules.informed_months)
    actor = parts["actor_id"].to_numpy()
    pieces = [
        (actor[engaged], 1, start[engaged], window_end[engaged]),
        (actor[involved], 2, start[involved], window_end[involved]),
        (actor[counted], 3, start[counted], informed_end[counted]),
    ]
    if rules.newsletter and community.newsletter_list:
        s = store.subscriptions
        subs = store.read_frame(conn, sa.select(s.c.actor_id, sa.func.substr(sa.cast(s.c.status_at, sa.String), 1, 10)
                                                .label("day"))
                                .select_from(s.join(store.actors, store.actors.c.id == s.c.actor_id))
                                .where(s.c.list_name == community.newsletter_list, s.c.status == "subscribed",
                                       store.actors.c.status == "active"))
        if len(subs):
            day = _days(pd.Series(pd.to_datetime(subs["day"].astype(str), format="%Y-%m-%d")))
            keep = day <= _days(pd.Series([pd.Timestamp(as_of)]))[0]
            pieces.append((subs["actor_id"].to_numpy(np.int64)[keep], 3, day[keep],
                           np.full(int(keep.sum()), _NEVER)))
    intervals = pd.DataFrame({
        "actor": np.concatenate([p[0] for p in pieces]).astype(np.int64),
        "level": np.concatenate([np.full(len(p[0]), p[1], np.int8) for p in pieces]),
        "start": np.concatenate([p[2] for p in pieces]).astype(np.int64),
        "end": np.concatenate([p[3] for p in pieces]).astype(np.int64),
    })
    active = parts[present]
    activity = pd.DataFrame({"participations": active.groupby("actor_id").size(),
                             "last_activity": active.groupby("actor_id")["day"].max()})
    return intervals, activity


def _timeline(intervals: pd.DataFrame, until: int) -> pd.DataFrame:
    """Every change of cercle up to day ``until``: ``actor``, ``day``, ``old``, ``new`` (0: no cercle).

    The cercle on a day is the smallest level whose intervals cover it; it can only change where an
    interval (merged per actor and level) starts or ends.
    """
    iv = intervals.sort_values(["actor", "level", "start"], kind="stable")
    key = iv["actor"].to_numpy() * 4 + iv["level"].to_numpy()
    start, end = iv["start"].to_numpy(), iv["end"].to_numpy()
    reach = pd.Series(end).groupby(key).cummax().to_numpy()
    new_block = np.ones(len(iv), dtype=bool)
    if len(iv) > 1:
        new_block[1:] = (key[1:] != key[:-1]) | (start[1:] > reach[:-1])
    block = np.cumsum(new_block) - 1
    first = np.flatnonzero(new_block)
    b_actor, b_level = iv["actor"].to_numpy()[first], iv["level"].to_numpy()[first]
    b_start = start[first]
    b_end = np.maximum.reduceat(end, first) if len(first) else end[:0]
    del block
    ends = b_end <= until
    actor = np.concatenate([b_actor, b_actor[ends]])
    day = np.concatenate([b_start, b_end[ends]])
    level = np.concatenate([b_level, b_level[ends]])
    delta = np.concatenate([np.ones(len(b_start), np.int32), -np.ones(int(ends.sum()), np.int32)])
    changes = pd.DataFrame({"actor": actor, "day": day})
    for lv in (1, 2, 3):
        changes[f"d{lv}"] = np.where(level == lv, delta, 0)
    per_day = changes.groupby(["actor", "day"], sort=True).sum()
    state = per_day.groupby(level="actor").cumsum()
    circle = np.select([state["d1"].to_numpy() > 0, state["d2"].to_numpy() > 0, state["d3"].to_numpy() > 0],
                       [1, 2, 3], 0).astype(np.int8)
    actors = per_day.index.get_level_values("actor").to_numpy()
    previous = np.zeros(len(circle), dtype=np.int8)
    if len(circle) > 1:
        same = actors[1:] == actors[:-1]
        previous[1:] = np.where(same, circle[:-1], 0)
    keep = circle != previous
    return pd.DataFrame({"actor": actors[keep], "day": per_day.index.get_level_values("day").to_numpy()[keep],
                         "old": previous[keep], "new": circle[keep]})


def _from_start(timeline: pd.DataFrame, begin: int) -> pd.DataFrame:
    """The timeline from the community's start: earlier changes become one entry on the start day."""
    before = timeline["day"].to_numpy() < begin
    if not before.any():
        return timeline
    state = timeline[before].drop_duplicates("actor", keep="last")
    state = state[state["new"] > 0]
    entries = pd.DataFrame({"actor": state["actor"].to_numpy(), "day": begin,
                            "old": np.zeros(len(state), np.int8), "new": state["new"].to_numpy()})
    after = timeline[~before]
    on_start = after["day"].to_numpy() == begin
    # a change on the start day itself is the member's entry: nothing was recorded before
    after = after.assign(old=np.where(on_start, 0, after["old"].to_numpy()).astype(np.int8))
    merged = pd.concat([entries[~entries["actor"].isin(after.loc[on_start, "actor"])], after], ignore_index=True)
    merged = merged[merged["old"] != merged["new"]]
    return merged.sort_values(["actor", "day"], kind="stable").reset_index(drop=True)


def _transition_names(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    return np.select([old == 0, new == 0, new < old], ["entry", "exit", "promotion"], "decline").astype(object)


def _to_date(days: np.ndarray) -> list[date]:
    return (_EPOCH + days.astype("timedelta64[D]")).astype(object).tolist()


@dataclass
class _Computed:
    timeline: pd.DataFrame
    current: pd.DataFrame  # index actor_id: computed (0 none), since (date), participations, last_activity


def _compute(conn: Connection, community: Any, rules: CircleRules, as_of: date) -> _Computed:
    intervals, activity = _signals(conn, community, rules, as_of)
    until = int(_days(pd.Series([pd.Timestamp(as_of)]))[0])
    timeline = _timeline(intervals, until)
    if community.start_date is not None:
        timeline = _from_start(timeline, int(_days(pd.Series([pd.Timestamp(community.start_date)]))[0]))
    last = timeline.drop_duplicates("actor", keep="last").set_index("actor")
    current = pd.DataFrame({"computed": last["new"], "since": pd.Series(_to_date(last["day"].to_numpy()),
                                                                        index=last.index, dtype=object)})
    current = current.join(activity, how="left")
    current["participations"] = current["participations"].fillna(0).astype("int64")
    current.index.name = "actor_id"
    return _Computed(timeline=timeline, current=current)


def circles(engine: Engine, community: str | int, *, as_of: date | None = None,
            rules: CircleRules | None = None) -> pd.DataFrame:
    """The cercles of a community's members as of a date, computed from the signals (nothing is written).

    Overrides set on or before ``as_of`` apply.

    Parameters
    ----------
    community : str or int
        Slug, name or id (:func:`carto.events.find_community`).
    as_of : datetime.date, optional
        Date (default today); only signals up to that day count.
    rules : CircleRules, optional
        Default: :func:`load_rules`.

    Returns
    -------
    pandas.DataFrame
        Index ``acteur``; ``cercle calculé`` (NA when the actor has left the cercles), ``cercle``
        (effective), ``depuis``, ``participations``, ``dernière activité``.
    """
    rules = rules or load_rules()
    as_of = as_of or date.today()
    m = store.memberships
    with engine.connect() as conn:
        row = find_community(conn, community)
        computed = _compute(conn, row, rules, as_of)
        overrides = store.read_frame(conn, sa.select(m.c.actor_id, m.c.override_circle, m.c.override_at).where(
            m.c.community_id == row.id, m.c.override_circle.is_not(None)))
    current = computed.current
    out = pd.DataFrame({"cercle calculé": current["computed"].astype("Int64").where(current["computed"] > 0)},
                       index=current.index)
    out["cercle"] = out["cercle calculé"]
    if len(overrides):
        at = pd.to_datetime(overrides["override_at"], utc=True).dt.tz_convert(_PARIS).dt.date
        valid = overrides[(at <= as_of).to_numpy()].set_index("actor_id")["override_circle"].astype("Int64")
        out = out.reindex(out.index.union(valid.index))
        out.loc[valid.index, "cercle"] = valid
    out["depuis"] = current["since"].reindex(out.index)
    out["participations"] = current["participations"].reindex(out.index).fillna(0).astype("int64")
    out["dernière activité"] = current["last_activity"].reindex(out.index).dt.date
    out.index.name = "acteur"
    return out.sort_index()


# --------------------------------------------------------------------------- writing the cercles


@dataclass
class CirclesReport:
    """What :func:`update_circles` computed and wrote.

    Attributes
    ----------
    as_of : datetime.date
        Date of the computation.
    counts : dict
        Per community slug: ``{"nom": …, 1: n, 2: n, 3: n, "anciens": n}`` (effective cercles; « anciens »:
        members who left every cercle).
    changed : int
        Memberships whose computed values changed.
    history_added, history_removed : int
        Computed changes of cercle added to / removed from the history.
    seconds : float
        Wall time.
    """

    as_of: date
    counts: dict[str, dict[Any, Any]] = field(default_factory=dict)
    changed: int = 0
    history_added: int = 0
    history_removed: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        if not self.counts:
            return (f"Cercles au {self.as_of:%d/%m/%Y} : aucune communauté dans la base (créez-les avec "
                    "« carto communities init » ou carto.communities.create_communities).")
        lines = [f"Cercles au {self.as_of:%d/%m/%Y} :"]
        for values in self.counts.values():
            total = values[1] + values[2] + values[3]
            lines.append(f"  {values['nom']} : {_fr.integer(total)} membre{'s' if total > 1 else ''} "
                         f"(cercle 1 : {_fr.integer(values[1])}, cercle 2 : {_fr.integer(values[2])}, "
                         f"cercle 3 : {_fr.integer(values[3])})")
        return "\n".join(lines)


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None)


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: well-spread 64-bit hashes of unsigned integers (vectorised)."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _history_hashes(timeline: pd.DataFrame) -> pd.Series:
    """Fingerprint of each actor's computed history: a 64-bit sum of one hash per change (day, from, to)."""
    code = (timeline["day"].to_numpy(np.int64) * 16 + timeline["old"].to_numpy(np.int64) * 4
            + timeline["new"].to_numpy(np.int64))
    with np.errstate(over="ignore"):
        mixed = _mix(code.astype(np.uint64) ^ _mix(timeline["actor"].to_numpy(np.int64).astype(np.uint64)))
    sums = pd.Series(mixed.view(np.int64)).groupby(timeline["actor"].to_numpy()).sum()  # wraps modulo 2**64
    return sums.astype(np.int64)


def _iso(values: pd.Series) -> np.ndarray:
    """Dates (date objects, ISO texts or missing) as ISO texts, « » when missing — for comparisons."""
    return np.array(["" if v is None or (isinstance(v, float) and v != v) or v is pd.NaT else str(v)[:10]
                     for v in values.tolist()], dtype=object)


def _write_community(conn: Connection, row: Any, computed: _Computed, report: CirclesReport) -> None:
    """Write the memberships whose computed values changed, and the history of members whose history changed."""
    m, h = store.memberships, store.membership_history
    now = datetime.now(timezone.utc)
    stored = store.read_frame(conn, sa.select(
        m.c.actor_id, m.c.computed_circle, sa.cast(m.c.circle_since, sa.String).label("since"),
        sa.cast(m.c.last_activity_on, sa.String).label("last"), m.c.history_hash).where(m.c.community_id == row.id))
    stored = stored.set_index(stored["actor_id"].astype(np.int64)) if len(stored) else stored.set_index("actor_id")
    current, timeline = computed.current, computed.timeline
    hashes = _history_hashes(timeline)
    index = current.index.union(stored.index.astype(np.int64))
    new = pd.DataFrame({
        "computed_circle": current["computed"].reindex(index).fillna(0).astype(np.int64).to_numpy(),
        "since": _iso(current["since"].reindex(index)),
        "last": _iso(current["last_activity"].reindex(index).dt.date),
        "history_hash": hashes.reindex(index).fillna(0).astype(np.int64).to_numpy(),
    }, index=index)
    old = pd.DataFrame({
        "computed_circle": pd.to_numeric(stored["computed_circle"]).reindex(index).fillna(0).astype(np.int64).to_numpy(),
        "since": _iso(stored["since"].reindex(index)),
        "last": _iso(stored["last"].reindex(index)),
        "history_hash": pd.to_numeric(stored["history_hash"]).reindex(index).fillna(0).astype(np.int64).to_numpy(),
    }, index=index)
    differs = (new != old).any(axis=1).to_numpy()
    changed = new[differs]
    if len(changed):
        rows = pd.DataFrame({
            "community_id": row.id,
            "actor_id": changed.index.to_numpy(np.int64),
            "computed_circle": pd.array([int(c) if c else None for c in changed["computed_circle"]], dtype="Int64"),
            "circle_since": [date.fromisoformat(d) if d else None for d in changed["since"]],
            "last_activity_on": [date.fromisoformat(d) if d else None for d in changed["last"]],
            "history_hash": pd.array([int(v) if v else None for v in changed["history_hash"]], dtype="Int64"),
            "computed_at": now,
        })
        store.upsert(conn, m, _rows(rows), key=["community_id", "actor_id"],
                     update=["computed_circle", "circle_since", "last_activity_on", "history_hash", "computed_at"])
    report.changed += len(changed)
    # history: rewritten for the members whose fingerprint changed (the jardiniers' overrides are kept)
    redo = changed.index[(changed["history_hash"] != old.loc[changed.index, "history_hash"]).to_numpy()]
    if len(redo):
        report.history_removed += store.delete_in(conn, h, h.c.actor_id, [int(i) for i in redo],
                                                  where=sa.and_(h.c.community_id == row.id,
                                                                h.c.by_override.is_(False)))
        part = timeline[timeline["actor"].isin(redo)]
        if len(part):
            store.insert_rows(conn, h, pd.DataFrame({
                "community_id": row.id,
                "actor_id": part["actor"].to_numpy(np.int64),
                "changed_on": _EPOCH + part["day"].to_numpy().astype("timedelta64[D]"),
                "from_circle": pd.array(part["old"].to_numpy(np.int64), dtype="Int64"),
                "to_circle": pd.array(part["new"].to_numpy(np.int64), dtype="Int64"),
                "transition": _transition_names(part["old"].to_numpy(), part["new"].to_numpy()),
                "by_override": False,
                "recorded_at": pd.Series(pd.Timestamp(now), index=part.index),
            }).pipe(lambda f: f.assign(from_circle=f["from_circle"].mask(f["from_circle"] == 0),
                                       to_circle=f["to_circle"].mask(f["to_circle"] == 0))))
        report.history_added += len(part)


def _counts(conn: Connection, row: Any, as_of: date) -> dict[Any, Any]:
    m = store.memberships
    effective = sa.func.coalesce(m.c.override_circle, m.c.computed_circle)
    found = dict(conn.execute(sa.select(effective, sa.func.count()).where(m.c.community_id == row.id)
                              .group_by(effective)).all())
    return {"nom": row.name, 1: found.get(1, 0), 2: found.get(2, 0), 3: found.get(3, 0),
            "anciens": found.get(None, 0)}


def update_circles(engine: Engine, community: str | int | None = None, *, as_of: date | None = None,
                   rules: CircleRules | None = None, who: str | None = None) -> CirclesReport:
    """Compute the cercles of a community (or of all) and write them, with their history, into the base.

    Parameters
    ----------
    community : str or int, optional
        Slug, name or id (:func:`carto.events.find_community`); every community by default.
    as_of : datetime.date, optional
        Date of the computation (default today): signals after it are ignored and the history stops there.
    rules : CircleRules, optional
        Default: :func:`load_rules`.
    who : str, optional
        Author for the audit log.

    Returns
    -------
    CirclesReport
    """
    started = time.perf_counter()
    rules = rules or load_rules()
    as_of = as_of or date.today()
    report = CirclesReport(as_of=as_of)
    c = store.communities
    with store.transaction(engine, action="calcul des cercles", who=who,
                           check_tables=["memberships", "membership_history"]) as conn:
        if community is None:
            rows = conn.execute(sa.select(c).order_by(c.c.name)).all()
        else:
            rows = [find_community(conn, community)]
        for row in rows:
            _write_community(conn, row, _compute(conn, row, rules, as_of), report)
            report.counts[row.slug] = _counts(conn, row, as_of)
        store.audit(conn, table="memberships", count=report.changed,
                    details={"date": as_of.isoformat(), "communautés": [r.slug for r in rows],
                             "historique ajouté": report.history_added, "historique retiré": report.history_removed})
    report.seconds = time.perf_counter() - started
    log.info("%s", report)
    return report


# --------------------------------------------------------------------------- jardiniers' edits


def _membership(conn: Connection, community: Any, actor_id: int) -> Any:
    m = store.memberships
    row = conn.execute(sa.select(m).where(m.c.community_id == community.id, m.c.actor_id == int(actor_id))).first()
    if row is None:
        _active_actor(conn, actor_id)
        conn.execute(m.insert().values(community_id=community.id, actor_id=int(actor_id)))
        row = conn.execute(sa.select(m).where(m.c.community_id == community.id,
                                              m.c.actor_id == int(actor_id))).one()
    return row


class _Keep:
    """Marker of an argument left as it is (see :data:`KEEP`)."""

    def __repr__(self) -> str:
        return "KEEP"


#: Value of an :func:`edit_member` argument meaning « leave it as it is ».
KEEP = _Keep()


def _today_in_paris() -> date:
    return datetime.now(_PARIS).date()


def edit_member(engine: Engine, community: str | int, actor_id: int, *, circle: int | None | _Keep = KEEP,
                reason: str | None = None, notes: str | None | _Keep = KEEP, who: str | None = None) -> list[str]:
    """A jardinier's edit of a member: imposed cercle (with its reason) and notes, in one transaction.

    Only what changes is written: re-imposing the same cercle for the same reason keeps the override's
    author and date. An override is kept apart from the computed cercle and survives every recomputation;
    a change of effective cercle is written in the history (``by_override``), dated (Paris time), with who
    and why.

    Parameters
    ----------
    community : str or int
        Slug, name or id (:func:`carto.events.find_community`).
    actor_id : int
        The member (an active actor; a membership is created if there is none).
    circle : {1, 2, 3}, None or KEEP
        Cercle to impose; None lifts the override (the computed cercle applies again); KEEP: unchanged.
    reason : str, optional
        Why the cercle is imposed: required to impose one (default: the current reason, if any).
    notes : str, None or KEEP
        The jardiniers' notes (empty or None removes them); KEEP: unchanged.
    who : str, optional
        Author (default: settings' user), written with the override and in the audit log.

    Returns
    -------
    list of str
        What was changed, in French (empty: nothing to change).
    """
    if not isinstance(circle, _Keep) and circle is not None and circle not in store.CIRCLES:
        raise ConfigError(f"Cercle « {circle} » inconnu : 1 (engagé·e), 2 (impliqué·e) ou 3 (informé·e).")
    author = who or get_settings().user
    m, h = store.memberships, store.membership_history
    now = datetime.now(timezone.utc)
    done: list[str] = []
    with store.transaction(engine, action="édition de membre", who=author) as conn:
        row = find_community(conn, community)
        member = _membership(conn, row, actor_id)
        values: dict[str, Any] = {}
        if not isinstance(circle, _Keep):
            why = (str(reason).strip() if reason is not None else (member.override_reason or "")) or None
            if circle is not None and why is None:
                raise ConfigError("Donnez la raison du changement de cercle (elle est gardée avec votre nom).")
            if circle != member.override_circle or (circle is not None and why != member.override_reason):
                values.update({"override_circle": circle, "override_reason": why, "override_by": author,
                               "override_at": now} if circle is not None else
                              {"override_circle": None, "override_reason": None, "override_by": None,
                               "override_at": None})
                before = member.override_circle or member.computed_circle
                after = circle or member.computed_circle
                if before != after:
                    conn.execute(h.insert().values(
                        community_id=row.id, actor_id=int(actor_id), changed_on=_today_in_paris(),
                        from_circle=before, to_circle=after,
                        transition=_transition_names(np.array([before or 0]), np.array([after or 0]))[0],
                        by_override=True, who=author, recorded_at=now,
                        reason=why if circle is not None else (str(reason or "").strip() or "retour au cercle calculé")))
                done.append(f"cercle imposé : {CIRCLE_LABELS[circle]}" if circle is not None
                            else "cercle rendu au calcul")
        if not isinstance(notes, _Keep):
            text = (notes or "").strip() or None
            if text != member.notes:
                values["notes"] = text
                done.append("notes enregistrées" if text else "notes effacées")
        if values:
            conn.execute(m.update().where(m.c.id == member.id).values(**values, updated_at=now))
            store.audit(conn, table="memberships", ids=[member.id],
                        details={"communauté": row.slug, "acteur": int(actor_id), "changements": done,
                                 "cercle imposé": values.get("override_circle", member.override_circle)})
    return done


def set_override(engine: Engine, community: str | int, actor_id: int, circle: int | None, *,
                 reason: str | None = None, who: str | None = None) -> None:
    """Impose a member's cercle with a reason, or lift the override with ``circle=None`` (see :func:`edit_member`)."""
    edit_member(engine, community, actor_id, circle=circle, reason=reason, who=who)


def set_notes(engine: Engine, community: str | int, actor_id: int, notes: str | None, *,
              who: str | None = None) -> None:
    """Replace the jardiniers' notes on a member (empty text removes them; see :func:`edit_member`)."""
    edit_member(engine, community, actor_id, notes=notes, who=who)


def set_charter(engine: Engine, community: str | int, actor_id: int, signed_on: date | None, *,
                who: str | None = None) -> None:
    """Record that a member signed the community's engagement charter (``None``: not signed)."""
    m = store.memberships
    with store.transaction(engine, action="charte d'engagement", who=who) as conn:
        row = find_community(conn, community)
        member = _membership(conn, row, actor_id)
        conn.execute(m.update().where(m.c.id == member.id).values(
            charter_signed=signed_on is not None, charter_signed_on=signed_on, updated_at=datetime.now(timezone.utc)))
        store.audit(conn, table="memberships", ids=[member.id],
                    details={"communauté": row.slug, "acteur": int(actor_id),
                             "signée le": signed_on.isoformat() if signed_on else None})


# --------------------------------------------------------------------------- reading


#: Columns of :func:`members`, in order.
MEMBER_COLUMNS = (
    "acteur", "nom", "type", "cercle", "cercle calculé", "cercle imposé", "raison", "imposé par", "imposé le",
    "depuis", "dernière activité", "participations", "à relancer", "sources", "commune", "EPCI", "département",
    "organisation", "courriel", "accord carte", "charte signée le", "notes",
)


@lru_cache(maxsize=1)
def _source_labels() -> dict[str, str]:
    from carto.sources import builtin_sources, load_mapping

    return {name: load_mapping(name).label for name in builtin_sources()}


def members(engine: Engine, community: str | int, *, as_of: date | None = None, former: bool = False,
            rules: CircleRules | None = None, theme: str | Sequence[str] | None = None,
            territory: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The member-tracking table of a community, as stored by :func:`update_circles` and the jardiniers.

    Parameters
    ----------
    community : str or int
        Slug, name or id (:func:`carto.events.find_community`: « biodiversite » or « Biodiversité »).
    as_of : datetime.date, optional
        Date against which « à relancer » is judged (default today).
    former : bool
        Also list the former members (out of every cercle, no override).
    rules : CircleRules, optional
        For the relaunch delay (default :func:`load_rules`).
    theme : str or sequence of str, optional
        Only the members of these thematic spaces (slug or name, :func:`carto.themes.find_theme`), as
        :func:`carto.events.actor_themes` gives them up to ``as_of``: the same members as the members
        map's « Thème » filter and the graph's ``theme``.
    territory : str or sequence of str, optional
        Only the members whose commune is in these départements, EPCI or communes (code or name,
        :func:`carto.geo.find_territory`: « 34 », « Hérault », « Sète »).

    Returns
    -------
    pandas.DataFrame
        One row per member, columns :data:`MEMBER_COLUMNS` (French), sorted by cercle then name.
    """
    rules = rules or load_rules()
    as_of = as_of or date.today()
    m, a, sr = store.memberships, store.actors, store.source_records
    org = a.alias("org")
    with engine.connect() as conn:
        row = find_community(conn, community)
        frame = store.read_frame(conn, sa.select(
            m.c.actor_id, a.c.display_name, a.c.kind, m.c.computed_circle, m.c.override_circle,
            m.c.override_reason, m.c.override_by, m.c.override_at, m.c.circle_since, m.c.last_activity_on,
            a.c.commune_code, org.c.display_name.label("organisation"), a.c.email, m.c.charter_signed_on, m.c.notes,
            a.c.consent_map, a.c.consent_map_at,
        ).select_from(m.join(a, a.c.id == m.c.actor_id).outerjoin(org, org.c.id == a.c.organisation_id))
            .where(m.c.community_id == row.id, a.c.status == "active"))
        if not former and len(frame):
            frame = frame[frame["computed_circle"].notna() | frame["override_circle"].notna()]
        if territory is not None:
            frame = frame[frame["commune_code"].isin(geo.territory_communes(territory)).to_numpy(bool)]
        if theme is not None:
            slugs = {themes.find_theme(t) for t in ([theme] if isinstance(theme, str) else theme)}
            spaces = events.actor_themes(conn, [int(i) for i in frame["actor_id"]], until=as_of) if len(frame) \
                else pd.DataFrame({"actor_id": [], "theme": []})
            frame = frame[frame["actor_id"].isin(spaces.loc[spaces["theme"].isin(slugs), "actor_id"]).to_numpy(bool)]
        sources = store.select_in(conn, sa.select(sr.c.actor_id, sr.c.source).where(sr.c.status == "ok")
                                  .group_by(sr.c.actor_id, sr.c.source), sr.c.actor_id,
                                  [int(i) for i in frame["actor_id"]]) if len(frame) else pd.DataFrame()
        parts = events.participations(conn, events.community_scope(row, shared_kinds=rules.shared_kinds),
                                      until=as_of)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in MEMBER_COLUMNS})
    labels = _source_labels()
    if len(sources):
        listed = (sources.assign(label=sources["source"].map(lambda s: labels.get(s, s)))
                  .sort_values("label").groupby("actor_id")["label"].agg(" ; ".join))
    else:
        listed = pd.Series(dtype=object)
    counts = parts[parts["present"]].groupby("actor_id").size()  # up to as_of, like the last activity
    communes = geo.communes().set_index("code")
    epci_names = geo.epci().set_index("code")["nom"]
    dep_names = geo.departements().set_index("code")["nom"]
    code = frame["commune_code"]
    override = frame["override_circle"].astype("Int64")
    computed = frame["computed_circle"].astype("Int64")
    override_at = pd.to_datetime(frame["override_at"], utc=True)
    since = pd.Series(frame["circle_since"], dtype=object).where(
        override.isna(), override_at.dt.tz_convert(_PARIS).dt.date)
    latest = parts[parts["present"]].groupby("actor_id")["day"].max().dt.date
    last = pd.Series([latest.get(int(i)) for i in frame["actor_id"]], index=frame.index, dtype=object)
    limit = (pd.Timestamp(as_of) - pd.DateOffset(months=rules.relaunch_months)).date()
    out = pd.DataFrame({
        "acteur": frame["actor_id"].astype("int64"),
        "nom": frame["display_name"],
        "type": frame["kind"],
        "cercle": override.fillna(computed),
        "cercle calculé": computed,
        "cercle imposé": override,
        "raison": frame["override_reason"],
        "imposé par": frame["override_by"],
        "imposé le": override_at.dt.tz_convert(_PARIS).dt.date.astype(object).where(override_at.notna(), None),
        "depuis": since,
        "dernière activité": last,
        "participations": frame["actor_id"].map(counts).fillna(0).astype("int64"),
        "à relancer": last.map(lambda d: d is not None and not pd.isna(d) and d < limit).astype(bool),
        "sources": frame["actor_id"].map(listed),
        "commune": code.map(communes["nom"]),
        "EPCI": code.map(communes["code_epci"]).map(epci_names),
        "département": code.map(communes["code_departement"]).map(dep_names),
        "organisation": frame["organisation"],
        "courriel": frame["email"],
        "accord carte": _consent_answer(frame),
        "charte signée le": frame["charter_signed_on"],
        "notes": frame["notes"],
    })
    out = out.astype({c: object for c in ("raison", "imposé par", "sources", "commune", "EPCI", "département",
                                           "organisation", "courriel", "accord carte", "notes")})
    out = out.sort_values(["cercle", "nom"], na_position="last", kind="stable").reset_index(drop=True)
    return out[list(MEMBER_COLUMNS)]


def _consent_answer(frame: pd.DataFrame) -> pd.Series:
    """« oui » / « non » / « sans réponse »: a person's latest statement about being shown on a map
    (:mod:`carto.privacy`); organisations are shown without one (« organisation »)."""
    stated = frame["consent_map_at"].notna().to_numpy()
    shown = frame["consent_map"].fillna(False).astype(bool).to_numpy()
    answer = np.where(shown, "oui", np.where(stated, "non", "sans réponse"))
    return pd.Series(np.where(frame["kind"].to_numpy(object) == "organisation", "organisation", answer),
                     index=frame.index, dtype=object)


def to_relaunch(engine: Engine, community: str | int, *, months: int | None = None, as_of: date | None = None,
                rules: CircleRules | None = None) -> pd.DataFrame:
    """Members who took part once but not for ``months`` months (default: the rules' ``relance.mois``).

    Members who never took part (newsletter subscribers only) are not listed: the newsletter reaches them.
    Sorted by cercle (the most engaged first: a jardinier calls them first), then by last activity, the
    most recent first (those who just drifted away are the easiest to bring back).
    """
    rules = rules or load_rules()
    if months is not None:
        rules = CircleRules(**{**rules.__dict__, "relaunch_months": _rule_value("argument", "months", months,
                                                                                 "months")})
    table = members(engine, community, as_of=as_of, rules=rules)
    out = table[table["à relancer"]]
    order = out.assign(_last=pd.to_datetime(out["dernière activité"]))
    return out.loc[order.sort_values(["cercle", "_last"], ascending=[True, False], kind="stable").index] \
        .reset_index(drop=True)


def history(engine: Engine, community: str | int, *, actor_id: int | None = None) -> pd.DataFrame:
    """The dated changes of cercle of a community (or of one member), oldest first.

    Returns
    -------
    pandas.DataFrame
        ``acteur``, ``nom``, ``date``, ``de``, ``vers`` (NA: outside the cercles), ``changement``
        (entrée, promotion, baisse, sortie), ``imposé`` (bool: a jardinier's override), ``par``, ``raison``.
    """
    h, a = store.membership_history, store.actors
    with engine.connect() as conn:
        row = find_community(conn, community)
        statement = (sa.select(h.c.actor_id, a.c.display_name, h.c.changed_on, h.c.from_circle, h.c.to_circle,
                               h.c.transition, h.c.by_override, h.c.who, h.c.reason, h.c.id)
                     .select_from(h.join(a, a.c.id == h.c.actor_id)).where(h.c.community_id == row.id)
                     .order_by(h.c.changed_on, h.c.by_override, h.c.id))
        if actor_id is not None:
            statement = statement.where(h.c.actor_id == int(actor_id))
        frame = store.read_frame(conn, statement)
    names = ["acteur", "nom", "date", "de", "vers", "changement", "imposé", "par", "raison"]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in names})
    frame = frame.drop(columns="id").set_axis(names, axis=1)
    frame["de"] = frame["de"].astype("Int64")
    frame["vers"] = frame["vers"].astype("Int64")
    frame["changement"] = frame["changement"].map(TRANSITION_LABELS)
    frame["imposé"] = frame["imposé"].astype(bool)
    return frame

