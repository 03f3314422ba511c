"""Tests of carto.netviz: the notebook widget, the offline HTML page (in real headless Chromium) and the A4 picture.

The graphs are built here with the attributes of :func:`carto.network.actor_graph` (``name``, ``kind``,
``shown``, ``circle``, ``commune``; edge ``weight``…): a small one with hidden persons and a hostile name,
and Zachary's karate club with made-up actors.
"""

from __future__ import annotations

import json
from datetime import date

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from carto import communities, export, netmetrics, netviz
from carto._errors import NetworkError
from conftest import HIDDEN_NAMES

HOSTILE = '<img src=x onerror="alert(1)">'
AS_OF = date(2026, 11, 29)
ETANG, ALIX = "Les Amis de l'Étang", "Alix Visible"


def _edge(G: nx.Graph, u: int, v: int, weight: float) -> None:
    G.add_edge(u, v, weight=weight, co_participation=int(weight), events=[1], relations=[], membership=False,
               trusted=False)


@pytest.fixture
def small() -> nx.Graph:
    """Two organisations (one with a hostile name), one person shown, three hidden (one without any tie)."""
    G = nx.Graph()
    G.add_node(1, name=ETANG, kind="organisation", shown=True, circle=1, commune="34301")  # Sète
    G.add_node(2, name=HOSTILE, kind="organisation", shown=True, circle=2, commune="34301")
    G.add_node(3, name=ALIX, kind="personne", shown=True, circle=2, commune="34172")  # Montpellier
    G.add_node(4, name=HIDDEN_NAMES[0], kind="personne", shown=False, circle=2, commune="34301")
    G.add_node(5, name=HIDDEN_NAMES[1], kind="personne", shown=False, circle=1, commune="34003")  # Agde
    G.add_node(6, name=HIDDEN_NAMES[2], kind="personne", shown=False, circle=None, commune="66136")  # Perpignan
    for u, v, w in [(1, 2, 1), (1, 3, 2), (1, 4, 3), (2, 5, 1), (3, 4, 6), (4, 5, 1)]:
        _edge(G, u, v, w)
    return G


def _metrics(G: nx.Graph) -> pd.DataFrame:
    """A table shaped like carto.netmetrics.metrics (French columns, indexed by actor id)."""
    table = pd.DataFrame({"degré": dict(G.degree()), "degré pondéré": dict(G.degree(weight="weight")),
                          "pagerank": nx.pagerank(G, weight="weight")}, dtype=float)
    groups = sorted(nx.community.louvain_communities(G, weight="weight", seed=1), key=len, reverse=True)
    table["groupe"] = pd.Series({v: i for i, group in enumerate(groups) for v in group})
    table["nom du groupe"] = [f"autour de {G.nodes[v]['name']}" for v in table.index]
    return table


def _full_metrics(G: nx.Graph) -> pd.DataFrame:
    """The real table of carto.netmetrics.metrics, its groups named after every member (hidden ones too)."""
    table = netmetrics.metrics(G)
    table["nom du groupe"] = [f"autour de {G.nodes[v]['name']}" for v in table.index]
    return table


def _page_data(page: str) -> dict:
    """The JSON block the page draws from."""
    start = page.index('id="carto-reseau-donnees">') + len('id="carto-reseau-donnees">')
    return json.loads(page[start:page.index("</script>", start)])


@pytest.fixture
def karate() -> nx.Graph:
    """Zachary's karate club: 34 actors, 5 organisations, a person in three shown; hidden names kept apart."""
    club = nx.karate_club_graph()
    G = nx.Graph()
    for v in club:
        organisation = v in (0, 2, 8, 31, 33)
        name = (ETANG if v == 0 else HOSTILE if v == 33 else f"Association {v}") if organisation else \
            (f"Personne visible {v}" if v % 3 == 0 else f"Caché {v} {HIDDEN_NAMES[v % 3]}")
        G.add_node(v, name=name, kind="organisation" if organisation else "personne",
                   shown=organisation or v % 3 == 0, circle=[1, 2, 3, None][v % 4], commune="Sète")
    for u, v, d in club.edges(data=True):
        _edge(G, u, v, d["weight"])
    return G


def _hidden(G: nx.Graph) -> list[str]:
    return [d["name"] for _, d in G.nodes(data=True) if not d["shown"]]


# --------------------------------------------------------------------------- widget


def test_widget_colours_sizes_and_labels(small):
    widget = netviz.network_widget(small, _metrics(small), colour="cercle", size="degré pondéré")
    nodes = {n["key"]: n["attributes"] for n in widget.data["nodes"]}
    assert nodes[1]["nom"] == ETANG and nodes[2]["nom"] == HOSTILE and nodes[3]["nom"] == ALIX
    assert [nodes[k]["nom"] for k in (4, 5, 6)] == ["personne (cercle 2)", "personne (cercle 1)",
                                                   "personne (hors cercle)"]
    assert nodes[4]["cercle"] == "cercle 2 — impliqué·e" and nodes[4]["degré pondéré"] == 10.0
    variables = widget.visual_variables
    assert variables["nodeColor"]["attribute"] == "cercle"
    palette = dict(variables["nodeColor"]["palette"])
    assert palette["cercle 1 — engagé·e"] == communities.CIRCLE_COLOURS[1]
    assert palette["hors cercle"] == netviz.NO_CIRCLE_COLOUR
    assert variables["nodeSize"]["attribute"] == "degré pondéré"
    assert variables["nodeLabel"]["attribute"] == "nom"
    assert widget.layout[1].keys() == {"x", "y"} and len(widget.data["edges"]) == 6


def test_widget_sends_no_hidden_name_to_the_browser(karate):
    metrics = _metrics(karate)
    for colour in netviz.COLOUR_CHOICES:
        widget = netviz.network_widget(karate, metrics, colour=colour, size="pagerank")
        state = json.dumps(widget.get_state(), ensure_ascii=False, default=str)
        assert ETANG in state and "Personne visible 3" in state
        for name in _hidden(karate):
            assert name not in state
        for hidden in HIDDEN_NAMES:  # not even inside a group's name (« autour de … »)
            assert hidden not in state
        for node in widget.data["nodes"]:  # the metrics in words, only the size as a number
            assert set(node["attributes"]) == {"nom", "type", "cercle", "groupe", "dans le réseau", "pagerank"}
    palette = dict(widget.visual_variables["nodeColor"]["palette"])
    assert set(palette.values()) <= {*netviz.GROUP_COLOURS, netviz.NO_CIRCLE_COLOUR}
    assert widget.visual_variables["nodeColor"]["attribute"] == "groupe"


def test_wrong_colour_size_or_metrics_are_french_errors(small):
    with pytest.raises(NetworkError, match="Couleur « taille » inconnue"):
        netviz.network_widget(small, colour="taille")
    with pytest.raises(NetworkError, match="Mesure « pagerank » absente.*« degré pondéré »"):
        netviz.network_picture(small, title="R", size="pagerank")
    with pytest.raises(NetworkError, match="metrics=netmetrics.metrics"):
        netviz.network_page(small, title="R", colour="groupe")
    with pytest.raises(NetworkError, match=r"Couleur « communauté » inconnue \(les groupes du réseau ne "
                                           r"s'appellent pas « communauté ».*choisissez « cercle » ou « groupe »\."):
        netviz.network_page(small, _metrics(small), title="R", colour="communauté")
    wrong = _metrics(small).rename(index=str)
    with pytest.raises(NetworkError, match="aucun acteur"):
        netviz.network_picture(small, wrong, title="R")
    with pytest.raises(NetworkError, match="Positions absentes"):
        netviz.network_widget(small, pos={1: (0.0, 0.0)})


def test_layout_is_reproducible_with_lone_actors_below(small):
    first = netviz.network_layout(small, seed=7)
    small_copy = small.copy()
    netviz._LAYOUTS.clear()
    assert netviz.network_layout(small_copy, seed=7) == first
    linked = [xy for node, xy in first.items() if node != 6]
    assert first[6][1] < min(y for _, y in linked)  # the actor without a tie under the network
    assert all(-1.0001 <= v <= 1.0001 for xy in linked for v in xy)


# --------------------------------------------------------------------------- HTML page (text)


def test_page_is_self_contained_french_and_private(vendored, karate, tmp_path):
    path = export.save_network_html(karate, _metrics(karate), tmp_path / "reseau.html", title="Réseau <karaté>",
                                    as_of=AS_OF, colour="groupe")
    text = path.read_text(encoding="utf-8")
    assert export.external_urls(text) == []
    assert "sigma 3.0.2 (dist/sigma.min.js)" in text and "graphology 0.25.4" in text  # licence banners
    assert '<html lang="fr">' in text and "<title>Réseau &lt;karaté&gt;</title>" in text
    assert "Données au 29/11/2026" in text and "34 acteurs dont 5 organisations" in text
    assert "Rechercher un acteur nommé" in text and "Légende" in text
    for name in _hidden(karate):
        assert name not in text
    for hidden in HIDDEN_NAMES:
        assert hidden not in text
    assert HOSTILE not in text and "<img" not in text  # the hostile name only inside escaped JSON
    assert "\\u003cimg src=x onerror=\\\"alert(1)\\\"\\u003e" in text
    assert path.stat().st_size < 600_000


def test_page_cards_name_communes_of_named_actors_only(vendored, small):
    text = netviz.network_page(small, title="Réseau", as_of=AS_OF)
    assert '["Commune","Montpellier"]' in text and '["Commune","Sète"]' in text
    assert "Agde" not in text and "Perpignan" not in text and "34003" not in text  # hidden persons' places
    assert text.count("Personne non nommée") == 3


def test_page_cards_say_the_metrics_in_words_not_in_figures(vendored, karate):
    metrics = _full_metrics(karate)
    nodes = _page_data(netviz.network_page(karate, metrics, title="Réseau", as_of=AS_OF))["nodes"]
    expected = netmetrics.in_words(metrics)
    for node, (actor, words) in zip(nodes, expected.items(), strict=True):
        title, lines, sentences = node["i"]
        assert [s[:1].lower() + s[1:] for s in sentences] == words.split(" ; "), actor
        assert 1 <= len(sentences) <= 4
        assert [term for term, _ in lines][:2] == ["Type", "Cercle"] and "Groupe du réseau" in dict(lines)
        assert not {"Pagerank", "Contrainte", "Intermédiarité", "Degré pondéré", "Liens"} & set(dict(lines))
    hub = nodes[0]["i"][2]  # Zachary's instructor, an organisation here
    assert hub[0] == f"{karate.degree(0)} liens directs" and "Relie des groupes qui ne se parlent pas" in hub
    lone = nodes[list(karate).index(11)]["i"][2]  # one tie, to the instructor
    assert lone[0] == "1 lien direct" and lone[1].startswith("Touche ")


def test_card_sentences_never_hold_a_hidden_persons_name(vendored, karate):
    metrics = _full_metrics(karate)
    for colour in netviz.COLOUR_CHOICES:
        nodes = _page_data(netviz.network_page(karate, metrics, title="Réseau", as_of=AS_OF, colour=colour))["nodes"]
        hidden = [i for i, (_, d) in enumerate(karate.nodes(data=True)) if not d["shown"]]
        assert hidden
        for i, node in enumerate(nodes):
            card = json.dumps(node["i"], ensure_ascii=False)
            assert not any(name in card for name in [*_hidden(karate), *HIDDEN_NAMES]), card
            if i in hidden:
                assert node["i"][0] == "Personne non nommée" and node["l"] is None
                assert dict(node["i"][1])["Nom"].startswith("non diffusé")
        widget = netviz.network_widget(karate, metrics, colour=colour)
        said = [n["attributes"]["dans le réseau"] for n in widget.data["nodes"]]
        assert said == netmetrics.in_words(metrics).tolist()


def test_tie_levels_follow_the_weights_of_the_network(small):
    for u, v, d in small.edges(data=True):  # Newman's weighting: fractions of events
        d["weight"] = {(1, 2): 0.1, (1, 3): 0.2, (1, 4): 0.25, (2, 5): 0.5, (3, 4): 1.5, (4, 5): 0.2}[(u, v)]
    fig = netviz.network_picture(small, title="Réseau", as_of=AS_OF)
    legend = [t.get_text() for t in fig.axes[1].texts if t.get_gid() == "carto-legend"]
    start = legend.index("Force des liens")
    assert legend[start + 1:start + 4] == ["moins de 0,23", "0,23 à 0,5", "0,5 à 1,2"]
    assert legend[start + 4] == "1,2 et plus"


def test_page_asks_for_make_assets_when_sigma_is_missing(small, tmp_path, monkeypatch):
    from carto._errors import AssetError

    monkeypatch.setattr(export, "VENDOR_DIR", tmp_path / "absent")
    with pytest.raises(AssetError, match="make assets"):
        export.save_network_html(small, None, tmp_path / "reseau.html", title="Réseau")


# --------------------------------------------------------------------------- A4 picture


def test_picture_is_a4_with_legend_names_and_no_hidden_person(karate, tmp_path):
    metrics = _metrics(karate)
    fig = netviz.network_picture(karate, metrics, title="Réseau karaté", as_of=AS_OF, labels=20)
    assert [round(float(v), 2) for v in fig.get_size_inches()] == [11.69, 8.27]
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_parse_math"))]
    words = [t.get_text() for t in texts]
    assert all(not t.get_parse_math() for t in texts if t.get_text())
    legend = [t.get_text() for t in texts if t.get_gid() == "carto-legend"]
    assert {"Cercle", "Taille : degré pondéré", "Acteurs", "Force des liens"} <= set(legend)
    assert "cercle 1 — engagé·e (9)" in legend and "Organisation" in legend
    assert "Données au 29/11/2026" in words and "Réseau karaté" in words
    assert any(w.startswith("34 acteurs dont 5 organisations, 78 liens") for w in words)
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "carto-label"]
    assert ETANG in labels and HOSTILE in labels and "Association 2" in labels  # organisations first
    for name in _hidden(karate):
        assert not any(name in w for w in words)
    written = export.save_print_map(fig, tmp_path / "reseau-a4")
    image = np.asarray(Image.open(written["png A4"]).convert("RGB")).astype(int)
    assert image.shape[:2] == (1654, 2338) and image.std() > 20
    blue = np.abs(image - np.array([8, 81, 156])).max(axis=2) <= 6  # cercle 1
    assert blue.sum() > 500


def test_picture_by_group_names_the_groups_safely(karate):
    fig = netviz.network_picture(karate, _metrics(karate), title="Réseau", as_of=AS_OF, colour="groupe",
                                 size="pagerank")
    legend = [t.get_text() for t in fig.texts + fig.axes[1].texts if t.get_gid() == "carto-legend"]
    assert "Groupe du réseau" in legend and "Taille : pagerank" in legend
    assert not any("ommunauté" in t for t in legend)
    assert any("couleur : groupe du réseau" in t.get_text() for t in fig.texts)
    groups = [t for t in legend if t.startswith(("autour de", "groupe "))]
    assert groups and any(t.startswith(f"autour de {ETANG}") for t in groups)
    assert not any(hidden in t for t in legend for hidden in HIDDEN_NAMES)


def _dense(n_ties: int) -> nx.Graph:
    """A random network of 300 actors (30 organisations) and ``n_ties`` ties of random weights."""
    G = nx.gnm_random_graph(300, n_ties, seed=3)
    rng = np.random.default_rng(3)
    for v in G:
        G.nodes[v].update(name=f"Structure {v}" if v < 30 else f"Caché {v}", kind="organisation" if v < 30
                          else "personne", shown=v < 30, circle=1 + v % 3)
    for u, v in G.edges:
        G.edges[u, v]["weight"] = float(rng.choice([0.05, 0.1, 0.2, 0.5, 1.0, 2.0]))
    return G


def _captions(fig) -> list[str]:
    return [t.get_text() for t in fig.texts if t.get_gid() == "carto-caption"]


def test_picture_says_when_it_draws_only_the_strongest_ties(tmp_path):
    G = _dense(1_500)
    pos = netviz.network_layout(G, seed=1, iterations=20)
    fig = netviz.network_picture(G, title="Réseau dense", as_of=AS_OF, pos=pos)
    threshold = netviz.strong_ties(G)
    drawn = sum(w >= threshold for *_, w in G.edges(data="weight"))
    assert 0 < drawn < 1_500
    assert _captions(fig) == [f"Seuls les {drawn} liens les plus forts sont dessinés (sur 1\u202f500)."]
    assert any(f"{drawn} liens" in t.get_text() for t in fig.texts if t.get_gid() == "carto-subtitle")
    # everything drawn: no caption
    assert _captions(netviz.network_picture(G, title="Réseau", as_of=AS_OF, pos=pos, min_weight=0)) == []
    assert _captions(netviz.network_picture(_dense(600), title="Réseau", as_of=AS_OF, pos=pos)) == []
    # the caption sits under the drawing, over the sources line, inside the sheet
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = next(t for t in fig.texts if t.get_gid() == "carto-caption").get_window_extent(renderer)
    sources = next(t for t in fig.texts if t.get_gid() == "carto-sources").get_window_extent(renderer)
    drawing = fig.axes[0].get_window_extent(renderer)
    assert sources.y1 < box.y0 and box.y1 <= drawing.y0 + 1 and box.x1 < drawing.x1


def test_picture_of_lone_actors_and_empty_network(small):
    fig = netviz.network_picture(small, title="Réseau", as_of=AS_OF)
    notes = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "carto-note"]
    assert notes == ["Sans lien : 1 acteur"]
    empty = netviz.network_picture(nx.Graph(), title="Réseau vide", as_of=AS_OF)
    assert "Aucun acteur dans ce réseau." in [t.get_text() for t in empty.axes[0].texts]


# --------------------------------------------------------------------------- HTML page in a real browser


def _wait_ready(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return document.body.getAttribute('data-carto-pret') === 'oui'"))


def _index(G: nx.Graph, name: str) -> str:
    return str(list(G.nodes).index(next(v for v, d in G.nodes(data=True) if d["name"] == name)))


@pytest.mark.browser
def test_page_works_offline_search_focus_and_hover(offline_browser, karate, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    path = export.save_network_html(karate, _full_metrics(karate), tmp_path / "reseau.html", title="Réseau karaté",
                                    as_of=AS_OF)
    driver = offline_browser(1300, 850)
    driver.get(path.as_uri())
    _wait_ready(driver)
    assert driver.execute_script("return window.cartoReseau.graph.order") == 34
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert all(url.startswith(("data:", "file:")) for url in resources), resources

    # the network is drawn: the area of the graph holds the colours of the cercles
    box = driver.find_element("id", "carto-reseau").rect
    shot = Image.open(__import__("io").BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    scale = shot.width / driver.execute_script("return window.innerWidth")
    area = np.asarray(shot.crop(tuple(int(v * scale) for v in (box["x"], box["y"], box["x"] + box["width"],
                                                               box["y"] + box["height"])))).astype(int)
    assert area.std() > 15
    for hex_colour in (communities.CIRCLE_COLOURS[1], communities.CIRCLE_COLOURS[2]):
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(area - rgb).max(axis=2) <= 8).sum() > 30, hex_colour

    # search: an organisation, found by part of its name, is focused and its card shown
    etang = _index(karate, ETANG)
    search = driver.find_element("id", "carto-recherche")
    search.send_keys("amis de l")
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cartoReseau.focused()") == etang)
    card = driver.find_element("id", "carto-fiche").text
    assert ETANG in card and "organisation" in card and "liens montrés" in card
    assert f"{karate.degree(0)} liens directs" in card and "Relie des groupes qui ne se parlent pas" in card
    assert "Pagerank" not in card and "0," not in card  # words, no raw figure
    driver.save_screenshot(str(tmp_path / "fiche.png"))
    hidden_edges = driver.execute_script("""
        var r = window.cartoReseau.renderer, g = window.cartoReseau.graph, shown = 0, hidden = 0;
        g.forEachEdge(function (e) { if (r.getEdgeDisplayData(e).hidden) { hidden += 1; } else { shown += 1; } });
        return [shown, hidden];""")
    assert hidden_edges == [karate.degree(0), 78 - karate.degree(0)]
    assert driver.find_element("id", "carto-tout").is_displayed()
    driver.find_element("id", "carto-tout").click()
    assert driver.execute_script("return window.cartoReseau.focused()") is None

    # a click on a node focuses it; a click in the void shows everything again
    WebDriverWait(driver, 5).until(lambda d: not d.execute_script(
        "return window.cartoReseau.renderer.getCamera().isAnimated()"))
    driver.execute_script("""  // the whole network in view, drawn now (not at the next frame)
        window.cartoReseau.renderer.getCamera().setState({x: 0.5, y: 0.5, ratio: 1, angle: 0});
        window.cartoReseau.renderer.refresh();""")
    target = _index(karate, "Association 2")
    where = driver.execute_script("""
        var r = window.cartoReseau.renderer;
        return r.framedGraphToViewport(r.getNodeDisplayData(arguments[0]));""", target)
    container = driver.find_element("id", "carto-reseau")
    ActionChains(driver).move_to_element_with_offset(
        container, int(where["x"] - box["width"] / 2), int(where["y"] - box["height"] / 2)).click().perform()
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cartoReseau.focused()") == target)
    assert "Association 2" in driver.find_element("id", "carto-fiche").text
    ActionChains(driver).move_to_element_with_offset(container, -int(box["width"] / 2) + 5,
                                                     -int(box["height"] / 2) + 5).click().perform()
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cartoReseau.focused()") is None)

    # a hidden person's card names nobody; the hostile name is shown as text, nothing runs
    hidden = next(v for v, d in karate.nodes(data=True) if not d["shown"])
    driver.execute_script("window.cartoReseau.focus(arguments[0], false)", str(list(karate).index(hidden)))
    card = driver.find_element("id", "carto-fiche").text
    assert "Personne non nommée" in card and "non diffusé" in card
    assert not any(name in card for name in HIDDEN_NAMES)
    search.clear()
    search.send_keys("onerror")
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cartoReseau.focused()")
                                   == _index(karate, HOSTILE))
    assert driver.execute_script("return document.querySelector('#carto-fiche h2').textContent") == HOSTILE
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it raises when there is no alert
    search.clear()
    search.send_keys("zzz")
    assert "Aucun acteur nommé" in driver.find_element("id", "carto-recherche-etat").text
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []


@pytest.mark.browser
def test_png_of_the_page_by_headless_chromium(chromium, small, tmp_path):
    path = export.save_network_html(small, None, tmp_path / "reseau.html", title="Réseau", as_of=AS_OF)
    png = export.save_png(path, tmp_path / "reseau.png", width=1200, height=800)
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert image.shape == (800, 1200, 3) and image.std() > 15
    rgb = np.array([int(communities.CIRCLE_COLOURS[1][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(image - rgb).max(axis=2) <= 8).sum() > 50  # the cercle 1 discs are drawn (WebGL works)
