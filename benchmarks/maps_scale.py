"""Maps at scale: the members map of a community with 1 000, 10 000 and 100 000 actors on it.

Usage::

    python benchmarks/maps_scale.py                  # 1 000, 10 000 and 100 000 acteurs
    python benchmarks/maps_scale.py 1000 10000 --sans-naif

For each size, a base is built (not timed): ``n`` persons who agreed to be shown, placed in communes by
population, all members of one community (one event each). Then are measured:

- **Terreau**: :func:`carto.maps.actor_map` + :func:`carto.export.save_html` (time to write, size of the
  self-contained HTML), and the time until the map is interactive in headless Chromium with no network
  (page loaded and the members' circles on the map, from the start of navigation: ``performance.now()``);
- **naive folium**: the same points as one ``folium.CircleMarker`` with its ``folium.Popup`` per actor on
  the same offline background (the per-marker HTML approach), measured the same way.

Target of issue 5: **100 000 actors: HTML ≤ 15 MB and interactive ≤ 3 s**.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carto import _fr, communities, export, geo, maps, store  # noqa: E402

TODAY = date(2026, 11, 29)
TARGET_MB, TARGET_S = 15.0, 3.0
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def build(folder: Path, n: int, seed: int = 5) -> object:
    """A base of ``n`` consenting persons, members of « biodiversite » (one event each)."""
    rng = np.random.default_rng(seed)
    engine = store.init_base(f"sqlite:///{folder / f'base-{n}.sqlite'}", who="benchmark")
    communities.create_communities(engine, who="benchmark")
    communes = geo.communes()
    pop = communes["population"].to_numpy(float)
    codes = communes["code"].to_numpy(object)[rng.choice(len(pop), size=n, p=pop / pop.sum())]
    with store.transaction(engine, action="benchmark", who="benchmark", check_tables=["participations"]) as conn:
        store.insert_rows(conn, store.actors, pd.DataFrame({
            "id": np.arange(1, n + 1), "kind": "personne", "display_name": [f"Personne n° {i}" for i in range(n)],
            "commune_code": codes, "consent_map": True}))
        conn.execute(store.events.insert().values(id=1, title="Rencontre", kind="rencontre de communauté",
                                                  starts_on=date(2026, 10, 1), theme="biodiversite"))
        store.insert_rows(conn, store.participations, pd.DataFrame({
            "event_id": 1, "actor_id": np.arange(1, n + 1), "role": "participant", "signed": True}))
    communities.update_circles(engine, as_of=TODAY, who="benchmark")
    return engine


def naive_map(engine: object) -> object:
    """One folium CircleMarker + Popup per actor (per-marker HTML), same offline background."""
    import folium

    table = communities.members(engine, "biodiversite", as_of=TODAY)
    places = geo.communes().set_index("code")
    a = store.actors
    import sqlalchemy as sa

    with engine.connect() as conn:
        codes = store.read_frame(conn, sa.select(a.c.id, a.c.commune_code))
    code = table["acteur"].map(dict(zip(codes["id"], codes["commune_code"], strict=True)))
    m = maps.base_map()
    maps.add_background(m, communes=geo.communes(), departements=geo.departements())
    for nom, c in zip(table["nom"], code, strict=True):
        folium.CircleMarker([float(places.at[c, "lat"]), float(places.at[c, "lon"])], radius=5,
                            popup=folium.Popup(f"<b>{nom}</b><br>{places.at[c, 'nom']}"), fill=True).add_to(m)
    return m


def interactive_seconds(html_path: Path, ready_js: str) -> float:
    """Seconds from navigation start until ``ready_js`` is true, in headless Chromium with no network."""
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(export.find_chromium())
    with tempfile.TemporaryDirectory() as profile:
        for flag in (*export.CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1000",
                     "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(600)
            driver.get(html_path.as_uri())
            WebDriverWait(driver, 600, poll_frequency=0.05).until(lambda d: d.execute_script(ready_js))
            return float(driver.execute_script("return performance.now()")) / 1000
        finally:
            driver.quit()


def measure(kind: str, make: object, folder: Path, n: int) -> dict[str, float]:
    t0 = time.perf_counter()
    fmap = make()
    path = export.save_html(fmap, folder / f"{kind}-{n}.html")
    written = time.perf_counter() - t0
    ready = ("var name = Object.keys(window).filter(function (k) { return k.indexOf('map_') === 0; })[0];"
             "if (!name || typeof L === 'undefined') { return false; } var n = 0;"
             "window[name].eachLayer(function (l) { if (l instanceof L.CircleMarker) { n += 1; } }); return n > 0;")
    return {"écriture (s)": written, "taille (Mo)": path.stat().st_size / 1e6,
            "interactive (s)": interactive_seconds(path, ready)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument("--sans-naif", action="store_true", help="ne pas mesurer l'approche folium naïve")
    parser.add_argument("--naif-max", type=int, default=10_000, help="plus grande taille mesurée en naïf")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.sizes:
            engine = build(folder, n)
            result = measure("terreau", lambda e=engine: maps.actor_map(e, "biodiversite", as_of=TODAY), folder, n)
            rows.append({"acteurs": _fr.integer(n), "approche": "Terreau (tableau de points)", **result})
            if not args.sans_naif and n <= args.naif_max:
                naive = measure("naif", lambda e=engine: naive_map(e), folder, n)
                rows.append({"acteurs": _fr.integer(n), "approche": "folium naïf (un marqueur HTML chacun)",
                             **naive})
            elif not args.sans_naif:
                rows.append({"acteurs": _fr.integer(n), "approche": "folium naïf : non mesuré (trop long)"})
            engine.dispose()
            print(pd.DataFrame(rows[-2:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"Cible (100 000 acteurs) : HTML ≤ {TARGET_MB:g} Mo, interactive ≤ {TARGET_S:g} s.")


if __name__ == "__main__":
    main()
