"""Decisions teach: precision and recall before and after 50 answered pairs of the review queue.

Usage::

    python benchmarks/review_labels.py              # 10 000 personnes, 50 réponses
    python benchmarks/review_labels.py 10000 100000 --reponses 50

For each size, the synthetic sources (:func:`carto.synth.generate`, cached in
``.cache/weekly/<n>`` like ``weekly_import.py``) are imported and linked (the
model trained by EM alone: the reference). A simulated jardinier
(:func:`carto.quality.answer_from_truth`) answers the first pairs of the review
queue as the truth says, then ``link(retrain=True)`` retrains the model with
these answers as labels (:mod:`carto.linkage.labels`). To compare models, not
decisions, the retrained model links the same records from scratch in a
second base. Printed side by side: precision, recall and F1 (pairs of records,
against the truth) of the EM model and of the model taught by the answers,
for persons and organisations, and the same base after the answers (the
answered merges plus the retrained re-link).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carto import _fr, ingest, linkage, quality, store, synth  # noqa: E402
from carto.linkage import incremental  # noqa: E402

CACHE = REPO / ".cache" / "weekly"
TODAY = date(2026, 11, 29)


def _scores(engine, folder) -> dict[str, tuple[float, float, float]]:  # noqa: ANN001
    found = quality.synthetic_scores(engine, folder)
    return {kind: found[kind] for kind in ("personnes", "organisations")}


def run(n: int, answers: int) -> dict[str, object]:
    folder = CACHE / str(n)
    if not (folder / "verite").exists():
        synth.generate(folder, n_persons=n, today=TODAY)
    with tempfile.TemporaryDirectory() as tmp:
        engine = store.init_base(f"sqlite:///{tmp}/base.sqlite", who="benchmark")
        ingest.import_folder(engine, folder, who="benchmark")
        linkage.link(engine, who="benchmark")
        em = _scores(engine, folder)
        queue = len(linkage.review_queue(engine))
        given = quality.answer_from_truth(engine, folder, limit=answers)
        t0 = time.perf_counter()
        retrained = linkage.link(engine, retrain=True, who="benchmark")
        seconds = time.perf_counter() - t0
        same_base = _scores(engine, folder)
        with engine.connect() as conn:
            models = {kind: incremental.active_model(conn, kind) for kind in ("personne", "organisation")}
        engine.dispose()
        fresh = store.init_base(f"sqlite:///{tmp}/apprise.sqlite", who="benchmark")
        ingest.import_folder(fresh, folder, who="benchmark")
        with store.transaction(fresh, action="modèle appris", who="benchmark") as conn:
            for kind, model in models.items():
                if model is not None:
                    incremental.save_model(conn, kind, (model["model"], model["columns"]), who="benchmark",
                                           reason="modèle appris des réponses", n_units=model["n_units"],
                                           n_labels=model["n_labels"])
        linkage.link(fresh, who="benchmark")
        taught = _scores(fresh, folder)
        fresh.dispose()
    return {"n": n, "queue": queue, "given": given, "labels": retrained.labels, "seconds": seconds,
            "em": em, "taught": taught, "same_base": same_base}


def _line(label: str, s: tuple[float, float, float]) -> str:
    return (f"{label} précision {_fr.decimal(s[0], 4)}, rappel {_fr.decimal(s[1], 4)}, "
            f"F1 {_fr.decimal(s[2], 4)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000])
    parser.add_argument("--reponses", type=int, default=50, dest="answers", help="paires de la file à répondre")
    args = parser.parse_args()
    for n in args.sizes:
        r = run(n, args.answers)
        given = r["given"]
        print(f"{_fr.integer(n)} personnes : file de revue de {_fr.count(r['queue'], 'paire')} ; "
              f"{_fr.count(given['meme'] + given['differents'], 'réponse')} données ({_fr.integer(given['meme'])} "
              f"« même acteur », {_fr.integer(given['differents'])} « différents ») ; réentraînement "
              f"{_fr.duration(r['seconds'])}, réponses apprises : "
              f"{', '.join(f'{k} {_fr.integer(v)}' for k, v in r['labels'].items()) or 'aucune'}", flush=True)
        for kind in ("personnes", "organisations"):
            print(f"  {kind} — " + " | ".join([
                _line("modèle EM seul :", r["em"][kind]),
                _line("modèle appris des réponses :", r["taught"][kind]),
                _line("même base après les réponses :", r["same_base"][kind]),
            ]), flush=True)


if __name__ == "__main__":
    main()
