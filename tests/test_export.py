"""Tests of carto.export: offline HTML (no CDN), escaping, PNG and real rendering in headless Chromium."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from shapely.geometry import box

from carto import export, maps
from carto._errors import AssetError, BrowserError
from conftest import missing as _missing

HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","clic")'
CHROMEDRIVER = Path("/usr/bin/chromedriver")


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


@pytest.fixture
def offline_browser(chromium, tmp_path, monkeypatch):
    """Factory of selenium drivers on Debian's Chromium with no network at all (dead proxy)."""
    if not CHROMEDRIVER.is_file():
        _missing("chromedriver", "installez-le avec « apt-get install chromium-driver »")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start(width: int, height: int):
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium)
        for flag in (*export.CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / f'profil{len(drivers)}'}",
                     f"--window-size={width},{height}",
                     "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        drivers.append(webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options))
        return drivers[-1]

    yield start
    for driver in drivers:
        driver.quit()


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
    driver.execute_script("""
        var name = Object.keys(window).filter(function (k) { return k.indexOf("map_") === 0; })[0];
        window[name].eachLayer(function (l) { if (l.getPopup && l.getPopup() && l instanceof L.Marker
            && l.getPopup().getContent().indexOf("alert") >= 0) { l.openPopup(); } });""")
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
