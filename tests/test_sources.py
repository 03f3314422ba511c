"""Tests of carto.sources: the built-in mappings and the French errors of a wrong mapping file."""

from __future__ import annotations

from pathlib import Path

import pytest

from carto import sources
from carto._errors import MappingError

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", sources.builtin_sources())
def test_builtin_mappings_load(name):
    mapping = sources.load_mapping(name)
    assert mapping.name == name and mapping.columns and mapping.key
    assert mapping.path == sources.SOURCES_DIR / f"{name}.toml"
    assert all(mapping.columns[c].personal for c in mapping.personal_columns)


def test_source_files_cover_the_builtin_sources():
    # The file layout lives with the mappings; synth writes it, ingest reads it.
    from carto import synth

    assert tuple(sources.SOURCE_FILES) == sources.builtin_sources()
    assert synth.SOURCE_FILES is sources.SOURCE_FILES


def test_builtin_mapping_details():
    news = sources.load_mapping("newsletter")
    assert news.subscriptions is not None and news.subscriptions.lists == "extra.listes"
    assert news.columns["EMAIL"].on_error == "quarantine" and news.columns["EMAIL"].personal
    sheets = sources.load_mapping("emargement")
    assert sheets.events is not None and sheets.events.mode == "file"
    assert ("printemps citoyen", "rencontre régionale annuelle") in sheets.events.kinds
    assert sheets.events.kinds[0] == ("groupe de travail", "groupe de travail")  # before any shorter word
    assert sheets.events.role == "extra.role" and sheets.columns["Rôle"].optional
    assert ("organis", "organisateur") in sheets.events.roles and ("interven", "intervenant") in sheets.events.roles
    assert sources.load_mapping("lreav").columns["Téléphone"].on_error == "warn"


def test_user_mapping_by_path():
    mapping = sources.load_mapping(DATA / "jardins.toml")
    assert mapping.name == "jardins" and mapping.fields["personne.full_name"].name == "Référent"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ma_source.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = 'name = "essai"\nkey = ["personne.email"]\n[columns]\n"Mail" = { field = "personne.email" }\n'
EVENTS = (BASE + '"Événement" = "extra.evenement"\n"Date" = "date"\n"Rôle" = { field = "extra.role", optional = true }\n'
          '[events]\nmode = "file"\ntitle = "extra.evenement"\ndate = "date"\nrole = "extra.role"\n')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE.replace('name = "essai"\n', ""), r"ma_source\.toml, clé « name » : nom de la source manquant"),
        (BASE + '"Nom" = { field = "personne.surnom" }\n', r"clé « columns\.\"Nom\"\.field » : champ inconnu « personne\.surnom »"),
        (BASE + '"Nom" = { field = "personne.last_name", parser = "magie" }\n', r"« columns\.\"Nom\"\.parser » : analyseur inconnu « magie »"),
        (BASE + '"Nom" = { field = "personne.last_name", on_error = "ignorer" }\n', r"on_error » : « ignorer »"),
        (BASE + '"Nom" = { field = "personne.last_name", required = "oui" }\n', r"required » : true ou false attendu"),
        (BASE + '"Nom" = { champ = "personne.last_name" }\n', r"« columns\.\"Nom\"\.champ » : clé inconnue"),
        (BASE.replace('["personne.email"]', '["extra.id"]'), r"clé « key » : « extra\.id » n'est alimenté par aucune colonne"),
        (BASE + '"Mail2" = { field = "personne.email" }\n', r"déjà alimenté par la colonne « Mail »"),
        ('name = "essai"\nkey = ["a"]\n', r"clé « columns » : section \[columns\] manquante"),
        (BASE + "[events]\nmode = \"file\"\n", r"clé « events\.title » : clé manquante"),
        (BASE + "[events]\nmode = \"list\"\ntitles = \"personne.email\"\ndefault_kind = \"fête\"\n",
         r"« events\.default_kind » : type d'événement inconnu « fête »"),
        (BASE + "[subscriptions]\nwhen = \"personne.email\"\n", r"« subscriptions\.lists » : donnez lists"),
        ("name = \n", r"ma_source\.toml : TOML illisible"),
        (BASE + '"Nom" = { field = "personne.last_name", personal = "oui" }\n',
         r"personal » : true ou false attendu, trouvé « oui »\."),
        ('events = 3\n' + BASE, r"clé « events » : table attendue\."),
        (BASE + "[subscriptions]\nlists = \"personne.email\"\nvia = 1\n", r"« subscriptions\.via » : clé inconnue"),
        (EVENTS + '[events.roles]\n"chef" = "chef de projet"\n',
         r"« events\.roles\.\"chef\" » : rôle inconnu « chef de projet » ; possibles : participant, organisateur, "
         r"intervenant\."),
        (EVENTS + '[events.roles]\n"orga" = 2\n', r"« events\.roles\.\"orga\" » : rôle inconnu 2"),
        (EVENTS.replace('role = "extra.role"\n', "") + '[events.roles]\n"orga" = "organisateur"\n',
         r"« events\.role » : clé manquante : nommez le champ du rôle"),
        (EVENTS.replace('role = "extra.role"', 'role = "extra.fonction"'), r"« events\.role » : le champ « extra\.fonction » n'est"),
        (EVENTS + 'roles = "organisateur"\n', r"« events\.roles » : table \{ mot = \"rôle\" \} attendue\."),
        (EVENTS + '[events.roles]\n" " = "organisateur"\n', r"« events\.roles\.\" \" » : mot vide"),
    ],
)
def test_mapping_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(MappingError, match=message):
        sources.load_mapping(_write(tmp_path, text))


def test_roles_table_is_read_in_order(tmp_path):
    text = EVENTS + '[events.roles]\n"Anim" = "organisateur"\n"Orateur" = "intervenant"\n"Public" = "participant"\n'
    events = sources.load_mapping(_write(tmp_path, text)).events
    assert events.role == "extra.role"
    assert events.roles == (("anim", "organisateur"), ("orateur", "intervenant"), ("public", "participant"))
    assert sources.load_mapping(_write(tmp_path, EVENTS)).events.roles == ()  # role without roles: role names only


def test_unknown_source_and_missing_file(tmp_path):
    with pytest.raises(MappingError, match="Source inconnue : « brevo »"):
        sources.load_mapping("brevo")
    with pytest.raises(MappingError, match="Fichier de correspondance introuvable"):
        sources.load_mapping(tmp_path / "absent.toml")
