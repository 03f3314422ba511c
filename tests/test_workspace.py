"""The user's base: resolved by settings (variable, terreau.toml, default), opened by every notebook."""

from __future__ import annotations

from pathlib import Path

import pytest

from carto import _errors, settings, store, workspace
from carto._errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("CARTO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CARTO_USER", raising=False)
    monkeypatch.delenv("CARTO_OUT_DIR", raising=False)
    monkeypatch.setenv("CARTO_DATA_DIR", str(tmp_path / "donnees"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_base_is_in_the_data_folder(clean_env: Path) -> None:
    found = settings.get_settings()
    assert found.database_url == f"sqlite:///{clean_env / 'donnees' / 'base.sqlite'}"
    assert found.database_origin == "base par défaut"


def test_terreau_toml_in_a_parent_folder_gives_the_base(clean_env: Path) -> None:
    (clean_env / "terreau.toml").write_text('base = "partage/base.sqlite"\nutilisateur = "Camille"\n',
                                            encoding="utf-8")
    notebooks = clean_env / "notebooks"
    notebooks.mkdir()
    found = settings.get_settings(cwd=notebooks)
    assert found.database_url == f"sqlite:///{(clean_env / 'partage' / 'base.sqlite').resolve()}"
    assert found.database_origin == f"fichier {clean_env / 'terreau.toml'}"
    assert found.user == "Camille"


def test_the_variable_wins_over_terreau_toml(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / "terreau.toml").write_text('base = "postgresql://serveur/terreau"\n', encoding="utf-8")
    assert settings.get_settings().database_url == "postgresql://serveur/terreau"
    monkeypatch.setenv("CARTO_DATABASE_URL", "sqlite:///ailleurs.sqlite")
    found = settings.get_settings()
    assert found.database_url == "sqlite:///ailleurs.sqlite"
    assert "CARTO_DATABASE_URL" in found.database_origin


def test_a_wrong_terreau_toml_says_where_and_what(clean_env: Path) -> None:
    (clean_env / "terreau.toml").write_text('bse = "x.sqlite"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="clé inconnue « bse »"):
        settings.get_settings()
    (clean_env / "terreau.toml").write_text('base = "x.sqlite\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="invalide"):
        settings.get_settings()


def test_open_base_choices(clean_env: Path) -> None:
    mine = workspace.open_base("ma base")
    assert store.display_url(mine) == f"sqlite:///{clean_env / 'donnees' / 'base.sqlite'}"
    assert "votre base, base par défaut" in workspace.describe(mine)
    assert not workspace.is_demo(mine)
    demo = workspace.open_base("démonstration")
    assert workspace.is_demo(demo)
    assert store.display_url(demo).endswith("demonstration.sqlite")
    assert "(base de démonstration)" in workspace.describe(demo)
    with pytest.raises(ConfigError, match="corrigez le paramètre « base »"):
        workspace.open_base("n'importe quoi")
    mine.dispose()
    demo.dispose()


def test_the_users_base_is_never_filled_with_the_demo(clean_env: Path) -> None:
    mine = workspace.open_base()
    with pytest.raises(ConfigError, match="Seule la base de démonstration"):
        workspace.prepare_demo(mine)
    mine.dispose()


def test_notebook_errors_show_only_the_french_message(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("IPython")
    assert _errors.install_notebook_handler() is False  # not in a kernel: nothing installed
    _errors._show_in_notebook(None, ConfigError, ConfigError("Fichier « a.csv » : <b>mauvais</b>"), None)
    shown = capsys.readouterr().out
    assert "Traceback" not in shown
    assert "Terreau — erreur : Fichier « a.csv »" in shown and "&lt;b&gt;mauvais" in shown  # escaped in HTML
