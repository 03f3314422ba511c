"""Tests of carto.privacy: consent to be shown on a map, statement by statement; merges, undo, import."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from carto import ingest, linkage, privacy, store
from carto.privacy import ConsentError


@pytest.fixture
def engine(base_url: str):
    engine = store.init_base(base_url)
    with store.transaction(engine, action="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": 1, "kind": "personne", "display_name": "Ana Ruiz"},
            {"id": 2, "kind": "personne", "display_name": "Ana Ruiz"},
            {"id": 3, "kind": "organisation", "display_name": "Les Jardins du Lez"},
        ])
    yield engine
    engine.dispose()


def _state(engine, actor_id: int) -> tuple[bool, datetime | None, str | None]:
    a = store.actors
    with engine.connect() as conn:
        row = conn.execute(sa.select(a.c.consent_map, a.c.consent_map_at, a.c.consent_proof)
                           .where(a.c.id == actor_id)).one()
    return bool(row[0]), row[1], row[2]


def test_the_latest_statement_counts_whatever_the_order_it_is_recorded_in(engine) -> None:
    privacy.state_map_consent(engine, 1, True, proof="formulaire du 02/03/2025", stated_at=date(2025, 3, 2))
    assert _state(engine, 1)[0] is True
    privacy.state_map_consent(engine, 1, False, proof="courriel du 10/01/2026", stated_at=date(2026, 1, 10),
                              who="camille")
    consent, at, proof = _state(engine, 1)
    assert (consent, proof) == (False, "courriel du 10/01/2026")
    assert at == privacy.paris_midnight(date(2026, 1, 10))
    # an older paper form found later does not bring the consent back
    privacy.state_map_consent(engine, 1, True, proof="formulaire retrouvé (2024)", stated_at=date(2024, 6, 1))
    assert _state(engine, 1)[0] is False
    history = privacy.consent_history(engine, 1)
    assert history["accord"].tolist() == ["oui", "oui", "non"]
    assert history["déclaré le"].tolist() == ["01/06/2024", "02/03/2025", "10/01/2026"]
    assert history.loc[2, "enregistré par"] == "camille"
    with engine.connect() as conn:
        logged = conn.execute(sa.select(store.audit_log.c.details).where(
            store.audit_log.c.action == "accord carte", store.audit_log.c.table_name == "consent_statements")).all()
    assert len(logged) == 3


@pytest.mark.parametrize(("actor", "kwargs", "message"), [
    (1, {"proof": ""}, "indiquez la preuve"),
    (99, {"proof": "x"}, "Acteur 99 introuvable"),
    (3, {"proof": "x"}, "est une organisation"),
    (1, {"proof": "x", "stated_at": datetime.now(timezone.utc) + timedelta(days=2)}, "dans le futur"),
])
def test_a_statement_that_cannot_be_recorded_says_why_in_french(engine, actor, kwargs, message) -> None:
    with pytest.raises(ConsentError, match=message):
        privacy.state_map_consent(engine, actor, True, **kwargs)
    assert privacy.consent_history(engine).empty
    assert _state(engine, 1) == (False, None, None)


def test_a_merge_keeps_the_latest_statement_of_the_pair_and_undo_gives_each_its_own(engine) -> None:
    # the kept actor said yes long ago; the absorbed one (the same person) said no since: no must win
    privacy.state_map_consent(engine, 1, True, proof="formulaire 2023", stated_at=date(2023, 5, 1))
    privacy.state_map_consent(engine, 2, False, proof="courriel 2026", stated_at=date(2026, 2, 1))
    merge_id = linkage.merge(engine, 1, 2, who="test")
    assert _state(engine, 1)[:1] == (False,)
    assert _state(engine, 1)[2] == "courriel 2026"
    assert set(privacy.consent_history(engine)["acteur"]) == {1}
    linkage.undo_merge(engine, merge_id, who="test")
    assert _state(engine, 1)[0] is True and _state(engine, 2)[0] is False
    assert privacy.consent_history(engine).groupby("acteur")["accord"].apply(list).to_dict() == {
        1: ["oui"], 2: ["non"]}


def test_a_merge_where_only_the_absorbed_agreed_shows_the_kept_actor(engine) -> None:
    privacy.state_map_consent(engine, 2, True, proof="formulaire", stated_at=date(2026, 2, 1))
    merge_id = linkage.merge(engine, 1, 2, who="test")
    assert _state(engine, 1)[0] is True
    linkage.undo_merge(engine, merge_id, who="test")
    assert _state(engine, 1) == (False, None, None)
    assert _state(engine, 2)[0] is True


def _sheet(folder: Path, name: str, day: str, rows: list[tuple[str, str, str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Événement;Date;Lieu;Nom;Prénom;Structure;Courriel;Code postal;Signature;Accord carte"]
    lines += [f"Rencontre mer;{day};Sète;{nom};{prenom};;{mail};34200;oui;{accord}" for nom, prenom, mail, accord in rows]
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def test_sign_in_sheets_state_consent_and_a_later_sheet_withdraws_it(tmp_path: Path) -> None:
    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    sheets = tmp_path / "emargement"
    _sheet(sheets, "E1_2025-03-01.csv", "01/03/2025", [
        ("Ruiz", "Ana", "ana@exemple.fr", "oui"), ("Martin", "Paul", "paul@exemple.fr", "non"),
        ("Durand", "Léa", "lea@exemple.fr", ""), ("Petit", "Jean", "jean@exemple.fr", "peut-être")])
    reports = [ingest.import_file(engine, path, source="emargement") for path in sorted(sheets.iterdir())]
    assert sum(r.accords for r in reports) == 2
    assert sum(r.avertissements for r in reports) >= 1  # « peut-être »: imported, no statement, a warning
    assert sum(r.importees for r in reports) == 4
    with engine.connect() as conn:
        shown = dict(conn.execute(sa.select(store.actors.c.email, store.actors.c.consent_map)).all())
    assert shown == {"ana@exemple.fr": True, "paul@exemple.fr": False, "lea@exemple.fr": False,
                     "jean@exemple.fr": False}
    history = privacy.consent_history(engine)
    assert history["preuve"].tolist()[0].startswith("Feuilles d'émargement : ")
    assert history["preuve"].str.contains("ligne 2").any()
    assert history["déclaré le"].tolist() == ["01/03/2025", "01/03/2025"]
    # the same sheet again: nothing new
    again = ingest.import_file(engine, sheets / "E1_2025-03-01.csv", source="emargement")
    assert again.accords == 0
    # a later meeting: Ana withdraws her consent, the e-mail attaches the row to her actor
    _sheet(sheets, "E2_2026-01-15.csv", "15/01/2026", [("Ruiz", "Ana", "ana@exemple.fr", "Non")])
    later = ingest.import_file(engine, sheets / "E2_2026-01-15.csv", source="emargement")
    assert later.accords == 1
    with engine.connect() as conn:
        ana = conn.execute(sa.select(store.actors.c.consent_map, store.actors.c.consent_proof)
                           .where(store.actors.c.email == "ana@exemple.fr", store.actors.c.status == "active")).one()
    assert ana[0] is False and "E2_2026-01-15.csv" in ana[1]
    engine.dispose()


def test_detaching_a_record_takes_its_statement_with_it(tmp_path: Path) -> None:
    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    sheets = tmp_path / "emargement"
    _sheet(sheets, "E1_2025-03-01.csv", "01/03/2025", [("Ruiz", "Ana", "ana@exemple.fr", "")])
    _sheet(sheets, "E2_2025-06-01.csv", "01/06/2025", [("Ruiz", "Anabel", "ana@exemple.fr", "oui")])
    for path in sorted(sheets.iterdir()):
        ingest.import_file(engine, path, source="emargement")
    with engine.connect() as conn:
        record = conn.execute(sa.select(store.source_records.c.id).where(
            store.source_records.c.actor_rule == "email")).scalar_one()
        first = conn.execute(sa.select(store.actors.c.id).order_by(store.actors.c.id)).scalars().first()
    assert _state(engine, first)[0] is True
    (new_id,) = linkage.detach(engine, record, who="test")
    assert _state(engine, first) == (False, None, None)
    assert _state(engine, new_id)[0] is True
    engine.dispose()


def test_migration_0005_keeps_the_consents_already_in_the_base(tmp_path: Path) -> None:
    from alembic import command

    engine = store.init_base(f"sqlite:///{tmp_path / 'base.sqlite'}")
    with store._write_connection(engine, foreign_keys=False) as conn:
        with conn.begin():
            command.downgrade(store._alembic_config(conn), "0004")
            conn.execute(store.schema_info.update().values(schema_revision="0004"))
            conn.execute(sa.text("INSERT INTO actors (id, kind, display_name, status, consent_map, consent_newsletter, "
                                 "themes, provenance, created_at, updated_at) VALUES "
                                 "(1, 'personne', 'A', 'active', 1, 0, '[]', '{}', '2025-01-01 00:00:00', "
                                 "'2025-01-01 00:00:00'), "
                                 "(2, 'personne', 'B', 'active', 0, 0, '[]', '{}', '2025-01-01 00:00:00', "
                                 "'2025-01-01 00:00:00')"))
    store.init_base(engine.url, who="admin").dispose()
    history = privacy.consent_history(engine)
    assert history["acteur"].tolist() == [1] and history["accord"].tolist() == ["oui"]
    assert "avant la version 0005" in history.loc[0, "preuve"]
    assert _state(engine, 1)[0] is True
    engine.dispose()



def test_cli_records_and_lists_a_persons_answers(tmp_path: Path, capsys) -> None:
    from carto.cli import main

    url = f"sqlite:///{tmp_path / 'base.sqlite'}"
    engine = store.init_base(url)
    with store.transaction(engine, action="test") as conn:
        conn.execute(store.actors.insert().values(id=7, kind="personne", display_name="Ana Ruiz"))
    engine.dispose()
    assert main(["consent", "7", "--base", url]) == 0
    assert "Aucune déclaration pour l'acteur 7" in capsys.readouterr().out
    assert main(["consent", "7", "--oui", "--base", url]) == 1
    assert "indiquez la preuve" in capsys.readouterr().err
    assert main(["consent", "7", "--oui", "--preuve", "formulaire signé", "--date", "2026-03-02", "--base", url]) == 0
    assert main(["consent", "7", "--non", "--preuve", "courriel", "--base", url]) == 0
    out = capsys.readouterr().out
    assert "02/03/2026" in out and "formulaire signé" in out
    assert out.rstrip().endswith("Réponse qui compte : non (la plus récente).")
