"""Tests of carto.export: offline HTML (no CDN), escaping, PNG and real rendering in headless Chromium; XLSX."""

from __future__ import annotations

from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from PIL import Image
from shapely.geometry import box

from carto import communities, export, maps
from carto._errors import AssetError, BrowserError, CartoError, ExportError
from conftest import HIDDEN_NAMES, HOSTILE_MEMBER
from conftest import missing as _missing

HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","clic")'


@pytest.fixture
def demo_map() -> folium.Map:
    """Three organisations far apart (never clustered), two events, two départements."""
    deps = gpd.GeoDataFrame({"code": ["09", "11"], "nom": ["Ariège", "Aude"]},
                            geometry=[box(0.8, 42.6, 2.0, 43.3), box(2.0, 42.6, 3.2, 43.3)], crs="EPSG:4326")
    orgs = pd.DataFrame({
        "id": ["O1", "O2", "O3"], "nom": [HOSTILE, FORMULA, "Jardins d'Olmes"],
        "type": ["association", "collectif", "coopérative"], "theme": ["mer"] * 3,
        "code_commune": ["09", "11", "11"], "lon": [1.0, 2.2, 3.0], "lat": [43.1, 43.1, 42.8]})
    evts = pd.DataFrame({
        "id": ["E1", "E2"], "titre": ["Atelier", "Commission"], "type": ["concertation", "webinaire"],
        "date": ["2024-01-15", "2024-02-20"], "code_commune": ["09", "11"], "lon": [1.5, 2.6],
        "lat": [42.8, 42.9], "participants": [80, 20], "theme": ["mer", "mer"]})
    return maps.overview_map(orgs, evts, title="Carte d'essai", data_date=date(2026, 11, 29),
                             communes=deps, departements=deps)


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def _urls(path: Path) -> list[str]:
    parser = _Urls()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.urls


def test_overview_html_has_no_external_url(vendored, demo_map, tmp_path):
    path = export.save_html(demo_map, tmp_path / "carte.html", title="Carte <d'essai>")
    text = path.read_text(encoding="utf-8")
    assert _urls(path) == []  # every script and stylesheet is inline
    assert "leaflet 1.9.4" in text and "leaflet.markercluster 1.5.3" in text
    assert "<title>Carte &lt;d&#x27;essai&gt;</title>" in text and '<html lang="fr">' in text
    assert "jquery" not in text.lower() and "bootstrap" not in text.lower()
    assert path.stat().st_size < 500_000


def test_default_folium_page_is_made_offline(vendored, tmp_path):
    """folium's own page (CDN Leaflet, jQuery, Bootstrap…) and a default marker icon work offline."""
    m = folium.Map(tiles=None, location=[43.6, 1.44], zoom_start=8)
    folium.Marker([43.6, 1.44], popup="Toulouse").add_to(m)
    folium.plugins.MarkerCluster().add_to(m)
    text = export.save_html(m, tmp_path / "folium.html").read_text(encoding="utf-8")
    assert export.external_urls(text) == []
    assert "jQuery" in text  # folium.Popup needs it: inlined, not dropped
    assert 'L.Icon.Default.prototype.options.iconUrl = "data:image/png;base64,' in text
    assert "images/layers.png" not in text and "url(\"data:image/png;base64," in text


def test_escaping_of_hostile_names(vendored, demo_map, tmp_path):
    text = export.save_html(demo_map, tmp_path / "carte.html").read_text(encoding="utf-8")
    assert HOSTILE not in text and "alert(1)</script>" not in text
    assert "\\u0026lt;script\\u0026gt;alert(1)\\u0026lt;/script\\u0026gt;" in text  # escaped, inside JSON
    assert "http://evil.example" not in _urls(tmp_path / "carte.html")
    assert "=HYPERLINK(\\u0026quot;http://evil.example\\u0026quot;" in text


def test_missing_vendor_dir_is_a_french_asset_error(demo_map, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "VENDOR_DIR", tmp_path / "absent")
    with pytest.raises(AssetError, match="make assets"):
        export.save_html(demo_map, tmp_path / "carte.html")
    assert not (tmp_path / "carte.html").exists()


def test_unknown_cdn_and_awesome_markers_are_refused(vendored, tmp_path):
    page = '<html><head><script src="https://cdn.example.org/inconnu.js"></script></head><body></body></html>'
    with pytest.raises(AssetError, match="inconnu.js"):
        export.inline_assets(page)
    m = folium.Map(tiles=None)
    folium.Marker([43.6, 1.44], icon=folium.Icon(color="red")).add_to(m)
    with pytest.raises(AssetError, match="CircleMarker ou des DivIcon"):
        export.save_html(m, tmp_path / "icones.html")


def test_missing_chromium_is_a_french_browser_error(monkeypatch, tmp_path):
    monkeypatch.setattr(export, "CHROMIUM_CANDIDATES", (str(tmp_path / "chromium"),))
    with pytest.raises(BrowserError, match="apt-get install chromium"):
        export.find_chromium()
    with pytest.raises(BrowserError, match="Page HTML introuvable"):
        export.save_png(tmp_path / "absente.html", tmp_path / "carte.png")


def test_missing_browser_skips_only_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _missing("Chromium", "installez-le avec « apt-get install chromium »")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="doit tourner en CI"):
        _missing("Chromium", "installez-le avec « apt-get install chromium »")


# --------------------------------------------------------------------------- real browser


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


@pytest.mark.browser
def test_pdf_is_one_a4_landscape_page_with_the_map(chromium, demo_map, tmp_path):
    import re
    import zlib

    html_path = export.save_html(demo_map, tmp_path / "carte.html")
    pdf = export.save_pdf(html_path, tmp_path / "pdf" / "carte.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert [tuple(round(float(v)) for v in box) for box in boxes] == [(842, 595)]  # one A4 landscape page
    drawn = 0
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            drawn += len(zlib.decompress(raw))
        except zlib.error:  # not a deflated stream (an image, a font)
            drawn += len(raw)
    assert drawn > 10_000  # drawn content, not an empty page
    with pytest.raises(BrowserError, match="introuvable"):
        export.save_pdf(tmp_path / "absente.html", tmp_path / "x.pdf")


@pytest.mark.browser
def test_screenshot_is_not_blank(chromium, demo_map, tmp_path):
    html_path = export.save_html(demo_map, tmp_path / "carte.html")
    png = export.save_png(html_path, tmp_path / "carte.png", width=1200, height=800)
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert image.shape == (800, 1200, 3)
    assert image.std() > 20  # not a blank page
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50

    def pixels(colour: np.ndarray, tolerance: int = 4) -> int:
        return int((np.abs(image - colour).max(axis=2) <= tolerance).sum())

    for hex_colour in ("#1b9e77", "#d95f02", "#7570b3"):  # organisation squares (opaque)
        assert pixels(_rgb(hex_colour)) > 20, hex_colour
    background = _rgb("#f4f1e8")
    for hex_colour in ("#ff7f00", "#f781bf"):  # event circles, fill opacity 0.78 over the communes
        assert pixels(np.rint(0.78 * _rgb(hex_colour) + 0.22 * background), 6) > 20, hex_colour
    assert pixels(_rgb("#4a4a4a"), 30) > 50  # département borders and labels


@pytest.mark.browser
def test_page_works_offline_in_chromium(offline_browser, demo_map, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    html_path = export.save_html(demo_map, tmp_path / "carte.html")
    driver = offline_browser(1200, 900)
    driver.get(html_path.as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return document.querySelectorAll('.carto-square').length === 3"))
    assert driver.execute_script("return typeof L") == "object"
    counts = driver.execute_script("""
        var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0];
        var counts = {circles: 0, polygons: 0, markers: 0};
        window[name].eachLayer(function (layer) {
            if (layer instanceof L.CircleMarker) { counts.circles += 1; }
            else if (layer instanceof L.Polygon) { counts.polygons += 1; }
            else if (layer instanceof L.Marker) { counts.markers += 1; }
        });
        return counts;""")
    # 2 events; 2 communes + 2 départements; 3 organisations + 2 département labels
    assert counts == {"circles": 2, "polygons": 4, "markers": 5}
    legend = driver.find_element("css selector", ".carto-legend").text
    assert "Organisations (3)" in legend and "Concertation (1)" in legend
    assert driver.execute_script("return document.querySelector('.carto-legend details').open") is True
    assert "Données au 29/11/2026" in driver.find_element("css selector", ".carto-title").text
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert all(url.startswith(("data:", "file:")) for url in resources), resources
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    # the hostile name shows as text in its popup, nothing was executed
    driver.execute_script("""  // popups are made on the first click
        var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0];
        var found = null;
        window[name].eachLayer(function (l) {
            if (found || !(l instanceof L.Marker) || l.options.cartoRow === undefined) { return; }
            l.fire("click", {latlng: l.getLatLng()}, true);  // propagated, as a real click
            if (l.getPopup() && l.getPopup().getContent().indexOf("alert") >= 0) { found = l; }
        });
        found.openPopup();""")
    content = WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "var p = document.querySelector('.leaflet-popup-content'); return p && p.textContent;"))
    assert HOSTILE in content
    assert driver.execute_script("return document.querySelectorAll('.leaflet-popup-content script').length") == 0


@pytest.mark.browser
def test_legend_folds_on_a_small_map_and_opens_on_click(offline_browser, demo_map, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    html_path = export.save_html(demo_map, tmp_path / "carte.html")
    driver = offline_browser(800, 600)
    driver.get(html_path.resolve().as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return document.querySelector('.carto-legend details') !== null"))
    is_open = "return document.querySelector('.carto-legend details').open"
    assert driver.execute_script(is_open) is False
    driver.find_element("css selector", ".carto-legend summary").click()
    assert driver.execute_script(is_open) is True


def test_notebook_frame_holds_the_same_french_page(vendored, demo_map):
    frame = export.show(demo_map, height=400).data
    assert "&lt;html lang=&quot;fr&quot;" in frame and "cdn.jsdelivr" not in frame


# --------------------------------------------------------------------------- member table (XLSX)

XLSX_FORMULA = '=HYPERLINK("http://x";"y")'


def _members_table() -> pd.DataFrame:
    """Three members shaped like communities.members(): Int64 with NA, dates, booleans, missing texts."""
    rows = pd.DataFrame({c: pd.Series([None] * 3, dtype=object) for c in communities.MEMBER_COLUMNS})
    rows["acteur"] = pd.Series([12, 7, 30], dtype="int64")
    rows["nom"] = ["Léa Martin", XLSX_FORMULA, "+33 6 12 34 56 78"]
    rows["type"] = ["personne", "personne", "organisation"]
    rows["cercle"] = pd.array([1, 2, 3], dtype="Int64")
    rows["cercle calculé"] = pd.array([2, 2, pd.NA], dtype="Int64")
    rows["cercle imposé"] = pd.array([1, pd.NA, 3], dtype="Int64")
    rows["raison"] = ["anime le groupe haies", None, "@relais local"]
    rows["imposé le"] = pd.Series([pd.Timestamp("2026-11-02 09:30", tz="UTC"), pd.NaT, pd.NaT])
    rows["depuis"] = [date(2026, 11, 2), date(2025, 12, 1), date(2026, 1, 5)]
    rows["dernière activité"] = [date(2026, 10, 1), None, date(2024, 6, 1)]
    rows["participations"] = pd.Series([4, 0, 1], dtype="int64")
    rows["à relancer"] = [False, False, True]
    rows["commune"] = ["Toulouse", None, "Montpellier"]
    rows["notes"] = [None, "-à rappeler", "ligne\x01 avec un caractère de contrôle"]
    return rows


def test_members_xlsx_reads_back_as_an_agent_sees_it(tmp_path):
    table = _members_table()
    before = table.copy()
    path = export.save_members_xlsx(table, tmp_path / "exports" / "membres.xlsx",
                                    title="Membres de la communauté Biodiversité", as_of=date(2026, 11, 29),
                                    definitions={"notes": "Notes du binôme.", "source du fichier": "carto members"})
    assert path == tmp_path / "exports" / "membres.xlsx" and path.is_file()
    pd.testing.assert_frame_equal(table, before)  # the input is not changed
    assert [p.name for p in path.parent.iterdir()] == ["membres.xlsx"]  # no temporary file left
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Membres", "Définitions"]
    ws = wb["Membres"]
    assert ws["A1"].value == "Membres de la communauté Biodiversité au 29/11/2026"
    assert ws["A1"].font.bold
    assert [c.value for c in ws[2]] == list(communities.MEMBER_COLUMNS)
    assert ws.freeze_panes == "C3"  # header and names stay in view
    assert ws.auto_filter.ref == "A2:V5"
    lea = {name: cell for name, cell in zip(communities.MEMBER_COLUMNS, ws[3], strict=True)}
    assert lea["acteur"].value == 12 and lea["acteur"].data_type == "n"
    assert lea["cercle"].value == 1 and lea["cercle imposé"].value == 1 and lea["participations"].value == 4
    assert lea["depuis"].value == datetime(2026, 11, 2) and lea["depuis"].number_format == "DD/MM/YYYY"
    assert lea["imposé le"].value == datetime(2026, 11, 2, 10, 30)  # Paris time
    assert lea["imposé le"].number_format == "DD/MM/YYYY HH:MM"
    assert lea["à relancer"].value == "non" and ws["M5"].value == "oui"
    assert lea["cercle"].fill.fgColor.rgb.endswith(export.CIRCLE_FILLS[1])
    assert ws["D4"].fill.fgColor.rgb.endswith(export.CIRCLE_FILLS[2])
    assert lea["raison"].value == "anime le groupe haies"
    assert lea["courriel"].value is None and lea["notes"].value is None  # missing: empty cells
    assert ws["E5"].value is None  # Int64 NA
    assert ws["K4"].value is None and ws["I4"].value is None  # missing date, NaT
    # texts from source files are never formulas
    injected = ws["B4"]
    assert injected.value == XLSX_FORMULA and injected.data_type == "s" and injected.quotePrefix
    assert ws["B5"].value == "+33 6 12 34 56 78" and ws["B5"].data_type == "s" and ws["B5"].quotePrefix
    assert ws["G5"].value == "@relais local" and ws["V4"].value == "-à rappeler" and ws["V4"].quotePrefix
    assert ws["V5"].value == "ligne avec un caractère de contrôle"
    assert all(cell.data_type != "f" for sheet in wb for row in sheet.iter_rows() for cell in row)
    # widths from the content, capped
    widths = {letter: ws.column_dimensions[letter].width for letter in "ABCDEFGHIJKLMNOPQRSTU"}
    assert all(6 <= w <= 50 for w in widths.values()), widths
    assert widths["B"] >= len(XLSX_FORMULA) and widths["J"] >= 10 and widths["A"] < widths["B"]
    # definitions: every column, the rules of the cercles and the date of the data
    sheet = wb["Définitions"]
    lines = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2) if row[0].value}
    assert all(name in lines for name in communities.MEMBER_COLUMNS)
    assert lines["notes"] == "Notes du binôme." and lines["source du fichier"] == "carto members"
    assert "6 mois" in lines["à relancer"]
    assert "Règles des cercles" in lines
    engaged = lines["Cercle 1 — engagé·e"]
    assert "groupe de travail" in engaged and "organisateur·rice" in engaged and "12 derniers mois" in engaged
    assert "36 derniers mois" in lines["Cercle 3 — informé·e"] and "lettre" in lines["Cercle 3 — informé·e"]
    assert "29/05/2026" in lines["À relancer"]
    assert lines["Données au"] == datetime(2026, 11, 29)


def test_members_xlsx_of_an_empty_table_and_custom_rules(tmp_path):
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in communities.MEMBER_COLUMNS})
    rules = communities.CircleRules(window_months=1, relaunch_months=3)
    path = export.save_members_xlsx(empty, tmp_path / "vide.xlsx", title="Mer", as_of=date(2026, 1, 31),
                                    rules=rules)
    wb = openpyxl.load_workbook(path)
    assert wb["Membres"].max_row == 2 and wb["Membres"].auto_filter.ref == "A2:V2"
    lines = {row[0].value: row[1].value for row in wb["Définitions"].iter_rows() if row[0].value}
    assert "le dernier mois" in lines["Cercle 2 — impliqué·e"] and "31/10/2025" in lines["À relancer"]


def test_members_xlsx_errors_are_french(tmp_path):
    table = _members_table()
    with pytest.raises(ExportError, match=r"doit se terminer par \.xlsx.*membres\.xlsx"):
        export.save_members_xlsx(table, tmp_path / "membres.xls", title="Biodiversité", as_of=date(2026, 11, 29))
    (tmp_path / "pris.xlsx").mkdir()  # cannot be replaced, like a file locked by Excel
    with pytest.raises(ExportError, match="Impossible d'écrire .*fermez-le") as error:
        export.save_members_xlsx(table, tmp_path / "pris.xlsx", title="Biodiversité", as_of=date(2026, 11, 29))
    assert isinstance(error.value, CartoError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pris.xlsx"]  # no temporary file left
    (tmp_path / "fichier").write_text("x", encoding="utf-8")
    with pytest.raises(ExportError, match="Impossible d'écrire"):
        export.save_members_xlsx(table, tmp_path / "fichier" / "membres.xlsx", title="B", as_of=date(2026, 11, 29))


@pytest.mark.browser
def test_community_maps_work_offline_without_console_errors(offline_browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    from carto import communities, store

    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": 1, "kind": "personne", "display_name": HOSTILE, "commune_code": "34301", "consent_map": True},
            {"id": 2, "kind": "personne", "display_name": "B", "commune_code": "34172", "consent_map": False},
            {"id": 3, "kind": "personne", "display_name": "C", "commune_code": "66136", "consent_map": False},
        ])
        conn.execute(store.events.insert().values(id=1, title="Rencontre", kind="rencontre de communauté",
                                                  starts_on=date(2026, 10, 1), theme="mer", commune_code="34301"))
        conn.execute(store.participations.insert(), [{"event_id": 1, "actor_id": i, "role": "participant"}
                                                     for i in (1, 2, 3)])
    communities.update_circles(engine, as_of=date(2026, 11, 29))
    expected = {"membres": "CircleMarker", "evenements": "CircleMarker", "zones-blanches": "Polygon",
                "liens": "Polyline"}
    driver = offline_browser(1200, 900)
    for kind, layer_class in expected.items():
        html_path = export.save_html(maps.community_map(engine, "mer", kind, as_of=date(2026, 11, 29)),
                                     tmp_path / f"{kind}.html")
        driver.get(html_path.as_uri())
        WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!document.querySelector('.carto-legend')"))
        drawn = driver.execute_script(f"""
            var name = Object.keys(window).filter(function (k) {{ return k.indexOf("map_") === 0; }})[0];
            var n = 0;
            window[name].eachLayer(function (layer) {{
                if (layer instanceof L.{layer_class} && !(layer instanceof L.Polygon && "{layer_class}" === "Polyline")
                    && layer.options.pane !== "cartoFond") {{ n += 1; }}
            }});
            return n;""")
        assert drawn > 0, kind
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], (kind, errors)
        assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0, kind
    engine.dispose()


_DRAWN_JS = """
    var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0];
    var out = {symbols: 0, members: 0, communes: 0, counted: 0};
    window[name].eachLayer(function (l) {
        if (l.options.cartoList) { out.symbols += 1; out.members += l.options.cartoList.length; }
        if (l.options.cartoCount) { out.communes += 1; out.counted += l.options.cartoCount.n; }
    });
    return out;"""


@pytest.mark.browser
def test_members_map_filters_redraw_in_chromium(offline_browser, members_base, tmp_path):
    """Unticking a cercle, a source or a theme re-groups the members in the browser (see ``members_base``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    html_path = export.save_html(maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29)),
                                 tmp_path / "membres.html")
    text = html_path.read_text(encoding="utf-8")
    assert not any(name in text for name in HIDDEN_NAMES) and HOSTILE_MEMBER not in text
    driver = offline_browser(1200, 900)
    driver.get(html_path.as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!document.querySelector('.carto-title')"))
    assert driver.execute_script("return document.querySelector('.carto-filters details').open") is True

    def box(group: str, label: str):
        return driver.find_element("xpath", f'//div[@data-group="{group}"]//label[span="{label}"]/input')

    def count(group: str, label: str) -> str:
        return driver.find_element("xpath", f'//div[@data-group="{group}"]//label[span="{label}"]'
                                            '/span[@class="carto-filter-n"]').text

    def subtitle() -> str:
        return driver.find_element("css selector", ".carto-title p").text

    everything = {"symbols": 4, "members": 4, "communes": 2, "counted": 3}
    assert driver.execute_script(_DRAWN_JS) == everything
    original = subtitle()
    assert original == "7 membres : 4 sur la carte, 3 comptés par commune, 0 sans commune connue"
    cases = [  # group, box, then drawn: members shown (symbols: one per place and cercle) and counted per commune
        ("c", "1 — engagé·e", {"symbols": 3, "members": 3, "communes": 2, "counted": 2}),
        ("s", "Feuilles d'émargement", {"symbols": 3, "members": 3, "communes": 2, "counted": 2}),
        ("h", "Mer et littoral", {"symbols": 3, "members": 3, "communes": 0, "counted": 0}),
        ("k", "organisations", {"symbols": 3, "members": 3, "communes": 2, "counted": 3}),
    ]
    for group, label, drawn in cases:
        before = count(group, label)
        box(group, label).click()
        assert driver.execute_script(_DRAWN_JS) == drawn, label
        shown = drawn["members"] + drawn["counted"]
        assert subtitle() == (f"{shown} membres retenus par les filtres : {drawn['members']} sur la carte, "
                              f"{drawn['counted']} compté{'s' if drawn['counted'] > 1 else ''} par commune"), label
        assert count(group, label) == before  # each group's counts: as the other groups filter
        assert driver.find_element("css selector", ".carto-filters summary").text == "Filtres (actifs)"
        box(group, label).click()
        assert driver.execute_script(_DRAWN_JS) == everything, label
    assert subtitle() == original
    # counts follow the other groups: without cercle 1, « Feuilles d'émargement » keeps the hostile name and Alix
    assert count("s", "Feuilles d'émargement") == "(3)"
    box("c", "1 — engagé·e").click()
    assert count("s", "Feuilles d'émargement") == "(2)" and count("c", "1 — engagé·e") == "(2)"
    box("c", "1 — engagé·e").click()
    # « aucun » / « tout » of a group; the counted members' layer
    driver.find_element("xpath", "//div[@data-group='h']//button[@data-all='0']").click()
    assert driver.execute_script(_DRAWN_JS) == {"symbols": 0, "members": 0, "communes": 0, "counted": 0}
    driver.find_element("xpath", "//div[@data-group='h']//button[@data-all='1']").click()
    driver.find_element("css selector", "input[data-others]").click()
    assert driver.execute_script(_DRAWN_JS) == {**everything, "communes": 0, "counted": 0}
    driver.find_element("css selector", "input[data-others]").click()
    # at Montpellier, cercle 1 (1 member) in the middle of a larger cercle 2 ring (cercles 1 and 2: 2 members)
    radii = driver.execute_script("""
        var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0], r = {};
        window[name].eachLayer(function (l) {
            if (l.options.cartoList && l instanceof L.CircleMarker && Math.abs(l.getLatLng().lng - 3.878) < 0.01) {
                r[l.options.fillColor] = l.getRadius();
            }
        });
        return r;""")
    assert radii[communities.CIRCLE_COLOURS[2]] > radii[communities.CIRCLE_COLOURS[1]]
    # the hostile name shows as text in its card, nothing was executed
    driver.execute_script("""
        var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0], found = null;
        window[name].eachLayer(function (l) {
            if (found || !l.options.cartoList) { return; }
            l.fire("click", {latlng: l.getLatLng()}, true);
            if (l.getPopup() && l.getPopup().getContent().indexOf("onerror") >= 0) { found = l; }
        });
        found.openPopup();""")
    content = WebDriverWait(driver, 10).until(lambda d: d.execute_script(  # the other popups fade out
        "var p = document.querySelectorAll('.leaflet-popup-content'); return p.length === 1 && p[0].textContent;"))
    assert HOSTILE_MEMBER in content and "Sources : Feuilles d'émargement" in content
    assert "Thèmes : Biodiversité ; Mer et littoral ; Eau et rivières" in content
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.browser
def test_members_filters_fold_on_a_small_map(offline_browser, members_base, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    html_path = export.save_html(maps.actor_map(members_base, "mer", as_of=date(2026, 11, 29)),
                                 tmp_path / "membres.html")
    driver = offline_browser(800, 600)
    driver.get(html_path.as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!document.querySelector('.carto-legend')"))
    is_open = "return document.querySelector('.carto-filters details').open"
    assert driver.execute_script(is_open) is False
    driver.find_element("css selector", ".carto-filters summary").click()
    assert driver.execute_script(is_open) is True
    # opened, the panel scrolls above the legend rather than run under it
    panel, legend = (driver.find_element("css selector", selector).rect for selector in (".carto-filters",
                                                                                         ".carto-legend"))
    assert panel["y"] + panel["height"] <= legend["y"]


@pytest.mark.browser
def test_the_layer_control_switches_between_basemap_and_offline_background(offline_browser, tmp_path, monkeypatch):
    """On the basemap the communes' fill is transparent (the plan shows through); offline, it is opaque."""
    import folium
    import geopandas as gpd
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from shapely.geometry import box

    tiles = tmp_path / "tuiles"
    tiles.mkdir()
    monkeypatch.setattr(maps.frame, "TILES_URL", tiles.as_uri() + "/{z}-{x}-{y}.png")  # never the internet in tests
    deps = gpd.GeoDataFrame({"nom": ["Tarn"], "code": ["81"]}, geometry=[box(1.5, 43.4, 2.9, 44.2)], crs=4326)
    m = maps.add_background(maps.base_map(tiles=True), communes=deps, departements=deps)
    folium.LayerControl(collapsed=False).add_to(m)
    html_path = export.save_html(m, tmp_path / "fond.html")
    driver = offline_browser(900, 700)
    driver.get(html_path.as_uri())
    opacity = """
        var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0];
        return window[name]._cartoFills[0].getLayers()[0].options.fillOpacity;"""
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(opacity) == 0)
    labels = driver.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-base label")
    assert [label.text.strip() for label in labels] == [maps.TILES_LABEL, maps.OFFLINE_LABEL]
    labels[1].click()
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(opacity) == 1)
    labels[0].click()
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(opacity) == 0)
