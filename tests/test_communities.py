"""Cercles of community members: rules on hand-built cases, overrides, history, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from carto import communities, events, store
from carto._errors import ConfigError, NotFoundError
from carto.events import EventError

LETTER = "Lettre Biodiversité"


@pytest.fixture
def engine(base_url: str) -> Iterator[sa.Engine]:
    engine = store.init_base(base_url)
    communities.add_community(engine, slug="biodiversite", name="Biodiversité", theme="biodiversite",
                              start_date=date(2020, 1, 1), newsletter_list=LETTER, who="test")
    yield engine
    engine.dispose()


def _actors(engine: sa.Engine, *names: str) -> list[int]:
    with store.transaction(engine, action="test", who="test") as conn:
        return [int(conn.execute(store.actors.insert().values(kind="personne", display_name=n, email_key=None)
                                 .returning(store.actors.c.id)).scalar_one()) for n in names]


def _event(engine: sa.Engine, day: date, kind: str = "rencontre de communauté", *, theme: str | None = "biodiversite",
           people: dict[int, str] | None = None, absent: tuple[int, ...] = ()) -> int:
    """An event of ``kind`` on ``day`` with participants (actor → role) and registered absentees."""
    with store.transaction(engine, action="test", who="test") as conn:
        event_id = int(conn.execute(store.events.insert().values(
            title=f"{kind} {day}", kind=kind, starts_on=day, theme=theme).returning(store.events.c.id)).scalar_one())
        rows = [{"event_id": event_id, "actor_id": a, "role": r, "signed": True} for a, r in (people or {}).items()]
        rows += [{"event_id": event_id, "actor_id": a, "role": "participant", "signed": False} for a in absent]
        if rows:
            conn.execute(store.participations.insert(), rows)
    return event_id


def _circle(engine: sa.Engine, actor: int, day: date) -> int | None:
    table = communities.circles(engine, "biodiversite", as_of=day)
    if actor not in table.index or pd.isna(table.loc[actor, "cercle"]):
        return None
    return int(table.loc[actor, "cercle"])


# --------------------------------------------------------------------------- rules


def test_participation_counts_twelve_months_then_thirty_six(engine: sa.Engine) -> None:
    (lea,) = _actors(engine, "Léa")
    _event(engine, date(2025, 3, 15), people={lea: "participant"})
    assert _circle(engine, lea, date(2025, 3, 14)) is None  # not yet
    assert _circle(engine, lea, date(2025, 3, 15)) == 2
    assert _circle(engine, lea, date(2026, 3, 14)) == 2  # last day of the 12 months
    assert _circle(engine, lea, date(2026, 3, 15)) == 3
    assert _circle(engine, lea, date(2028, 3, 14)) == 3  # last day of the 36 months
    assert _circle(engine, lea, date(2028, 3, 15)) is None


def test_engaged_by_working_group_or_role(engine: sa.Engine) -> None:
    group, organiser, speaker, plain = _actors(engine, "Groupe", "Organisatrice", "Intervenant", "Participant")
    _event(engine, date(2025, 6, 1), "groupe de travail", people={group: "participant"})
    _event(engine, date(2025, 6, 2), people={organiser: "organisateur", speaker: "intervenant", plain: "participant"})
    table = communities.circles(engine, "biodiversite", as_of=date(2025, 12, 31))
    assert table["cercle"].to_dict() == {group: 1, organiser: 1, speaker: 1, plain: 2}
    # after the 12 months, straight down to cercle 3 (no event in between)
    assert _circle(engine, group, date(2026, 6, 1)) == 3


def test_registered_absentee_and_newsletter_give_cercle_three(engine: sa.Engine) -> None:
    absent, subscriber, unsubscribed, other_list = _actors(engine, "Absente", "Abonnée", "Désinscrit", "Autre")
    _event(engine, date(2025, 1, 10), absent=(absent,))
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.subscriptions.insert(), [
            {"actor_id": subscriber, "list_name": LETTER, "status": "subscribed",
             "status_at": datetime(2024, 5, 1, 9, tzinfo=timezone.utc)},
            {"actor_id": unsubscribed, "list_name": LETTER, "status": "unsubscribed",
             "status_at": datetime(2024, 5, 1, tzinfo=timezone.utc)},
            {"actor_id": other_list, "list_name": "Lettre Mer", "status": "subscribed",
             "status_at": datetime(2024, 5, 1, tzinfo=timezone.utc)},
        ])
    table = communities.circles(engine, "biodiversite", as_of=date(2025, 6, 1))
    assert table["cercle"].to_dict() == {absent: 3, subscriber: 3}
    assert table.loc[absent, "participations"] == 0 and pd.isna(table.loc[absent, "dernière activité"])
    assert _circle(engine, subscriber, date(2024, 4, 30)) is None
    assert _circle(engine, subscriber, date(2030, 1, 1)) == 3  # a subscription does not expire


def test_scope_theme_shared_kinds_and_future_events(engine: sa.Engine) -> None:
    mer, regional, future = _actors(engine, "Mer", "Printemps", "Futur")
    _event(engine, date(2025, 4, 1), theme="mer", people={mer: "participant"})
    _event(engine, date(2025, 4, 2), "rencontre régionale annuelle", theme="citoyennete", people={regional: "participant"})
    _event(engine, date(2025, 9, 1), people={future: "participant"})
    table = communities.circles(engine, "biodiversite", as_of=date(2025, 5, 1))
    assert table["cercle"].to_dict() == {regional: 2}
    custom = communities.CircleRules(shared_kinds=())
    assert communities.circles(engine, "biodiversite", as_of=date(2025, 5, 1), rules=custom).empty


def test_rules_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "cercles.toml"
    path.write_text("fenetre_mois = 6\n[engage]\nroles = ['organisateur']\n", encoding="utf-8")
    rules = communities.load_rules(path)
    assert (rules.window_months, rules.engaged_roles, rules.informed_months) == (6, ("organisateur",), 36)
    path.write_text("[engage]\ntype = ['groupe de travail']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cercles.toml.*clé inconnue « engage.type »"):
        communities.load_rules(path)
    path.write_text("fenetre_mois = 'douze'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"« fenetre_mois » : un nombre entier de mois"):
        communities.load_rules(path)
    path.write_text("[engage]\ntypes = ['pique-nique']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="engage.types"):
        communities.load_rules(path)
    path.write_text("fenetre_mois = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        communities.load_rules(path)


# --------------------------------------------------------------------------- history and writing


def _history(engine: sa.Engine, actor: int) -> list[tuple]:
    frame = communities.history(engine, "biodiversite", actor_id=actor)
    return [(r.date, None if pd.isna(r.de) else int(r.de), None if pd.isna(r.vers) else int(r.vers), r.changement)
            for r in frame.itertuples()]


def test_history_is_exact_and_rewritten_only_where_it_changed(engine: sa.Engine) -> None:
    lea, paul = _actors(engine, "Léa", "Paul")
    _event(engine, date(2019, 6, 1), people={paul: "participant"})  # before the community: carried to its start
    _event(engine, date(2024, 1, 10), people={lea: "participant"})
    group = _event(engine, date(2024, 6, 5), "groupe de travail", people={lea: "participant"})
    report = communities.update_circles(engine, as_of=date(2026, 11, 29), who="test")
    assert _history(engine, lea) == [
        (date(2024, 1, 10), None, 2, "entrée"),
        (date(2024, 6, 5), 2, 1, "promotion"),
        (date(2025, 6, 5), 1, 3, "baisse"),
    ]
    assert _history(engine, paul) == [
        (date(2020, 1, 1), None, 2, "entrée"),  # still within the 12 months of his 2019 event
        (date(2020, 6, 1), 2, 3, "baisse"),
        (date(2022, 6, 1), 3, None, "sortie"),
    ]
    assert report.counts["biodiversite"] == {"nom": "Biodiversité", 1: 0, 2: 0, 3: 1, "anciens": 1}
    assert "Biodiversité : 1 membre (cercle 1 : 0, cercle 2 : 0, cercle 3 : 1)" in str(report)
    # the same computation again writes nothing
    again = communities.update_circles(engine, as_of=date(2026, 11, 29))
    assert (again.changed, again.history_added, again.history_removed) == (0, 0, 0)
    # a participation removed (e.g. a sign-in sheet corrected): the history it made is removed
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.participations.delete().where(store.participations.c.event_id == group))
    fixed = communities.update_circles(engine, as_of=date(2026, 11, 29))
    assert (fixed.changed, fixed.history_added, fixed.history_removed) == (1, 2, 3)  # Léa's history only
    assert _history(engine, lea) == [(date(2024, 1, 10), None, 2, "entrée"), (date(2025, 1, 10), 2, 3, "baisse")]
    with engine.connect() as conn:
        member = conn.execute(sa.select(store.memberships).where(store.memberships.c.actor_id == lea)).one()
        audit = conn.execute(sa.select(store.audit_log).where(store.audit_log.c.action == "calcul des cercles")).all()
    assert (member.computed_circle, member.circle_since, member.last_activity_on) == (3, date(2025, 1, 10),
                                                                                      date(2024, 1, 10))
    assert len(audit) == 3 and audit[0].who == "test"


def test_override_survives_recomputation_and_is_in_the_history(engine: sa.Engine) -> None:
    # an override is dated when it is set: the test works on today's date (in Paris), whatever it is
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    (lea,) = _actors(engine, "Léa")
    _event(engine, today - timedelta(days=59), people={lea: "participant"})
    communities.update_circles(engine, as_of=today)
    with pytest.raises(ConfigError, match="raison"):
        communities.set_override(engine, "biodiversite", lea, 1, reason="  ", who="claire")
    communities.set_override(engine, "biodiversite", lea, 1, reason="anime le groupe haies", who="claire")
    communities.update_circles(engine, as_of=today)
    table = communities.members(engine, "biodiversite", as_of=today)
    row = table.set_index("acteur").loc[lea]
    assert (row["cercle"], row["cercle calculé"], row["cercle imposé"]) == (1, 2, 1)
    assert (row["raison"], row["imposé par"], row["imposé le"]) == ("anime le groupe haies", "claire", today)
    last = communities.history(engine, "biodiversite", actor_id=lea).iloc[-1]
    assert (last["de"], last["vers"], last["changement"], last["imposé"], last["par"]) == (2, 1, "promotion", True,
                                                                                        "claire")
    # the computed history is rewritten, the override row kept
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.participations.delete())
    communities.update_circles(engine, as_of=today)
    kept = communities.history(engine, "biodiversite", actor_id=lea)
    assert kept["imposé"].tolist() == [True]
    assert communities.circles(engine, "biodiversite", as_of=today)["cercle"].to_dict() == {lea: 1}
    assert communities.circles(engine, "biodiversite", as_of=today - timedelta(days=1)).empty  # not before it was set
    communities.set_override(engine, "biodiversite", lea, None, who="claire")
    assert communities.members(engine, "biodiversite").empty
    assert communities.members(engine, "biodiversite", former=True)["acteur"].tolist() == [lea]
    assert communities.history(engine, "biodiversite", actor_id=lea)["raison"].iloc[-1] == "retour au cercle calculé"


def test_notes_charter_and_relaunch(engine: sa.Engine) -> None:
    recent, drifting, old, subscriber = _actors(engine, "Récente", "Partie", "Ancien", "Abonnée")
    _event(engine, date(2026, 10, 1), people={recent: "participant"})
    _event(engine, date(2026, 5, 28), people={drifting: "organisateur"})
    _event(engine, date(2024, 2, 1), people={old: "participant"})
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.subscriptions.insert().values(actor_id=subscriber, list_name=LETTER, status="subscribed",
                                                         status_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
    communities.update_circles(engine, as_of=date(2026, 11, 29))
    communities.set_notes(engine, "biodiversite", drifting, "  rappeler en janvier ", who="claire")
    communities.set_charter(engine, "biodiversite", drifting, date(2025, 3, 1), who="claire")
    relaunch = communities.to_relaunch(engine, "biodiversite", as_of=date(2026, 11, 29))
    assert relaunch["acteur"].tolist() == [drifting, old]  # cercle 1 first; the subscriber never came
    assert relaunch["notes"].iloc[0] == "rappeler en janvier"
    assert relaunch["charte signée le"].iloc[0] == date(2025, 3, 1)
    assert communities.to_relaunch(engine, "biodiversite", months=7, as_of=date(2026, 11, 29))["acteur"].tolist() \
        == [old]
    with pytest.raises(ConfigError, match="nombre entier de mois"):
        communities.to_relaunch(engine, "biodiversite", months=0)


def test_communities_from_config_and_binome(base_url: str, tmp_path: Path) -> None:
    engine = store.init_base(base_url)
    try:
        created = communities.create_communities(engine, who="test")
        assert created["communauté"].tolist() == ["alimentation-agriculture", "biodiversite", "engagement-citoyen"]
        assert created.set_index("communauté").loc["biodiversite", "lettre"] == LETTER
        (lea,) = _actors(engine, "Léa Martin")
        communities.set_binome(engine, "biodiversite", jardinier_acteurs=lea, jardinier_region="Sandrine Vidal")
        assert communities.list_communities(engine).set_index("communauté").loc["biodiversite",
                                                                                "jardinier Acteurs"] == "Léa Martin"
        with pytest.raises(ConfigError, match="Acteur 999 inconnu"):
            communities.set_binome(engine, "biodiversite", jardinier_acteurs=999)
        with pytest.raises(EventError, match=r"Communauté « mer » inconnue. Communautés connues : Alimentation et "
                                             r"agriculture \(alimentation"):
            communities.update_circles(engine, "mer")
        with store.transaction(engine, action="test", who="test") as conn:
            conn.execute(store.actors.insert().values(kind="personne", display_name="Anne Vidal",
                                                      email="anne.vidal+asso@gmail.com", email_key="annevidal@gmail.com"))
        by_mail = tmp_path / "binome.toml"
        by_mail.write_text('[[communaute]]\nslug = "mer"\nnom = "Mer"\ntheme = "mer"\n'
                           'jardinier_acteurs = "Anne.Vidal@Gmail.com"\n', encoding="utf-8")
        listed = communities.create_communities(engine, by_mail).set_index("communauté")
        assert listed.loc["mer", "jardinier Acteurs"] == "Anne Vidal"  # the same mailbox, typed differently
        bad = tmp_path / "c.toml"
        bad.write_text('[[communaute]]\nslug = "mer"\nnom = "Mer"\ntheme = "ocean"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match="Espace thématique « ocean » inconnu"):
            communities.create_communities(engine, bad)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- events


def test_events_classified_from_titles_keep_what_a_person_set(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.events.insert(), [
            {"title": "Rencontre de la communauté Biodiversité — mars 2024", "kind": "rencontre de communauté",
             "starts_on": date(2024, 3, 1), "theme": None},
            {"title": "Commission citoyenne : zones humides (2024)", "kind": "commission citoyenne",
             "starts_on": date(2024, 3, 2), "theme": None},
            {"title": "Webinaire : vélo (avril 2024)", "kind": "webinaire", "starts_on": date(2024, 4, 2),
             "theme": "numerique"},  # set by a person: kept
            {"title": "Printemps citoyen 2024", "kind": "rencontre régionale annuelle", "starts_on": date(2024, 4, 9),
             "theme": None},
        ])
    assert events.classify_events(engine, who="test") == 2
    assert events.classify_events(engine) == 0
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.events.c.community_id, store.events.c.theme)
                            .order_by(store.events.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "biodiversite"), (None, "biodiversite"), (None, "numerique"), (None, None)]


def test_event_and_period_statistics(engine: sa.Engine) -> None:
    a, b, c = _actors(engine, "A", "B", "C")
    first = _event(engine, date(2024, 1, 10), people={a: "organisateur", b: "participant"}, absent=(c,))
    second = _event(engine, date(2024, 5, 10), people={a: "participant", c: "participant"})
    _event(engine, date(2024, 5, 11), theme="mer", people={b: "participant"})
    stats = events.event_stats(engine, community="biodiversite").set_index("événement")
    assert stats.loc[first, ["présents", "inscrits absents", "premières venues", "déjà venus",
                             "organisateurs et intervenants"]].tolist() == [2, 1, 2, 0, 1]
    assert stats.loc[second, ["présents", "premières venues", "déjà venus"]].tolist() == [2, 1, 1]
    assert len(stats) == 2  # the « mer » event is not the community's
    assert events.event_stats(engine, start=date(2024, 5, 1))["événement"].tolist() == [second, second + 1]
    per_quarter = events.period_stats(engine, community="biodiversite", freq="Q")
    assert per_quarter.to_dict("index") == {
        pd.Period("2024Q1"): {"événements": 1, "présences": 2, "participants": 2, "nouveaux participants": 2,
                              "participants revenus": 0},
        pd.Period("2024Q2"): {"événements": 1, "présences": 2, "participants": 2, "nouveaux participants": 1,
                              "participants revenus": 1},
    }
    with pytest.raises(EventError, match="Période « W » inconnue"):
        events.period_stats(engine, freq="W")


def test_add_event_by_hand(engine: sa.Engine) -> None:
    (lea,) = _actors(engine, "Léa")
    event_id = events.add_event(engine, title="Groupe de travail haies", kind="groupe de travail",
                                starts_on=date(2026, 2, 3), commune="Rodez", community="biodiversite",
                                organisers=[lea], who="claire")
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.events).where(store.events.c.id == event_id)).one()
    assert (row.commune_code, row.theme, row.community_id) == ("12202", "biodiversite", 1)
    assert communities.circles(engine, "biodiversite", as_of=date(2026, 3, 1))["cercle"].to_dict() == {lea: 1}
    with pytest.raises(EventError, match="Type d'événement « fête » inconnu"):
        events.add_event(engine, title="x", kind="fête", starts_on=date(2026, 1, 1))
    with pytest.raises(EventError, match=r"Organisateur inconnu ou fusionné : 404"):
        events.add_event(engine, title="x", kind="webinaire", starts_on=date(2026, 1, 1), organisers=[404])


# --------------------------------------------------------------------------- a community by slug, name or id


def test_find_community_by_slug_name_or_id(engine, tmp_path: Path) -> None:
    communities.create_communities(engine)
    with engine.connect() as conn:
        for typed in ("biodiversite", "Biodiversité", "BIODIVERSITÉ", " biodiversité "):
            assert events.find_community(conn, typed).slug == "biodiversite", typed
        bio = events.find_community(conn, "biodiversite")
        assert events.find_community(conn, bio.id).slug == "biodiversite"
        assert events.find_community(conn, str(bio.id)).slug == "biodiversite"  # a number typed in the CLI
        assert events.find_community(conn, "Alimentation et agriculture").slug == "alimentation-agriculture"
        with pytest.raises(events.CommunityNotFoundError) as caught:
            events.find_community(conn, "Biodiversitée")
    assert isinstance(caught.value, NotFoundError) and isinstance(caught.value, EventError)
    assert str(caught.value).startswith("Communauté « Biodiversitée » inconnue. Vouliez-vous dire « Biodiversité » ? "
                                        "Communautés connues : Alimentation et agriculture (alimentation-agriculture), "
                                        "Biodiversité (biodiversite), Engagement citoyen (engagement-citoyen).")
    assert events.community_name(engine, "engagement citoyen") == "Engagement citoyen"
    bad = tmp_path / "mes-communautes.toml"
    bad.write_text('[[communaute]]\nslug = "mer"\nnom = "Mer"\ntheme = "Mer et littorale"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="mes-communautes.toml », communauté n° 1 : Espace thématique « Mer et "
                                          "littorale » inconnu. Vouliez-vous dire « Mer et littoral »"):
        communities.create_communities(engine, bad)
    assert communities.add_community(engine, slug="mer", name="Mer", theme="Mer et littoral") > 0
    assert communities.list_communities(engine).set_index("communauté").loc["mer", "thème"] == "mer"


# --------------------------------------------------------------------------- the actors of a theme


def test_actor_themes_are_their_own_their_organisations_and_their_events(members_base) -> None:
    with members_base.connect() as conn:
        pairs = events.actor_themes(conn, until=date(2026, 11, 29))
        spaces = pairs.groupby("actor_id")["theme"].agg(sorted).to_dict()
        assert spaces[4] == ["biodiversite", "eau", "mer"]  # own (« Biodiversité », « eau ») and its event
        assert spaces[1] == ["biodiversite", "eau", "mer"]  # its organisation's, and the event it came to
        assert spaces[5] == ["alimentation-agriculture", "mer"]  # the events it attended
        assert events.theme_actors(conn, "Biodiversité") == {1, 4}
        assert events.theme_actors(conn, "alimentation-agriculture", until=date(2026, 5, 31)) == set()  # not yet
        assert events.theme_actors(conn, "mer", [1, 2, 99]) == {1, 2}


def test_members_by_theme_and_territory(members_base) -> None:
    day = date(2026, 11, 29)
    everyone = communities.members(members_base, "mer", as_of=day)
    assert len(everyone) == 7
    by_theme = communities.members(members_base, "Mer et littoral", as_of=day, theme="Biodiversité")
    assert sorted(by_theme["acteur"]) == [1, 4]
    assert sorted(communities.members(members_base, "mer", as_of=day, theme=["eau", "alimentation-agriculture"])
                  ["acteur"]) == [1, 4, 5]
    assert sorted(communities.members(members_base, "mer", as_of=day, territory="Sète")["acteur"]) == [1, 2, 3, 4]
    assert sorted(communities.members(members_base, "mer", as_of=day, territory=["herault"])["acteur"]) == \
        [1, 2, 3, 4, 5, 6]
    assert list(communities.members(members_base, "mer", as_of=day, territory="66", theme="biodiversite")) == \
        list(communities.MEMBER_COLUMNS)  # no one: the columns stay
    with pytest.raises(NotFoundError, match="Territoire « Perpignon » inconnu. Vouliez-vous dire « Perpignan »"):
        communities.members(members_base, "mer", as_of=day, territory="Perpignon")
