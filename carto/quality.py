"""Quality of the linkage against a ground truth: precision, recall and F1.

Used by ``carto demo`` (the synthetic sources come with their truth, see
:mod:`carto.synth`) and by ``benchmarks/linkage_quality.py`` and
``benchmarks/harmonise_scale.py``. Scores are **pairwise**: a pair of records
is predicted when both end on the same actor (or when a linker returns it),
true when the truth gives both the same entity.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from carto import linkage, store

__all__ = ["answer_from_truth", "scores", "cluster_scores", "pair_scores", "records_with_truth", "person_records", "synthetic_scores"]

Scores = tuple[float, float, float]


def scores(found: int, predicted: int, true: int) -> Scores:
    """Precision, recall, F1 from counts of pairs.

    Examples
    --------
    >>> scores(8, 10, 16)
    (0.8, 0.5, 0.6153846153846154)
    """
    precision = found / predicted if predicted else 1.0
    recall = found / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def cluster_scores(predicted: pd.Series, truth: pd.Series) -> Scores:
    """Pairwise precision/recall/F1 of a clustering against the true one (same index).

    Examples
    --------
    >>> cluster_scores(pd.Series([1, 1, 2, 2]), pd.Series(["a", "a", "a", "b"]))
    (0.5, 0.3333333333333333, 0.4)
    """
    both = pd.DataFrame({"p": predicted, "t": truth}).dropna()
    return scores(_pairs(both.groupby(["p", "t"]).size()), _pairs(both.groupby("p").size()),
                  _pairs(both.groupby("t").size()))


def pair_scores(pairs: pd.DataFrame, truth: pd.Series) -> Scores:
    """Pairwise precision/recall/F1 of predicted pairs (``id_l``, ``id_r``) against ``truth`` (id → entity).

    Examples
    --------
    >>> truth = pd.Series(["a", "a", "a", "b"], index=[1, 2, 3, 4])
    >>> pair_scores(pd.DataFrame({"id_l": [1, 2], "id_r": [2, 4]}), truth)
    (0.5, 0.3333333333333333, 0.4)
    """
    left = truth.reindex(pairs["id_l"].to_numpy()).to_numpy()
    right = truth.reindex(pairs["id_r"].to_numpy()).to_numpy()
    found = int(((left == right) & pd.notna(left)).sum())
    return scores(found, len(pairs), _pairs(truth.dropna().groupby(truth.dropna()).size()))


def records_with_truth(engine: sa.Engine, folder: str | Path) -> pd.DataFrame:
    """The ok source records of a base fed from :func:`carto.synth.generate`, with their truth.

    Columns: record ``id``, ``source``, ``fichier``, ``ligne``, ``fields``,
    ``personne_acteur`` and ``organisation_acteur`` (the active actor each part
    of the record ends on, NA when the record has no such part), and the
    truth's ``entite_id`` and ``entite_organisation_id``.
    """
    sr = store.source_records
    with engine.connect() as conn:
        records = pd.DataFrame(conn.execute(
            sa.select(sr.c.id, sr.c.source, sr.c.file_name, sr.c.line, sr.c.fields, sr.c.actor_id,
                      sr.c.organisation_actor_id).where(sr.c.status == "ok")).mappings().all())
        actors = pd.DataFrame(conn.execute(
            sa.select(store.actors.c.id, store.actors.c.merged_into_id)).mappings().all())
    truth = pd.read_csv(Path(folder) / "verite" / "correspondances.csv", dtype=str)
    truth["fichier"] = truth["fichier"].map(lambda f: Path(f).name)
    records["fichier"] = records.pop("file_name").map(lambda f: Path(f).name)
    records["ligne"] = records.pop("line").astype(str)
    merged = records.merge(truth[["source", "fichier", "ligne", "entite_id", "entite_organisation_id"]],
                           on=["source", "fichier", "ligne"], how="left", validate="one_to_one")
    root = linkage.active_actors(actors) if len(actors) else pd.Series(dtype="Int64")
    has_person = merged["fields"].map(lambda f: bool((f or {}).get("personne")))
    has_org = merged["fields"].map(lambda f: bool((f or {}).get("organisation")))
    owner = merged["organisation_actor_id"].where(merged["organisation_actor_id"].notna(), merged["actor_id"])
    merged["personne_acteur"] = merged["actor_id"].where(has_person).map(root).astype("Int64")
    merged["organisation_acteur"] = owner.where(has_org).map(root).astype("Int64")
    return merged.drop(columns=["actor_id", "organisation_actor_id"])


def person_records(engine: sa.Engine, folder: str | Path) -> pd.DataFrame:
    """Person mentions of the ok records (record ``id`` + normalised features + ``entite_id``), before linkage."""
    records = records_with_truth(engine, folder)
    columns = ["first_name_key", "last_name_key", "email_key", "phone", "postcode", "commune_code"]
    people = records[records["fields"].map(lambda f: bool((f or {}).get("personne")))]
    features = pd.DataFrame([{c: f["personne"].get(c) for c in columns} for f in people["fields"]],
                            index=people.index, columns=columns)
    return pd.concat([people[["id"]], features, people[["entite_id"]]], axis=1).reset_index(drop=True)


def synthetic_scores(engine: sa.Engine, folder: str | Path) -> dict[str, Scores]:
    """Pairwise scores of the linked base against the synthetic truth: persons, organisations, both.

    Examples
    --------
    >>> import tempfile, datetime
    >>> from carto import ingest, synth
    >>> folder = tempfile.mkdtemp()
    >>> _ = synth.generate(folder, n_persons=60, today=datetime.date(2026, 11, 29))
    >>> engine = store.init_base("sqlite://")
    >>> _ = ingest.import_folder(engine, folder)
    >>> _ = linkage.link(engine)
    >>> sorted(synthetic_scores(engine, folder))
    ['organisations', 'personnes', 'toutes']
    """
    records = records_with_truth(engine, folder)
    persons = records["personne_acteur"].notna()
    orgs = records["organisation_acteur"].notna()
    predicted = pd.concat([("P" + records.loc[persons, "personne_acteur"].astype(str)),
                           ("O" + records.loc[orgs, "organisation_acteur"].astype(str))], ignore_index=True)
    truth = pd.concat([records.loc[persons, "entite_id"], records.loc[orgs, "entite_organisation_id"]],
                      ignore_index=True)
    return {
        "personnes": cluster_scores(records.loc[persons, "personne_acteur"], records.loc[persons, "entite_id"]),
        "organisations": cluster_scores(records.loc[orgs, "organisation_acteur"],
                                        records.loc[orgs, "entite_organisation_id"]),
        "toutes": cluster_scores(predicted, truth),
    }


def answer_from_truth(engine: sa.Engine, folder: str | Path, *, limit: int = 50,
                      who: str = "vérité synthétique") -> dict[str, int]:
    """Answer the first ``limit`` pairs of the review queue as the synthetic truth says: a simulated jardinier.

    The two actors of a pair are « même acteur » when the entity most of
    their records describe (the truth of :func:`carto.synth.generate`) is the
    same, « différents » otherwise (a pair of actors without any record is
    skipped). For the benchmarks and the tests of the answers' effect
    (:mod:`carto.linkage.labels`).

    Returns
    -------
    dict
        ``meme``, ``differents`` (answers given) and ``sans vérité`` (pairs skipped).
    """
    records = records_with_truth(engine, folder)
    entity = {}
    for column, truth in (("personne_acteur", "entite_id"), ("organisation_acteur", "entite_organisation_id")):
        known = records[records[column].notna() & records[truth].notna()]
        entity.update(known.groupby(column)[truth].agg(lambda s: s.mode().iloc[0]).to_dict())
    done = {"meme": 0, "differents": 0, "sans vérité": 0}
    queue = linkage.review_queue(engine).head(limit)
    for pair, a, b in zip(queue["paire"], queue["acteur A"], queue["acteur B"]):
        if int(a) not in entity or int(b) not in entity:
            done["sans vérité"] += 1
            continue
        decision = "meme" if entity[int(a)] == entity[int(b)] else "differents"
        linkage.decide(engine, int(pair), decision, who=who)
        done[decision] += 1
    return done


def weekly_split(folder: str | Path, out: str | Path, *, rows: int = 300) -> tuple[Path, Path]:
    """Split synthetic sources into « the base so far » and « this week's sign-in sheets ».

    The latest sign-in sheets of ``folder`` (from :func:`carto.synth.generate`),
    until they hold at least ``rows`` rows, go to ``<out>/semaine/`` — passing over a
    sheet that would bring more than half as many again (in a large base most events
    have thousands of rows: the week is then made of the latest small ones); every other
    file is linked (symbolic links, nothing copied) into ``<out>/base/sources/``
    with the same layout, so both can be imported and scored against the same
    truth (:func:`synthetic_scores` on ``folder``).

    Returns
    -------
    (Path, Path)
        The folder to import first (:func:`carto.ingest.import_folder`) and the
        folder of this week's sheets (``import_file(..., source="emargement")``).
    """
    from carto.sources import SOURCE_FILES

    source_dir = Path(folder) / "sources"
    sheets_dir = source_dir / SOURCE_FILES["emargement"]
    sheets = sorted(p for p in sheets_dir.iterdir() if p.suffix.lower() in {".csv", ".xlsx"})
    week, total = [], 0
    for sheet in reversed(sheets):
        if total >= rows:
            break
        n = len(pd.read_excel(sheet, header=None, engine="openpyxl") if sheet.suffix.lower() == ".xlsx"
                else pd.read_csv(sheet, sep=None, engine="python", header=None, encoding_errors="replace"))
        if total + n > 1.5 * rows:  # a big event (thousands of rows in a large base): an earlier, smaller one
            continue
        week.append(sheet)
        total += n
    if not week:  # every sheet is big: the latest one
        week = sheets[-1:]
    base, news = Path(out) / "base" / "sources", Path(out) / "semaine"
    (base / SOURCE_FILES["emargement"]).mkdir(parents=True, exist_ok=True)
    news.mkdir(parents=True, exist_ok=True)
    for name, relative in SOURCE_FILES.items():
        if name != "emargement" and (source_dir / relative).exists():
            (base / relative).symlink_to((source_dir / relative).resolve())
    for sheet in sheets:
        target = (news if sheet in week else base / SOURCE_FILES["emargement"]) / sheet.name
        target.symlink_to(sheet.resolve())
    return base.parent, news
