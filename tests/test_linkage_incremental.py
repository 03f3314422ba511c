"""Incremental linkage: a weekly sheet is compared with the base, not the base with itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from carto import ingest, linkage, quality, store
from carto.settings import REPO_DIR

DEMO = REPO_DIR / "data" / "demo"

pytestmark = pytest.mark.slow


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The demo base linked once, then this week's sheets imported and linked incrementally; and a full run."""
    folder = tmp_path_factory.mktemp("semaine")
    first, week = quality.weekly_split(DEMO, folder, rows=150)
    engine = store.init_base(f"sqlite:///{folder / 'incrementale.sqlite'}")
    ingest.import_folder(engine, first)
    initial = linkage.link(engine)
    audit_before = _count(engine, store.audit_log)
    nothing = linkage.link(engine)
    audit_after_noop = _count(engine, store.audit_log)
    sheet = ingest.import_file(engine, week, source="emargement")
    news = linkage.link(engine)
    at_once = store.init_base(f"sqlite:///{folder / 'complete.sqlite'}")
    ingest.import_folder(at_once, DEMO)
    full = linkage.link(at_once)
    return {"engine": engine, "at_once": at_once, "initial": initial, "nothing": nothing, "sheet": sheet,
            "news": news, "full": full, "audit": (audit_before, audit_after_noop), "week": week}


def test_the_first_run_trains_and_indexes(weekly: dict) -> None:
    initial = weekly["initial"]
    assert initial.mode == "full" and initial.trained == ["personne", "organisation"]
    assert initial.keys["personne"] > 0 and initial.keys["organisation"] > 0
    engine = weekly["engine"]
    with engine.connect() as conn:
        models = conn.execute(sa.select(store.linkage_models.c.kind, store.linkage_models.c.active)).all()
    assert sorted(models) == [("organisation", True), ("personne", True)]


def test_nothing_new_returns_at_once_and_writes_nothing(weekly: dict) -> None:
    nothing = weekly["nothing"]
    assert nothing.mode == "nothing" and nothing.merges == 0
    assert nothing.seconds < weekly["initial"].seconds / 5
    before, after = weekly["audit"]
    assert before == after
    assert str(nothing).startswith("Rien de nouveau depuis le dernier rapprochement")


def test_the_weekly_sheet_is_compared_with_the_base_only(weekly: dict) -> None:
    news, sheet = weekly["news"], weekly["sheet"]
    assert news.mode == "incremental"
    assert news.new_records == sheet.importees  # every imported row of the sheet, nothing else
    assert news.units["personne"] <= sheet.importees
    # the candidates are a small part of the base, found by the blocking keys
    assert 0 < news.candidates["personne"] < news.actors / 2
    assert news.merges > 0  # most people on a sign-in sheet are already known
    text = str(news)
    assert text.startswith(f"{news.new_records} nouveaux enregistrements comparés à ")
    assert "acteurs" in text and "(s)" not in text


def test_incremental_result_is_as_good_as_linking_everything_at_once(weekly: dict) -> None:
    incremental = quality.synthetic_scores(weekly["engine"], DEMO)
    at_once = quality.synthetic_scores(weekly["at_once"], DEMO)
    for kind in ("personnes", "organisations"):
        assert abs(incremental[kind][2] - at_once[kind][2]) <= 0.005, (kind, incremental[kind], at_once[kind])


def test_a_reimported_changed_row_is_linked_again_and_a_full_run_redoes_nothing(weekly: dict,
                                                                                tmp_path: Path) -> None:
    engine = weekly["engine"]
    again = linkage.link(engine, full=True)
    assert again.mode == "full" and again.merges == 0 and not again.trained
    assert linkage.link(engine).mode == "nothing"


def test_retraining_keeps_the_old_model_and_shows_the_drift(weekly: dict) -> None:
    engine = weekly["at_once"]
    assert linkage.model_drift(engine, "personne").empty
    report = linkage.link(engine, retrain=True)
    assert report.mode == "full" and report.trained == ["personne", "organisation"] and report.merges == 0
    drift = linkage.model_drift(engine, "personne")
    assert list(drift.columns) == ["champ", "niveau", "libellé", "m avant", "m après", "u avant", "u après",
                                   "écart m"]
    assert len(drift) > 5 and drift["m avant"].notna().all()
    assert "noms" in set(drift["champ"])
    with engine.connect() as conn:
        models = conn.execute(sa.select(store.linkage_models.c.kind, store.linkage_models.c.active)
                              .order_by(store.linkage_models.c.id)).all()
    assert [active for _, active in models] == [False, False, True, True]


def test_answers_of_the_review_queue_teach_the_retrained_model(weekly: dict) -> None:
    engine = weekly["engine"]
    answered = quality.answer_from_truth(engine, DEMO, limit=50)
    assert answered["meme"] + answered["differents"] >= 6, answered
    with engine.connect() as conn:
        labels = linkage.decided_labels(conn, "personne")
        before = dict(conn.execute(sa.select(store.linkage_models.c.model)
                                   .where(store.linkage_models.c.kind == "personne",
                                          store.linkage_models.c.active.is_(True))).scalar_one())
    assert len(labels) >= 1 and labels["levels"].map(bool).all()
    expected, done = linkage.apply_labels(before, labels)
    report = linkage.link(engine, retrain=True)
    assert report.labels.get("personne") == len(labels)
    assert "corrigé par" in str(report) and "de la file de revue" in str(report)
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.linkage_models.c.model, store.linkage_models.c.n_labels)
                           .where(store.linkage_models.c.kind == "personne",
                                  store.linkage_models.c.active.is_(True))).one()
    assert row.n_labels == len(labels)
    assert done["m_levels"] > 0 or done["shift"] != 0  # the answers changed something
    drift = linkage.model_drift(engine, "personne")
    assert drift["écart m"].max() > 0


def test_apply_labels_moves_m_towards_the_answers_and_the_prior_with_them() -> None:
    import pandas as pd

    model = {"probability_two_random_records_match": 0.01, "comparisons": [{
        "output_column_name": "noms", "comparison_levels": [
            {"is_null_level": True},
            {"m_probability": 0.8, "u_probability": 0.001},
            {"m_probability": 0.15, "u_probability": 0.01},
            {"m_probability": 0.05, "u_probability": 0.989}]}]}
    # people said « différents » to most pairs the model found doubtful at the middle level
    labels = pd.DataFrame({"match": [True] * 4 + [False] * 16, "score": [0.6] * 20,
                           "levels": [{"noms": 1}] * 20})
    assert linkage.apply_labels(model, labels)[1]["shift"] == 0  # by default the answers do not move the prior
    new, done = linkage.apply_labels(model, labels, shift_prior=True)
    levels = new["comparisons"][0]["comparison_levels"]
    assert levels[2]["m_probability"] == pytest.approx((50 * 0.15 + 4) / 54)
    assert levels[1]["m_probability"] == pytest.approx(50 * 0.8 / 54)
    assert sum(level["m_probability"] for level in levels[1:]) == pytest.approx(1.0)
    assert done["shift"] < 0 and new["probability_two_random_records_match"] < 0.01
    assert model["comparisons"][0]["comparison_levels"][2]["m_probability"] == 0.15  # not modified
    # mostly « même acteur »: the prior goes up
    agreeing = labels.assign(match=[True] * 16 + [False] * 4)
    assert linkage.apply_labels(model, agreeing, shift_prior=True)[1]["shift"] > 0
    # too few answers of one kind: m moves, the prior does not
    few = labels.assign(match=[True] * 19 + [False])
    assert linkage.apply_labels(model, few, shift_prior=True)[1]["shift"] == 0
    assert linkage.apply_labels(model, labels.iloc[:0])[0] == model


def test_a_merge_from_the_queue_repoints_the_other_pending_pairs_of_the_absorbed_actor() -> None:
    engine = store.init_base("sqlite://")
    with store.transaction(engine, action="exemple") as conn:
        store.insert_rows(conn, store.actors, [{"kind": "personne", "display_name": n}
                                               for n in ("Ana Roux", "Ana R.", "A. Roux", "Anna Roux")])
        store.insert_rows(conn, store.not_duplicates, [{"actor_a_id": 1, "actor_b_id": 4, "who": "x",
                                                        "reason": "test"}])
        store.insert_rows(conn, store.review_pairs, [
            {"actor_a_id": a, "actor_b_id": b, "kind": "personne", "score": 0.6, "details": {}, "status": "pending"}
            for a, b in ((1, 2), (2, 3), (2, 4))])
    first = linkage.review_queue(engine)
    pair = int(first.loc[(first["acteur A"] == 1) & (first["acteur B"] == 2), "paire"].iloc[0])
    linkage.decide(engine, pair, "même", who="camille")
    queue = linkage.review_queue(engine)
    # B–C became A–C; B–D went (A and D were declared distinct); A–B is decided, with the answer kept
    assert queue[["acteur A", "acteur B"]].values.tolist() == [[1, 3]]
    linkage.decide(engine, int(queue["paire"].iloc[0]), "différents", who="camille")
    with engine.connect() as conn:
        decided = conn.execute(sa.select(store.review_pairs.c.actor_a_id, store.review_pairs.c.actor_b_id,
                                         store.review_pairs.c.decision).order_by(store.review_pairs.c.id)).all()
    assert [tuple(r) for r in decided] == [(1, 2, "meme"), (1, 3, "differents")]
    # a merge made outside the queue takes its pair out of the queue
    with store.transaction(engine, action="exemple") as conn:
        store.insert_rows(conn, store.actors, [{"kind": "personne", "display_name": "Léa"},
                                               {"kind": "personne", "display_name": "Léa B."}])
        store.insert_rows(conn, store.review_pairs, [{"actor_a_id": 5, "actor_b_id": 6, "kind": "personne",
                                                      "score": 0.5, "details": {}, "status": "pending"}])
    linkage.merge(engine, 5, 6, who="camille")
    assert linkage.review_queue(engine).empty


def test_a_reimport_of_the_same_sheet_leaves_nothing_to_link(weekly: dict) -> None:
    engine = weekly["engine"]
    again = ingest.import_file(engine, weekly["week"], source="emargement")
    assert again.nouveaux == again.mis_a_jour == 0 and again.inchanges == again.lus - again.en_quarantaine
    assert linkage.link(engine).mode == "nothing"



def test_weekly_split_passes_over_big_events_and_keeps_every_sheet_once(tmp_path: Path) -> None:
    import pandas as pd

    sheets = tmp_path / "sources" / "emargement"
    sheets.mkdir(parents=True)
    for name, n in (("E00001_2026-01-05.csv", 3), ("E00002_2026-03-01.csv", 2), ("E00003_2026-11-25.csv", 40)):
        pd.DataFrame({"Événement": name, "Nom": [f"NOM{i}" for i in range(n)]}).to_csv(sheets / name, sep=";",
                                                                                      index=False)
    base, week = quality.weekly_split(tmp_path, tmp_path / "coupe", rows=5)  # 7 lines with the headers
    assert sorted(p.name for p in week.iterdir()) == ["E00001_2026-01-05.csv", "E00002_2026-03-01.csv"]
    assert [p.name for p in (base / "sources" / "emargement").iterdir()] == ["E00003_2026-11-25.csv"]
