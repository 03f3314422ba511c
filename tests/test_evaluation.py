"""Indicators of a community over time, and their charts, on hand-built cases."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from PIL import Image

from carto import charts, communities, evaluation, store


@pytest.fixture
def engine(base_url: str) -> Iterator[sa.Engine]:
    """Biodiversité (from 2024-01-01) with four members whose history is known."""
    engine = store.init_base(base_url)
    communities.add_community(engine, slug="biodiversite", name="Biodiversité", theme="biodiversite",
                              start_date=date(2024, 1, 1), who="test")
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": i, "kind": "personne", "display_name": name, "commune_code": code}
            for i, name, code in [(1, "Léa", "12202"), (2, "Paul", "12202"), (3, "Inès", "31555"), (4, "Yves", None)]
        ])
        conn.execute(store.events.insert(), [
            {"id": 1, "title": "Rencontre", "kind": "rencontre de communauté", "starts_on": date(2024, 2, 10),
             "theme": "biodiversite"},
            {"id": 2, "title": "Groupe", "kind": "groupe de travail", "starts_on": date(2024, 4, 5),
             "theme": "biodiversite"},
            {"id": 3, "title": "Rencontre", "kind": "rencontre de communauté", "starts_on": date(2024, 4, 20),
             "theme": "biodiversite"},
        ])
        conn.execute(store.participations.insert(), [
            {"event_id": 1, "actor_id": 1, "role": "participant", "signed": True},
            {"event_id": 1, "actor_id": 2, "role": "participant", "signed": True},
            {"event_id": 1, "actor_id": 4, "role": "participant", "signed": False},
            {"event_id": 2, "actor_id": 1, "role": "participant", "signed": True},
            {"event_id": 3, "actor_id": 3, "role": "participant", "signed": True},
            {"event_id": 3, "actor_id": 2, "role": "participant", "signed": True},
        ])
    communities.update_circles(engine, as_of=date(2024, 6, 30))
    yield engine
    engine.dispose()


def test_circles_and_transitions_by_month(engine: sa.Engine) -> None:
    by_month = evaluation.circles_by_month(engine, "biodiversite", end=date(2024, 6, 30))
    assert list(by_month.index.astype(str)) == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
    assert by_month.to_numpy().tolist() == [[0, 0, 0], [0, 2, 1], [0, 2, 1], [1, 2, 1], [1, 2, 1], [1, 2, 1]]
    moves = evaluation.transitions_by_month(engine, "biodiversite", end=date(2024, 6, 30))
    assert moves.loc[pd.Period("2024-02"), ["entrée", "promotion"]].tolist() == [3, 0]
    assert moves.loc[pd.Period("2024-04")].tolist() == [1, 1, 0, 0]
    funnel = evaluation.funnel(engine, "biodiversite")
    assert funnel["membres"].tolist() == [0, 3, 1]
    assert funnel.loc[communities.CIRCLE_LABELS[2], "ont atteint le cercle 1"] == 1
    assert funnel.loc[communities.CIRCLE_LABELS[2], "ont atteint le cercle 1 (%)"] == pytest.approx(33.3)


def test_retention_waits_until_a_cohort_is_observable(engine: sa.Engine) -> None:
    table = evaluation.retention(engine, "biodiversite", months=(3, 12), as_of=date(2024, 9, 30))
    q1 = table.loc[pd.Period("2024Q1")]
    assert q1["nouveaux participants"] == 2  # Léa and Paul (Yves registered but did not come)
    assert q1["revenus sous 3 mois (%)"] == 100.0  # both came back in April
    assert np.isnan(q1["revenus sous 12 mois (%)"])  # 2024Q1 + 12 months not over on 30/09/2024
    assert table.loc[pd.Period("2024Q2"), "nouveaux participants"] == 1


def test_coverage_by_departement(engine: sa.Engine) -> None:
    table = evaluation.coverage(engine, "biodiversite")
    assert table.loc["Aveyron", ["membres", "communes touchées"]].tolist() == [2, 1]
    assert table.loc["Haute-Garonne", "membres"] == 1
    assert table.loc["Occitanie", "membres"] == 3
    assert table.loc["commune inconnue ou hors région", "membres"] == 1
    rate = table.loc["Aveyron", "membres pour 10 000 habitants"]
    assert rate == pytest.approx(round(2 * 10_000 / table.loc["Aveyron", "habitants"], 2))


def _png(fig) -> Image.Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def test_charts_have_titles_legends_and_ink(engine: sa.Engine) -> None:
    figures = charts.community_figures(engine, "biodiversite", as_of=date(2024, 6, 30))
    assert list(figures) == ["cercles par mois", "changements de cercle", "parcours", "retours", "participation",
                             "territoire"]
    for name, fig in figures.items():
        ax = fig.axes[0]
        assert ax.get_title(loc="left").startswith("Biodiversité — "), name
        pixels = np.asarray(_png(fig))
        assert (pixels < 200).mean() > 0.01, f"{name} : graphique presque vide"
    assert [t.get_text() for t in figures["cercles par mois"].axes[0].get_legend().get_texts()] == list(
        communities.CIRCLE_LABELS.values())
    assert "juin 2024 : 4 membres" in figures["cercles par mois"].axes[0].get_legend().get_title().get_text()


def test_charts_of_an_empty_community_say_so(base_url: str) -> None:
    engine = store.init_base(base_url)
    try:
        communities.add_community(engine, slug="mer", name="Mer", theme="mer")
        figures = charts.community_figures(engine, "mer", as_of=date(2024, 6, 30))
        texts = [t.get_text() for fig in figures.values() for t in fig.axes[0].texts]
        assert "Pas encore de données pour cette communauté." in texts
    finally:
        engine.dispose()


# matplotlib's own date labels (« Jan 2024 », « March »), never capitalised in French
_ENGLISH_MONTHS = re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b")
_FRENCH_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def _labels(fig) -> list[str]:
    """Every tick label, text and footer of a drawn chart."""
    _png(fig)  # draws the figure: tick labels exist once drawn
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    return ticks + [t.get_text() for t in ax.texts + fig.texts]


def test_charts_are_written_in_french_and_carry_date_and_sources(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test", who="test") as conn:  # Léa came from a sign-in sheet
        conn.execute(store.import_batches.insert(), [{"id": 1, "source": "emargement", "file_name": "f.csv",
                                                      "who": "test"}])
        conn.execute(store.source_records.insert(), [
            {"source": "emargement", "source_key": "1", "batch_id": 1, "file_name": "f.csv", "line": 2, "raw": {},
             "row_hash": "x", "status": "ok", "actor_id": 1}])
    assert charts.data_sources(engine, "biodiversite") == ("feuilles d'émargement, "
                                                           "saisies dans Terreau (ateliers, jardiniers)")
    figures = charts.community_figures(engine, "biodiversite", as_of=date(2024, 6, 30))
    for name, fig in figures.items():
        expected = "Données au 30/06/2024 — sources : feuilles d'émargement, saisies dans Terreau"
        assert charts.footer(fig).startswith(expected), name
        labels = _labels(fig)
        assert not [t for t in labels if re.search(r"\d\.\d", t)], f"{name} : point décimal anglais"
        assert not [t for t in labels if _ENGLISH_MONTHS.search(t)], f"{name} : mois anglais"
        assert not [t for t in labels if "−" in t or t.startswith("-")], f"{name} : un effectif négatif"
    assert charts.footer(figures["territoire"]).endswith(", populations municipales INSEE")
    months = [t.get_text() for t in figures["cercles par mois"].axes[0].get_xticklabels()]
    assert months and all(t.split()[0] in _FRENCH_MONTHS and t.endswith(" 2024") for t in months), months
    rates = [t.get_text() for t in figures["territoire"].axes[0].get_xticklabels()]
    assert rates[0] == "0" and any(re.fullmatch(r"0,\d+", t) for t in rates), rates
    quarters = [t.get_text() for t in figures["participation"].axes[0].get_xticklabels()]
    assert quarters == ["T1 2024", "T2 2024"]


def test_chart_ticks_have_french_thousands_and_month_names() -> None:
    table = pd.DataFrame({"événements": [3, 4, 5], "nouveaux participants": [900, 1500, 300],
                          "participants revenus": [0, 200, 1100]},
                         index=pd.period_range("2026-01", periods=3, freq="M", name="mois"))
    fig = charts.participation_chart(table, community="Mer", as_of=date(2026, 3, 31), sources="émargements")
    labels = _labels(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["janv. 2026", "févr. 2026", "mars 2026"]
    assert "1\u202f000" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Données au 31/03/2026 — sources : émargements" in labels
    assert fig.axes[0].get_title(loc="left") == "Mer — participants aux événements, par mois"


def test_chart_dates_never_come_from_the_system_locale() -> None:
    by_month = pd.DataFrame({label: [1, 2, 3, 4] for label in communities.CIRCLE_LABELS.values()},
                            index=pd.period_range("2025-11", periods=4, freq="M"))
    fig = charts.circles_chart(by_month, as_of=date(2026, 2, 28))
    _labels(fig)
    assert fig.axes[0].get_legend().get_title().get_text() == "février 2026 : 12 membres"
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks and all(t.split()[0] in _FRENCH_MONTHS for t in ticks), ticks
    assert "janv. 2026" in ticks
