"""Benchmark of the synthetic sources generator (carto.synth) at scale.

For each size, runs :func:`carto.synth.generate` in a fresh subprocess and
prints its wall time and peak memory (``ru_maxrss`` the child reads of itself,
so each size reports its own peak), plus the rows written.

Usage::

    python benchmarks/synth_scale.py                  # 10 000, 100 000 and 1 000 000 personnes
    python benchmarks/synth_scale.py 10000 100000 1000000
    python benchmarks/synth_scale.py --dossier /tmp/synth 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import json, resource, sys, datetime
from carto import synth
s = synth.generate(sys.argv[1], n_persons=int(sys.argv[2]), today=datetime.date(2026, 11, 29))
print(json.dumps({"rows": s.rows, "events": s.n_events, "participations": s.n_participations,
                  "organisations": s.n_organisations, "files": s.n_emargement_files,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_one(n: int, folder: Path) -> dict:
    """Generate ``n`` persons in a subprocess; return time, peak memory and counts."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), str(n)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"Échec de la génération de {n} personnes :\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    # RUSAGE_CHILDREN would be the maximum over every child so far: the child measures itself
    result.update(n=n, seconds=seconds, peak_mb=result.pop("peak_kb") / 1024, disk_mb=size / 2**20)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Temps et mémoire de carto.synth selon la taille.")
    parser.add_argument(
        "tailles", nargs="*", type=int, default=[10_000, 100_000, 1_000_000], help="nombres de personnes"
    )
    parser.add_argument("--dossier", type=Path, default=None, help="dossier de travail (temporaire sinon)")
    args = parser.parse_args(argv)
    base = args.dossier or Path(tempfile.mkdtemp(prefix="synth_scale_"))
    print(
        f"{'personnes':>10} {'temps (s)':>10} {'mémoire max (Mo)':>17} {'disque (Mo)':>12}  lignes par source"
    )
    for n in sorted(args.tailles):
        r = run_one(n, base / f"n{n}")
        rows = ", ".join(f"{k} {v}" for k, v in r["rows"].items())
        print(
            f"{n:>10} {r['seconds']:>10.1f} {r['peak_mb']:>17.0f} {r['disk_mb']:>12.1f}  {rows}", flush=True
        )


if __name__ == "__main__":
    main()
