"""Cercles and their history at scale: 1 M persons, 5 M participations.

Usage::

    python benchmarks/circles_scale.py                 # 100 000 then 1 000 000 personnes
    python benchmarks/circles_scale.py 100000 --participations 5

For each size, a base is built once (cached in ``.cache/circles/<n>/base.sqlite``;
its building is not timed) straight from numpy: ``n`` persons placed in communes
by population, the three pilot communities, about 3 000 events over seven
years (a fifth of them in each pilot community's space, 5 % working-group
meetings), ``participations × n`` participations drawn with a heavy-tailed
activity per person (2 % as organisers, 8 % registered but absent), and 30 % of
persons subscribed to one community newsletter. Then, each in its own child
process (so that its peak memory, ``ru_maxrss``, is its own), are timed:

1. ``update_circles`` on a base that never had them: cercles and the whole
   dated history of the three communities, written;
2. the same again (nothing changes: the diff writes nothing);
3. ``circles`` as of a past date (evaluation, nothing written);
4. ``members`` of the largest community (the tracking table) and
   ``circles_by_month`` (the evaluation series).

Sizes are printed side by side; there is no time target in issue 4.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carto import _fr, communities, geo, store  # noqa: E402

CACHE = REPO / ".cache" / "circles"
TODAY = date(2026, 11, 29)
START = date(2019, 9, 1)
_KINDS = ("rencontre de communauté", "formation-action", "commission citoyenne", "concertation", "webinaire",
          "atelier de cartographie", "groupe de travail", "rencontre régionale annuelle")
_KIND_WEIGHTS = (0.35, 0.1, 0.08, 0.2, 0.12, 0.05, 0.05, 0.05)

_CHILD = """
import json, resource, sys, time
from datetime import date
from carto import communities, evaluation, store
url, step = sys.argv[1], sys.argv[2]
engine = store.open_base(url)
t0 = time.perf_counter()
if step in ("premier calcul", "recalcul"):
    report = communities.update_circles(engine, as_of=date(2026, 11, 29), who="benchmark")
    detail = {"membres": sum(v[1] + v[2] + v[3] for v in report.counts.values()),
              "historique": report.history_added, "retirés": report.history_removed, "changés": report.changed}
elif step == "à une date passée":
    table = communities.circles(engine, "engagement-citoyen", as_of=date(2024, 6, 30))
    detail = {"membres": int(table["cercle"].notna().sum())}
else:
    table = communities.members(engine, "engagement-citoyen", as_of=date(2026, 11, 29))
    series = evaluation.circles_by_month(engine, "engagement-citoyen", end=date(2026, 11, 29))
    detail = {"membres": len(table), "mois": len(series)}
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **detail}))
"""
STEPS = ("premier calcul", "recalcul", "à une date passée", "tableau de suivi et série mensuelle")


def build(n: int, per_person: float, seed: int = 4) -> Path:
    """A base of ``n`` persons and ``per_person × n`` participations (cached)."""
    folder = CACHE / f"{n}-{per_person:g}"
    path = folder / "base.sqlite"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "construction.sqlite"
    for stale in folder.glob("construction.sqlite*"):
        stale.unlink()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    engine = store.init_base(f"sqlite:///{tmp}", who="benchmark")
    comms = communities.create_communities(engine, who="benchmark")
    communes = geo.communes()
    pop = communes["population"].to_numpy(float)
    persons = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "kind": "personne",
        "display_name": [f"Personne {i}" for i in range(1, n + 1)],
        "commune_code": communes["code"].to_numpy(object)[rng.choice(len(pop), size=n, p=pop / pop.sum())],
    })
    n_events = 3000
    span = (TODAY - START).days
    themes = np.array(["citoyennete", "alimentation-agriculture", "biodiversite", "mer", "eau", "numerique"], object)
    event_days = np.sort(rng.integers(0, span, n_events))
    kinds = rng.choice(len(_KINDS), size=n_events, p=_KIND_WEIGHTS)
    event_frame = pd.DataFrame({
        "id": np.arange(1, n_events + 1),
        "title": [f"Événement {i}" for i in range(1, n_events + 1)],
        "kind": np.array(_KINDS, object)[kinds],
        "starts_on": [START + pd.Timedelta(days=int(d)) for d in event_days],
        "theme": themes[rng.choice(len(themes), size=n_events, p=[0.2, 0.2, 0.2, 0.15, 0.15, 0.1])],
    })
    event_frame["starts_on"] = [d.date() if hasattr(d, "date") else d for d in event_frame["starts_on"]]
    size = rng.lognormal(0, 1, n_events) * np.where(kinds == _KINDS.index("groupe de travail"), 0.1, 1.0)
    activity = rng.lognormal(0, 1.2, n)
    total = int(per_person * n)
    parts = pd.DataFrame({
        "event_id": rng.choice(n_events, size=total, p=size / size.sum()) + 1,
        "actor_id": rng.choice(n, size=total, p=activity / activity.sum()) + 1,
    }).drop_duplicates()
    parts["role"] = np.where(rng.random(len(parts)) < 0.02, "organisateur", "participant")
    parts["signed"] = rng.random(len(parts)) >= 0.08
    lists = comms["lettre"].to_numpy(object)
    subscribed = rng.random(n) < 0.3
    subs = pd.DataFrame({
        "actor_id": persons["id"][subscribed].to_numpy(),
        "list_name": lists[rng.integers(0, len(lists), int(subscribed.sum()))],
        "status": np.where(rng.random(int(subscribed.sum())) < 0.9, "subscribed", "unsubscribed"),
        "status_at": [datetime(2019, 9, 1, tzinfo=timezone.utc) + pd.Timedelta(days=int(d))
                      for d in rng.integers(0, span, int(subscribed.sum()))],
    })
    with store.transaction(engine, action="benchmark", who="benchmark",
                           check_tables=["participations", "subscriptions"]) as conn:
        store.insert_rows(conn, store.actors, persons)
        store.insert_rows(conn, store.events, event_frame)
        store.insert_rows(conn, store.participations, parts)
        store.insert_rows(conn, store.subscriptions, subs)
    engine.dispose()
    tmp.rename(path)
    print(f"  base construite en {time.perf_counter() - t0:.0f} s : {_fr.integer(n)} personnes, "
          f"{_fr.integer(len(parts))} participations, {_fr.integer(len(subs))} inscriptions", flush=True)
    return path


def measure(path: Path) -> dict[str, dict]:
    work = path.with_name("mesure.sqlite")
    for stale in path.parent.glob("mesure.sqlite*"):
        stale.unlink()
    work.write_bytes(path.read_bytes())
    results = {}
    for step in STEPS:
        done = subprocess.run([sys.executable, "-c", _CHILD, f"sqlite:///{work}", step], capture_output=True,
                              text=True, cwd=REPO)
        if done.returncode:
            raise SystemExit(done.stderr)
        results[step] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--participations", type=float, default=5.0, help="participations par personne")
    args = parser.parse_args()
    table = {}
    for n in args.sizes:
        print(f"{_fr.integer(n)} personnes…", flush=True)
        table[n] = measure(build(n, args.participations))
    print()
    print(f"{'étape':<40}" + "".join(f"{_fr.integer(n) + ' pers.':>26}" for n in table))
    for step in STEPS:
        cells = [f"{r[step]['seconds']:8.1f} s {r[step]['mb']:7.0f} Mo" for r in table.values()]
        print(f"{step:<40}" + "".join(f"{c:>26}" for c in cells))
    for n, r in table.items():
        first = r["premier calcul"]
        print(f"{_fr.integer(n)} personnes : {_fr.integer(first['membres'])} membres, "
              f"{_fr.integer(first['historique'])} changements de cercle écrits ; recalcul : "
              f"{r['recalcul']['changés']} adhésion(s) et {r['recalcul']['historique']} changement(s) réécrits")


if __name__ == "__main__":
    main()
