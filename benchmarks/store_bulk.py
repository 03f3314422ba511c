"""Benchmark of the base's bulk writers: idempotent upsert of source records.

Usage::

    python benchmarks/store_bulk.py [--rows 100000 1000000] [--postgresql postgresql://…/base_vide]

For each size, on a fresh SQLite file (and on the given, empty PostgreSQL
database, whose tables are dropped first), prints (in French) the time to
upsert ``rows`` source records (first import), to upsert them again unchanged
(nothing written), and to upsert them with 1 % of rows changed; and the peak
memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carto import _fr, store  # noqa: E402


def _records(n: int, batch: int) -> pd.DataFrame:
    index = pd.RangeIndex(n)
    return pd.DataFrame(
        {
            "source": "lreav",
            "source_key": "K" + index.astype(str),
            "batch_id": batch,
            "file_name": "lreav.csv",
            "line": index + 2,
            "raw": [{"nom": f"Nom {i}", "prenom": "Camille", "courriel": f"c{i}@exemple.fr"} for i in range(n)],
            "row_hash": "h" + index.astype(str),
        }
    )


def run(url: str, n: int) -> None:
    """Print the three upsert timings for ``n`` rows on the base at ``url``."""
    engine = store.init_base(url, who="benchmark")
    with store.transaction(engine, action="benchmark") as conn:
        batch = conn.execute(
            store.import_batches.insert()
            .values(source="lreav", file_name="lreav.csv", who="benchmark")
            .returning(store.import_batches.c.id)
        ).scalar_one()
    rows = _records(n, batch)
    changed = rows.copy()
    step = 100
    changed.loc[::step, "row_hash"] = "changé"
    key = ["source", "source_key"]
    for label, frame in (("premier import", rows), ("ré-import identique", rows), ("1 % modifié", changed)):
        start = time.perf_counter()
        with store.transaction(engine, action="benchmark") as conn:
            written = store.upsert(conn, store.source_records, frame, key=key)
        seconds = time.perf_counter() - start
        print(
            f"{engine.dialect.name:10} {_fr.integer(round(n)):>10} lignes  {label:20} {seconds:6.1f} s  "
            f"({_fr.integer(round(n / seconds))} lignes/s, {_fr.integer(round(written))} écrites)"
        )
    engine.dispose()


def _reset_postgresql(url: str) -> None:
    engine = store.connect(url)
    with engine.begin() as conn:
        tables = sa.MetaData()
        tables.reflect(conn)
        tables.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()


def main() -> None:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--postgresql", help="URL d'une base PostgreSQL vide (ses tables seront supprimées)")
    args = parser.parse_args()
    for n in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/base.sqlite", n)
        if args.postgresql:
            _reset_postgresql(args.postgresql)
            run(args.postgresql, n)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Mémoire maximale du processus : {_fr.integer(round(peak))} Mo")


if __name__ == "__main__":
    main()
