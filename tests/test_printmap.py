"""Tests of carto.printmap: the A4 print maps of a community (matplotlib, no browser)."""

from __future__ import annotations

import itertools
import re
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image
from shapely.geometry import box

from carto import communities, export, printmap, store
from carto._errors import MapError
from carto.cli import main

DAY = date(2026, 11, 29)
HOSTILE = "$\\alpha$ <img src=x onerror=alert(1)>"
SHOWN, HIDDEN = "Camille Visible", "Noé Discret"


@pytest.fixture
def departements() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["31", "34"], "nom": ["Haute-Garonne", "Hérault"]},
                            geometry=[box(0.5, 42.7, 2.0, 44.0), box(2.5, 43.2, 4.0, 44.0)], crs="EPSG:4326")


@pytest.fixture
def communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["31555", "31069", "34172", "34301"], "nom": ["Toulouse", "Blagnac", "Montpellier", HOSTILE],
         "lon": [1.0, 1.7, 2.9, 3.6], "lat": [43.5, 43.3, 43.6, 43.4]},
        geometry=[box(0.5, 42.7, 1.4, 44.0), box(1.4, 42.7, 2.0, 44.0), box(2.5, 43.2, 3.2, 44.0),
                  box(3.2, 43.2, 4.0, 44.0)],
        crs="EPSG:4326",
    )


def _base(tmp_path: Path, name: str = "Mer et littoral") -> object:
    """A community « mer »: persons (one agreed to be on a map, one did not) and an organisation in four communes,
    two events, a declared relation."""
    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name=name, theme="mer", start_date=date(2024, 1, 1))
    codes = {1: "34301", 2: "34301", 3: "34172", 4: "31555", 5: "31555", 6: "31069"}
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": i, "kind": "organisation" if i == 6 else "personne",
             "display_name": {1: SHOWN, 2: HIDDEN, 6: "Les Amis de l'Étang"}.get(i, f"Zoé Témoin{i}"),
             "commune_code": code, "consent_map": i == 1}
            for i, code in codes.items()])
        conn.execute(store.events.insert(), [
            {"id": 1, "title": "Rencontre", "kind": "rencontre de communauté", "starts_on": date(2026, 10, 1),
             "theme": "mer", "commune_code": "34301"},
            {"id": 2, "title": "Groupe de travail", "kind": "groupe de travail", "starts_on": date(2026, 9, 1),
             "theme": "mer", "commune_code": "31555"},
        ])
        conn.execute(store.participations.insert(), [
            *[{"event_id": 1, "actor_id": i, "role": "participant", "signed": True} for i in codes],
            *[{"event_id": 2, "actor_id": i, "role": "participant", "signed": True} for i in (1, 4)],
        ])
        conn.execute(store.relations.insert().values(source_id=3, target_id=5, type="connaît", provenance="declared",
                                                     who="test"))
    communities.update_circles(engine, as_of=DAY)
    return engine


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def _gid(fig, gid: str) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_gid() == gid]


def test_a4_landscape_with_title_date_legend_scale_and_north(tmp_path, communes, departements):
    engine = _base(tmp_path)
    fig = printmap.print_map(engine, "mer", "membres", as_of=DAY, communes=communes, departements=departements)
    assert tuple(round(float(v), 2) for v in fig.get_size_inches()) == printmap.A4_LANDSCAPE == (11.69, 8.27)
    assert _gid(fig, "carto-title") == ["Membres de la communauté Mer et littoral"]
    assert _gid(fig, "carto-date") == ["Données au 29/11/2026"]
    assert _gid(fig, "carto-sources")[0].startswith("Sources : Base Terreau")
    legend = _gid(fig, "carto-legend")
    for text in ("Membres par commune", "Tous les membres (cercles 1 à 3)", "Cercles 1 et 2 (engagé·e·s et "
                 "impliqué·e·s)", "Cercle 1 (engagé·e·s)", "Nombre de membres", "Fond", "Limite de département"):
        assert any(text in line.replace("\n", " ") for line in legend), text
    scale = _gid(fig, "carto-scale")
    assert scale[0] == "0" and re.fullmatch(r"\d+ km", scale[-1])
    assert _gid(fig, "carto-north") == ["N"]
    assert "6 membres dont 1 organisation : 6 dans 4 communes, 0 sans commune connue" in _gid(fig, "carto-subtitle")[0]
    # the legend sits in its own panel, beside the map: it never covers it
    map_ax, panel = fig.axes
    assert not map_ax.get_position().overlaps(panel.get_position())
    assert {t.axes for t in fig.findobj(Text) if t.get_gid() == "carto-legend"} == {panel}
    engine.dispose()


def test_members_map_names_no_person_whatever_their_consent(tmp_path, communes, departements):
    engine = _base(tmp_path)
    fig = printmap.print_map(engine, "mer", "membres", as_of=DAY, communes=communes, departements=departements)
    texts = "\n".join(_texts(fig))
    assert SHOWN not in texts and HIDDEN not in texts and "Les Amis" not in texts and "Témoin" not in texts
    assert "Toulouse (2)" in _gid(fig, "carto-label")  # places and counts only
    engine.dispose()


@pytest.mark.parametrize(("kind", "legend", "title"), [
    ("zones-blanches", "Aucun membre (0 département)", "Communauté Mer et littoral : présence et zones blanches"),
    ("evenements", "Rencontre de communauté (1)", "Événements — Mer et littoral"),
    ("liens", "en commun", "Communauté Mer et littoral : liens entre territoires"),
])
def test_each_kind_has_its_title_and_legend(tmp_path, communes, departements, kind, legend, title):
    engine = _base(tmp_path)
    fig = printmap.print_map(engine, "mer", kind, as_of=DAY, level="departement", communes=communes,
                             departements=departements)
    assert _gid(fig, "carto-title")[0].replace("\n", " ").startswith(title)
    assert any(legend in line.replace("\n", " ") for line in _gid(fig, "carto-legend")), _gid(fig, "carto-legend")
    assert _gid(fig, "carto-date") == ["Données au 29/11/2026"]
    engine.dispose()


def test_hostile_names_are_drawn_literally(tmp_path, communes, departements):
    engine = _base(tmp_path, name=HOSTILE)
    for kind in ("membres", "liens"):
        fig = printmap.print_map(engine, "mer", kind, as_of=DAY, communes=communes, departements=departements)
        texts = _texts(fig)
        assert any(HOSTILE in t for t in _gid(fig, "carto-title"))
        assert any(t.startswith(HOSTILE) for t in _gid(fig, "carto-label")), _gid(fig, "carto-label")
        assert "α" not in "".join(texts)
        # no text of the figure goes through mathtext: « $…$ » stays dollars and letters
        assert all(not t.get_parse_math() for t in fig.findobj(Text) if "$" in t.get_text())
        fig.savefig(tmp_path / f"{kind}.png", dpi=50)  # and it draws
    engine.dispose()


def test_an_empty_community_still_makes_every_map(tmp_path, communes, departements):
    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    for kind in printmap.maps.MAP_KINDS:
        fig = printmap.print_map(engine, "mer", kind, as_of=DAY, level="departement", communes=communes,
                                 departements=departements)
        assert _gid(fig, "carto-date") == ["Données au 29/11/2026"], kind
    with pytest.raises(MapError, match="Carte « réseau » inconnue"):
        printmap.print_map(engine, "mer", "réseau")
    engine.dispose()


def test_pdf_and_png_are_a4_and_not_blank(tmp_path, communes, departements):
    engine = _base(tmp_path)
    fig = printmap.print_map(engine, "mer", "evenements", as_of=DAY, communes=communes, departements=departements)
    written = export.save_print_map(fig, tmp_path / "sortie" / "carte-evenements-a4.pdf")
    assert sorted(written) == ["pdf A4", "png A4"]
    pdf, png = written["pdf A4"], written["png A4"]
    assert pdf.name == "carte-evenements-a4.pdf" and png.name == "carte-evenements-a4.png"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5_000
    box_ = re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+) *\]", data)
    assert box_ and (round(float(box_[1])), round(float(box_[2]))) == (842, 595)  # A4 landscape, in points
    image = Image.open(png)
    assert image.size == (2338, 1654)  # 200 dpi
    grey = np.asarray(image.convert("L"), dtype=float)
    assert grey.std() > 10 and grey.min() < 60, "l'image semble vide"
    engine.dispose()


def test_names_of_places_never_overlap(tmp_path):
    """Real geography, many members around Toulouse: the names placed do not overlap each other."""
    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    codes = ["31555", "31069", "31149", "31157", "31446", "31044", "31506", "34172", "34301", "66136", "30189",
             "11069", "81004", "12202"]
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [{"id": i, "kind": "personne", "display_name": f"P{i}",
                                              "commune_code": codes[i % len(codes)]} for i in range(1, 120)])
        conn.execute(store.events.insert().values(id=1, title="Rencontre", kind="rencontre de communauté",
                                                  starts_on=date(2026, 10, 1), theme="mer"))
        conn.execute(store.participations.insert(), [{"event_id": 1, "actor_id": i, "role": "participant"}
                                                     for i in range(1, 120)])
    communities.update_circles(engine, as_of=DAY)
    fig = printmap.print_map(engine, "mer", "membres", as_of=DAY)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.findobj(Text) if t.get_gid() == "carto-label"]
    assert 5 <= len(boxes) <= 10
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    inside = fig.axes[0].get_window_extent(renderer)
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 for b in boxes)
    engine.dispose()


@pytest.mark.slow
def test_cli_a4_writes_pdf_and_png_beside_the_html(tmp_path, capsys):
    engine = _base(tmp_path)
    engine.dispose()
    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    carte = tmp_path / "cartes" / "mer.html"
    assert main(["map", "--base", url, "--community", "mer", "--layers", "membres,zones-blanches", "--out",
                 str(carte), "--a4", "--date", "2026-11-29"]) == 0
    printed = capsys.readouterr().out
    for kind in ("membres", "zones-blanches"):
        for suffix in (".html", "-a4.pdf", "-a4.png"):
            path = tmp_path / "cartes" / f"mer-{kind}{suffix}"
            assert path.stat().st_size > 10_000, path
            assert str(path) in printed
    lo, hi = Image.open(tmp_path / "cartes" / "mer-zones-blanches-a4.png").convert("L").getextrema()
    assert hi - lo > 100
