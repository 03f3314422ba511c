"""The user's base: resolved by settings (variable, terreau.toml, default), opened by every notebook."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from carto import _errors, communities, settings, store, workspace
from carto._errors import ConfigError
from carto.settings import REPO_DIR


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


def _small_sources(folder: Path) -> Path:
    """A folder of the user's own files: here a copy of one small demo file (176 rows)."""
    (folder / "sources").mkdir(parents=True)
    shutil.copy(workspace.demo_sources() / "sources" / "lreav.csv", folder / "sources" / "lreav.csv")
    return folder


def test_the_demo_files_never_go_into_the_users_base(clean_env: Path) -> None:
    mine = workspace.open_base("ma base")
    other = workspace.open_base(str(clean_env / "autre.sqlite"))
    for engine in (mine, other):
        for folder in (workspace.demo_sources(), workspace.demo_sources() / "sources", "../data/demo"):
            with pytest.raises(ConfigError, match="fichiers de démonstration de Terreau"):
                workspace.import_sources(engine, REPO_DIR / "notebooks" / folder if folder == "../data/demo"
                                         else folder)
        with pytest.raises(ConfigError, match="lancez d'abord le carnet 01"):
            workspace.require_actors(engine)
    copy = clean_env / "copie-demo"  # a copy of the demo files elsewhere: invented persons all the same
    shutil.copytree(workspace.demo_sources(), copy)
    for folder in (copy, copy / "sources"):
        with pytest.raises(ConfigError, match="fichiers de démonstration de Terreau"):
            workspace.import_sources(mine, folder)
    with mine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.source_records)).scalar_one() == 0
    reports = workspace.import_sources(mine, _small_sources(clean_env / "mes-fichiers"), who="Camille")
    assert [r.source for r in reports] == ["lreav"] and reports[0].nouveaux > 100
    assert workspace.require_actors(mine) > 100
    again = workspace.import_sources(mine, clean_env / "mes-fichiers")
    assert again[0].nouveaux == 0 and again[0].inchanges == reports[0].importees  # nothing changes
    mine.dispose()
    other.dispose()


def test_prepare_demo_does_only_what_is_missing(clean_env: Path) -> None:
    demo = workspace.open_base("démonstration")
    workspace.import_sources(demo, _small_sources(clean_env / "fichiers"))  # as if notebook 01 had run
    with demo.connect() as conn:
        batches = conn.execute(sa.select(sa.func.count()).select_from(store.import_batches)).scalar_one()
    done = workspace.prepare_demo(demo, as_of=date(2026, 11, 29))
    assert done.startswith("Base de démonstration préparée : 3 communautés pilotes créées ; Cercles au 29/11/2026")
    assert "lignes lues" not in done  # the base had actors: nothing imported, nothing linked
    with demo.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.import_batches)).scalar_one() == batches
    communities.set_binome(demo, "biodiversite", jardinier_region="Camille Martin")
    assert workspace.prepare_demo(demo) == "Base de démonstration déjà prête : rien à refaire."
    assert workspace.pilot_communities(demo).set_index("communauté").loc["biodiversite",
                                                                         "jardinier Région"] == "Camille Martin"
    assert "3 communautés" in workspace.describe(demo)
    demo.dispose()
