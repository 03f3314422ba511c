"""The demo pipeline (``make demo``) and the committed demo sources."""

from __future__ import annotations

import datetime
import filecmp
import re
from pathlib import Path

import openpyxl
from PIL import Image

from carto import demo, store, synth

REPO = Path(__file__).resolve().parent.parent
DEMO_DATA = REPO / "data" / "demo"


def test_demo_with_png_in_real_browser(tmp_path: Path, chromium: Path) -> None:
    result = demo.run_demo(tmp_path, n_persons=300, today=datetime.date(2026, 11, 29))
    png = result.files["carte (image)"]
    image = Image.open(png).convert("RGB")
    assert image.size == (1400, 1000)
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, "la carte semble vide"
    summary = (tmp_path / "resume.txt").read_text(encoding="utf-8")
    assert "300 personnes" in summary
    assert "4\u202f446 communes" in summary
    assert result.notes == []
    for slug in result.circles.counts:  # the A4 print maps, beside the HTML ones
        folder = tmp_path / "communautes" / slug
        for kind in ("membres", "evenements", "zones-blanches", "liens"):
            assert (folder / f"carte-{kind}-a4.pdf").read_bytes().startswith(b"%PDF")
            lo, hi = Image.open(folder / f"carte-{kind}-a4.png").convert("L").getextrema()
            assert hi - lo > 100, f"carte-{kind}-a4.png semble vide"
        name = result.circles.counts[slug]["nom"]  # the summary names the community, not its slug
        assert f"communauté {name} : {folder}" in summary and "4 cartes A4 à imprimer (PDF et PNG)" in summary
        assert "4 cartes HTML avec image PNG," in summary
        assert (folder / "carte-membres.png").is_file() and not (folder / "carte-membres.pdf").exists()
        # the community's network: metrics (XLSX, and stored in the base), interactive page, A4 picture
        sheet = openpyxl.load_workbook(folder / f"reseau-{slug}.xlsx")["Réseau"]
        header = [c.value for c in sheet[2]]
        assert header[:4] == ["acteur", "nom", "type", "degré"] and sheet.max_row > 10
        assert header[-2:] == ["groupe", "nom du groupe"]  # the network's groups, not Terreau's communities
        assert "sigma" in (folder / "reseau.html").read_text(encoding="utf-8")
        assert (folder / "reseau-a4.pdf").read_bytes().startswith(b"%PDF")
        assert "réseau : mesures XLSX, page HTML avec image PNG, image A4 PDF et PNG" in summary


def test_demo_base_holds_the_imported_and_linked_sources(tmp_path: Path) -> None:
    result = demo.run_demo(tmp_path, n_persons=200, png=False)
    engine = store.open_base(result.database_url)
    try:
        counts = store.base_summary(engine)
    finally:
        engine.dispose()
    read = sum(report.lus for report in result.imports)
    assert counts["source_records"] == read  # every row read is in the base, imported or quarantined
    assert counts["merges"] == result.link.merges > 0
    assert "Rapprochement des doublons" in str(result)
    again = demo.run_demo(tmp_path, n_persons=100, png=False)  # the demo base is rebuilt, not appended to
    assert sum(report.lus for report in again.imports) < read


def test_demo_never_touches_the_default_base(tmp_path: Path, monkeypatch) -> None:
    real = tmp_path / "vraie-base.sqlite"
    monkeypatch.setenv("CARTO_DATABASE_URL", f"sqlite:///{real}")
    result = demo.run_demo(tmp_path / "out", n_persons=100, png=False)
    assert not real.exists()
    assert result.database_url.endswith("out/base-demo.sqlite")


def test_committed_demo_sources_are_up_to_date(tmp_path: Path) -> None:
    """data/demo is what `make demo-data` writes: regenerate and compare byte for byte."""
    synth.generate(tmp_path, n_persons=1500, today=datetime.date(2026, 11, 29))
    committed = sorted(p.relative_to(DEMO_DATA) for p in DEMO_DATA.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert committed == fresh, "data/demo est périmé : lancez « make demo-data »"
    _, mismatch, errors = filecmp.cmpfiles(DEMO_DATA, tmp_path, [str(p) for p in fresh], shallow=False)
    assert not mismatch and not errors, f"data/demo est périmé ({mismatch[:3]}…) : lancez « make demo-data »"


def test_every_table_has_a_french_label_in_the_summary() -> None:
    assert set(demo._TABLE_LABELS) == set(store.metadata.tables) - {"schema_info"}


def test_demo_computes_the_pilot_communities(tmp_path: Path) -> None:
    import openpyxl

    result = demo.run_demo(tmp_path / "out", n_persons=400, png=False, today=datetime.date(2026, 11, 29))
    summary = (tmp_path / "out" / "resume.txt").read_text(encoding="utf-8")
    assert "Communautés pilotes, membres par cercle :" in summary
    for slug, counts in result.circles.counts.items():
        assert counts[1] + counts[2] + counts[3] > 0
        assert f"{counts['nom']} : " in summary and f"cercle 1 : {counts[1]}" in summary
        folder = tmp_path / "out" / "communautes" / slug
        sheet = openpyxl.load_workbook(folder / f"suivi-membres-{slug}.xlsx")["Membres"]
        assert sheet.max_row - 2 == counts[1] + counts[2] + counts[3]  # title, header, one row per member
        pngs = sorted(folder.glob("indicateurs-*.png"))
        assert len(pngs) == 6
        for png in pngs:
            lo, hi = Image.open(png).convert("L").getextrema()
            assert hi - lo > 100, f"{png.name} semble vide"
        assert f"communauté {counts['nom']} : {folder}" in summary
        # the summary tells what the folder holds, each file once
        assert summary.count(f"communauté {counts['nom']} : ") == 1
        assert f"communauté {counts['nom']} : {folder} ({demo.folder_summary(sorted(folder.iterdir()))})" in summary
    assert "6 graphiques d'indicateurs PNG, 4 cartes HTML ; réseau : mesures XLSX, page HTML)" in summary
    assert not re.search(r"\d\.\d", summary), "un nombre écrit avec un point décimal"
    assert result.base_counts["memberships"] > 0 and result.base_counts["membership_history"] > 0


def test_folder_summary_counts_each_file_once() -> None:
    folder = Path("communautes") / "mer"
    paths = [folder / n for n in ("suivi-membres-mer.xlsx", "indicateurs-parcours.png", "indicateurs-retours.png",
                                  "carte-membres.html", "carte-liens.html", "carte-liens.pdf", "carte-liens.png",
                                  "carte-membres-a4.pdf", "carte-membres-a4.png", "reseau-a4.pdf", "reseau-a4.png")]
    text = demo.folder_summary(paths + paths[:3])  # a file under two labels is counted once
    assert text == ("tableau de suivi des membres XLSX, 2 graphiques d'indicateurs PNG, 2 cartes HTML avec image PNG "
                    "et PDF, 1 carte A4 à imprimer (PDF et PNG) ; réseau : image A4 PDF et PNG")
    assert demo.folder_summary([folder / "carte-membres.html", folder / "x.csv", folder / "y.csv"]) == (
        "1 carte HTML ; autres fichiers : x.csv, y.csv")
