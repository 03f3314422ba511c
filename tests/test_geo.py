"""Tests of carto.geo: facts the committed reference geography must hold, and lookups."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import shapely

from carto import geo
from carto._errors import AmbiguousCommuneError, CommuneNotFoundError, ReferenceDataError
from carto.settings import get_settings

#: Sum of the current municipal populations (INSEE, via @etalab/decoupage-administratif 6.0.0).
POPULATION_2026 = 6_124_653
DEPARTEMENTS = ["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"]


@pytest.fixture(scope="module")
def com():
    return geo.communes()


# --- facts ------------------------------------------------------------------

def test_communes_facts(com):
    assert len(com) == 4446
    assert com["code"].is_unique
    assert com["code"].str.fullmatch(r"\d{5}|2[AB]\d{3}").all()
    assert sorted(com["code_departement"].unique()) == DEPARTEMENTS
    assert (com["code"].str[:2] == com["code_departement"]).all()
    assert com["code_epci"].str.fullmatch(r"\d{9}").all()
    assert com["population"].dtype == np.int64
    assert int(com["population"].sum()) == POPULATION_2026
    assert 6_000_000 < com["population"].sum() < 6_300_000
    assert com["codes_postaux"].map(lambda t: isinstance(t, tuple) and len(t) > 0).all()
    assert com.set_index("code").loc["31555", "population"] > 500_000  # Toulouse


def test_crs_and_geometries(com):
    for gdf in (com, geo.epci(), geo.departements()):
        assert gdf.crs.to_epsg() == 4326
        assert gdf.is_valid.all()
        assert not gdf.is_empty.any()
        assert gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all()


def test_conques_rebuilt_from_communes_deleguees(com):
    conques = com.set_index("code").loc["12218"]
    assert conques["nom"] == "Conques-en-Rouergue"
    area = geo.to_metric(com[com["code"] == "12218"]).area.item() / 1e6
    assert 100 < area < 120  # about 106 km² (four former communes)


def test_representative_points_inside(com):
    points = shapely.points(com["lon"].to_numpy(), com["lat"].to_numpy())
    assert shapely.contains(com.geometry.values, points).all()


def test_communes_form_a_coverage(com):
    assert shapely.coverage_is_valid(geo.to_metric(com).geometry.values)


def test_departements_and_epci():
    dep = geo.departements()
    assert dep["code"].tolist() == DEPARTEMENTS
    assert int(dep["population"].sum()) == POPULATION_2026
    assert dep.set_index("code").loc["31", "nom"] == "Haute-Garonne"
    ep = geo.epci()
    # 164 EPCI cover the region: 161 with their seat in it, 3 in a neighbouring region.
    assert len(ep) == 164 and ep["code"].is_unique
    assert int((~ep["siege_hors_region"]).sum()) == 161
    assert set(ep.loc[ep["siege_hors_region"], "code"]) == {"248400251", "200030435", "246401756"}
    assert int(ep["population"].sum()) == POPULATION_2026
    assert set(geo.communes()["code_epci"]) == set(ep["code"])


def test_to_metric_areas():
    dep = geo.departements()
    metric = geo.to_metric(dep)
    assert metric.crs.to_epsg() == 2154
    assert dep.crs.to_epsg() == 4326  # input untouched
    total = metric.area.sum() / 1e6
    # Occitanie: 72,724 km² (INSEE, without lagoons and lakes); the IGN polygons give ≈ 73,300.
    assert 72_000 < total < 74_000
    assert 6_000 < metric.set_index("code").loc["31", "geometry"].area / 1e6 < 6_600


def test_to_metric_needs_a_crs(com):
    with pytest.raises(ValueError, match="CRS"):
        geo.to_metric(com.set_crs(None, allow_override=True))


def test_copies_are_independent(com):
    first = geo.communes()
    first.loc[0, "nom"] = "modifié"
    first["population"] = 0
    second = geo.communes()
    assert second.loc[0, "nom"] != "modifié"
    assert int(second["population"].sum()) == POPULATION_2026


def test_postcodes_table():
    p = geo.postcodes()
    assert list(p.columns) == ["code_postal", "code", "nom"]
    shared = p.groupby("code_postal")["code"].nunique()
    assert int((shared > 1).sum()) == 499
    assert p["code_postal"].str.fullmatch(r"\d{5}").all()


# --- damaged or missing files --------------------------------------------------

def test_missing_file_says_make_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTO_REF_DIR", str(tmp_path))
    with pytest.raises(ReferenceDataError, match="make reference"):
        geo.communes()


def test_damaged_file(tmp_path, monkeypatch):
    (tmp_path / "communes.parquet").write_bytes(b"pas un fichier parquet")
    monkeypatch.setenv("CARTO_REF_DIR", str(tmp_path))
    with pytest.raises(ReferenceDataError, match="illisible"):
        geo.communes()


def test_missing_columns(tmp_path, monkeypatch):
    geo.departements().drop(columns="population").to_parquet(tmp_path / "departements.parquet")
    monkeypatch.setenv("CARTO_REF_DIR", str(tmp_path))
    with pytest.raises(ReferenceDataError, match="population"):
        geo.departements()


def test_rewritten_file_is_reread(tmp_path, monkeypatch):
    shutil.copy(get_settings().ref_dir / "departements.parquet", tmp_path)
    monkeypatch.setenv("CARTO_REF_DIR", str(tmp_path))
    assert len(geo.departements()) == 13
    geo.departements().head(2).to_parquet(tmp_path / "departements.parquet")
    assert len(geo.departements()) == 2


# --- lookups ----------------------------------------------------------------------

@pytest.mark.parametrize(("postcode", "name", "code"), [
    ("31000", "Toulouse", "31555"),
    ("31000", None, "31555"),
    (None, "toulouse", "31555"),
    ("31037 CEDEX 1", "TOULOUSE CEDEX 1", "31555"),
    (None, "TOULOUSE CEDEX 9", "31555"),
    ("31 000", "Toulouse 3e arrondissement", "31555"),
    ("09200", "ST GIRONS", "09261"),
    ("09200", "saint girons", "09261"),
    (9200, "Saint-Girons", "09261"),          # leading zero lost by a spreadsheet
    ("9200.0", "St-Girons", "09261"),
    ("12320", "CONQUES EN ROUERGUE", "12218"),  # postcode shared by 4 communes
    ("12320", "Senergues", "12268"),
    ("32600", "L ISLE JOURDAIN", "32160"),
    ("32600", "Isle-Jourdain (L')", "32160"),
    ("09300", "Aiguillon", "09003"),           # article missing (L'Aiguillon)
    ("34000", "Montpellier Cedex 2", "34172"),
    ("34099", "Montpellier", "34172"),         # CEDEX postcode: département + name
    ("75001", "Albi", "81004"),                # postcode outside Occitanie, unique name
    ("31290", "Lieu-dit inconnu", None),
])
def test_find_commune(postcode, name, code):
    if code is None:
        with pytest.raises(AmbiguousCommuneError):
            geo.find_commune(postcode=postcode, name=name)
    else:
        assert geo.find_commune(postcode=postcode, name=name) == code


def test_find_commune_sainte_and_abbreviation(com):
    saintes = com[com["nom"].str.startswith("Sainte-")].iloc[0]
    short = "Ste " + saintes["nom"].removeprefix("Sainte-").upper()
    assert geo.find_commune(postcode=saintes["codes_postaux"][0], name=short) == saintes["code"]


def test_every_commune_is_found_by_its_own_postcode_and_name(com):
    pairs = com[["code", "nom", "codes_postaux"]].explode("codes_postaux")
    found = geo.find_communes(pairs["codes_postaux"], pairs["nom"])
    assert (found == pairs["code"]).all()
    upper = geo.find_communes(pairs["codes_postaux"], pairs["nom"].str.upper().str.replace("-", " "))
    assert (upper == pairs["code"]).all()


def test_errors_are_french_and_list_candidates():
    with pytest.raises(AmbiguousCommuneError, match=r"Conques-en-Rouergue \(12218\).*précisez le nom"):
        geo.find_commune(postcode="12320")
    with pytest.raises(AmbiguousCommuneError, match=r"Montesquieu \(34168\), Montesquieu \(82127\)"):
        geo.find_commune(name="Montesquieu")
    with pytest.raises(AmbiguousCommuneError, match=r"Toulouse \(31555\), Albi \(81004\)"):
        geo.find_commune(postcode="81000", name="Toulouse")
    with pytest.raises(CommuneNotFoundError, match="CEDEX"):
        geo.find_commune(postcode="31037 CEDEX 1")
    with pytest.raises(CommuneNotFoundError, match="pas un code postal d'Occitanie"):
        geo.find_commune(postcode="75001")
    with pytest.raises(CommuneNotFoundError, match=r"Castelnaudary \(11076\)"):
        geo.find_commune(name="Castelnau")
    with pytest.raises(CommuneNotFoundError, match="Ni code postal ni nom"):
        geo.find_commune()
    with pytest.raises(CommuneNotFoundError, match="illisible"):
        geo.find_commune(postcode="31")
    with pytest.raises(LookupError):
        geo.find_commune(name="Paris")


CASES = [("31000", "Toulouse"), ("09200", "ST GIRONS"), ("31037 CEDEX 1", "TOULOUSE CEDEX 1"),
         ("12320", None), ("12320", "Pruines"), (None, "Montesquieu"), ("81000", "Toulouse"),
         ("75001", "Albi"), (None, None), ("abc", "Albi"), ("31290", "Inconnu"), (9200, "foix"),
         (float("nan"), "Sénergues"), ("34099", "Montpellier"), ("09000", "Foix (09)")]


def test_bulk_agrees_with_scalar():
    expected = []
    for postcode, name in CASES:
        try:
            expected.append(geo.find_commune(postcode=postcode, name=name))
        except LookupError:
            expected.append(None)
    got = geo.find_communes([p for p, _ in CASES], [n for _, n in CASES])
    assert got.tolist() == expected


def test_bulk_keeps_index_and_inputs():
    postcodes = pd.Series(["31000", "09200"], index=[10, 20])
    names = pd.Series(["Toulouse", "St Girons"], index=[10, 20])
    before = names.copy()
    out = geo.find_communes(postcodes, names)
    assert out.index.tolist() == [10, 20] and out.tolist() == ["31555", "09261"]
    pd.testing.assert_series_equal(names, before)
    assert geo.find_communes(names=["Albi"]).tolist() == ["81004"]
    assert geo.find_communes(postcodes=["31000"]).tolist() == ["31555"]
    with pytest.raises(ValueError, match="longueur"):
        geo.find_communes(["31000"], ["a", "b"])


def test_normalise_name():
    assert geo.normalise_name("Sainte-Croix-Volvestre") == geo.normalise_name("STE CROIX VOLVESTRE")
    assert geo.normalise_name("Saint-Félix-de-Lunel") == geo.normalise_name("st felix de lunel")
    assert geo.normalise_name(None) is None and geo.normalise_name(float("nan")) is None
    assert geo.normalise_name("  ") is None


# --------------------------------------------------------------------------- territories by code or name


@pytest.mark.parametrize(("typed", "level", "code"), [
    ("34", "departement", "34"), ("9", "departement", "09"), ("Hérault", "departement", "34"),
    ("herault", "departement", "34"), ("  HÉRAULT ", "departement", "34"), ("Tarn-et-Garonne", "departement", "82"),
    ("243400017", "epci", "243400017"), ("Montpellier Méditerranée Métropole", "epci", "243400017"),
    ("montpellier mediterranee metropole", "epci", "243400017"), ("Grand Pic Saint-Loup", "epci", None),
    ("34301", "commune", "34301"), ("Sète", "commune", "34301"), ("sete", "commune", "34301"),
    ("ST GIRONS", "commune", "09261"), ("Saint-Michel (Gers)", "commune", "32397"),
    ("Saint-Michel (32)", "commune", "32397"),
])
def test_find_territory_by_code_or_name(typed, level, code) -> None:
    found = geo.find_territory(typed)
    assert found.level == level and (code is None or found.code == code)
    assert found.communes == frozenset(geo.territory_communes(found.code))


def test_territory_names_and_codes_give_the_same_communes() -> None:
    communes = geo.communes()
    assert geo.territory_communes("Hérault") == set(communes.loc[communes["code_departement"] == "34", "code"])
    assert geo.territory_communes(["Montpellier Méditerranée Métropole", "Sète"]) == \
        geo.territory_communes(["243400017", "34301"])
    assert geo.find_territory("CC du Grand Pic Saint-Loup") == geo.find_territory("grand pic saint loup")
    assert geo.find_territory("herault").label == "Hérault (34)"
    assert geo.find_territory("Sète").label == "Sète (Hérault, 34301)"


def test_an_ambiguous_commune_name_lists_the_candidates_with_their_departement() -> None:
    with pytest.raises(AmbiguousCommuneError) as caught:
        geo.find_territory("Lagarde")
    assert str(caught.value) == (
        "« Lagarde » désigne 4 communes : Lagarde (Ariège, 09150), Lagarde (Haute-Garonne, 31262), Lagarde (Gers, "
        "32176), Lagarde (Hautes-Pyrénées, 65244). Donnez son code INSEE, ou son département entre parenthèses "
        "(« Lagarde (09) »).")
    assert [t.code for t in geo.match_territory("Lagarde")] == ["09150", "31262", "32176", "65244"]
    with pytest.raises(AmbiguousCommuneError):
        geo.territory_communes(["34", "Lagarde"])


def test_an_unknown_territory_names_what_was_given_and_the_closest() -> None:
    with pytest.raises(CommuneNotFoundError, match="Territoire « Heraut » inconnu. Vouliez-vous dire « Hérault »"):
        geo.find_territory("Heraut")
    with pytest.raises(CommuneNotFoundError, match="Territoire « 999 » inconnu. Pour un territoire, donnez un "
                                                   "département"):
        geo.find_territory("999")
    with pytest.raises(CommuneNotFoundError, match="Territoires « 2A » et « Atlantide » inconnus"):
        geo.territory_communes(["34", "2A", "Atlantide"])
    assert geo.match_territory("Atlantide") == [] and geo.match_territory("") == []
