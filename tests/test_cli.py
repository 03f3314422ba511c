"""The ``carto`` command: version, init, demo (French output)."""

from __future__ import annotations

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
    assert "option(s) inconnue(s) : --taille-inconnue" in err
    assert err.startswith("utilisation : carto")


def test_bad_number_in_french(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--size", "abc"])
    assert "nombre entier invalide : 'abc'" in capsys.readouterr().err


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
    assert "0 nouvelles, 0 mises à jour, 174 inchangées" in capsys.readouterr().out
    assert main(["quarantine", "--base", url]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("2 ligne(s) en quarantaine.") and "ligne 100, colonne « Courriel »" in listed
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
