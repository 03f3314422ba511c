"""Tests of carto.ingest: readers, quarantine, idempotence, updates, blocklist, user mappings, atomicity.

The base tests run on SQLite and PostgreSQL (``base_url`` fixture). Small
hand-made files are in ``tests/data`` (see its README); the demo sources in
``data/demo`` are compared with their ground truth.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from carto import ingest, store
from carto._errors import SourceFileError
from carto.settings import REPO_DIR
from carto.sources import load_mapping

DATA = Path(__file__).parent / "data"
DEMO = REPO_DIR / "data" / "demo"



def _explained_differences(got: set, expected: set, truth: pd.DataFrame, quarantined: pd.DataFrame) -> None:
    """The only accepted differences between the quarantine and the truth's « quarantaine = oui » rows.

    - missing: the generator made the address invalid, then erased it (``champ_manquant:Courriel``),
      so the row holds no invalid value any more;
    - extra: an address whose domain is not a valid name (a label ending with « - », as in
      « contact@association-occitanie-jardins-.fr », a generic address cut at 30 characters).
    """
    codes = truth.set_index(["fichier", truth["ligne"].astype(int)])["alterations"]
    for row in expected - got:
        assert "champ_manquant:Courriel" in codes[row] and "code_postal_invalide" not in codes[row], row
    reasons = quarantined.set_index(["fichier", quarantined["ligne"].astype(int)])["raison"]
    for row in got - expected:
        assert re.search(r"colonne « Courriel » : « [^»]*-\.[a-z]+ »", reasons[row]), reasons[row]


@pytest.fixture
def engine(base_url):
    """A fresh base (SQLite, then PostgreSQL), disposed after the test."""
    engine = store.init_base(base_url, who="test")
    yield engine
    engine.dispose()


@pytest.fixture
def memory():
    """A fresh in-memory SQLite base."""
    engine = store.init_base("sqlite://", who="test")
    yield engine
    engine.dispose()


def _rows(engine, table: sa.Table, *where) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(*where))]


def _counts_add_up(report: ingest.ImportReport) -> bool:
    return report.lus == report.nouveaux + report.mis_a_jour + report.inchanges + report.en_quarantaine


# --------------------------------------------------------------------------- readers


def test_read_cp1252_semicolon_crlf():
    table = ingest.read_table(DATA / "lreav_cp1252.csv", "lreav")
    assert table.index.tolist() == [2, 3, 4]
    assert table.loc[2, "Prénom du contact"] == "Hélène"
    assert table.loc[3, "N° RNA"] == ""
    assert table.loc[3, "Description du projet"] == '=HYPERLINK("http://exemple.invalid";"Cliquez ici")'
    assert table.map(lambda v: isinstance(v, str)).all().all()


def test_read_utf8_bom_semicolon():
    table = ingest.read_table(DATA / "E90001_2024-04-15.csv", "emargement")
    assert list(table.columns)[0] == "Événement"  # the BOM is not part of the first column name
    assert table.loc[2, "Prénom"] == "Jean-Pierre"


def test_read_comma_quoted_values():
    table = ingest.read_table(DATA / "jeparticipe_virgule.csv", "jeparticipe")
    assert table.loc[2, "Démarches"].startswith("Concertation : les haies, les mares")
    assert table.loc[2, "Pseudo"] == '<img src=x onerror="alert(1)">'


def test_read_tab_title_rows_and_trailing_empties():
    mapping = load_mapping(DATA / "jardins.toml")
    table = ingest.read_table(DATA / "jardins.tsv", mapping)
    assert list(table.columns) == ["N° adhérent", "Jardin", "Référent", "Mail", "CP", "Ville"]
    assert table.index.tolist() == [5, 6, 7]  # header on line 4 under two title rows and a blank one


def test_read_xlsx_title_rows_dates_and_numbers(tmp_path, memory):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Région Occitanie — Bénéficiaires (extraction du 01/03/2025)"])
    ws.append([])
    header = ["Bénéficiaire", "SIRET", "Forme juridique", "Dispositif", "Direction", "Montant (€)",
              "Date de décision", "Adresse", "Code postal", "Commune", "Contact", "Courriel", None]
    ws.append(header)
    ws.append(["LES AMIS DES HAIES", "31534168500214", "Association déclarée", "Pass ESS", "Direction X",
               12500, datetime(2024, 3, 5), "1 rue A", "31000", "Toulouse", "Hélène LEFÈVRE",
               "contact@amis-haies.fr", None])
    ws.append(["Collectif B", "31534168500214", None, "Pass ESS", None, "12 500,00 €", datetime(2024, 3, 6),
               None, "09200", "St-Girons", "Jean-Pierre DE LA FONTAINE", None])
    ws.append([None] * 12)
    path = tmp_path / "dispositifs.xlsx"
    wb.save(path)
    table = ingest.read_table(path, "dispositifs")
    assert table.index.tolist() == [4, 5]
    assert table.loc[4, "Date de décision"] == "2024-03-05"
    assert table.loc[4, "Montant (€)"] == "12500"
    report = ingest.import_file(memory, path, source="dispositifs")
    assert (report.lus, report.nouveaux, report.en_quarantaine) == (2, 2, 0)
    fields = {r["line"]: r["fields"] for r in _rows(memory, store.source_records)}
    assert fields[4]["date"] == "2024-03-05"
    assert fields[4]["extra"]["montant"] == 12500.0 and fields[5]["extra"]["montant"] == 12500.0
    assert (fields[5]["personne"]["first_name"], fields[5]["personne"]["last_name"]) == \
        ("Jean-Pierre", "de La Fontaine")
    assert fields[5]["organisation"]["commune_code"] == "09261"


def test_read_xlsx_without_calamine_uses_openpyxl(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_calamine(name, *args, **kwargs):
        if name == "python_calamine":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    fast = ingest.read_table(DEMO / "sources" / "dispositifs.xlsx", "dispositifs")
    monkeypatch.setattr(builtins, "__import__", no_calamine)
    slow = ingest.read_table(DEMO / "sources" / "dispositifs.xlsx", "dispositifs")
    pd.testing.assert_frame_equal(fast, slow)


def test_new_actor_ids_follow_the_sequence(engine):
    ingest.import_file(engine, DATA / "lreav_cp1252.csv", source="lreav")
    with store.transaction(engine, action="exemple", who="test") as conn:  # another writer after the import
        new_id = conn.execute(store.actors.insert().returning(store.actors.c.id).values(
            kind="personne", display_name="Quelqu'un")).scalar_one()
    assert new_id > max(r["id"] for r in _rows(engine, store.actors) if r["display_name"] != "Quelqu'un")


def test_missing_column_error_names_file_and_column(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("EMAIL;NOM;PRENOM;LISTES;DATE_INSCRIPTION;BLOCKLISTE\na@b.fr;A;B;L;01-01-2024;Non\n",
                    encoding="utf-8")
    with pytest.raises(SourceFileError, match=r"contacts\.csv.*« DESINSCRIT »"):
        ingest.read_table(path, "newsletter")


def test_unreadable_file_error(tmp_path, memory):
    path = tmp_path / "abime.xlsx"
    path.write_bytes(b"PK\x03\x04 pas vraiment un classeur")
    with pytest.raises(SourceFileError, match=r"abime\.xlsx : classeur XLSX illisible"):
        ingest.read_table(path, "dispositifs")
    with pytest.raises(SourceFileError, match="introuvable"):
        ingest.import_file(memory, tmp_path / "absent.csv", source="lreav")
    other = tmp_path / "autre.csv"
    other.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="aucune ligne d'en-tête"):
        ingest.read_table(other, "lreav")


def test_canonical_raw_is_json_with_sorted_keys():
    import json

    table = pd.DataFrame({"b": ['x"y', "é"], "a": ["", "<script>"], "\u00e9\"\\": ["\x00\x1f\x7f\n\t", "\u2028🌱\\"]})
    expected = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in table.to_dict("records")]
    assert ingest._canonical_raw(table).tolist() == expected
    # every character is escaped as json.dumps escapes it: row_hash stays the same across versions
    every = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF)
    text = ingest._canonical_raw(pd.DataFrame({"v": [every]})).iloc[0]
    assert text == json.dumps({"v": every}, ensure_ascii=False)
    assert ingest._canonical_raw(pd.DataFrame(index=range(2))).tolist() == ["{}", "{}"]


def test_fields_text_is_the_json_of_the_per_row_dicts():
    import json

    person = pd.DataFrame({"first_name": ['Lé"a', None, "x"], "email": ["a@b.fr", None, None],
                           "_present": [True, False, True]})
    org = pd.DataFrame({"name": ["Asso \\ du\nLot", "B", None], "themes": [["mer", "lot"], None, []],
                        "_present": [True, True, False]})
    extra = pd.DataFrame({"montant": [1.5, np.nan, 1e16], "oui": pd.array([True, None, False], dtype="boolean"),
                          "avertissements": [None, ["a", "b « c »"], None]})
    row_date = pd.Series(["2024-05-01", None, None], dtype=object)
    got = [json.loads(t) for t in ingest._fields_text(person, org, row_date, extra)]

    def plain(frame: pd.DataFrame, i: int) -> dict:
        return {k: (None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
                for k, v in frame.drop(columns="_present", errors="ignore").astype(object).iloc[i].items()}

    expected = [
        {"personne": plain(person, i) if person["_present"][i] else None,
         "organisation": plain(org, i) if org["_present"][i] else None,
         "date": row_date[i], "extra": {k: v for k, v in plain(extra, i).items() if v is not None}}
        for i in range(3)
    ]
    assert got == expected
    assert got[1]["extra"] == {"avertissements": ["a", "b « c »"]} and got[2]["organisation"] is None


# --------------------------------------------------------------------------- demo sources


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return pd.read_csv(DEMO / "verite" / "correspondances.csv", dtype=str, keep_default_na=False)


def test_demo_sources_counts_and_quarantine_match_truth(engine, truth):
    reports = ingest.import_folder(engine, DEMO)
    assert [r.source for r in reports] == ["lreav", "jeparticipe", "dispositifs", "emargement", "newsletter"]
    rows_per_source = truth.groupby("source").size()
    for report in reports:
        assert _counts_add_up(report), str(report)
        assert report.lus == rows_per_source[report.source]
    quarantined = ingest.quarantine(engine)
    got = set(zip(quarantined["fichier"], quarantined["ligne"].astype(int)))
    marked = truth[truth["quarantaine"] == "oui"]
    expected = set(zip(marked["fichier"], marked["ligne"].astype(int)))
    _explained_differences(got, expected, truth, quarantined)
    assert len(got ^ expected) <= 3
    assert sum(r.en_quarantaine for r in reports) == len(got)
    for raison in quarantined["raison"]:
        assert raison.startswith("fichier ") and ", ligne " in raison and ", colonne « " in raison
    # quarantined rows create no actor; ok rows have one
    with engine.connect() as conn:
        sr = store.source_records
        assert conn.execute(sa.select(sa.func.count()).where(sr.c.status == "quarantined",
                                                             sr.c.actor_id.is_not(None))).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).where(sr.c.status == "ok",
                                                             sr.c.actor_id.is_(None))).scalar_one() == 0
        kinds = dict(conn.execute(sa.select(store.events.c.kind, sa.func.count()).group_by(store.events.c.kind)).all())
        fields = conn.execute(sa.select(sr.c.source, sr.c.fields).where(sr.c.status == "ok")).all()
    # the contract read by carto.linkage: same keys in every record
    person_keys = {"first_name", "last_name", "first_name_key", "last_name_key", "email", "email_key", "phone",
                   "postcode", "commune_code", "pseudo"}
    org_keys = {"name", "name_key", "acronym", "siret", "siren", "rna", "org_type", "address", "postcode",
                "commune_code", "url", "email", "email_key", "phone", "themes"}
    seen = set()
    for source, f in fields:
        assert set(f) == {"personne", "organisation", "date", "extra"}
        assert f["personne"] is None or set(f["personne"]) == person_keys
        assert f["organisation"] is None or set(f["organisation"]) == org_keys
        assert f["date"] is None or date.fromisoformat(f["date"])
        seen.add((source, f["personne"] is not None, f["organisation"] is not None))
    assert {("lreav", True, True), ("dispositifs", True, True), ("emargement", True, True),
            ("emargement", True, False), ("jeparticipe", True, False), ("newsletter", True, False)} <= seen
    assert kinds["concertation"] > 0 and kinds["rencontre régionale annuelle"] > 0
    assert kinds["formation-action"] > 0 and kinds["atelier de cartographie"] > 0
    assert kinds["groupe de travail"] > 0
    # roles: every spelling the built-in mapping does not know is a warning, the row is imported
    unknown_role = sum(any("n'est pas un rôle reconnu" in w for w in f["extra"].get("avertissements") or [])
                       for _, f in fields)
    expected = truth["alterations"].str.contains("role_non_reconnu") & (truth["quarantaine"] == "non")
    assert unknown_role == expected.sum() > 0
    with engine.connect() as conn:
        roles = dict(conn.execute(sa.select(store.participations.c.role, sa.func.count())
                                  .group_by(store.participations.c.role)).all())
    assert set(roles) == {"participant", "organisateur", "intervenant"}
    assert roles["participant"] > 5 * (roles["organisateur"] + roles["intervenant"])


def test_idempotent_reimport(engine):
    folder = DEMO / "sources"
    first = [ingest.import_file(engine, folder / name, source=source)
             for source, name in (("lreav", "lreav.csv"), ("jeparticipe", "jeparticipe.csv"),
                                  ("newsletter", "newsletter.csv"))]
    before = store.base_summary(engine)
    with engine.connect() as conn:
        records_before = conn.execute(sa.select(store.source_records.c.id, store.source_records.c.updated_at)
                                      .order_by(store.source_records.c.id)).all()
    again = [ingest.import_file(engine, folder / r.file, source=r.source) for r in first]
    after = store.base_summary(engine)
    for one, two in zip(first, again):
        assert _counts_add_up(two)
        assert (two.nouveaux, two.mis_a_jour, two.inchanges) == (0, 0, one.nouveaux)
        assert two.en_quarantaine == one.en_quarantaine
        assert (two.acteurs, two.evenements, two.participations, two.inscriptions) == (0, 0, 0, 0)
    # only the trace of the runs is added: one import batch and one audit row each
    changed = {k: after[k] - before[k] for k in before if after[k] != before[k]}
    assert changed == {"import_batches": 3, "audit_log": 3}
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.source_records.c.id, store.source_records.c.updated_at)
                            .order_by(store.source_records.c.id)).all() == records_before


def _newsletter(path: Path, rows: list[str]) -> Path:
    header = "EMAIL;NOM;PRENOM;LISTES;DATE_INSCRIPTION;BLOCKLISTE;DESINSCRIT"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_changed_row_updates_record_and_actor(engine, tmp_path):
    path = _newsletter(tmp_path / "brevo.csv", [
        "anne.roy@free.fr;ROY;Anne;Lettre A;01-02-2024;Non;Non",
        "paul.petit@orange.fr;PETIT;Paul;Lettre A;02-02-2024;Non;Non",
    ])
    ingest.import_file(engine, path, source="newsletter")
    _newsletter(path, [
        "anne.roy@free.fr;ROY-MARTIN;Anne;Lettre A;01-02-2024;Non;Non",
        "paul.petit@orange.fr;PETIT;Paul;Lettre A;02-02-2024;Non;Non",
    ])
    report = ingest.import_file(engine, path, source="newsletter", who="camille")
    assert (report.nouveaux, report.mis_a_jour, report.inchanges) == (0, 1, 1)
    record = _rows(engine, store.source_records, store.source_records.c.source_key == "anne.roy@free.fr")[0]
    assert record["raw"]["NOM"] == "ROY-MARTIN" and record["batch_id"] == report.batch_id
    actor = _rows(engine, store.actors, store.actors.c.id == record["actor_id"])[0]
    assert actor["last_name"] == "Roy-Martin" and actor["display_name"] == "Anne Roy-Martin"
    audit = _rows(engine, store.audit_log, store.audit_log.c.who == "camille", store.audit_log.c.table_name == "actors")
    assert audit and audit[0]["row_ids"] == [record["actor_id"]]


def test_merged_actor_is_not_overwritten(engine, tmp_path):
    path = _newsletter(tmp_path / "brevo.csv", ["anne.roy@free.fr;ROY;Anne;Lettre A;01-02-2024;Non;Non",
                                                "a.roy@free.fr;ROY;Anne;Lettre A;01-02-2024;Non;Non"])
    ingest.import_file(engine, path, source="newsletter")
    ids = sorted(r["actor_id"] for r in _rows(engine, store.source_records))
    with store.transaction(engine, action="merge", who="test") as conn:  # what linkage does, minimally
        conn.execute(store.merges.insert().values(kept_id=ids[0], absorbed_id=ids[1], method="manual",
                                                  who="test", snapshot={}))
        conn.execute(store.actors.update().where(store.actors.c.id == ids[1])
                     .values(status="merged", merged_into_id=ids[0]))
    _newsletter(path, ["anne.roy@free.fr;ROY-MARTIN;Anne;Lettre A;01-02-2024;Non;Non",
                       "a.roy@free.fr;ROYY;Anne;Lettre A;01-02-2024;Non;Non"])
    report = ingest.import_file(engine, path, source="newsletter")
    assert report.mis_a_jour == 2
    names = {r["id"]: r["last_name"] for r in _rows(engine, store.actors)}
    assert names == {ids[0]: "Roy", ids[1]: "Roy"}  # golden records are linkage's job


def test_quarantine_cleared_after_fix(engine, tmp_path):
    sheet = tmp_path / "inscrits.csv"
    header = "Identifiant,Pseudo,Prénom,Nom,Courriel,Code postal,Date d'inscription,Accepte la newsletter,Démarches"
    sheet.write_text(f"{header}\n7,,Paul,Petit,paul.petit@orange.fr,3100,2023-02-05 09:15:00,non,\n", encoding="utf-8")
    brevo = _newsletter(tmp_path / "brevo.csv", ["anne.roy@@free.fr;ROY;Anne;Lettre A;01-02-2024;Non;Non"])
    assert ingest.import_file(engine, sheet, source="jeparticipe").en_quarantaine == 1
    assert ingest.import_file(engine, brevo, source="newsletter").en_quarantaine == 1
    q = ingest.quarantine(engine)
    assert len(q) == 2 and "« 3100 » n'est pas un code postal" in q.loc[q["source"] == "jeparticipe", "raison"].iloc[0]
    assert q.loc[q["source"] == "jeparticipe", "raison"].iloc[0].startswith(
        "fichier inscrits.csv, ligne 2, colonne « Code postal » : ")
    sheet.write_text(f"{header}\n7,,Paul,Petit,paul.petit@orange.fr,31000,2023-02-05 09:15:00,non,\n",
                     encoding="utf-8")
    _newsletter(brevo, ["anne.roy@free.fr;ROY;Anne;Lettre A;01-02-2024;Non;Non"])
    fixed = ingest.import_file(engine, sheet, source="jeparticipe")
    assert (fixed.mis_a_jour, fixed.en_quarantaine) == (1, 0)  # same key (site id): the record is updated
    assert ingest.import_file(engine, brevo, source="newsletter").nouveaux == 1  # new key: the old row goes
    assert ingest.quarantine(engine).empty
    records = _rows(engine, store.source_records)
    assert len(records) == 2 and all(r["status"] == "ok" and r["actor_id"] for r in records)


def _statuses(engine, email_key: str) -> set[tuple[str, str]]:
    a, s = store.actors, store.subscriptions
    with engine.connect() as conn:
        return set(conn.execute(sa.select(s.c.list_name, s.c.status).select_from(s.join(a, a.c.id == s.c.actor_id))
                                .where(a.c.email_key == email_key)).all())


REGIONAL = "Lettre régionale de la participation citoyenne"


def _website(path: Path, newsletter: str) -> Path:
    header = "Identifiant,Pseudo,Prénom,Nom,Courriel,Code postal,Date d'inscription,Accepte la newsletter,Démarches"
    path.write_text(f"{header}\n42,,Anne,Roy,Anne.Roy@free.fr,31000,2024-05-01 10:00:00,{newsletter},\n",
                    encoding="utf-8")
    return path


def test_blocklisted_contact_never_resubscribed(engine, tmp_path):
    brevo = _newsletter(tmp_path / "brevo.csv", [f"anne.roy@free.fr;ROY;Anne;{REGIONAL};01-02-2024;Oui;Non",
                                                 "paul.petit@orange.fr;PETIT;Paul;;02-02-2024;Non;Oui"])
    ingest.import_file(engine, brevo, source="newsletter")
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "blocklisted")}
    assert _statuses(engine, "paulpetit@orange.fr") == {(REGIONAL, "unsubscribed")}
    ingest.import_file(engine, _website(tmp_path / "site.csv", "oui"), source="jeparticipe")
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "blocklisted")}  # two actors, both blocklisted
    # the same Brevo contact back as subscribed: still blocklisted / unsubscribed
    _newsletter(brevo, [f"anne.roy@free.fr;ROY;Anne;{REGIONAL};01-02-2024;Non;Non",
                        f"paul.petit@orange.fr;PETIT;Paul;{REGIONAL};02-02-2024;Non;Non"])
    ingest.import_file(engine, brevo, source="newsletter")
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "blocklisted")}
    assert _statuses(engine, "paulpetit@orange.fr") == {(REGIONAL, "unsubscribed")}


def test_blocklist_after_subscription_wins(engine, tmp_path):
    ingest.import_file(engine, _website(tmp_path / "site.csv", "oui"), source="jeparticipe")
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "subscribed")}
    brevo = _newsletter(tmp_path / "brevo.csv", [f"anne.roy@free.fr;ROY;Anne;{REGIONAL};01-02-2024;Oui;Non"])
    ingest.import_file(engine, brevo, source="newsletter")
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "blocklisted")}


def test_rows_sharing_an_address_share_an_actor_and_the_most_restrictive_status(engine, tmp_path):
    """Two rows of one file with one address: one actor (attached by e-mail), the most restrictive status wins."""
    brevo = _newsletter(tmp_path / "brevo.csv", [f"anne.roy@free.fr;ROY;Anne;{REGIONAL};01-02-2024;Non;Non",
                                                 f"anne.roy@free.fr;ROY;Anne-Marie;{REGIONAL};03-02-2024;Oui;Non",
                                                 f"paul.petit@orange.fr;PETIT;Paul;{REGIONAL};02-02-2024;Non;Non",
                                                 f"paul.petit@orange.fr;PETIT;Paulo;{REGIONAL};04-02-2024;Non;Oui"])
    report = ingest.import_file(engine, brevo, source="newsletter")
    assert (report.nouveaux, report.acteurs, report.rattachements) == (4, 2, 2)
    assert "2 lignes rattachées par courriel" in str(report)
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "blocklisted")}
    assert _statuses(engine, "paulpetit@orange.fr") == {(REGIONAL, "unsubscribed")}
    records = _rows(engine, store.source_records)
    assert sorted((r["line"], r["actor_rule"]) for r in records) == [(2, None), (3, "email"), (4, None), (5, "email")]
    assert len({r["actor_id"] for r in records}) == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.subscriptions)).scalar_one() == 2
    # a later file: its rows join the actors that carry their addresses
    site = _website(tmp_path / "site.csv", "oui")
    again = ingest.import_file(engine, site, source="jeparticipe")
    assert (again.acteurs, again.rattachements) == (0, again.nouveaux)
    assert _statuses(engine, "anneroy@free.fr") == {(REGIONAL, "blocklisted")}


def test_bare_organisation_named_by_the_same_contact_is_attached(engine, tmp_path):
    """« Structure » on sign-in sheets: the same person naming the same organisation means the same one."""
    folder = tmp_path / "emargement"
    folder.mkdir()
    header = "Événement;Date;Lieu;Nom;Prénom;Structure;Courriel;Code postal;Signature\n"
    (folder / "E90010_2024-03-01.csv").write_text(
        header + "Atelier;01/03/2024;Sète;ROY;Anne;Les Jardins du Lez;anne.roy@free.fr;;oui\n", encoding="utf-8")
    (folder / "E90011_2024-04-01.csv").write_text(
        header + "Atelier;01/04/2024;Sète;ROY;Anne;Les jardins du Lez;anne.roy@free.fr;;oui\n"
        "Atelier;01/04/2024;Sète;PETIT;Paul;Les Jardins du Lez;paul.petit@orange.fr;;oui\n", encoding="utf-8")
    report = ingest.import_file(engine, folder, source="emargement")
    # Anne's second row: her person (e-mail) and her organisation (same contact, same name); Paul's
    # mention is another person's: linkage decides
    assert (report.acteurs, report.rattachements) == (4, 2)
    records = sorted(_rows(engine, store.source_records), key=lambda r: r["file_name"])
    assert [(r["actor_rule"], r["organisation_rule"]) for r in records] == [
        (None, None), ("email", "contact"), (None, None)]
    assert records[0]["organisation_actor_id"] == records[1]["organisation_actor_id"]
    assert records[2]["organisation_actor_id"] != records[0]["organisation_actor_id"]
    # a later import: the mention joins the organisation the person already named
    (folder / "E90012_2024-05-01.csv").write_text(
        header + "Atelier;01/05/2024;Sète;ROY;Anne;LES JARDINS DU LEZ;anne.roy@free.fr;;oui\n", encoding="utf-8")
    again = ingest.import_file(engine, folder, source="emargement")
    assert (again.nouveaux, again.acteurs, again.rattachements) == (1, 0, 2)
    # undone: the row gets its own person and its own organisation again
    from carto import linkage

    organisation, person = linkage.detach(engine, records[1]["id"])  # the organisation first
    row = _rows(engine, store.source_records, store.source_records.c.id == records[1]["id"])[0]
    assert (row["actor_id"], row["organisation_actor_id"]) == (person, organisation)
    assert _rows(engine, store.actors, store.actors.c.id == person)[0]["organisation_id"] == organisation


def test_user_mapping_for_a_new_source(engine):
    report = ingest.import_file(engine, DATA / "jardins.tsv", mapping=DATA / "jardins.toml")
    assert (report.source, report.lus, report.nouveaux, report.en_quarantaine) == ("jardins", 3, 2, 1)
    records = {r["source_key"]: r for r in _rows(engine, store.source_records)}
    assert set(records) == {"J-001", "J-002", "J-003"}
    second = records["J-002"]
    assert second["line"] == 6 and second["raw"]["Référent"] == "Pierre DE LA FONTAINE"
    person, organisation = second["fields"]["personne"], second["fields"]["organisation"]
    assert (person["first_name"], person["last_name"]) == ("Pierre", "de La Fontaine")
    assert organisation["commune_code"] == "09261"  # « St-Girons »
    actors = {r["id"]: r for r in _rows(engine, store.actors)}
    assert actors[second["actor_id"]]["organisation_id"] == second["organisation_actor_id"]
    assert actors[second["organisation_actor_id"]]["location_precision"] == "commune"
    assert records["J-003"]["reason"] == (
        "fichier jardins.tsv, ligne 7, colonne « CP » : « 3400 » n'est pas un code postal (5 chiffres attendus).")


def test_hostile_text_stored_verbatim(engine):
    ingest.import_file(engine, DATA / "lreav_cp1252.csv", source="lreav")
    ingest.import_file(engine, DATA / "jeparticipe_virgule.csv", source="jeparticipe")
    records = {(r["source"], r["line"]): r for r in _rows(engine, store.source_records)}
    formula = records[("lreav", 3)]
    assert formula["raw"]["Description du projet"] == '=HYPERLINK("http://exemple.invalid";"Cliquez ici")'
    assert formula["fields"]["extra"]["description"] == '=HYPERLINK("http://exemple.invalid";"Cliquez ici")'
    assert any("contenu suspect" in w for w in formula["fields"]["extra"]["avertissements"])
    tag = records[("jeparticipe", 2)]
    assert tag["fields"]["personne"]["pseudo"] == '<img src=x onerror="alert(1)">'


def test_sign_in_sheet_event_and_participations(engine, tmp_path):
    folder = tmp_path / "emargement"
    folder.mkdir()
    shutil.copy(DATA / "E90001_2024-04-15.csv", folder)
    report = ingest.import_file(engine, folder, source="emargement")
    assert (report.lus, report.en_quarantaine, report.evenements, report.participations) == (3, 1, 1, 2)
    event = _rows(engine, store.events)[0]
    assert (event["source_key"], event["kind"], event["starts_on"], event["commune_code"]) == (
        "E90001_2024-04-15", "rencontre régionale annuelle", date(2024, 4, 15), "34172")
    assert sorted(p["signed"] for p in _rows(engine, store.participations)) == [False, True]
    assert {p["role"] for p in _rows(engine, store.participations)} == {"participant"}  # no « Rôle » column
    assert report.avertissements == 0
    assert ingest.quarantine(engine)["fichier"].tolist() == ["emargement/E90001_2024-04-15.csv"]
    again = ingest.import_file(engine, folder, source="emargement")
    assert (again.inchanges, again.evenements, again.participations) == (2, 0, 0)


_SHEET_HEADER = "Événement;Date;Lieu;Nom;Prénom;Structure;Courriel;Code postal;Rôle;Signature\n"


def _sheet(path: Path, title: str, day: str, rows: list[str]) -> Path:
    """A sign-in sheet with a « Rôle » column: ``rows`` from « Nom » to « Signature »."""
    path.write_text(_SHEET_HEADER + "".join(f"{title};{day};Sète;{row}\n" for row in rows), encoding="utf-8")
    return path


def _roles(engine) -> dict[str, tuple[str, bool | None]]:
    """Role and signature of each participation, by the e-mail of its actor."""
    p, a = store.participations, store.actors
    with engine.connect() as conn:
        rows = conn.execute(sa.select(a.c.email, p.c.role, p.c.signed).join(a, a.c.id == p.c.actor_id)).all()
    assert len({email for email, _, _ in rows}) == len(rows)  # one participation per person
    return {email: (role, signed) for email, role, signed in rows}


def test_sign_in_roles_become_participation_roles(engine, tmp_path):
    folder = tmp_path / "emargement"
    folder.mkdir()
    path = _sheet(folder / "E90020_2024-03-12.csv", "Rencontre de la communauté Biodiversité — mars 2024",
                  "12/03/2024", [
                      "ROY;Anne;;anne.roy@free.fr;34200;Organisatrice;oui",
                      "PETIT;Paul;;paul.petit@orange.fr;;Intervenant·e;oui",
                      "NGUYEN;Lan;;lan.nguyen@laposte.net;;ANIMATRICE;oui",
                      "MARTIN;Léa;;lea.martin@gmail.com;;;oui",
                      "DURAND;Marc;;marc.durand@gmail.com;;Bénévole;oui",
                      "ROY;Anne;;anne.roy@free.fr;;;non",  # the same person again: her strongest role stays
                      "BLANC;Rémi;;remi.blanc@free.fr;;Orateur;non",
                  ])
    report = ingest.import_file(engine, folder, source="emargement")
    assert (report.lus, report.nouveaux, report.en_quarantaine, report.participations) == (7, 7, 0, 6)
    assert _roles(engine) == {
        "anne.roy@free.fr": ("organisateur", True), "paul.petit@orange.fr": ("intervenant", True),
        "lan.nguyen@laposte.net": ("organisateur", True), "lea.martin@gmail.com": ("participant", True),
        "marc.durand@gmail.com": ("participant", True), "remi.blanc@free.fr": ("intervenant", False),
    }
    # an unknown role: a warning naming file, line, column and value; the row is imported all the same
    assert report.avertissements == 1
    marc = _rows(engine, store.source_records, store.source_records.c.line == 6)[0]
    assert marc["status"] == "ok" and marc["fields"]["extra"]["role"] == "Bénévole"
    (warning,) = marc["fields"]["extra"]["avertissements"]
    assert warning.startswith("fichier emargement/E90020_2024-03-12.csv, ligne 6, colonne « Rôle » : « Bénévole » "
                              "n'est pas un rôle reconnu, compté comme participant (mots reconnus : organis, anim → "
                              "organisateur ; interven, orateur, oratrice → intervenant ;")
    again = ingest.import_file(engine, folder, source="emargement")
    assert (again.inchanges, again.participations) == (7, 0)
    # the sheet corrected: the participation takes the new role (the same row: a merge moving it can be undone)
    before = {r["source_record_id"]: r["id"] for r in _rows(engine, store.participations)}
    path.write_text(path.read_text(encoding="utf-8").replace("Bénévole", "Orateur"), encoding="utf-8")
    fixed = ingest.import_file(engine, folder, source="emargement")
    assert (fixed.mis_a_jour, fixed.participations, fixed.avertissements) == (1, 1, 0)
    assert _roles(engine)["marc.durand@gmail.com"] == ("intervenant", True)
    assert {r["source_record_id"]: r["id"] for r in _rows(engine, store.participations)} == before


def test_merged_actor_keeps_both_roles_and_the_merge_undoes(engine, tmp_path):
    """Two rows of one sheet naming one person (two addresses): once merged, two roles at one event."""
    from carto import linkage

    folder = tmp_path / "emargement"
    folder.mkdir()
    _sheet(folder / "E90040_2024-03-12.csv", "Rencontre", "12/03/2024",
           ["ROY;Anne;;anne.roy@free.fr;;Organisatrice;oui", "ROY;Anne;;a.roy@orange.fr;;;non"])
    ingest.import_file(engine, folder, source="emargement")
    parts = sorted((r["actor_id"], r["role"], r["signed"]) for r in _rows(engine, store.participations))
    (kept, _, _), (absorbed, _, _) = parts
    assert parts == [(kept, "organisateur", True), (absorbed, "participant", False)]
    merge_id = linkage.merge(engine, kept, absorbed, who="test")
    merged = sorted((r["actor_id"], r["role"], r["signed"]) for r in _rows(engine, store.participations))
    assert merged == [(kept, "organisateur", True), (kept, "participant", False)]
    again = ingest.import_file(engine, folder, source="emargement")  # a re-import changes nothing
    assert (again.inchanges, again.participations) == (2, 0)
    assert sorted((r["actor_id"], r["role"], r["signed"]) for r in _rows(engine, store.participations)) == merged
    linkage.undo_merge(engine, merge_id, who="test")
    assert sorted((r["actor_id"], r["role"], r["signed"]) for r in _rows(engine, store.participations)) == parts


def test_builtin_mapping_reads_the_synthetic_role_spellings():
    from carto import synth

    spellings = [(word, role) for role, by_sex in synth.ROLE_SPELLINGS.items()
                 for rates in by_sex.values() for word in rates]
    given = pd.Series([w for w, _ in spellings] + [None, "Participante"], dtype="string")
    role, unknown = ingest._parse_roles(given, load_mapping("emargement").events)
    known = [w not in synth._UNKNOWN_ROLES for w, _ in spellings]
    assert role.tolist() == [r if k else "participant" for (_, r), k in zip(spellings, known)] + ["participant"] * 2
    assert unknown.isna().tolist() == [*known, True, True]


def test_working_group_sheet_is_a_working_group_event(engine, tmp_path):
    folder = tmp_path / "emargement"
    folder.mkdir()
    _sheet(folder / "E90030_2024-06-14.csv", "Groupe de travail Biodiversité — juin 2024", "14/06/2024",
           ["ROY;Anne;;anne.roy@free.fr;;Animatrice;oui", "PETIT;Paul;;paul.petit@orange.fr;;;oui"])
    _sheet(folder / "E90031_2024-06-20.csv", "GROUPE DE TRAVAIL « Formation des jardiniers »", "20/06/2024",
           ["ROY;Anne;;anne.roy@free.fr;;;oui"])
    report = ingest.import_file(engine, folder, source="emargement")
    assert (report.evenements, report.participations) == (2, 3)
    events = {e["source_key"]: e for e in _rows(engine, store.events)}
    assert {key: e["kind"] for key, e in events.items()} == {
        "E90030_2024-06-14": "groupe de travail", "E90031_2024-06-20": "groupe de travail"}  # first word wins
    assert events["E90030_2024-06-14"]["title"] == "Groupe de travail Biodiversité — juin 2024"


def _canonical_base(engine, since: datetime) -> dict[str, list]:
    """The base without its ids: each actor named by the first (source, key) of its records.

    Times of writing are left out (``since``: a subscription's date, when its row has none, is the time of
    the import).
    """
    sr, a, e = store.source_records, store.actors, store.events
    with engine.connect() as conn:
        records = store.read_frame(conn, sa.select(sr.c.id, sr.c.source, sr.c.source_key, sr.c.line, sr.c.file_name,
                                                   sr.c.row_hash, sr.c.status, sr.c.reason, sr.c.actor_id,
                                                   sr.c.organisation_actor_id, sa.cast(sr.c.fields, sa.Text)))
        actors = store.read_frame(conn, sa.select(a).order_by(a.c.id))
        events = store.read_frame(conn, sa.select(e.c.id, e.c.source, e.c.source_key, e.c.title, e.c.starts_on))
        parts = store.read_frame(conn, sa.select(store.participations))
        subs = store.read_frame(conn, sa.select(store.subscriptions))
    name = records.assign(k=records["source"] + "/" + records["source_key"])
    record_key = name.set_index("id")["k"]
    actor_key = pd.concat([name.dropna(subset=["actor_id"]).groupby("actor_id")["k"].min(),
                           name.dropna(subset=["organisation_actor_id"]).groupby("organisation_actor_id")["k"].min()])
    actor_key = actor_key.groupby(level=0).min()
    event_key = events.set_index("id")["source_key"]

    def rows(frame: pd.DataFrame, drop: list[str]) -> list:
        drop = [*drop, *(c for c in ("created_at", "updated_at") if c in frame.columns)]  # times of writing
        return sorted(map(repr, frame.drop(columns=drop).astype(object).where(frame.notna(), None)
                          .to_dict("records")))

    records = records.assign(actor_id=records["actor_id"].map(actor_key),
                             organisation_actor_id=records["organisation_actor_id"].map(actor_key))
    actors = actors.assign(id=actors["id"].map(actor_key), organisation_id=actors["organisation_id"].map(actor_key))
    parts = parts.assign(event_id=parts["event_id"].map(event_key), actor_id=parts["actor_id"].map(actor_key),
                         source_record_id=parts["source_record_id"].map(record_key))
    subs = subs.assign(actor_id=subs["actor_id"].map(actor_key), source_record_id=subs["source_record_id"].map(record_key),
                       status_at=subs["status_at"].astype(object).where(subs["status_at"] < since, "import"))
    return {"records": rows(records, []), "actors": rows(actors, []),
            "events": rows(events, ["id"]), "participations": rows(parts, ["id"]),
            "subscriptions": rows(subs, ["id"])}


def test_sliced_import_is_the_whole_import(monkeypatch):
    """A table imported in slices (bounded memory) gives the same base as imported at once."""
    since = pd.Timestamp.now(tz="UTC")
    whole, sliced = store.init_base("sqlite://", who="test"), store.init_base("sqlite://", who="test")
    reports_whole = ingest.import_folder(whole, DEMO)
    monkeypatch.setattr(ingest.importing, "SLICE_ROWS", 97)
    reports_sliced = ingest.import_folder(sliced, DEMO)
    for one, two in zip(reports_whole, reports_sliced):
        assert (one.lus, one.nouveaux, one.en_quarantaine, one.acteurs, one.participations) == (
            two.lus, two.nouveaux, two.en_quarantaine, two.acteurs, two.participations), one.file
    assert _canonical_base(sliced, since) == _canonical_base(whole, since)
    # a folder is cut between files, a single file anywhere; duplicate keys are numbered across slices
    assert ingest._slices(pd.Series(["a"] * 250), 97, whole_files=False)[-1] == slice(194, 250)
    with whole.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.import_batches)).scalar_one() == 5


def test_failure_mid_import_leaves_base_unchanged(engine, monkeypatch):
    ingest.import_file(engine, DATA / "lreav_cp1252.csv", source="lreav")
    before = store.base_summary(engine)

    def boom(*args, **kwargs):
        raise RuntimeError("panne simulée")

    monkeypatch.setattr(ingest.writing, "_write_subscriptions", boom)
    with pytest.raises(RuntimeError, match="panne simulée"):
        ingest.import_file(engine, DATA / "jeparticipe_virgule.csv", source="jeparticipe")
    assert store.base_summary(engine) == before


def test_one_of_source_or_mapping(memory):
    engine = memory
    with pytest.raises(SourceFileError, match="Dites quelle source"):
        ingest.import_file(engine, DATA / "lreav_cp1252.csv")
    with pytest.raises(SourceFileError, match="pas les deux"):
        ingest.import_file(engine, DATA / "jardins.tsv", source="lreav", mapping=DATA / "jardins.toml")


def test_report_text_and_combine():
    a = ingest.ImportReport(file="a", source="emargement", lus=3, nouveaux=2, en_quarantaine=1, participations=2)
    b = ingest.ImportReport(file="b", source="emargement", lus=1200, inchanges=1200)
    total = ingest.ImportReport.combine([a, b], file="emargement")
    assert (total.lus, total.importees, total.en_quarantaine) == (1203, 1202, 1)
    assert str(total).startswith("emargement : 1\u202f203 lignes lues, 1\u202f202 importées")


def _zip(path: Path, members: dict[str, str]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(("name", "content", "said"), [
    ("photo.csv", "png", "ce fichier est une image PNG, pas un tableau"),
    ("scan.xlsx", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(64), "ce fichier est une image JPEG, pas un tableau"),
    ("liste.csv", "pdf", "ce fichier est un document PDF, pas un tableau"),
    ("archive.xlsx", {"liste.csv": "a;b\n"}, "ce fichier est une archive ZIP, pas un tableau. Décompressez-la"),
    ("compte-rendu.csv", {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"},
     "ce fichier est un document Word (.docx), pas un tableau"),
    ("export.xls", b"<!DOCTYPE html>\n<html><body><table><tr><td>Nom</td></tr></table></body></html>",
     "ce fichier est une page web (HTML), pas un tableau"),
    ("vide.csv", b"", "ce fichier est vide (0 octet)"),
    ("brut.csv", bytes(range(256)) * 8, "ce fichier contient des données binaires, pas un tableau"),
    ("ancien.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "ce fichier est un ancien fichier Office 97-2003"),
])
def test_a_file_that_is_no_table_says_what_it_is(tmp_path, memory, name, content, said):
    path = tmp_path / name
    if content == "png":
        from PIL import Image

        Image.new("RGB", (8, 8), "white").save(path, format="PNG")
    elif content == "pdf":
        from matplotlib.figure import Figure

        Figure().savefig(path, format="pdf")
    elif isinstance(content, dict):
        _zip(path, content)
    else:
        path.write_bytes(content)
    with pytest.raises(SourceFileError, match=re.escape(f"{name} : {said}")):
        ingest.read_table(path, "lreav")
    with pytest.raises(SourceFileError, match=re.escape(said)):  # the import says it too, writing nothing
        ingest.import_file(memory, path, source="lreav")
    assert store.base_summary(memory)["source_records"] == 0


def test_a_renamed_file_is_read_as_what_it_really_is(tmp_path, memory, caplog):
    workbook = shutil.copy(DEMO / "sources" / "dispositifs.xlsx", tmp_path / "dispositifs.csv")
    text = shutil.copy(DEMO / "sources" / "lreav.csv", tmp_path / "lreav.xlsx")
    with caplog.at_level("INFO", logger="carto.ingest"):
        pd.testing.assert_frame_equal(ingest.read_table(workbook, "dispositifs"),
                                      ingest.read_table(DEMO / "sources" / "dispositifs.xlsx", "dispositifs"))
        pd.testing.assert_frame_equal(ingest.read_table(text, "lreav"),
                                      ingest.read_table(DEMO / "sources" / "lreav.csv", "lreav"))
    assert "dispositifs.csv est en fait un classeur XLSX : lu comme tel." in caplog.messages
    assert "lreav.xlsx est en fait un fichier texte CSV : lu comme tel." in caplog.messages
    report = ingest.import_file(memory, text, source="lreav")
    assert report.lus > 0 and report.lus == report.nouveaux + report.en_quarantaine


def test_utf16_text_of_a_spreadsheet_is_read(tmp_path):
    path = tmp_path / "contacts.txt"
    source = ingest.reading._decode((DEMO / "sources" / "lreav.csv").read_bytes(), "auto", "lreav.csv")
    path.write_text(source, encoding="utf-16")  # with its BOM, as « texte Unicode » of a spreadsheet
    pd.testing.assert_frame_equal(ingest.read_table(path, "lreav"),
                                  ingest.read_table(DEMO / "sources" / "lreav.csv", "lreav"))
