"""Benchmark of the import of the five synthetic sources (carto.ingest).

Usage::

    python benchmarks/ingest_rates.py [--persons 100000] [--folder DOSSIER] [--postgresql postgresql://…/base_vide]

Generates the synthetic sources (``carto.synth.generate``, unless ``--folder``
already holds them), then imports them into a fresh SQLite file (or the given
empty PostgreSQL database): prints, per source, the rows read, the time and
the rate in lines per second, for a first import and for a re-import of the
same files (nothing written); then the peak memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carto import ingest, store, synth  # noqa: E402


def _n(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Débit de l'import des sources synthétiques.")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--postgresql", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "synth"
        if not (folder / "sources").is_dir():
            t0 = time.perf_counter()
            synth.generate(folder, n_persons=args.persons)
            print(f"Génération de {_n(args.persons)} personnes : {time.perf_counter() - t0:.1f} s")
        url = args.postgresql or f"sqlite:///{Path(tmp) / 'base.sqlite'}"
        engine = store.init_base(url, who="benchmark")
        for label in ("premier import", "réimport (rien à écrire)"):
            print(f"— {label} ({engine.dialect.name})")
            total_rows, total_time = 0, 0.0
            for report in ingest.import_folder(engine, folder, who="benchmark"):
                total_rows += report.lus
                total_time += report.seconds
                print(f"  {report.source:<12} {_n(report.lus):>9} lignes  {report.seconds:7.1f} s  "
                      f"{_n(report.lus / report.seconds):>8} lignes/s  ({_n(report.en_quarantaine)} en quarantaine)")
            print(f"  {'total':<12} {_n(total_rows):>9} lignes  {total_time:7.1f} s  "
                  f"{_n(total_rows / total_time):>8} lignes/s")
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Mémoire maximale : {_n(peak)} Mo")


if __name__ == "__main__":
    main()
