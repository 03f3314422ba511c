"""Tests of carto.network on a small hand-made base whose graphs are known, and on the demo data."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from carto import communities, events, ingest, linkage, network, store
from carto._errors import CartoError, NetworkError, NotFoundError
from carto.settings import REPO_DIR

DAY = date(2026, 11, 29)

#: id: (kind, name, commune, consent to be shown, organisation)
ACTORS = {
    1: ("organisation", "Les Semeurs", "34172", False, None),  # Montpellier
    2: ("personne", "Léa Martin", "34172", True, 1),
    3: ("personne", "Tom Roux", "34301", False, None),  # Sète
    4: ("personne", "Inès Blanc", "31555", True, None),  # Toulouse
    5: ("personne", "Noé Petit", "31555", False, None),
    6: ("personne", "Zoé Brun", "66136", False, None),  # Perpignan
    7: ("personne", "Max Isolé", "66136", False, None),
}


def _base(url: str) -> sa.Engine:
    """A community « mer » (theme mer) of members 2 (cercle 1), 3 and 4 (cercle 2), three events, five relations.

    =====  ==========  ==============  =========================  ========================================
    event  date        theme           present                    absent (registered) / roles
    =====  ==========  ==============  =========================  ========================================
    1      2025-03-01  mer             2, 3, 4 (n = 3: 1/2 each)  5 registered, absent
    2      2025-06-01  mer             2, 3 (n = 2: 1 each)       2 organiser and participant
    3      2024-01-10  alimentation    3, 4, 5, 6 (1/3 each)
    =====  ==========  ==============  =========================  ========================================

    Relations: 4 → 6 partenaire (declared, weight 2, 2024), 3 → 4 connaît (workshop of theme mer),
    6 → 4 connaît (inferred), 2 → 5 relais (declared, from 2026), 3 → 7 connaît (inferred).
    Actor 8 is merged into 2 (never a node).
    """
    engine = store.init_base(url)
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer", start_date=date(2024, 1, 1))
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": i, "kind": kind, "display_name": name, "commune_code": code, "consent_map": consent,
             "organisation_id": None} for i, (kind, name, code, consent, _) in ACTORS.items()])
        conn.execute(store.actors.update().where(store.actors.c.id == 2).values(organisation_id=1))
        conn.execute(store.actors.insert().values(id=8, kind="personne", display_name="Léa M.", status="merged",
                                                  merged_into_id=2))
        community_id = conn.execute(sa.select(store.communities.c.id)).scalar_one()
        conn.execute(store.events.insert(), [
            {"id": 1, "title": "Rencontre", "kind": "rencontre de communauté", "starts_on": date(2025, 3, 1),
             "theme": "mer", "community_id": community_id},
            {"id": 2, "title": "Atelier", "kind": "atelier de cartographie", "starts_on": date(2025, 6, 1),
             "theme": "mer", "community_id": None},
            {"id": 3, "title": "Formation", "kind": "formation-action", "starts_on": date(2024, 1, 10),
             "theme": "alimentation-agriculture", "community_id": None},
        ])
        conn.execute(store.participations.insert(), [
            {"event_id": e, "actor_id": a, "role": role, "signed": signed} for e, a, role, signed in [
                (1, 2, "participant", True), (1, 3, "participant", True), (1, 4, "participant", None),
                (1, 5, "participant", False),
                (2, 2, "organisateur", True), (2, 2, "participant", True), (2, 3, "participant", True),
                (3, 3, "participant", True), (3, 4, "participant", True), (3, 5, "participant", True),
                (3, 6, "intervenant", True)]])
        workshop = conn.execute(store.workshops.insert().values(title="Atelier Net-Map", held_on=date(2025, 5, 1),
                                                                theme="mer", who="test")
                                .returning(store.workshops.c.id)).scalar_one()
        conn.execute(store.relations.insert(), [
            {"source_id": s, "target_id": t, "type": kind, "weight": w, "provenance": p,
             "workshop_id": workshop if p == "workshop" else None, "valid_from": f, "valid_to": to, "who": "test",
             "directed": d}
            for s, t, kind, w, p, f, to, d in [
                (4, 6, "partenaire", 2.0, "declared", date(2024, 1, 1), date(2024, 12, 31), False),
                (3, 4, "connaît", 1.0, "workshop", None, None, True),
                (6, 4, "connaît", 1.0, "inferred", None, None, True),
                (2, 5, "relais", 1.0, "declared", date(2026, 1, 1), None, True),
                (3, 7, "connaît", 1.0, "inferred", None, None, True)]])
        conn.execute(store.memberships.insert(), [
            {"community_id": community_id, "actor_id": a, "computed_circle": c} for a, c in [(2, 1), (3, 2), (4, 2)]])
        conn.execute(store.memberships.insert().values(community_id=community_id, actor_id=5, computed_circle=None))
    return engine


@pytest.fixture
def engine(tmp_path: Path):
    engine = _base(f"sqlite:///{tmp_path / 'b.sqlite'}")
    yield engine
    engine.dispose()


def edges(G: nx.Graph) -> dict[tuple[int, int], float]:
    return {(min(u, v), max(u, v)): round(w, 4) for u, v, w in G.edges(data="weight")}


# --------------------------------------------------------------------------- graphs


def test_actor_graph_weights_relations_and_memberships(engine) -> None:
    G = network.actor_graph(engine)
    assert sorted(G) == [1, 2, 3, 4, 5, 6, 7]  # the merged actor 8 is not a node
    third = 1 / 3
    assert {(min(u, v), max(u, v)): round(w, 4) for u, v, w in G.edges(data="co_participation")} == {
        k: round(v, 4) for k, v in {
            (1, 2): 0, (2, 3): 0.5 + 1, (2, 4): 0.5, (3, 4): 0.5 + third, (3, 5): third, (3, 6): third,
            (4, 5): third, (4, 6): third, (5, 6): third, (2, 5): 0, (3, 7): 0}.items()}
    assert G.edges[2, 3]["events"] == 2 and G.edges[2, 4]["events"] == 1 and G.edges[1, 2]["events"] == 0
    assert G.edges[4, 6]["relations"] == ["connaît", "partenaire"]
    assert G.edges[4, 6]["provenance"] == ["declared", "inferred"]
    assert G.edges[3, 4]["relations"] == ["connaît"] and G.edges[3, 4]["provenance"] == ["workshop"]
    assert G.edges[2, 3]["relations"] == [] and G.edges[2, 3]["provenance"] == []
    assert G.edges[1, 2]["membership"] and not G.edges[2, 3]["membership"]
    # weight = co-participation + relation weights + 1 for a membership
    assert edges(G)[(4, 6)] == round(third + 2 + 1, 4) and edges(G)[(1, 2)] == 1 and edges(G)[(3, 4)] == round(
        0.5 + third + 1, 4)
    trusted = {k for k, t in nx.get_edge_attributes(G, "trusted").items() if t}
    # declared or workshop relation, membership, or 2 events together; not inferred relations nor one event
    assert trusted == {(1, 2), (2, 3), (3, 4), (4, 6), (2, 5)}
    assert G.nodes[2] == {"name": "Léa Martin", "kind": "personne", "shown": True, "circle": None,
                          "commune": "34172", "organisation_id": 1}
    assert {n: s for n, s in G.nodes(data="shown")} == {1: True, 2: True, 3: False, 4: True, 5: False, 6: False,
                                                         7: False}
    assert G.graph["name"] == "Réseau des acteurs — toute la base"
    assert not G.is_directed() and not G.is_multigraph()
    plain = network.actor_graph(engine, relations=False, memberships=False)
    assert set(edges(plain)) == {(2, 3), (2, 4), (3, 4), (3, 5), (3, 6), (4, 5), (4, 6), (5, 6)}
    assert plain.edges[4, 6]["weight"] == pytest.approx(third) and plain.edges[4, 6]["relations"] == []


def test_bipartite_graph_keeps_people_present_with_their_strongest_role(engine) -> None:
    B = network.bipartite_graph(engine)
    ev = network.EVENT_NODE
    assert set(B[(ev, 1)]) == {2, 3, 4}  # 5 registered but absent; signed unknown counts as present
    assert B.edges[2, (ev, 2)]["role"] == "organisateur" and B.edges[6, (ev, 3)]["role"] == "intervenant"
    assert B.nodes[(ev, 1)]["present"] == 3 and B.nodes[(ev, 1)]["bipartite"] == 1
    assert B.nodes[(ev, 1)]["date"] == date(2025, 3, 1) and B.nodes[(ev, 3)]["theme"] == "alimentation-agriculture"
    assert {n for n, b in B.nodes(data="bipartite") if b == 0} == {2, 3, 4, 5, 6}  # 1 and 7 attended nothing
    assert nx.is_bipartite(B) and B.number_of_edges() == 2 + 3 + 4
    projected = nx.bipartite.collaboration_weighted_projected_graph(B, [2, 3, 4, 5, 6])
    G = network.actor_graph(engine, relations=False, memberships=False)
    assert {k: round(w, 6) for k, w in nx.get_edge_attributes(projected, "weight").items()} == {
        k: round(w, 6) for k, w in nx.get_edge_attributes(G, "co_participation").items()}


def test_relation_graph_keeps_direction_type_dates_and_provenance(engine) -> None:
    R = network.relation_graph(engine)
    assert isinstance(R, nx.MultiDiGraph) and sorted(R) == [1, 2, 3, 4, 5, 6, 7]
    assert sorted((u, v, d["type"], d["provenance"]) for u, v, d in R.edges(data=True)) == [
        (2, 5, "relais", "declared"), (3, 4, "connaît", "workshop"), (3, 7, "connaît", "inferred"),
        (4, 6, "partenaire", "declared"), (6, 4, "connaît", "inferred")]
    partner = next(d for _, _, d in R.edges(data=True) if d["type"] == "partenaire")
    assert partner["directed"] is False and partner["weight"] == 2.0
    assert (partner["valid_from"], partner["valid_to"]) == (date(2024, 1, 1), date(2024, 12, 31))
    assert next(d for _, _, d in R.edges(data=True) if d["provenance"] == "workshop")["workshop_id"] == 1
    assert network.relation_graph(engine, start=date(2026, 1, 1)).number_of_edges() == 4  # 2024's partner gone


def test_community_keeps_its_members_their_organisations_and_its_events(engine) -> None:
    G = network.actor_graph(engine, community="mer")
    assert sorted(G) == [1, 2, 3, 4]  # members with a cercle (not 5) and 2's organisation
    assert dict(G.nodes(data="circle")) == {1: None, 2: 1, 3: 2, 4: 2}
    assert edges(G) == {(1, 2): 1, (2, 3): 1.5, (2, 4): 0.5, (3, 4): 1.5}  # event 3 is not the community's
    assert G.graph["filters"]["community"] == "mer" and "Mer et littoral" in G.graph["name"]
    by_id = network.actor_graph(engine, community=1)
    assert edges(by_id) == edges(G)
    with pytest.raises(events.EventError, match="Communauté « terre » inconnue"):
        network.actor_graph(engine, community="terre")


def test_theme_period_and_territory_filters(engine) -> None:
    food = network.actor_graph(engine, theme="alimentation-agriculture")
    assert sorted(food) == [3, 4, 5, 6]
    assert edges(food)[(3, 4)] == round(1 / 3 + 1, 4)  # relations between kept actors are drawn
    since = network.actor_graph(engine, start=date(2026, 1, 1))  # no event: the relations valid then
    assert sorted(since) == [1, 2, 3, 4, 5, 6, 7]
    assert edges(since) == {(1, 2): 1, (2, 5): 1, (3, 4): 1, (4, 6): 1, (3, 7): 1}
    until = network.actor_graph(engine, end=date(2024, 12, 31))
    assert sorted(until) == [3, 4, 5, 6, 7] and (2, 5) not in edges(until)
    assert edges(until)[(4, 6)] == round(1 / 3 + 2 + 1, 4)
    window = network.actor_graph(engine, start=date(2025, 1, 1), end=date(2025, 12, 31), relations=False)
    assert sorted(window) == [1, 2, 3, 4] and G_weight(window, 2, 3) == 1.5
    assert sorted(network.actor_graph(engine, territory="34")) == [1, 2, 3]
    assert sorted(network.actor_graph(engine, territory="243400017")) == [1, 2]  # EPCI of Montpellier
    assert sorted(network.actor_graph(engine, territory=["31555", "66136"])) == [4, 5, 6, 7]
    both = network.actor_graph(engine, community="mer", territory="34", theme="mer")
    assert edges(both) == {(1, 2): 1, (2, 3): 1.5}
    assert both.graph["filters"] == {"community": "mer", "theme": "mer", "start": None, "end": None,
                                     "territory": ["34"], "relations": True, "memberships": True}
    with pytest.raises(NotFoundError, match="Territoires « 2A » et « 999 » inconnus : donnez un département"):
        network.actor_graph(engine, territory=["34", "2A", "999"])
    with pytest.raises(NotFoundError, match="Espace thématique « jardins » inconnu. Valeurs possibles"):
        network.actor_graph(engine, theme="jardins")


def test_graph_filters_take_names_as_well_as_codes(engine) -> None:
    by_code = network.actor_graph(engine, community="mer", territory="34", theme="mer")
    by_name = network.actor_graph(engine, community="Mer et Littoral", territory="herault", theme="Mer et littoral")
    assert sorted(by_name) == sorted(by_code) and edges(by_name) == edges(by_code)
    assert by_name.graph["filters"] == by_code.graph["filters"]  # codes and slugs, whatever was typed
    assert by_name.graph["name"] == ("Réseau des acteurs — communauté Mer et littoral — espace Mer et littoral — "
                                     "territoire Hérault (34)")
    assert sorted(network.actor_graph(engine, territory="Montpellier Méditerranée Métropole")) == [1, 2]
    assert sorted(network.actor_graph(engine, territory=["Toulouse", "66136"])) == [4, 5, 6, 7]
    with pytest.raises(NotFoundError, match="Vouliez-vous dire « Hérault »"):
        network.actor_graph(engine, territory="Heraut")
    with pytest.raises(events.EventError, match=re.escape("Communauté « Mer et litoral » inconnue. Vouliez-vous "
                                                          "dire « Mer et littoral » ?")):
        network.actor_graph(engine, community="Mer et litoral")
    with pytest.raises(NetworkError, match="Période vide"):
        network.actor_graph(engine, start=date(2025, 1, 1), end=date(2024, 1, 1))


def G_weight(G: nx.Graph, u: int, v: int) -> float:
    return round(G.edges[u, v]["weight"], 4)


# --------------------------------------------------------------------------- neighbourhoods and introductions


def test_ego_network_radius_one_and_two(engine) -> None:
    G = network.actor_graph(engine)
    before = nx.to_dict_of_dicts(G)
    one = network.ego_network(G, 1)
    assert sorted(one) == [1, 2] and dict(one.nodes(data="distance")) == {1: 0, 2: 1}
    two = network.ego_network(G, 1, radius=2)
    assert dict(two.nodes(data="distance")) == {1: 0, 2: 1, 3: 2, 4: 2, 5: 2}
    assert two.edges[3, 4]["relations"] == ["connaît"] and two.nodes[2]["name"] == "Léa Martin"
    assert two.graph["name"] == "Voisinage de Les Semeurs (2 pas)"
    assert "distance" not in G.nodes[1] and nx.to_dict_of_dicts(G) == before  # the input is not changed
    directed = network.ego_network(network.relation_graph(engine), 6)
    assert sorted(directed) == [4, 6]  # ties walked both ways
    with pytest.raises(NetworkError, match="L'acteur « 42 » n'est pas dans ce graphe"):
        network.ego_network(G, 42)
    with pytest.raises(NetworkError, match="Rayon"):
        network.ego_network(G, 1, radius=-1)
    assert isinstance(NetworkError("x"), CartoError)


def test_introductions_walk_trusted_ties_only(engine) -> None:
    G = network.actor_graph(engine)
    paths = network.introductions(G, 1, 6)
    assert list(paths.columns) == ["rang", "intermédiaires", "noms", "liens", "lien le plus faible", "chemin"]
    assert paths["chemin"].tolist() == [[1, 2, 3, 4, 6]]  # 2 – 4 (one event) is not trusted
    # Tom Roux (3) and Zoé Brun (6) did not agree to be shown: never named
    assert paths.loc[0, "noms"] == ("Les Semeurs → Léa Martin → personne non nommée → Inès Blanc → "
                                    "personne non nommée")
    assert paths.loc[0, "liens"].startswith("Les Semeurs → Léa Martin : membre de l'organisation ; "
                                            "Léa Martin → personne non nommée : 2 événements en commun ; ")
    assert paths.loc[0, "lien le plus faible"] == pytest.approx(1.0)
    every = network.introductions(G, 1, 6, trusted_only=False, k=2)
    assert every["chemin"].tolist() == [[1, 2, 4, 6], [1, 2, 3, 6]]  # ties broken by the weakest link
    assert every["intermédiaires"].tolist() == [2, 2] and every["rang"].tolist() == [1, 2]
    with pytest.raises(NetworkError, match=r"Aucun chemin par des liens de confiance entre « Les Semeurs » \(1\) "
                                           r"et « personne non nommée » \(7\) : essayez trusted_only=False"):
        network.introductions(G, 1, 7)
    assert network.introductions(G, 1, 7, trusted_only=False)["chemin"].tolist()[0] == [1, 2, 3, 7]
    with pytest.raises(NetworkError, match="n'est pas dans ce graphe"):
        network.introductions(G, 1, 99)
    with pytest.raises(NetworkError, match="à la fois la source et la cible"):
        network.introductions(G, 1, 1)


def test_a_person_who_refused_to_be_shown_is_never_named(engine) -> None:
    G = network.actor_graph(engine)
    hidden = {name for i, (kind, name, _, consent, _) in ACTORS.items() if kind == "personne" and not consent}
    assert {G.nodes[i]["name"] for i in G if not G.nodes[i]["shown"]} <= hidden  # the graph knows them
    printed = []
    for source, target in ((1, 6), (6, 1), (2, 7), (3, 5)):
        table = network.introductions(G, source, target, trusted_only=False, k=3)
        printed += [*table["noms"], *table["liens"]]
        assert table["chemin"].map(lambda path: path[0]).eq(source).all()  # the ids stay, for the jardiniers
    with pytest.raises(NetworkError) as failed:
        network.introductions(G, 3, 7)
    printed.append(str(failed.value))
    with pytest.raises(NetworkError) as failed:
        network.introductions(G, 6, 6)
    printed.append(str(failed.value))
    printed.append(network.ego_network(G, 3, radius=1).graph["name"])
    assert all(name not in text for name in hidden for text in printed)
    assert all("personne non nommée" in text for text in printed[-3:])
    assert "Léa Martin" in " ".join(printed) and "Inès Blanc" in " ".join(printed)  # who agreed is named
    # the stored metrics, as the notebook shows them
    network.store_metrics(engine, _metrics([1, 2, 3, 6]), community="mer", as_of=DAY, parameters={})
    table = network.stored_metrics(engine, community="mer", shown_only=True)
    assert table["nom"].tolist() == ["Les Semeurs", "Léa Martin", "personne non nommée", "personne non nommée"]
    assert network.stored_metrics(engine, community="mer").loc[3, "nom"] == "Tom Roux"  # the working table


# --------------------------------------------------------------------------- stored metrics


def _metrics(ids: list[int], offset: float = 0.0) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({
        "degré": range(1, n + 1), "degré pondéré": [1.5 + offset] * n, "intermédiarité": [0.25] * n,
        "pagerank": [1 / n] * n, "portée à 2 pas": [3] * n, "contrainte": [float("nan")] + [0.5] * (n - 1),
        "taille effective": [1.0] * n, "cœur": [1] * n, "groupe": [0] * n,
        "nom du groupe": ["Groupe de Léa"] * n,
    }, index=pd.Index(ids, name="acteur"))


def test_store_and_read_back_metrics_replacing_the_previous_ones(base_url: str) -> None:
    engine = _base(base_url)
    G = network.actor_graph(engine, community="mer")
    parameters = {**G.graph["filters"], "resolution": 1.0, "backend": "networkx"}
    assert network.store_metrics(engine, _metrics([1, 2, 3, 4]), community="mer", as_of=DAY,
                                 parameters=parameters, who="camille") == 4
    assert network.store_metrics(engine, _metrics([2, 3]), as_of=DAY, parameters={"resolution": 1.0}) == 2
    stored = network.stored_metrics(engine, community="mer")
    assert list(stored.columns) == ["nom", "type", *network.METRIC_COLUMNS]
    assert stored.index.tolist() == [1, 2, 3, 4] and stored.index.name == "acteur"
    assert stored.loc[2, "nom"] == "Léa Martin" and stored.loc[1, "type"] == "organisation"
    assert stored["degré"].tolist() == [1, 2, 3, 4] and str(stored["degré"].dtype) == "Int64"
    assert pd.isna(stored.loc[1, "contrainte"]) and stored.loc[2, "contrainte"] == 0.5
    assert stored.loc[3, "nom du groupe"] == "Groupe de Léa" and stored.loc[3, "groupe"] == 0
    assert stored.attrs["as_of"] == DAY and stored.attrs["parameters"]["community"] == "mer"
    assert stored.attrs["parameters"]["backend"] == "networkx"
    # a new computation of the community replaces its metrics, not those of the whole base
    assert network.store_metrics(engine, _metrics([2, 4], offset=1), community="mer", as_of=date(2026, 12, 1),
                                 parameters=parameters) == 2
    again = network.stored_metrics(engine, community="mer")
    assert again.index.tolist() == [2, 4] and again["degré pondéré"].tolist() == [2.5, 2.5]
    assert network.stored_metrics(engine).index.tolist() == [2, 3]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.network_metrics)).scalar_one() == 4
        logged = conn.execute(sa.select(store.audit_log.c.who, store.audit_log.c.row_count,
                                        store.audit_log.c.details)
                              .where(store.audit_log.c.action == "mesures du réseau")
                              .order_by(store.audit_log.c.id)).all()
    assert [(r.row_count, r.details["remplacées"], r.details["communauté"]) for r in logged] == [
        (4, 0, "mer"), (2, 0, None), (2, 4, "mer")]
    assert logged[0].who == "camille"
    # only the columns it knows; actors of this base
    with pytest.raises(NetworkError, match="^1 colonne inconnue : prestige ; les mesures stockées sont"):
        network.store_metrics(engine, _metrics([2]).assign(prestige=1), as_of=DAY, parameters={})
    with pytest.raises(NetworkError, match="^2 colonnes inconnues : prestige, rang ;"):
        network.store_metrics(engine, _metrics([2]).assign(prestige=1, rang=2), as_of=DAY, parameters={})
    with pytest.raises(NetworkError, match=r"^1 acteur inconnu de la base : \[99\]"):
        network.store_metrics(engine, _metrics([2, 99]), as_of=DAY, parameters={})
    with pytest.raises(NetworkError, match=r"^2 acteurs inconnus de la base : \[98, 99\]"):
        network.store_metrics(engine, _metrics([2, 98, 99]), as_of=DAY, parameters={})
    with pytest.raises(NetworkError, match=r"^1 acteur en double dans le tableau des mesures : \[2\]"):
        network.store_metrics(engine, _metrics([2, 2, 3]), as_of=DAY, parameters={})
    assert network.stored_metrics(engine).index.tolist() == [2, 3]  # nothing written by the failures
    # a table with the group columns' old names (computed by an older Terreau) is stored as « groupe »
    old = _metrics([2, 3]).rename(columns={"groupe": "communauté", "nom du groupe": "nom de la communauté"})
    assert network.store_metrics(engine, old.assign(communauté=[5, 6]), as_of=DAY, parameters={}) == 2
    read = network.stored_metrics(engine)
    assert read["groupe"].tolist() == [5, 6] and read["nom du groupe"].tolist() == ["Groupe de Léa"] * 2
    assert "communauté" not in read and "nom de la communauté" not in read
    # an actor's erasure takes its metrics with it
    with store.transaction(engine, action="test") as conn:
        conn.execute(store.actors.delete().where(store.actors.c.id == 4))
    assert network.stored_metrics(engine, community="mer").index.tolist() == [2]
    engine.dispose()


def test_merges_move_stored_metrics_and_undo_restores_them(engine) -> None:
    network.store_metrics(engine, _metrics([4, 5]), community="mer", as_of=DAY, parameters={})
    network.store_metrics(engine, _metrics([5]), as_of=DAY, parameters={})
    with engine.connect() as conn:
        before = conn.execute(sa.select(store.network_metrics).order_by(store.network_metrics.c.id)).all()
    merge_id = linkage.merge(engine, 4, 5, who="test")
    assert network.stored_metrics(engine, community="mer").index.tolist() == [4]  # 4's own row wins
    assert network.stored_metrics(engine).index.tolist() == [4]  # 5's row moved to 4
    linkage.undo_merge(engine, merge_id, who="test")
    with engine.connect() as conn:
        after = conn.execute(sa.select(store.network_metrics).order_by(store.network_metrics.c.id)).all()
    assert after == before


def test_migration_0006_upgrades_a_base_of_0005(engine) -> None:
    with store._write_connection(engine, foreign_keys=False) as conn:
        with conn.begin():
            command.downgrade(store._alembic_config(conn), "0005")
            conn.execute(store.schema_info.update().values(schema_revision="0005"))
    with engine.connect() as conn:
        assert "network_metrics" not in sa.inspect(conn).get_table_names()
    store.open_base(engine.url).dispose()  # an older base is upgraded when it is opened (after a backup copy)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), store.metadata) == []
    assert network.store_metrics(engine, _metrics([2]), as_of=DAY, parameters={}) == 1
    assert network.actor_graph(engine).number_of_edges() == 11  # the rest of the base is untouched


# --------------------------------------------------------------------------- demo data


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'base.sqlite'}"
    engine = store.init_base(url, who="test")
    ingest.import_folder(engine, REPO_DIR / "data" / "demo", who="test")
    linkage.link(engine, who="test")
    communities.create_communities(engine, who="test")
    events.classify_events(engine, who="test")
    communities.update_circles(engine, as_of=DAY, who="test")
    yield engine
    engine.dispose()


@pytest.mark.slow
def test_graphs_of_the_demo_communities(demo_engine) -> None:
    G = network.actor_graph(demo_engine)
    with demo_engine.connect() as conn:
        present = events.participations(conn)
    present = present[present["present"]].drop_duplicates(["event_id", "actor_id"])
    size = present.groupby("event_id")["actor_id"].transform("size")
    # Newman: an actor's co-participation weights sum to the number of its events with someone else present
    expected = present[size > 1].groupby("actor_id").size()
    got = pd.Series({n: sum(d["co_participation"] for d in G[n].values()) for n in expected.index})
    assert got.round(9).equals(expected.astype(float).reindex(got.index))
    assert all(d["events"] >= 1 or d["membership"] or d["relations"] for _, _, d in G.edges(data=True))
    B = network.bipartite_graph(demo_engine)
    assert B.number_of_edges() == len(present)
    slugs = communities.list_communities(demo_engine)["communauté"].tolist()
    assert len(slugs) == 3
    for slug in slugs:
        C = network.actor_graph(demo_engine, community=slug)
        members = communities.members(demo_engine, slug, as_of=DAY)
        assert set(members["acteur"]) <= set(C)
        others = set(C) - set(members["acteur"])
        assert all(C.nodes[n]["kind"] == "organisation" and C.nodes[n]["circle"] is None for n in others)
        assert {C.nodes[n]["circle"] for n in members["acteur"]} <= {1, 2, 3}
        assert C.number_of_edges() > 0
        actor = max(C.degree, key=lambda item: item[1])[0]
        assert network.ego_network(C, actor, radius=2).number_of_nodes() > C.degree[actor]


@pytest.mark.slow
def test_a_theme_gives_the_same_actors_in_the_map_the_graph_and_the_member_table(demo_engine) -> None:
    from carto import maps
    from carto.maps.members import _MembersLayer

    for community, theme in (("biodiversite", "mer"), ("Engagement citoyen", "Biodiversité")):
        G = network.actor_graph(demo_engine, community=community, theme=theme)
        in_graph = {n for n, circle in G.nodes(data="circle") if circle is not None}  # members, not their orgs
        table = communities.members(demo_engine, community, as_of=DAY, theme=theme)
        assert in_graph == set(table["acteur"]) and len(in_graph) > 10  # « mer » once gave 0 actors in the graph
        assert G.number_of_edges() > 0
        m = maps.actor_map(demo_engine, community, as_of=DAY, themes=theme)
        (layer,) = [child for child in m._children.values() if isinstance(child, _MembersLayer)]
        subtitle = next(child.html for child in m._children.values() if getattr(child, "kind", None) == "title")
        assert f"{len(table)} membres sur " in subtitle
        drawn = len(layer.data["m"]["n"]) + sum(row[4] for row in layer.data["x"])
        assert drawn == len(table[table["commune"].notna()])  # the members with a known commune are drawn
