"""Tests of carto.maps on a small synthetic fixture (no data files, no browser)."""

from __future__ import annotations

import html
import json
import re
from datetime import date

import folium
import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from carto import geo, maps
from carto._errors import CartoError, MapError, NotFoundError
from conftest import HIDDEN_NAMES, HOSTILE_MEMBER

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def departements() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["31", "34"], "nom": ["Haute-Garonne", "Hérault"]},
        geometry=[box(0.5, 42.7, 2.0, 44.0), box(2.5, 43.2, 4.0, 44.0)],
        crs="EPSG:4326",
    )


@pytest.fixture
def communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["31555", "31069", "34172", "34003"], "nom": ["Toulouse", "Blagnac", "Montpellier", "Agde"]},
        geometry=[box(0.5, 42.7, 1.4, 44.0), box(1.4, 42.7, 2.0, 44.0), box(2.5, 43.2, 3.2, 44.0),
                  box(3.2, 43.2, 4.0, 44.0)],
        crs="EPSG:4326",
    )


@pytest.fixture
def organisations() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["O1", "O2", "O3", "O4", "O5"],
        "nom": [HOSTILE, "=HYPERLINK(\"http://x\")", "Les Semeurs", "Mairie", "Sans lieu"],
        "sigle": ["", "HL", None, "", ""],
        "type": ["association", "collectif", "coopérative", "inconnu", "commune"],
        "theme": ["mer", "citoyennete", "biodiversite", "mer", "mer"],
        "code_commune": ["31555", "31069", "34172", "34003", "31555"],
        "lon": [1.0, 1.7, 2.9, 3.6, None],
        "lat": [43.5, 43.2, 43.6, 43.3, None],
    })


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["E1", "E2", "E3"],
        "titre": ["Petit atelier", "Printemps citoyen <b>2024</b>", "Commission"],
        "type": ["atelier de cartographie", "rencontre régionale annuelle", "commission citoyenne"],
        "date": ["2024-05-02", "2024-04-13", "2023-11-20"],
        "code_commune": ["31555", "34172", "34003"],
        "lon": [1.1, 2.8, 3.5], "lat": [43.4, 43.7, 43.4],
        "participants": [12, 300, 40],
        "theme": ["mer", "citoyennete", "biodiversite"],
    })


@pytest.fixture
def overview(organisations, events, communes, departements) -> folium.Map:
    return maps.overview_map(organisations, events, title="Carte d'essai", data_date=date(2026, 11, 29),
                             communes=communes, departements=departements)


def _children(m: folium.Map, cls: type) -> list:
    return [child for child in m._children.values() if isinstance(child, cls)]


def _boxes(m: folium.Map, kind: str) -> list[str]:
    return [child.html for child in _children(m, maps.page._Box) if child.kind == kind]


def test_layers(overview):
    points = {layer.layer_name: layer for layer in _children(overview, maps.frame._PointLayer)}
    assert set(points) == {"Organisations (4)", "Événements (3)"}  # the organisation with no position is left out
    orgs, evts = points["Organisations (4)"], points["Événements (3)"]
    assert orgs.cluster and orgs.shape == "square" and len(orgs.rows) == 4
    assert not evts.cluster and evts.shape == "circle" and len(evts.rows) == 3
    assert [row[2] for row in orgs.rows][:3] == ["#1b9e77", "#d95f02", "#7570b3"]
    assert orgs.rows[3][2] == "#999999"  # unknown type → « Autre », grey
    # biggest event first (drawn below the smaller ones) and bigger radius
    assert evts.rows[0][0] == 43.7 and evts.rows[0][3] > evts.rows[-1][3]
    assert len(_children(overview, folium.LayerControl)) == 1
    # offline (CARTO_TILES=off in tests): the online basemap is offered in the layer control, not shown
    assert [layer.show for layer in _children(overview, folium.TileLayer)] == [False]
    assert overview.options["max_zoom"] == 16
    background = _children(overview, maps.frame._Background)[0]
    assert background.n_communes == 4 and background.n_departements == 2
    assert [label[2] for label in background.labels] == ["Haute-Garonne", "Hérault"]


def test_title_and_legend(overview):
    (title,) = _boxes(overview, "title")
    assert "Carte d&#x27;essai" in title and "Données au 29/11/2026" in title
    (legend,) = _boxes(overview, "legend")
    for text in ("Organisations (4)", "Association (1)", "Collectif (1)", "Autre (1)", "Événements (3)",
                 "Rencontre régionale annuelle (1)", "300 participants", "Taille du cercle",
                 "Limite de département"):
        assert text in legend, text
    assert "Concertation" not in legend  # only the kinds present
    page = overview.get_root().render()
    assert "carto-legend" in page and "Données au 29/11/2026" in page


def test_popups_are_escaped_cards(overview):
    points = {layer.layer_name: layer for layer in _children(overview, maps.frame._PointLayer)}
    popups = [row[4] for row in points["Organisations (4)"].rows]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in popups[0] and HOSTILE not in popups[0]
    assert "Commune : Toulouse (31555)" in popups[0] and "Type : Association" in popups[0]
    assert "=HYPERLINK(&quot;http://x&quot;) (HL)" in popups[1]
    event = next(row[4] for row in points["Événements (3)"].rows if "Printemps" in row[4])
    assert "Printemps citoyen &lt;b&gt;2024&lt;/b&gt;" in event
    assert "Date : 13/04/2024" in event and "Participants : 300" in event
    page = overview.get_root().render()
    assert HOSTILE not in page and "<b>2024" not in page


def test_inputs_not_mutated(organisations, events, communes, departements):
    before = organisations.copy(), events.copy(), communes.copy()
    maps.overview_map(organisations, events, title="t", data_date=date(2026, 1, 1),
                      communes=communes, departements=departements)
    pd.testing.assert_frame_equal(organisations, before[0])
    pd.testing.assert_frame_equal(events, before[1])
    pd.testing.assert_frame_equal(pd.DataFrame(communes), pd.DataFrame(before[2]))


def test_missing_column_is_explained(organisations, events, communes, departements):
    with pytest.raises(ValueError, match="Colonnes manquantes dans les organisations : lat"):
        maps.overview_map(organisations.drop(columns="lat"), events, title="t", data_date=date(2026, 1, 1),
                          communes=communes, departements=departements)


def test_user_errors_are_french_carto_errors(organisations, events, communes, departements):
    with pytest.raises(MapError, match="Colonnes attendues : id, nom, type") as caught:
        maps.overview_map(organisations.drop(columns="lat"), events, title="t", data_date=date(2026, 1, 1),
                          communes=communes, departements=departements)
    assert isinstance(caught.value, CartoError)
    with pytest.raises(MapError, match="« red ».*#rrggbb"):
        maps.legend_html([maps.LegendSection("x", [maps.LegendEntry("a", "red")])])
    with pytest.raises(MapError, match="« losange »"):
        maps.legend_html([maps.LegendSection("x", [maps.LegendEntry("a", "#1b9e77", "losange")])])


def test_one_participant_is_singular():
    assert [e.label for e in maps.overview._size_entries(1.0)] == ["1 participant"]


def test_legend_helpers_reject_bad_values():
    with pytest.raises(ValueError, match="Couleur invalide"):
        maps.legend_html([maps.LegendSection("x", [maps.LegendEntry("a", "red")])])
    with pytest.raises(ValueError, match="Position inconnue"):
        maps.add_box(maps.base_map(), "x", position="middle")


def test_background_is_rounded_and_shares_borders(communes):
    geojson = maps.frame._display_geojson(communes, tolerance_m=100, label="nom")
    coords = geojson["features"][0]["geometry"]["coordinates"][0]
    assert all(round(x, 5) == x and round(y, 5) == y for x, y in coords)
    assert [f["properties"]["n"] for f in geojson["features"]] == ["Toulouse", "Blagnac", "Montpellier", "Agde"]


def test_background_with_epci_outlines(communes, departements):
    m = maps.add_background(maps.base_map(), communes=communes, departements=departements, epci=departements)
    background = _children(m, maps.frame._Background)[0]
    assert background.n_epci == 2 and "#8a8a8a" in m.get_root().render()


def test_background_layers_are_prepared_once(communes, departements, monkeypatch):
    calls = []
    real = maps.frame._display_geojson
    monkeypatch.setattr(maps.frame, "_LAYER_CACHE", {})
    monkeypatch.setattr(maps.frame, "_display_geojson", lambda gdf, **kw: calls.append(len(gdf)) or real(gdf, **kw))
    first = maps.add_background(maps.base_map(), communes=communes, departements=departements)
    second = maps.add_background(maps.base_map(), communes=communes.copy(), departements=departements)
    assert calls == [4, 2]  # the second map reuses both layers
    one, two = (_children(m, maps.frame._Background)[0] for m in (first, second))
    assert one.communes_js == two.communes_js and two.n_communes == 4
    renamed = communes.assign(nom=["Toulouse", "Blagnac", "Montpellier", "Agde <b>"])
    moved = communes.set_geometry(communes.translate(0.01, 0))
    for changed in (renamed, moved):
        maps.add_background(maps.base_map(), communes=changed, departements=departements)
    assert calls == [4, 2, 4, 4]  # new names or shapes: prepared again
    assert any("Agde \\u0026lt;b\\u0026gt;" in js for js, _ in maps.frame._LAYER_CACHE.values())  # escaped name


def test_popups_name_the_thematic_space(overview):
    points = {layer.layer_name: layer for layer in _children(overview, maps.frame._PointLayer)}
    popups = [row[4] for row in points["Organisations (4)"].rows]
    assert "Thème : Citoyenneté" in popups[1] and "Thème : Mer et littoral" in popups[0]


def _members_layer(m: folium.Map) -> maps.members._MembersLayer:
    (layer,) = _children(m, maps.members._MembersLayer)
    return layer


def _subtitle(m: folium.Map) -> str:
    return html.unescape(_boxes(m, "title")[0].split("<p>")[1].split("</p>")[0])


def test_actor_map_follows_consent_and_escapes(members_base, tmp_path, chromium):
    from PIL import Image

    from carto import export

    m = maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29))
    page = m.get_root().render()
    assert not any(name in page for name in HIDDEN_NAMES)  # no consent: only counts
    assert HOSTILE_MEMBER not in page and html.escape(HOSTILE_MEMBER, quote=True) in _members_layer(m).data["m"]["n"]
    # the filter panel chooses the members; the layer control only the basemap (no overlay in it)
    (control,) = _children(m, folium.LayerControl)
    assert set(control.base_layers) == {maps.TILES_LABEL, maps.OFFLINE_LABEL} and not control.overlays
    assert _subtitle(m) == "7 membres : 4 sur la carte, 3 comptés par commune, 0 sans commune connue"
    data = _members_layer(m).data
    members = data["m"]
    assert len(members["n"]) == 4 and sorted(members["c"]) == [0, 2, 2, 3]  # cercle × kind: 3 = cercle 2 organisation
    places = {tuple(data["p"][g]) for g in members["g"]}
    sete = geo.communes().set_index("code").loc["34301"]
    assert (round(float(sete["lat"]), 5), round(float(sete["lon"]), 5)) in places  # a person: at her commune
    assert (43.4012, 3.6123) in places  # the organisation: at its address
    # the persons without consent: aggregated per commune and combination of attributes, no name nor card
    assert all(len(row) == 5 for row in data["x"]) and sum(row[4] for row in data["x"]) == 3
    assert {data["t"][data["pn"][row[0]]] for row in data["x"]} == {"Sète (34301)", "Perpignan (66136)"}
    path = export.save_png(export.save_html(m, tmp_path / "membres.html"), tmp_path / "membres.png")
    lo, hi = Image.open(path).convert("L").getextrema()
    assert hi - lo > 100


def test_actor_map_sources_and_themes_of_members(members_base):
    data = _members_layer(maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29))).data
    cfg, members = data["cfg"], data["m"]

    def labels(mask: int, names: list[str]) -> set[str]:
        return {html.unescape(name) for bit, name in enumerate(names) if mask >> bit & 1}

    by_name = {html.unescape(n): (labels(s, cfg["sources"]), labels(h, cfg["themes"]))
               for n, s, h in zip(members["n"], members["s"], members["h"], strict=True)}
    assert by_name[HOSTILE_MEMBER] == ({"Feuilles d'émargement"},  # its organisation's themes, its event's
                                       {"Biodiversité", "Eau et rivières", "Mer et littoral"})
    assert by_name["Alix Visible"] == ({"Appel « La Région est à vous »", "Feuilles d'émargement"},
                                       {"Alimentation et agriculture", "Mer et littoral"})  # an event elsewhere
    assert by_name["Lou Visible"] == ({"Sans fichier source (saisi dans Terreau)"}, {"Mer et littoral"})
    assert by_name["Les Amis de l'Étang"][1] == {"Biodiversité", "Eau et rivières", "Mer et littoral"}


def test_filter_panel_lists_values_present_with_counts(members_base):
    panel = html.unescape(_members_layer(maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29))).panel_html)
    rows = dict(re.findall(r"<span>([^<]+)</span><span class=\"carto-filter-n\">\(([\d\u202f]+)\)</span>", panel))
    assert rows == {
        "1 — engagé·e": "2", "2 — impliqué·e": "4", "3 — informé·e": "1", "personnes": "6", "organisations": "1",
        "Appel « La Région est à vous »": "2", "Contacts de la lettre d'information (Brevo)": "1",
        "Feuilles d'émargement": "3", "Participants du site de participation": "1",
        "Sans fichier source (saisi dans Terreau)": "1",
        "Biodiversité": "2", "Alimentation et agriculture": "1", "Mer et littoral": "7", "Eau et rivières": "2",
        "nombre par commune": "3",
    }
    assert "Montagne" not in panel and "Bénéficiaires des dispositifs" not in panel  # only the values present
    for heading in ("Cercle", "Type", "Source", "Thème", "Autres membres"):
        assert f"<h2>{heading}" in panel


@pytest.mark.parametrize(("filters", "subtitle"), [
    ({"circles": 1}, "2 membres sur 7 (cercles : 1) : 1 sur la carte, 1 compté par commune, 0 sans commune connue"),
    ({"kinds": "organisation"}, "1 membre sur 7 (types : organisations) : 1 sur la carte, 0 compté par commune, "
                                "0 sans commune connue"),
    ({"sources": ["emargement"]}, "3 membres sur 7 (sources : Feuilles d'émargement) : 2 sur la carte, "
                                  "1 compté par commune, 0 sans commune connue"),
    ({"sources": "Appel « La Région est à vous »", "circles": ["2", 3]},
     "2 membres sur 7 (cercles : 2, 3 ; sources : Appel « La Région est à vous ») : 2 sur la carte, "
     "0 compté par commune, 0 sans commune connue"),
    ({"themes": ["biodiversite", "eau et rivières"]}, "2 membres sur 7 (thèmes : Biodiversité, Eau et rivières) : "
                                                      "2 sur la carte, 0 compté par commune, 0 sans commune connue"),
    ({"sources": "dispositifs"}, "0 membre sur 7 (sources : Bénéficiaires des dispositifs régionaux) : 0 sur la "
                                 "carte, 0 compté par commune, 0 sans commune connue"),  # known, fed nobody here
])
def test_actor_map_filters_members_in_python(members_base, filters, subtitle):
    m = maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29), **filters)
    assert _subtitle(m) == subtitle
    data = _members_layer(m).data
    shown = len(data["m"]["n"]) + sum(row[4] for row in data["x"])
    assert shown == int(subtitle.split(" ")[0])


@pytest.mark.parametrize(("filters", "message"), [
    ({"sources": ["lreav", "tableur"]}, "Source inconnue : « tableur ». Valeurs possibles : lreav (Appel « La Région "
                                        "est à vous »), newsletter (Contacts de la lettre d'information (Brevo)), "
                                        "emargement (Feuilles d'émargement), jeparticipe (Participants du site de "
                                        "participation), dispositifs (Bénéficiaires des dispositifs régionaux)."),
    ({"circles": 4}, "Cercle inconnu : « 4 ». Valeurs possibles : 1, 2, 3."),
    ({"kinds": "association"}, "Type de membre inconnu : « association ». Valeurs possibles : personne, organisation."),
])
def test_actor_map_unknown_filter_is_a_french_map_error(members_base, filters, message):
    with pytest.raises(MapError) as caught:
        maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29), **filters)
    assert str(caught.value).startswith(message)


def test_actor_map_takes_community_and_themes_by_name(members_base):
    by_slug = maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29), themes=["biodiversite", "eau"])
    by_name = maps.actor_map(members_base, "MER ET LITTORAL", as_of=date(2026, 11, 29),
                             themes=["Biodiversite", "Eau et rivières"])
    assert _subtitle(by_name) == _subtitle(by_slug) and "thèmes : Biodiversité, Eau et rivières" in _subtitle(by_name)
    assert _members_layer(by_name).data["m"] == _members_layer(by_slug).data["m"]
    assert "Membres de la communauté Mer et littoral" in _boxes(by_name, "title")[0]
    with pytest.raises(NotFoundError, match=re.escape("Espace thématique « biodiv » inconnu. Vouliez-vous dire "
                                                      "« Biodiversité » ? Valeurs possibles")):
        maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29), themes="biodiv")
    with pytest.raises(NotFoundError, match=re.escape("Communauté « mère » inconnue. Vouliez-vous dire "
                                                      "« Mer et littoral » ?")):
        maps.actor_map(members_base, "mère", as_of=date(2026, 11, 29))


def test_event_map_one_layer_per_year_sized_by_attendance(tmp_path):
    from carto import communities, store

    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [{"id": i, "kind": "personne", "display_name": f"P{i}"}
                                             for i in range(1, 6)])
        conn.execute(store.events.insert(), [
            {"id": 1, "title": "<b>Rencontre</b> à Sète", "kind": "rencontre de communauté",
             "starts_on": date(2024, 5, 2), "theme": "mer", "commune_code": "34301"},
            {"id": 2, "title": "Groupe de travail", "kind": "groupe de travail", "starts_on": date(2025, 2, 3),
             "theme": "mer", "commune_code": "66136"},
            {"id": 3, "title": "Concertation en ligne", "kind": "concertation", "starts_on": date(2025, 3, 1),
             "theme": "mer", "commune_code": None},
        ])
        conn.execute(store.participations.insert(), [
            *[{"event_id": 1, "actor_id": i, "role": "participant", "signed": True} for i in range(1, 6)],
            {"event_id": 1, "actor_id": 5, "role": "organisateur", "signed": True},
            {"event_id": 2, "actor_id": 1, "role": "participant", "signed": True},
            {"event_id": 2, "actor_id": 2, "role": "participant", "signed": False},
        ])
    m = maps.event_map(engine, "mer", as_of=date(2026, 11, 29))
    layers = {layer.layer_name: layer for layer in m._children.values() if hasattr(layer, "rows")}
    assert sorted(layers) == ["2024 (1 événement)", "2025 (1 événement)"]
    big, small = layers["2024 (1 événement)"].rows[0], layers["2025 (1 événement)"].rows[0]
    assert big[3] > small[3]  # 5 present against 1 (the absentee does not count)
    assert "Présents : 5" in big[4] and "&lt;b&gt;Rencontre&lt;/b&gt;" in big[4]
    page = m.get_root().render()
    assert "3 événements : 2 sur la carte, 1 sans lieu" in page and "<b>Rencontre</b>" not in page
    engine.dispose()


def test_gap_map_classes_and_zones_blanches(tmp_path):
    from carto import communities, store

    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    codes = ["34301"] * 3 + ["34172"] * 2 + ["31555", "66136", "12202", "81004", "11069"]
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [{"id": i, "kind": "personne", "display_name": f"P{i}", "commune_code": c}
                                             for i, c in enumerate(codes, start=1)])
        conn.execute(store.events.insert().values(id=1, title="Rencontre", kind="rencontre de communauté",
                                                  starts_on=date(2026, 10, 1), theme="mer"))
        conn.execute(store.participations.insert(), [{"event_id": 1, "actor_id": i, "role": "participant"}
                                                     for i in range(1, len(codes) + 1)])
    communities.update_circles(engine, as_of=date(2026, 11, 29))
    m = maps.gap_map(engine, "mer", level="departement", as_of=date(2026, 11, 29))
    layer = next(layer for layer in m._children.values() if isinstance(layer, maps.gaps._Choropleth))
    features = {f["properties"]["t"].split("</b>")[0][3:]: f["properties"] for f in
                json.loads(layer.data_js)["features"]}
    assert len(features) == 13
    assert features["Lozère"]["c"] == maps.GAP_COLOUR and features["Lozère"]["b"] == maps.GAP_OUTLINE
    assert features["Hérault"]["c"] in maps.PRESENCE_COLOURS and "5 membres pour" in features["Hérault"]["t"]
    page = m.get_root().render()
    assert "6 départements avec des membres, 7 zones blanches" in page
    assert "Aucun membre (7 départements)" in page
    # communes: a hamlet without a member is not a gap (2 000 inhabitants at least by default)
    communes_map = maps.gap_map(engine, "mer", level="commune", as_of=date(2026, 11, 29))
    layer = next(layer for layer in communes_map._children.values() if isinstance(layer, maps.gaps._Choropleth))
    gaps = [f["properties"]["t"] for f in json.loads(layer.data_js)["features"]
            if f["properties"]["c"] == maps.GAP_COLOUR]
    assert gaps and all(int(t.split(" pour ")[1].split(" habitants")[0].replace("\u202f", "")) >= 2000 for t in gaps)
    engine.dispose()


def test_flows_between_communes_from_events_and_relations(tmp_path):
    from carto import communities, store

    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": 1, "kind": "personne", "display_name": "A", "commune_code": "34301"},
            {"id": 2, "kind": "personne", "display_name": "B", "commune_code": "34172"},
            {"id": 3, "kind": "personne", "display_name": "C", "commune_code": "66136"},
            {"id": 4, "kind": "personne", "display_name": "Alix Témoin", "commune_code": "34301"},
        ])
        conn.execute(store.events.insert(), [
            {"id": 1, "title": "e1", "kind": "rencontre de communauté", "starts_on": date(2025, 1, 1), "theme": "mer"},
            {"id": 2, "title": "e2", "kind": "rencontre de communauté", "starts_on": date(2025, 2, 1), "theme": "mer"},
        ])
        conn.execute(store.participations.insert(), [
            {"event_id": 1, "actor_id": 1, "role": "participant", "signed": True},
            {"event_id": 1, "actor_id": 4, "role": "participant", "signed": True},  # same commune: one link
            {"event_id": 1, "actor_id": 2, "role": "participant", "signed": True},
            {"event_id": 1, "actor_id": 3, "role": "participant", "signed": False},  # absent: no link
            {"event_id": 2, "actor_id": 1, "role": "participant", "signed": True},
            {"event_id": 2, "actor_id": 2, "role": "participant", "signed": True},
            {"event_id": 2, "actor_id": 3, "role": "participant", "signed": True},
        ])
        conn.execute(store.relations.insert().values(source_id=3, target_id=4, type="connaît", provenance="declared",
                                                     who="test"))
    flows = maps.commune_flows(engine, "mer")
    assert flows.to_dict("records") == [
        {"commune_a": "34172", "commune_b": "34301", "evenements": 2, "relations": 0, "force": 2},
        {"commune_a": "34301", "commune_b": "66136", "evenements": 1, "relations": 1, "force": 2},
        {"commune_a": "34172", "commune_b": "66136", "evenements": 1, "relations": 0, "force": 1},
    ]
    m = maps.flow_map(engine, "mer", top=2, as_of=date(2026, 11, 29))
    layer = next(layer for layer in m._children.values() if isinstance(layer, maps.flows._FlowLayer))
    assert len(layer.rows) == 2 and all(row[4] == 7.0 for row in layer.rows)
    assert any("Sète ↔ Perpignan : 1 événement en commun, 1 relation" in row[5] for row in layer.rows)
    assert "Alix Témoin" not in m.get_root().render()  # places only, never persons
    engine.dispose()


# --------------------------------------------------------------------------- online basemap


def test_maps_open_on_the_light_basemap_only_when_asked_or_reachable(monkeypatch) -> None:
    from carto import maps
    from carto._errors import ConfigError

    def opened_on(m) -> list[str]:
        return [layer.layer_name for layer in m._children.values() if getattr(layer, "layer_name", None)
                in (maps.TILES_LABEL, maps.OFFLINE_LABEL) and layer.show]

    assert opened_on(maps.base_map()) == [maps.OFFLINE_LABEL]  # tests: CARTO_TILES=off (conftest.py)
    assert opened_on(maps.base_map(tiles=True)) == [maps.TILES_LABEL]
    monkeypatch.setenv("CARTO_TILES", "on")
    assert opened_on(maps.base_map()) == [maps.TILES_LABEL]
    monkeypatch.setenv("CARTO_TILES", "auto")
    monkeypatch.setattr(maps.frame, "_tiles_reachable", lambda: False)
    assert opened_on(maps.base_map()) == [maps.OFFLINE_LABEL]
    monkeypatch.setattr(maps.frame, "_tiles_reachable", lambda: True)
    assert opened_on(maps.base_map()) == [maps.TILES_LABEL]
    monkeypatch.setenv("CARTO_TILES", "peut-être")
    with pytest.raises(ConfigError, match="CARTO_TILES = « peut-être » : valeurs possibles auto, on, off"):
        maps.base_map()


def test_the_basemap_is_a_base_layer_with_its_attribution(monkeypatch) -> None:
    import folium

    from carto import maps

    m = maps.base_map(tiles=True)
    folium.LayerControl().add_to(m)
    page = m.get_root().render()
    assert "basemaps.cartocdn.com/light_all" in page and "contributeurs OpenStreetMap" in page
    assert maps.TILES_LABEL in page and maps.OFFLINE_LABEL in page
    offline = maps.base_map(tiles=False)
    folium.LayerControl().add_to(offline)
    text = offline.get_root().render()
    # offered in the layer control, but not added to the map: no tile is requested when the page opens
    tile_var = re.search(r"var (tile_layer_\w+) = L\.tileLayer", text).group(1)
    assert f"{tile_var}.addTo(" not in text


def test_actor_map_of_a_community_without_members(tmp_path):
    from carto import communities, store

    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    m = maps.actor_map(engine, "mer", as_of=date(2026, 11, 29), themes="mer")
    assert _subtitle(m) == ("0 membre sur 0 (thèmes : Mer et littoral) : 0 sur la carte, 0 compté par commune, "
                            "0 sans commune connue")
    layer = _members_layer(m)
    assert layer.data["m"]["n"] == [] and layer.data["x"] == []
    assert 'data-group="s"' not in layer.panel_html and "(0)" in layer.panel_html  # cercles and types: 0
    engine.dispose()
