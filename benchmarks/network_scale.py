"""Network metrics at scale: 10 000 and 100 000 actors (about 1 000 000 ties at 100 000).

Usage::

    python benchmarks/network_scale.py                     # 10 000 then 100 000 acteurs
    python benchmarks/network_scale.py 10000 --networkx-max 0 --seuil

The graph (generated first, not timed) is an actor graph as :mod:`carto.network` makes it from
participations: actors attend events and two actors who attended the same event are tied, with
Newman's weight ``1 / (n − 1)`` for each shared event of ``n`` participants. Events have heavy-tailed
sizes (3 + a log-normal, at most 400 participants), each belongs to a territory of about 400 actors
and draws 85 % of its participants there, weighted by a Pareto-distributed activity of the actors;
actors who attended nothing (about a third: newsletter-only contacts) stay isolated. One actor in
ten is an organisation. At 100 000 actors this gives about 980 000 ties.

Each column runs in its own child process, which reads the tie list from a file:

- « networkx + metrics(auto) »: building the ``networkx.Graph`` from the tie list (actors with
  their ``name`` and ``kind``), then :func:`carto.netmetrics.metrics` with ``backend="auto"``
  (igraph at these sizes: the conversion to igraph is inside the measure);
- « igraph brut »: building an ``igraph.Graph`` from the same list, then the same metrics with
  direct igraph calls (``betweenness`` with the same sources, ``pagerank``, ``coreness``,
  ``community_leiden``) and the same sparse code for reach, constraint and effective size: the
  floor ``metrics`` cannot beat. Target: ``metrics`` at most 1.5 times this;
- « networkx »: ``metrics(backend="networkx")`` (networkx for betweenness, PageRank, cores,
  Louvain) up to ``--networkx-max`` actors (default 10 000).

Memory is the **peak resident memory during the step above the memory at its start** (Linux: the
high-water mark ``VmHWM`` of ``/proc/self/status`` reset by writing 5 to ``/proc/self/clear_refs``;
elsewhere the growth of ``ru_maxrss``): it counts igraph's and scipy's C allocations too. The metrics
of the first two columns run ``--repetitions`` times (default 2) and the shortest time is kept.

With ``--seuil``, a second table times both backends on small graphs of the same kind: the evidence
for ``IGRAPH_FROM_NODES``. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carto import _fr, netmetrics  # noqa: E402

SEED = 20190901
TARGET_RATIO = 1.5
COLUMNS = {"auto": "networkx + metrics(auto)", "brut": "igraph brut", "networkx": "networkx"}


def generate(n: int, seed: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ties ``(src, dst, weight)`` of ``n`` actors projected from events (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    territories = max(1, n // 400)
    territory = np.sort(rng.integers(territories, size=n))
    activity = np.cumsum(rng.pareto(2.5, size=n) + 0.3)
    before = np.concatenate([[0.0], activity])
    first = np.searchsorted(territory, np.arange(territories))
    last = np.searchsorted(territory, np.arange(territories), side="right")
    n_events = int(n * 0.14)
    sizes = np.minimum(3 + np.floor(rng.lognormal(1.6, 0.9, size=n_events)), 400).astype(np.int64)
    event = np.repeat(np.arange(n_events), sizes)
    where = rng.integers(territories, size=n_events)[event]
    low, high = before[first[where]], before[last[where]]
    local = np.searchsorted(activity, low + rng.random(event.size) * (high - low), side="right")
    anywhere = np.searchsorted(activity, rng.random(event.size) * activity[-1], side="right")
    actor = np.minimum(np.where(rng.random(event.size) < 0.85, local, anywhere), n - 1)
    attended = sp.csr_array((np.ones(event.size), (actor, event)), shape=(n, n_events))
    attended.data[:] = 1.0  # once per event, even when drawn twice
    size = attended.sum(axis=0)
    attended = attended[:, size >= 2]
    newman = attended @ sp.diags_array(1.0 / (size[size >= 2] - 1)) @ attended.T
    ties = sp.triu(newman, k=1).tocoo()
    return ties.row.astype(np.int64), ties.col.astype(np.int64), ties.data


class Memory:
    """Peak resident memory of a step above the memory at its start, in MB."""

    def __init__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.how = "VmHWM"
        except OSError:
            self.how = "ru_maxrss"

    def _kb(self, key: str) -> float:
        if self.how == "ru_maxrss":
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        line = next(s for s in Path("/proc/self/status").read_text().splitlines() if s.startswith(key + ":"))
        return float(line.split()[1])

    def measure(self, step, repeat: int = 1):
        """``(seconds, MB, result)`` of ``step()``: the shortest time and the largest peak of ``repeat`` runs."""
        runs = [self._once(step) for _ in range(repeat)]
        return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]

    def _once(self, step):
        if self.how == "VmHWM":
            Path("/proc/self/clear_refs").write_text("5")
        start = self._kb("VmRSS" if self.how == "VmHWM" else "ru_maxrss")
        t0 = time.perf_counter()
        result = step()
        seconds = time.perf_counter() - t0
        return seconds, (self._kb(self.how) - start) / 1024, result


def child(path: str, column: str, repeat: int) -> None:
    """One column's measures, printed as JSON (run in a child process)."""
    import igraph as ig  # imported before the measures in every column
    import networkx as nx

    data = np.load(path)
    src, dst, weight, n = data["src"], data["dst"], data["weight"], int(data["n"])
    memory = Memory()
    out = {"mémoire": memory.how}
    if column == "brut":
        def build():
            return ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), edge_attrs={"weight": weight.tolist()})

        seconds, mb, g = memory.measure(build)
        out["graphe"] = (seconds, mb)

        def raw():
            ties = netmetrics._Ties(list(range(n)), src, dst, weight)
            sources = netmetrics._betweenness_sources(ties, SEED, None)
            g.betweenness(directed=False, sources=sources)
            g.pagerank(directed=False, weights="weight")
            g.coreness()
            ig.set_random_number_generator(random.Random(SEED))
            g.community_leiden(objective_function="modularity", weights="weight", n_iterations=-1)
            netmetrics._local_structure(ties)

        out["mesures"] = memory.measure(raw, repeat)[:2]
    else:
        def build():
            G = nx.Graph()
            G.add_nodes_from((i, {"name": f"Acteur {i}", "kind": "organisation" if i % 10 == 0 else "personne"})
                             for i in range(n))
            G.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weight.tolist()))
            return G

        seconds, mb, G = memory.measure(build)
        out["graphe"] = (seconds, mb)
        backend = "auto" if column == "auto" else "networkx"
        seconds, mb, frame = memory.measure(lambda: netmetrics.metrics(G, backend=backend, seed=SEED),
                                            repeat if column == "auto" else 1)
        out["mesures"] = (seconds, mb)
        out["attrs"] = {k: (v if isinstance(v, str) else round(v, 4)) for k, v in frame.attrs.items()}
        out["groupes"] = int(frame["groupe"].nunique())
    print(json.dumps(out))


def run_child(path: Path, column: str, repeat: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--enfant", str(path), column, str(repeat)], capture_output=True,
                          text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def scale_table(sizes: list[int], networkx_max: int, repeat: int) -> pd.DataFrame:
    rows, notes = {}, []
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            t0 = time.perf_counter()
            src, dst, weight = generate(n)
            isolated = n - np.unique(np.concatenate([src, dst])).size
            path = Path(folder) / f"liens-{n}.npz"
            np.savez(path, src=src, dst=dst, weight=weight, n=n)
            print(f"{_fr.integer(n)} acteurs, {_fr.integer(len(src))} liens ({_fr.integer(isolated)} isolés), "
                  f"générés en {time.perf_counter() - t0:.1f} s", flush=True)
            results = {}
            for column in COLUMNS:
                if column == "networkx" and n > networkx_max:
                    continue
                print(f"  {COLUMNS[column]}…", flush=True)
                results[column] = run_child(path, column, repeat)
            label = f"{_fr.integer(n)} acteurs"
            cells = {"liens": _fr.integer(len(src))}
            for column, r in results.items():
                name = COLUMNS[column]
                cells[f"{name} : graphe (s)"] = f"{r['graphe'][0]:.1f}"
                cells[f"{name} : graphe (Mo)"] = f"{r['graphe'][1]:.0f}"
                cells[f"{name} : mesures (s)"] = f"{r['mesures'][0]:.1f}"
                cells[f"{name} : mesures (Mo)"] = f"{r['mesures'][1]:.0f}"
            ratio = results["auto"]["mesures"][0] / results["brut"]["mesures"][0]
            cells["rapport metrics(auto) / igraph brut"] = f"{ratio:.2f} (cible ≤ {TARGET_RATIO})"
            cells["moteur de metrics(auto)"] = results["auto"]["attrs"]["moteur"]
            cells["groupes (modularité)"] = (f"{_fr.integer(results['auto']['groupes'])} "
                                             f"({results['auto']['attrs']['modularité']:.3f})")
            rows[label] = cells
            notes.append(f"{label} : intermédiarité {results['auto']['attrs']['intermédiarité']}")
            if "networkx" in results:
                notes.append(f"{label}, networkx : groupes {_fr.integer(results['networkx']['groupes'])} "
                             f"(modularité {results['networkx']['attrs']['modularité']:.3f}, Louvain)")
        memory = next(iter(results.values()))["mémoire"]
    table = pd.DataFrame(rows).fillna("—")
    table.index.name = "mesure"
    print()
    print(table.to_string())
    print()
    print("Mémoire : pic de mémoire résidente pendant l'étape au-dessus de celle de son début "
          f"({'VmHWM remis à zéro' if memory == 'VmHWM' else 'croissance de ru_maxrss'}). Durée des mesures de "
          f"metrics(auto) et d'igraph brut : la plus courte de {repeat} (machine partagée : chiffres bruités).")
    for note in notes:
        print(note)
    return table


def threshold_table(sizes=(125, 250, 500, 1000, 2000)) -> pd.DataFrame:
    """Seconds of ``metrics`` with each backend on small graphs (same generator)."""
    import networkx as nx

    rows = {}
    for backend in ("networkx", "igraph"):  # imports and first calls out of the measure
        netmetrics.metrics(nx.karate_club_graph(), backend=backend)
    for n in sizes:
        src, dst, weight = generate(n)
        G = nx.Graph()
        G.add_nodes_from(range(n))
        G.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), weight.tolist()))
        times = {}
        for backend in ("networkx", "igraph"):
            t0 = time.perf_counter()
            netmetrics.metrics(G, backend=backend)
            times[backend] = time.perf_counter() - t0
        rows[_fr.integer(n)] = {"liens": _fr.integer(len(src)), "networkx (s)": f"{times['networkx']:.2f}",
                                "igraph (s)": f"{times['igraph']:.2f}",
                                "rapport": f"{times['networkx'] / times['igraph']:.1f}"}
    table = pd.DataFrame(rows).T
    table.index.name = "acteurs"
    print()
    print(f"Choix du seuil (metrics(backend=…), igraph dès {netmetrics.IGRAPH_FROM_NODES} acteurs "
          f"ou {_fr.integer(netmetrics.IGRAPH_FROM_EDGES)} liens avec « auto ») :")
    print(table.to_string())
    return table


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--enfant":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000], help="nombres d'acteurs")
    parser.add_argument("--networkx-max", type=int, default=10_000,
                        help="mesurer aussi metrics(backend='networkx') jusqu'à ce nombre d'acteurs")
    parser.add_argument("--repetitions", type=int, default=2,
                        help="mesures de metrics(auto) et d'igraph brut répétées : la plus courte est gardée")
    parser.add_argument("--seuil", action="store_true", help="comparer aussi les deux moteurs sur de petits graphes")
    args = parser.parse_args()
    scale_table(args.sizes, args.networkx_max, args.repetitions)
    if args.seuil:
        threshold_table()


if __name__ == "__main__":
    main()
