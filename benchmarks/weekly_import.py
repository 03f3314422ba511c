"""The weekly loop at scale: import and link one new sign-in sheet of about 300 rows, then a no-op link.

Usage::

    python benchmarks/weekly_import.py                 # 10 000, 100 000 and 1 000 000 personnes
    python benchmarks/weekly_import.py 10000 100000

For each size, the synthetic sources (:func:`carto.synth.generate`, cached in
``.cache/weekly/<n>``) are split by :func:`carto.quality.weekly_split`: the
latest sign-in sheets (about 300 rows) are this week's, the rest is the base.
The base is imported and linked once (full run: the model is trained and the
blocking keys indexed; not the measure). Then, timed: the import of this
week's sheets, the incremental link, a link with nothing new, and — the
reference — a full re-link of the same base (``link(full=True)``). Printed
side by side, with the peak memory of the process, the review queue, and
the F1 of the incremental result next to linking everything at once (a second
base). Targets of issue 16: import + link of the weekly sheet ≤ 10 s at 100 000
and ≤ 30 s at 1 000 000; ratio 1 M / 10 k ≤ 3; no-op link ≤ 1 s.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carto import _fr, ingest, linkage, quality, store, synth  # noqa: E402

CACHE = REPO / ".cache" / "weekly"
TODAY = date(2026, 11, 29)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, compare_up_to: int = 100_000) -> dict[str, float]:
    folder = CACHE / str(n)
    if not (folder / "verite").exists():
        synth.generate(folder, n_persons=n, today=TODAY)
    with tempfile.TemporaryDirectory() as tmp:
        first, week = quality.weekly_split(folder, tmp, rows=300)
        engine = store.init_base(f"sqlite:///{tmp}/base.sqlite", who="benchmark")
        t0 = time.perf_counter()
        ingest.import_folder(engine, first, who="benchmark")
        initial = linkage.link(engine, who="benchmark")
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        sheet = ingest.import_file(engine, week, source="emargement", who="benchmark")
        t1 = time.perf_counter()
        news = linkage.link(engine, who="benchmark")
        t2 = time.perf_counter()
        linkage.link(engine, who="benchmark")  # nothing new: returns at once
        t3 = time.perf_counter()
        incremental_f1 = quality.synthetic_scores(engine, folder)
        t4 = time.perf_counter()
        full = linkage.link(engine, full=True, who="benchmark")
        t5 = time.perf_counter()
        engine.dispose()
        at_once_f1 = {"personnes": (0, 0, float("nan")), "organisations": (0, 0, float("nan"))}
        if n <= compare_up_to:  # a second base of the same size: doubles the run, so not at 1 M
            at_once = store.init_base(f"sqlite:///{tmp}/ensemble.sqlite", who="benchmark")
            ingest.import_folder(at_once, folder, who="benchmark")
            linkage.link(at_once, who="benchmark")
            at_once_f1 = quality.synthetic_scores(at_once, folder)
            at_once.dispose()
    return {
        "n": n, "build": build, "rows": sheet.lus, "import": t1 - t0, "link": t2 - t1, "noop": t3 - t2,
        "full": t5 - t4, "actors": news.actors, "new": news.new_records, "candidates": news.candidates.get("personne", 0),
        "queue_initial": initial.asked, "records_initial": sum(initial.units.values()), "queue_week": news.asked,
        "f1_incremental": incremental_f1["personnes"][2], "f1_at_once": at_once_f1["personnes"][2],
        "precision_incremental": incremental_f1["personnes"][0], "recall_incremental": incremental_f1["personnes"][1],
        "f1_org_incremental": incremental_f1["organisations"][2], "f1_org_at_once": at_once_f1["organisations"][2],
        "peak_mb": _peak_mb(), "merges_week": news.merges, "full_merges": full.merges,
    }


def _score(x: float) -> str:
    return "non mesuré" if x != x else _fr.decimal(x, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--comparer-jusqua", type=int, default=100_000, dest="compare_up_to",
                        help="taille maximale pour laquelle une seconde base liée d'un coup donne le F1 de référence")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        r = run(n, args.compare_up_to)
        results.append(r)
        week = r["import"] + r["link"]
        print(f"{_fr.integer(n)} personnes ({_fr.integer(r['actors'])} acteurs, base faite en "
              f"{_fr.duration(r['build'])}) : feuille de {_fr.integer(r['rows'])} lignes — import "
              f"{_fr.duration(r['import'])} + liaison incrémentale {_fr.duration(r['link'])} = "
              f"{_fr.duration(week)} ({_fr.integer(r['new'])} nouveaux enregistrements, "
              f"{_fr.integer(r['candidates'])} candidats, {_fr.integer(r['merges_week'])} fusions) ; "
              f"sans rien de nouveau {_fr.duration(r['noop'])} ; référence, tout relier : {_fr.duration(r['full'])} "
              f"(rapport {_fr.decimal(r['full'] / max(r['link'], 1e-9), 1)}) ; file de revue : "
              f"{_fr.integer(r['queue_initial'])} paires pour {_fr.integer(r['records_initial'])} enregistrements, "
              f"{_fr.integer(r['queue_week'])} pour la feuille ; F1 personnes incrémental "
              f"{_score(r['f1_incremental'])} (précision {_score(r['precision_incremental'])}, rappel "
              f"{_score(r['recall_incremental'])}) / tout d'un coup {_score(r['f1_at_once'])}, "
              f"organisations {_score(r['f1_org_incremental'])} / {_score(r['f1_org_at_once'])} ; "
              f"mémoire de pointe {_fr.integer(int(r['peak_mb']))} Mo", flush=True)
    targets = {100_000: 10, 1_000_000: 30}
    for r in results:
        if r["n"] in targets:
            print(f"  cible à {_fr.integer(r['n'])} : ≤ {targets[r['n']]} s — mesuré "
                  f"{_fr.duration(r['import'] + r['link'])}")
    sizes = {r["n"]: r for r in results}
    if 10_000 in sizes and 1_000_000 in sizes:
        ratio = ((sizes[1_000_000]["import"] + sizes[1_000_000]["link"])
                 / (sizes[10_000]["import"] + sizes[10_000]["link"]))
        print(f"  rapport 1 M / 10 k : {_fr.decimal(ratio, 2)} (cible ≤ 3)")
    print(f"  liaison sans rien de nouveau : cible ≤ 1 s — mesuré "
          f"{', '.join(_fr.duration(r['noop']) for r in results)}")


if __name__ == "__main__":
    main()
