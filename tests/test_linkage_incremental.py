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
            "news": news, "full": full, "audit": (audit_before, audit_after_noop)}


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
