"""Metrics of actor graphs (carto.netmetrics) against networkx's own values, for both backends."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from carto import netmetrics
from carto._errors import CartoError, NetworkError
from carto.netmetrics import metrics

BACKENDS = ("networkx", "igraph")
TOL = 1e-9


def _actors(G: nx.Graph, organisations=()) -> nx.Graph:
    """``G`` with the ``name`` and ``kind`` attributes of actors."""
    for v in G:
        G.nodes[v]["name"] = f"Acteur {v}"
        G.nodes[v]["kind"] = "organisation" if v in organisations else "personne"
    return G


def karate() -> nx.Graph:
    return _actors(nx.karate_club_graph(), organisations={0, 33})


def davis_women() -> nx.Graph:
    B = nx.davis_southern_women_graph()
    women = [v for v, side in B.nodes(data="bipartite") if side == 0]
    return _actors(nx.bipartite.weighted_projected_graph(B, women))


def florentine() -> nx.Graph:
    G = nx.florentine_families_graph()
    nx.set_edge_attributes(G, 1.0, "weight")
    return _actors(G, organisations={"Medici"})


GRAPHS = {"karaté": karate, "Davis (femmes)": davis_women, "Florence": florentine}


def _column(values: dict, frame: pd.DataFrame) -> np.ndarray:
    return np.array([values[v] for v in frame.index], dtype=float)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", GRAPHS)
def test_reproduces_networkx(name, backend):
    G = GRAPHS[name]()
    frame = metrics(G, backend=backend)
    assert list(frame.columns) == list(netmetrics.COLUMNS)
    assert frame.index.name == "acteur" and list(frame.index) == list(G)
    assert frame.attrs["moteur"] == backend and frame.attrs["intermédiarité"] == "exacte"
    expected = {
        "degré": dict(G.degree()),
        "degré pondéré": dict(G.degree(weight="weight")),
        "intermédiarité": nx.betweenness_centrality(G),
        "pagerank": nx.pagerank(G, weight="weight", tol=1e-12, max_iter=1000),
        "portée à 2 pas": {v: len(nx.single_source_shortest_path_length(G, v, cutoff=2)) - 1 for v in G},
        "contrainte": nx.constraint(G, weight="weight"),
        # nodes=…: networkx's per-node code; without it, weighted results are wrong (networkx PR #8906)
        "taille effective": nx.effective_size(G, nodes=list(G), weight="weight"),
        "cœur": nx.core_number(G),
    }
    for column, values in expected.items():
        np.testing.assert_allclose(frame[column], _column(values, frame), rtol=0, atol=TOL, err_msg=column)
    default_pagerank = _column(nx.pagerank(G, weight="weight"), frame)
    np.testing.assert_allclose(frame["pagerank"], default_pagerank, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bipartite_davis_graph(backend):
    B = nx.davis_southern_women_graph()
    frame = metrics(B, weight=None, backend=backend)
    np.testing.assert_array_equal(frame["degré"], _column(dict(B.degree()), frame))
    np.testing.assert_allclose(frame["intermédiarité"], _column(nx.betweenness_centrality(B), frame), atol=TOL)
    # a woman reaches the other women through the events, and her events: everyone at 2 steps
    assert frame.loc["Evelyn Jefferson", "portée à 2 pas"] == 8 + 17
    assert (frame["nom du groupe"].str.startswith("Groupe ")).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_estimated_betweenness_is_networkx_k_estimator(backend):
    G = karate()
    frame = metrics(G, backend=backend, betweenness_sources=10, seed=3)
    expected = nx.betweenness_centrality(G, k=10, seed=3)
    np.testing.assert_allclose(frame["intermédiarité"], _column(expected, frame), atol=TOL)
    assert frame.attrs["intermédiarité"].startswith("estimée sur 10 sources")
    exact = metrics(G, backend=backend, betweenness_sources=len(G))
    assert exact.attrs["intermédiarité"] == "exacte"


def test_betweenness_is_estimated_above_the_work_budget(monkeypatch):
    monkeypatch.setattr(netmetrics, "BETWEENNESS_WORK", 34 * 78 // 2)  # karate: 34 actors, 78 ties
    monkeypatch.setattr(netmetrics, "BETWEENNESS_MIN_SOURCES", 10)
    frame = metrics(karate(), backend="igraph")
    assert frame.attrs["intermédiarité"].startswith("estimée sur 17 sources")
    monkeypatch.setattr(netmetrics, "BETWEENNESS_MIN_SOURCES", 20)
    assert metrics(karate()).attrs["intermédiarité"].startswith("estimée sur 20 sources")


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolated_actors_and_two_components(backend):
    G = _actors(nx.Graph([(1, 2), (2, 3), (1, 3), (3, 4), (10, 11), (11, 12)]))
    G.add_nodes_from([20, 21], name="Seul·e", kind="personne")
    frame = metrics(G, backend=backend)
    isolated = frame.loc[[20, 21]]
    assert (isolated[["degré", "portée à 2 pas", "cœur"]] == 0).all().all()
    assert isolated[["contrainte", "taille effective"]].isna().all().all()
    assert (isolated["intermédiarité"] == 0).all()
    assert isolated["groupe"].nunique() == 2
    assert not set(frame.loc[[1, 2, 3, 4], "groupe"]) & set(frame.loc[[10, 11, 12], "groupe"])
    assert frame.loc[11, "portée à 2 pas"] == 2 and frame.loc[4, "portée à 2 pas"] == 3
    assert frame["pagerank"].sum() == pytest.approx(1)
    assert frame["groupe"].min() == 1 and frame.loc[1, "groupe"] == 1  # the largest community


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_graph(backend):
    frame = metrics(nx.Graph(), backend=backend)
    assert frame.empty and list(frame.columns) == list(netmetrics.COLUMNS) and frame.index.name == "acteur"
    assert frame.attrs["moteur"] == backend and math.isnan(frame.attrs["modularité"])
    assert frame["groupe"].dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_organisation_hub_names_its_community(backend):
    G = nx.Graph()
    G.add_node(1, name="Les Jardins partagés", kind="organisation")
    G.add_node(2, name="Petite asso", kind="organisation")
    G.add_edges_from([(1, p) for p in range(3, 9)], weight=2.0)
    G.add_edge(2, 3, weight=1.0)
    G.add_edges_from([(20, 21), (21, 22), (20, 22)], weight=1.0)  # persons only
    _actors(G, organisations={1, 2})
    G.nodes[1]["name"], G.nodes[2]["name"] = "Les Jardins partagés", "Petite asso"
    frame = metrics(G, backend=backend)
    assert frame.loc[1, "nom du groupe"] == "Les Jardins partagés"
    assert frame.loc[4, "nom du groupe"] == "Les Jardins partagés"
    persons = frame.loc[20, "groupe"]
    assert frame.loc[20, "nom du groupe"] == f"Groupe {persons}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_frame_and_good_modularity(backend):
    G = karate()
    first, again = metrics(G, backend=backend, seed=7), metrics(G, backend=backend, seed=7)
    pd.testing.assert_frame_equal(first, again)
    louvain = nx.community.louvain_communities(G, weight="weight", seed=7)
    reference = nx.community.modularity(G, louvain, weight="weight")
    groups = first.groupby("groupe").groups.values()
    assert nx.community.modularity(G, [set(g) for g in groups], weight="weight") == pytest.approx(
        first.attrs["modularité"], abs=TOL)
    assert first.attrs["modularité"] >= reference - 0.02
    more = metrics(G, backend=backend, resolution=2.0)
    assert more["groupe"].nunique() > first["groupe"].nunique()


def test_modularity_matches_networkx():
    G = karate()
    communities = nx.community.louvain_communities(G, weight="weight", seed=1)
    labels = {v: f"c{i}" for i, c in enumerate(communities) for v in c}
    for resolution in (0.5, 1.0):
        assert netmetrics.modularity(G, labels, resolution=resolution) == pytest.approx(
            nx.community.modularity(G, communities, weight="weight", resolution=resolution), abs=TOL)
    assert math.isnan(netmetrics.modularity(nx.empty_graph(3), {0: 1, 1: 1, 2: 2}))
    with pytest.raises(NetworkError, match="^33 acteurs sans groupe .par exemple 1. : donnez un groupe"):
        netmetrics.modularity(G, {0: 1})
    with pytest.raises(NetworkError, match="^1 acteur sans groupe .par exemple 0."):
        netmetrics.modularity(G, {v: 1 for v in G if v != 0})


def test_auto_backend_by_size():
    assert metrics(karate()).attrs["moteur"] == "networkx"
    big = nx.path_graph(netmetrics.IGRAPH_FROM_NODES)
    assert metrics(big, weight=None).attrs["moteur"] == "igraph"


def test_sparse_code_in_blocks(monkeypatch):
    G = davis_women()
    whole = metrics(G)
    monkeypatch.setattr(netmetrics, "_BLOCK_ENTRIES", 10)
    pd.testing.assert_frame_equal(metrics(G), whole)


@pytest.mark.parametrize(("change", "message"), [
    (lambda G: G.add_edge(0, 1, weight=0), "strictement positif"),
    (lambda G: G.add_edge(0, 1, weight=-2.0), "strictement positif"),
    (lambda G: G.add_edge(0, 1, weight=float("nan")), "strictement positif"),
    (lambda G: G.add_edge(0, 1, weight="fort"), "strictement positif"),
    (lambda G: G.add_edge(5, 5), "^1 lien d'un acteur vers lui-même"),
    (lambda G: G.add_edges_from([(5, 5), (6, 6)]), "^2 liens d'un acteur vers lui-même"),
])
def test_french_errors_on_bad_graphs(change, message):
    G = karate()
    change(G)
    with pytest.raises(NetworkError, match=message):
        metrics(G)


def test_the_error_names_the_bad_tie_and_a_tie_without_weight_weighs_1():
    G = nx.Graph()
    G.add_edge(1, 2, weight=2.0)
    G.add_edge(2, 3)
    assert metrics(G)["degré pondéré"].tolist() == [2.0, 3.0, 1.0]
    G.add_edge(3, 4, weight="fort")
    with pytest.raises(NetworkError, match=r"Poids 'fort' invalide sur le lien 3 – 4 \(1 lien concerné\)"):
        metrics(G)
    G.add_edge(4, 5, weight=0)
    with pytest.raises(NetworkError, match=r"\(2 liens concernés\)"):
        metrics(G)


def test_french_errors_on_bad_parameters():
    G = karate()
    with pytest.raises(NetworkError, match="Moteur de calcul « graphtool » inconnu"):
        metrics(G, backend="graphtool")
    for resolution in (0, -1.0, float("nan"), "grande"):
        with pytest.raises(NetworkError, match="strictement positif"):
            metrics(G, resolution=resolution)
    with pytest.raises(NetworkError, match="au moins 2"):
        metrics(G, betweenness_sources=1)
    with pytest.raises(CartoError, match="non orienté"):
        metrics(nx.DiGraph(G))
    with pytest.raises(ValueError, match="non orienté"):
        metrics(nx.MultiGraph(G))


# --------------------------------------------------------------------------- in words


def test_in_words_says_the_degree_with_a_real_plural_and_the_reach_beyond_it():
    G = nx.Graph([(0, 1), (0, 2), (0, 3), (1, 4)])
    G.add_node(9)
    words = netmetrics.in_words(metrics(G, weight=None))
    assert words.index.equals(pd.Index([0, 1, 2, 3, 4, 9], name="acteur"))
    assert words[0].startswith("3 liens directs ; touche 4 acteurs en deux pas")
    assert words[2] == "1 lien direct ; touche 3 acteurs en deux pas"
    assert words[9] == "aucun lien dans ce réseau"
    assert "(s)" not in " ".join(words)


def test_in_words_calls_bridges_only_the_top_tenth_of_betweenness():
    G = nx.path_graph(30)  # betweenness highest in the middle, 0 at both ends
    frame = metrics(G, weight=None)
    words = netmetrics.in_words(frame)
    brokers = [v for v, text in words.items() if "relie des groupes qui ne se parlent pas" in text]
    top = frame["intermédiarité"] >= frame["intermédiarité"].quantile(0.9)
    assert brokers == frame.index[top].tolist() == [13, 14, 15, 16]  # the middle of 30 (two pairs of equals)
    # nobody bridges when no path goes through anyone (a complete graph)
    assert not netmetrics.in_words(metrics(nx.complete_graph(12), weight=None)).str.contains("relie").any()


def test_in_words_puts_the_highest_core_at_the_heart_only_when_it_stands_out():
    G = nx.complete_graph(5)  # core 4 …
    G.add_edges_from([(4, 5), (5, 6), (6, 7)])  # … and a tail of core 1
    words = netmetrics.in_words(metrics(G, weight=None))
    assert [v for v, text in words.items() if "au cœur du réseau" in text] == [0, 1, 2, 3, 4]
    assert not netmetrics.in_words(metrics(nx.path_graph(5), weight=None)).str.contains("cœur").any()  # all 1
    assert not netmetrics.in_words(metrics(nx.complete_graph(5), weight=None)).str.contains("cœur").any()


def test_in_words_of_one_row_and_of_a_stored_table():
    frame = metrics(karate())
    hub = netmetrics.in_words(frame.loc[0], network=frame)
    assert hub == [f"{frame.loc[0, 'degré']} liens directs", f"touche {frame.loc[0, 'portée à 2 pas']} acteurs en "
                   "deux pas", "relie des groupes qui ne se parlent pas", "au cœur du réseau"]
    assert netmetrics.in_words(frame.loc[0]) == hub[:2]  # alone, a row is compared with nothing
    assert netmetrics.in_words(frame).loc[0] == " ; ".join(hub)
    partial = frame[["degré"]].astype("Int64").reindex([0, 1, 99])  # e.g. an actor not measured
    assert netmetrics.in_words(partial).tolist() == ["16 liens directs", "9 liens directs", ""]
    with pytest.raises(NetworkError, match="colonne « degré »"):
        netmetrics.in_words(frame.drop(columns="degré"))
