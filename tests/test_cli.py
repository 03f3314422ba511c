"""The ``carto`` command: version, init, demo (French output)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carto import __version__
from carto.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_option_in_french(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--taille-inconnue"])
    err = capsys.readouterr().err
    assert "option inconnue : --taille-inconnue" in err
    with pytest.raises(SystemExit):
        main(["demo", "--vite", "--fort"])
    assert "options inconnues : --vite --fort" in capsys.readouterr().err
    assert err.startswith("utilisation : carto")


def test_bad_number_in_french(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--size", "abc"])
    assert "argument --size : nombre entier invalide : 'abc'" in capsys.readouterr().err


def test_password_never_printed(tmp_path: Path, capsys):
    assert main(["init", "--base", "postgresql://agent:motdepasse@127.0.0.1:1/terreau"]) == 1
    captured = capsys.readouterr()
    assert "motdepasse" not in captured.out + captured.err
    assert "CARTO_DATABASE_URL" in captured.err


def test_init_creates_base(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    assert main(["init", "--base", url]) == 0
    assert "Base prête" in capsys.readouterr().out
    assert main(["init", "--base", url]) == 0  # idempotent


def test_older_base_upgraded_on_opening_and_said(tmp_path: Path, capsys):
    from alembic import command

    from carto import store

    url = f"sqlite:///{tmp_path / 'base.sqlite'}"

    def made_older() -> None:
        engine = store.connect(url)
        with store._write_connection(engine, foreign_keys=False) as conn:
            with conn.begin():
                command.downgrade(store._alembic_config(conn), "0005")
                conn.execute(store.schema_info.update().values(schema_revision="0005"))
        engine.dispose()
        capsys.readouterr()

    assert main(["init", "--base", url]) == 0
    made_older()
    assert main(["quarantine", "--base", url]) == 0
    said = capsys.readouterr().err
    assert f"schéma mis à niveau de 0005 vers {store.SCHEMA_VERSION} ; copie de sauvegarde : " in said
    made_older()  # a base saved by hand
    assert main(["init", "--sans-sauvegarde", "--base", url]) == 0
    assert "sans copie de sauvegarde" in capsys.readouterr().err
    assert [p.name.startswith("base.avant-0005-") for p in tmp_path.glob("*.avant-*")] == [True]


def test_demo_writes_outputs(tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--size", "300", "--sans-png"]) == 0
    printed = capsys.readouterr().out
    assert "Terreau — démonstration" in printed
    assert (out / "carte-occitanie.html").stat().st_size > 10_000
    assert (out / "resume.txt").read_text(encoding="utf-8").startswith("Terreau")
    assert (out / "base-demo.sqlite").exists()
    assert len(list((out / "sources").iterdir())) >= 5


def test_demo_rejects_tiny_size(tmp_path: Path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--size", "3"]) == 1
    assert "au moins" in capsys.readouterr().err


DEMO_SOURCES = Path(__file__).resolve().parent.parent / "data" / "demo" / "sources"


def test_import_needs_an_initialised_base(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'absente.sqlite'}"
    assert main(["import", "lreav", str(DEMO_SOURCES / "lreav.csv"), "--base", url]) == 1
    assert "carto init" in capsys.readouterr().err


def test_import_quarantine_link_merges(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    assert main(["init", "--base", url]) == 0
    assert main(["import", "lreav", str(DEMO_SOURCES / "lreav.csv"), "--base", url]) == 0
    first = capsys.readouterr().out
    assert "176 lignes lues" in first and "2 en quarantaine" in first
    assert main(["import", "lreav", str(DEMO_SOURCES / "lreav.csv"), "--base", url]) == 0
    assert "0 nouvelle, 0 mise à jour, 174 inchangées" in capsys.readouterr().out
    assert main(["quarantine", "--base", url]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("2 lignes en quarantaine.") and "ligne 100, colonne « Courriel »" in listed
    assert main(["link", "--base", url]) == 0
    assert "fusions" in capsys.readouterr().out
    assert main(["merges", "list", "--base", url]) == 0
    merge_id = int(capsys.readouterr().out.splitlines()[1].split()[0])  # most recent first
    assert main(["merges", "undo", str(merge_id), "--base", url]) == 0
    assert f"Fusion {merge_id} annulée" in capsys.readouterr().out
    assert main(["merges", "undo", str(merge_id), "--base", url]) == 1
    assert "déjà été annulée" in capsys.readouterr().err


def test_attachments_list_and_undo(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    assert main(["init", "--base", url]) == 0
    assert main(["import", "newsletter", str(DEMO_SOURCES / "newsletter.csv"), "--base", url]) == 0
    assert main(["import", "jeparticipe", str(DEMO_SOURCES / "jeparticipe.csv"), "--base", url]) == 0
    assert "lignes rattachées par courriel" in capsys.readouterr().out
    assert main(["attachments", "list", "--base", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["enregistrement", "source", "fichier"] and "e-mail" in lines[1]
    record, actor = lines[1].split()[0], lines[1].split()[4]
    assert main(["attachments", "list", "--acteur", actor, "--base", url]) == 0
    assert record in capsys.readouterr().out
    assert main(["attachments", "undo", record, "--base", url]) == 0
    assert f"Ligne source {record} détachée : nouvel acteur" in capsys.readouterr().out
    assert main(["attachments", "undo", record, "--base", url]) == 1
    assert "déjà son propre acteur" in capsys.readouterr().err
    assert main(["attachments", "undo", "--base", url]) == 1
    assert "carto attachments list" in capsys.readouterr().err


def test_import_source_or_mapping_not_both(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    main(["init", "--base", url])
    assert main(["import", str(DEMO_SOURCES / "lreav.csv"), "--base", url]) == 1
    assert "soit une SOURCE" in capsys.readouterr().err


def test_communities_circles_and_members(tmp_path: Path, capsys):
    from datetime import date

    import openpyxl

    from carto import store

    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    assert main(["init", "--base", url]) == 0
    assert main(["circles", "--base", url]) == 0
    assert "aucune communauté dans la base" in capsys.readouterr().out
    assert main(["communities", "init", "--base", url]) == 0
    assert "Sandrine Vidal" in capsys.readouterr().out
    engine = store.open_base(url)
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert().values(id=1, kind="personne", display_name="Léa Martin"))
        conn.execute(store.events.insert().values(id=1, title="Groupe de travail Biodiversité — mars 2025",
                                                  kind="groupe de travail", starts_on=date(2025, 3, 4)))
        conn.execute(store.participations.insert().values(event_id=1, actor_id=1, role="participant"))
    engine.dispose()
    assert main(["circles", "--base", url, "--community", "biodiversite"]) == 0
    out = capsys.readouterr().out
    assert "Biodiversité : 1 membre (cercle 1 : 0, cercle 2 : 0, cercle 3 : 1)" in out  # 12 months are over
    assert main(["circles", "--base", url, "--date", "2025-06-30"]) == 0
    out = capsys.readouterr().out
    assert "rien n'est écrit" in out and "Biodiversité : cercle 1 : 1, cercle 2 : 0, cercle 3 : 0" in out
    assert main(["circles", "--base", url, "--date", "2999-01-01"]) == 1
    assert "dans le futur" in capsys.readouterr().err
    xlsx = tmp_path / "suivi" / "biodiversite.xlsx"
    assert main(["members", "--base", url, "--community", "biodiversite", "--out", str(xlsx)]) == 0
    assert "1 membre de la communauté Biodiversité écrit dans" in capsys.readouterr().out
    # a community, a theme and a territory by name as well as by code
    assert main(["members", "--base", url, "--community", "BIODIVERSITÉ", "--themes", "Mer et littoral,eau",
                 "--territoire", "Hérault,31", "--out", str(tmp_path / "aucun.xlsx")]) == 0
    assert "0 membre de la communauté Biodiversité écrit dans" in capsys.readouterr().out
    assert main(["members", "--base", url, "--community", "biodiversite", "--territoire", "Heraut",
                 "--out", str(tmp_path / "aucun.xlsx")]) == 1
    assert "Territoire « Heraut » inconnu. Vouliez-vous dire « Hérault »" in capsys.readouterr().err
    sheet = openpyxl.load_workbook(xlsx)["Membres"]
    assert any(cell.value == "Léa Martin" for row in sheet.iter_rows() for cell in row)
    assert main(["members", "--base", url, "--community", "mer", "--out", str(xlsx)]) == 1
    assert "Communauté « mer » inconnue" in capsys.readouterr().err
    carte = tmp_path / "cartes" / "bio.html"
    assert main(["map", "--base", url, "--community", "biodiversite", "--layers", "membres,zones-blanches",
                 "--niveau", "departement", "--out", str(carte)]) == 0
    assert "Carte « zones-blanches »" in capsys.readouterr().out
    assert (tmp_path / "cartes" / "bio-membres.html").stat().st_size > 10_000
    assert "Leaflet" in (tmp_path / "cartes" / "bio-zones-blanches.html").read_text(encoding="utf-8")
    assert main(["map", "--base", url, "--community", "biodiversite", "--layers", "reseau", "--out", str(carte)]) == 1
    assert "Carte inconnue : reseau ; choisissez parmi" in capsys.readouterr().err
    # the members map's filters
    assert main(["map", "--base", url, "--community", "Biodiversité", "--cercles", "1,2", "--types", "personne",
                 "--themes", "Biodiversite", "--out", str(carte)]) == 0
    assert "<title>Carte membres — Biodiversité</title>" in carte.read_text(encoding="utf-8")
    assert "0 membre sur 1 (cercles : 1, 2 ; types : personnes ; thèmes : Biodiversité)" in carte.read_text(
        encoding="utf-8")
    assert main(["map", "--base", url, "--community", "biodiversite", "--sources", "tableur", "--out", str(carte)]) == 1
    assert "Source inconnue : « tableur ». Valeurs possibles : " in capsys.readouterr().err


def test_link_is_incremental_and_the_queue_is_reviewed_in_the_terminal(base_url: str, capsys, monkeypatch):
    url = base_url  # SQLite and a real PostgreSQL server
    assert main(["init", "--base", url]) == 0
    for source, name in (("newsletter", "newsletter.csv"), ("jeparticipe", "jeparticipe.csv")):  # persons only
        assert main(["import", source, str(DEMO_SOURCES / name), "--base", url]) == 0
    capsys.readouterr()
    assert main(["link", "--base", url]) == 0
    assert capsys.readouterr().out.startswith("Rapprochement complet : ")
    assert main(["link", "--base", url]) == 0
    assert capsys.readouterr().out.startswith("Rien de nouveau depuis le dernier rapprochement")
    sheet = sorted((DEMO_SOURCES / "emargement").iterdir())[0]
    assert main(["import", "emargement", str(sheet), "--base", url]) == 0
    capsys.readouterr()
    assert main(["link", "--base", url]) == 0
    assert re.match(r"\d+ nouve(l|aux) enregistrements? comparés? à [\d\u202f]+ acteurs", capsys.readouterr().out)
    assert main(["link", "--tout", "--base", url]) == 0
    assert " 0 fusion " in capsys.readouterr().out
    assert main(["link", "--reentrainer", "--base", url]) == 0
    said = capsys.readouterr().out
    assert "modèle entraîné (personnes" in said and "Plus grands écarts du modèle (personnes)" in said
    answers = iter(["x", "p", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert main(["merges", "review", "--base", url]) == 0
    shown = capsys.readouterr().out
    assert " à revoir" in shown and "(s)" not in shown
    if "Paire " in shown:  # at least one doubtful pair: « passer » put it at the end of the queue
        assert "remise en fin de file" in shown
