"""Whole harmonisation at scale: import + normalise + link of the synthetic sources.

Usage::

    python benchmarks/harmonise_scale.py                       # 10 000, 100 000 and 1 000 000 personnes
    python benchmarks/harmonise_scale.py 10000 --sans-recordlinkage
    python benchmarks/harmonise_scale.py 100000 --postgresql postgresql://…/vide

For each size, the five synthetic source files (:func:`carto.synth.generate`,
cached in ``.cache/harmonise/<n>``; their generation is not timed) are imported
into a new base (:func:`carto.ingest.import_folder`) and linked
(:func:`carto.linkage.link`) in a child process, whose wall time per stage and
peak memory (``ru_maxrss``: after the import, and of the whole run) are printed next to the target
of issue 3:
**1 M persons in under 3 minutes on 2 cores, peak memory under 8 GB**.

At 10 000 persons, the person records are also linked side by side by
:func:`carto.linkage.predict` (Splink 5 on DuckDB) and by ``recordlinkage``
0.16 (blocking on surname and on e-mail, Jaro-Winkler on names, exact e-mail,
phone and postcode, ECM classifier), each timed and scored against the
synthetic ground truth; the time ratio is printed. ``recordlinkage`` pins
pandas < 3, so it runs in its own virtual environment, made once in
``.cache/rl-venv`` with ``recordlinkage==0.16 pandas==2.2.3`` from PyPI.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carto import ingest, linkage, quality, store, synth  # noqa: E402

CACHE = REPO / ".cache"
TARGET_SECONDS = 180
TARGET_MB = 8 * 1024
TODAY = date(2026, 11, 29)

_CHILD = """
import json, resource, sys, time
from carto import ingest, linkage, store
folder, url = sys.argv[1], sys.argv[2]
engine = store.init_base(url, who="benchmark")
t0 = time.perf_counter()
reports = ingest.import_folder(engine, folder, who="benchmark")
t1 = time.perf_counter()
import_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import": t1 - t0, "import_mb": import_mb}), flush=True)
report = linkage.link(engine, who="benchmark")
t2 = time.perf_counter()
engine.dispose()
print(json.dumps({"import": t1 - t0, "import_mb": import_mb, "link": t2 - t1, "rows": sum(r.lus for r in reports),
                  "quarantined": sum(r.en_quarantaine for r in reports), "merges": report.merges,
                  "review": report.to_review}))
"""

_RECORDLINKAGE = """
import sys, time
import pandas as pd
import recordlinkage as rl
df = pd.read_csv(sys.argv[1], dtype=str).set_index("id")
t0 = time.perf_counter()
indexer = rl.Index()
indexer.block("last_name_key")
indexer.block("email_key")
candidates = indexer.index(df)
compare = rl.Compare()
compare.string("first_name_key", "first_name_key", method="jarowinkler", threshold=0.85, label="prenom")
compare.string("last_name_key", "last_name_key", method="jarowinkler", threshold=0.85, label="nom")
compare.exact("email_key", "email_key", label="courriel")
compare.exact("phone", "phone", label="telephone")
compare.exact("postcode", "postcode", label="code_postal")
features = compare.compute(candidates, df)
matches = rl.ECMClassifier(binarize=None).fit_predict(features)
seconds = time.perf_counter() - t0
pd.DataFrame({"id_l": matches.get_level_values(0), "id_r": matches.get_level_values(1)}).to_csv(sys.argv[2], index=False)
print(seconds)
"""


def sources(n: int) -> Path:
    """The synthetic sources of ``n`` persons, generated once into the cache."""
    folder = CACHE / "harmonise" / str(n)
    if not (folder / "verite" / "correspondances.csv").exists():
        print(f"  génération des sources de {n:,} personnes (non chronométrée)…".replace(",", " "), flush=True)
        synth.generate(folder, n_persons=n, today=TODAY)
    return folder


def run_scale(n: int, url: str | None) -> dict:
    """Import + link ``n`` persons' sources in a child process; stage times and peak memory."""
    folder = sources(n)
    with tempfile.TemporaryDirectory() as tmp:
        base = url or f"sqlite:///{tmp}/base.sqlite"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), base],
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"Échec à {n} personnes (après {seconds:.0f} s) :\n{done.stdout}\n{done.stderr}")
        peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(n=n, seconds=seconds, peak_mb=peak)
    return result


def rl_python() -> Path:
    """Python of a virtual environment holding recordlinkage (made once)."""
    venv = CACHE / "rl-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print("  création de .cache/rl-venv (recordlinkage 0.16, pandas 2.2.3)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "recordlinkage==0.16", "pandas==2.2.3"],
                       check=True)
    return python


def side_by_side(n: int) -> None:
    """carto.linkage.predict vs recordlinkage on the person records of ``n`` persons."""
    folder = sources(n)
    with tempfile.TemporaryDirectory() as tmp:
        engine = store.init_base(f"sqlite:///{tmp}/base.sqlite", who="benchmark")
        try:
            ingest.import_folder(engine, folder, who="benchmark")
            records = quality.person_records(engine, folder)
        finally:
            engine.dispose()
        features = records.drop(columns=["entite_id"])
        started = time.perf_counter()
        ours = linkage.predict(features, kind="personne")
        ours_seconds = time.perf_counter() - started
        ours = ours[ours["probability"] >= linkage.AUTO_THRESHOLD]
        csv_in, csv_out = Path(tmp) / "personnes.csv", Path(tmp) / "paires.csv"
        features.to_csv(csv_in, index=False)
        done = subprocess.run([str(rl_python()), "-c", _RECORDLINKAGE, str(csv_in), str(csv_out)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"Échec de recordlinkage :\n{done.stderr}")
        rl_seconds = float(done.stdout.strip().splitlines()[-1])
        theirs = pd.read_csv(csv_out)
    truth = records.set_index("id")["entite_id"]
    print(f"\nMême liaison des {len(records):,} mentions de personnes ({n:,} personnes) :".replace(",", " "))
    print(f"{'outil':<34} {'durée (s)':>10} {'précision':>10} {'rappel':>8} {'F1':>8}")
    for name, pairs, seconds in (("carto.linkage (Splink 5, DuckDB)", ours, ours_seconds),
                                 ("recordlinkage 0.16 (ECM)", theirs, rl_seconds)):
        precision, recall, f1 = quality.pair_scores(pairs, truth)
        print(f"{name:<34} {seconds:>10.1f} {precision:>10.4f} {recall:>8.4f} {f1:>8.4f}")
    print(f"rapport des durées recordlinkage / carto.linkage : {rl_seconds / ours_seconds:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Harmonisation complète (import + rapprochement) à l'échelle.")
    parser.add_argument("tailles", nargs="*", type=int, default=[10_000, 100_000, 1_000_000],
                        help="nombres de personnes")
    parser.add_argument("--postgresql", metavar="URL", help="base PostgreSQL vide à utiliser au lieu de SQLite")
    parser.add_argument("--sans-recordlinkage", action="store_true", help="sans la comparaison à 10 000")
    args = parser.parse_args()
    print(f"Cible : 1 000 000 de personnes en moins de {TARGET_SECONDS} s, mémoire max < {TARGET_MB} Mo.")
    print(f"{'personnes':>10} {'lignes':>10} {'import (s)':>11} {'liaison (s)':>12} {'total (s)':>10} "
          f"{'mém. import (Mo)':>17} {'mém. max (Mo)':>14} {'fusions':>9} {'à revoir':>9}")
    for n in sorted(args.tailles):
        r = run_scale(n, args.postgresql)
        print(f"{n:>10} {r['rows']:>10} {r['import']:>11.1f} {r['link']:>12.1f} {r['seconds']:>10.1f} "
              f"{r['import_mb']:>17.0f} {r['peak_mb']:>14.0f} {r['merges']:>9} {r['review']:>9}", flush=True)
    if not args.sans_recordlinkage:
        side_by_side(10_000)


if __name__ == "__main__":
    main()
