"""Tests of carto.normalize on typical, dirty (docs/sources.md) and bad values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carto import normalize

IDX = pd.Index([30, 10, 20, 99], name="ligne")


def _frame_functions():
    return [normalize.emails, normalize.phones, normalize.sirets, normalize.rnas, normalize.urls,
            normalize.dates, normalize.amounts, normalize.booleans, normalize.postcodes]


ALL = [normalize.text, normalize.is_hostile, normalize.person_names, normalize.name_keys,
       normalize.organisation_keys, *_frame_functions()]


# ---------------------------------------------------------------------------
# Common contract: index kept, inputs untouched, NA handling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("func", ALL, ids=lambda f: f.__name__)
def test_index_kept_input_untouched_and_missing_values_are_na(func):
    values = pd.Series(["  Jean.Dupont@Gmail.com ", None, np.nan, ""], index=IDX, dtype=object)
    before = values.copy()
    out = func(values)
    pd.testing.assert_series_equal(values, before)
    assert out.index.equals(IDX)
    rows = out.loc[[10, 20, 99]]
    if isinstance(out, pd.DataFrame):
        assert rows["error"].isna().all()
        first = rows.drop(columns="error")
        assert first.isna().all().all() or func is normalize.booleans
    elif func is normalize.is_hostile:
        assert not rows.any()
    else:
        assert rows.isna().all()


@pytest.mark.parametrize("func", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [object, "string", "str"])
def test_empty_and_typed_inputs(func, dtype):
    assert len(func(pd.Series([], dtype=dtype))) == 0
    out = func(pd.Series(["x", None], index=[5, 6], dtype=dtype))
    assert list(out.index) == [5, 6]


@pytest.mark.parametrize("func", ALL, ids=lambda f: f.__name__)
def test_lists_accepted_scalars_refused(func):
    assert len(func(["a", None])) == 2
    with pytest.raises(TypeError, match="colonne"):
        func("a")
    with pytest.raises(TypeError, match="colonne"):
        func(pd.DataFrame({"a": ["x"]}))


@pytest.mark.parametrize("func", _frame_functions(), ids=lambda f: f.__name__)
def test_errors_are_french_and_quote_the_value(func):
    out = func(pd.Series(["§§ n'importe quoi §§"]))
    error = out.loc[0, "error"]
    assert error.startswith("« §§ n'importe quoi §§ » ")
    assert "n'est pas" in error or "aucune" in error
    assert "ligne" not in error  # ingest adds file, line and column


def test_same_result_for_duplicated_values_mapped_back():
    values = pd.Series(["06 12 34 56 78", "bad", "06 12 34 56 78", None, "bad"] * 3)
    out = normalize.phones(values)
    assert out["phone"].tolist()[:5] == ["+33612345678", pd.NA, "+33612345678", pd.NA, pd.NA]
    assert out["error"].notna().sum() == 6


# ---------------------------------------------------------------------------
# Text and hostile content
# ---------------------------------------------------------------------------

def test_text_cleans_and_keeps_hostile_verbatim():
    values = pd.Series(["  a\u00a0\u00a0b\t c ", "e\u0301té", "=HYPERLINK(\"http://x\")", 12, 3.5, 1.0])
    out = normalize.text(values)
    assert out.tolist() == ["a b c", "été", "=HYPERLINK(\"http://x\")", "12", "3.5", "1"]
    assert out.dtype == "string"


@pytest.mark.parametrize("value", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</b>", "javascript:alert(1)",
    "=HYPERLINK(\"http://evil\",\"clic\")", "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3|x",
    "=cmd", "  =1+cmd|x", "<script",
])
def test_hostile_detected(value):
    assert normalize.is_hostile(pd.Series([value])).tolist() == [True]


@pytest.mark.parametrize("value", [
    "Jean-Pierre", "+33 6 12 34 56 78", "-12,5", "a < b", "3 > 2", "jean@x.fr", "Éco-lieu (LAH)",
    "C'est = bien", "Les <3 amis",
])
def test_ordinary_text_not_hostile(value):
    assert normalize.is_hostile(pd.Series([value])).tolist() == [False]


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "shown"), [
    ("JEAN-PIERRE", "Jean-Pierre"),
    ("jean-pierre", "Jean-Pierre"),
    ("ÉLODIE", "Élodie"),
    ("DE LA FONTAINE", "de La Fontaine"),
    ("JEAN DE LA FONTAINE", "Jean de La Fontaine"),
    ("D'ARTAGNAN", "d'Artagnan"),
    ("O'NEIL", "O'Neil"),
    ("L'HERMITE", "L'Hermite"),
    ("VAN GOGH", "van Gogh"),
    ("DE", "De"),
    ("McDonald", "McDonald"),
    ("de Villepin", "de Villepin"),
    ("  MARIE   CLAIRE ", "Marie Claire"),
])
def test_person_names(raw, shown):
    assert normalize.person_names(pd.Series([raw])).tolist() == [shown]


def test_name_keys_match_dirty_spellings():
    out = normalize.name_keys(pd.Series(["Hélène DUPONT-Martin", "helene dupont martin",
                                         "HELENE  DUPONT MARTIN", "Hélène d'Aubigné", "’–’", "Ærøskøbing"]))
    assert out.tolist() == ["helene dupont martin"] * 3 + ["helene d aubigne", pd.NA, "aeroskobing"]


def test_organisation_keys_drop_legal_forms_and_fillers():
    names = ["Association Les Amis des Haies", "LES AMIS DES HAIES (LAH)", "Amis des haies",
             "SARL Le Jardin d'Oc", "le jardin d oc", "Asso. du Lot et de la Garonne",
             "SCIC Énergies Citoyennes SAS", "Association loi 1901 La Clé", "Les Les", "(LAH)"]
    out = normalize.organisation_keys(pd.Series(names)).tolist()
    assert out[:3] == ["amis haies"] * 3
    assert out[3:5] == ["jardin oc"] * 2
    assert out[5] == "lot garonne"
    assert out[6] == "energies citoyennes"
    assert out[7] == "cle"
    assert out[8] == "les les"  # nothing would remain: the plain key is kept
    assert out[9] == "lah"


def test_organisation_stopwords_documented():
    assert {"association", "asso", "les", "le", "la", "de", "des", "du", "d", "l", "et", "sas", "sarl",
            "scic", "scop", "sa", "esus"} <= set(normalize.ORGANISATION_STOPWORDS)
    for word in ("association", "sarl", "esus"):
        assert word in normalize.organisation_keys.__doc__.lower()


def test_whitespace_class_is_python_s_for_every_code_point():
    import re

    every = [chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF]
    assert normalize._WHITESPACE == "".join(c for c in every if re.match(r"\s", c))
    values = pd.Series(["a" + c + c + "b" for c in every], dtype="string")
    expected = [re.sub(r"\s+", " ", v) for v in values]
    assert values.str.replace(normalize._SPACES, " ", regex=True).tolist() == expected


# ---------------------------------------------------------------------------
# Emails
# ---------------------------------------------------------------------------

def test_emails_typical_and_dirty():
    values = pd.Series(["jean.dupont@gmail.com", "Jean.Dupont@Gmail.com", " jeandupont@gmail.com ",
                        "jean.dupont+lettre@googlemail.com", "contact@les-amis.fr", "mailto:a.b@free.fr"],
                       index=list("abcdef"))
    out = normalize.emails(values)
    assert out.columns.tolist() == ["email", "email_key", "error"]
    assert out["email"].tolist() == ["jean.dupont@gmail.com", "jean.dupont@gmail.com", "jeandupont@gmail.com",
                                     "jean.dupont+lettre@googlemail.com", "contact@les-amis.fr", "a.b@free.fr"]
    assert out["email_key"].tolist()[:4] == ["jeandupont@gmail.com"] * 4
    assert out.loc["f", "email_key"] == "ab@free.fr"  # dots dropped for every domain
    assert out["error"].isna().all()


@pytest.mark.parametrize(("value", "reason"), [
    ("a@@b.fr", "plusieurs « @ »"),
    ("jean.dupont.fr", "il manque le « @ »"),
    ("x@domaine", "le domaine « domaine » n'a pas d'extension"),
    ("jean..dupont@x.fr", "deux points qui se suivent"),
    (".jean@x.fr", "un point est mal placé"),
    ("@x.fr", "le nom manque"),
    ("contact@les-amis-.fr", "le domaine « les-amis-.fr » est mal formé"),
    ("jean dupont@x.fr", "vérifiez l'orthographe"),
    ("jean@", "le domaine manque"),
])
def test_emails_invalid(value, reason):
    out = normalize.emails(pd.Series([value]))
    assert out[["email", "email_key"]].isna().all(axis=None)
    assert out.loc[0, "error"].startswith(f"« {value} » n'est pas une adresse de courriel")
    assert reason in out.loc[0, "error"]


def test_emails_no_dns(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("DNS interdit")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert normalize.emails(pd.Series(["a@domaine-qui-n-existe-pas-123.fr"]))["error"].isna().all()


_LABEL63, _LABEL64 = "a" * 63, "a" * 64
_NASTY_EMAILS = [
    # plain, case, spaces, mailto
    "a@b.fr", "A@B.FR", "  Jean.Dupont@Gmail.com  ", "jean.dupont@gmail.com\t", "mailto:a.b@free.fr",
    "POSTMASTER@x.fr", "Abuse@Example.com", "a+tag@x.fr", "+a@x.fr", "a+@x.fr", "-a@x.fr", "a-@x.fr",
    "_a_@x.fr", "a_b@x-y.fr", "0@1.fr", "a@123.fr", "a@1-2.fr", "a--b@x.fr",
    # dots
    ".a@x.fr", "a.@x.fr", "a..b@x.fr", "a@.x.fr", "a@x..fr", "a@x.fr.", "a.b.c.d@e.f.g.fr",
    # hyphens in the domain, R-LDH and Punycode labels
    "a@-x.fr", "a@x-.fr", "a@x.-fr", "a@ab--cd.fr", "a@xn--bcher-kva.de", "a@xn--80ak6aa92e.com",
    "a@xn--x.fr", "a@x.xn--p1ai",
    # IDN and non-ASCII
    "a@bücher.de", "jérôme@exemple.fr", "a@ÉXEMPLE.FR", "ａ@x.fr", "a＠x.fr", "a@x。fr", "δοκιμή@παράδειγμα.δοκιμή",
    # quoted local parts, literals, display names, specials
    '"jean dupont"@x.fr', '"a"@x.fr', '"a..b"@x.fr', "a@[127.0.0.1]", "Jean <a@x.fr>", "a b@x.fr",
    "a@x_y.fr", "a!#$%&'*/=?^`{|}~@x.fr", "a(comment)@x.fr", "a@@x.fr", "a@x@y.fr", "@x.fr", "a@", "a",
    # TLD rules and special-use names
    "a@x", "a@x.f", "a@x.1", "a@x.fr1", "a@x.c0m", "a@x.local", "a@x.localhost", "a@localhost",
    "a@x.test", "a@test", "a@x.invalid", "a@x.onion", "a@1.in-addr.arpa", "a@home.arpa", "a@local.fr",
    "a@test.fr", "a@x.museum", "a@x." + "a" * 63, "a@x." + "a" * 64,
    # lengths: labels, local part, whole address
    f"a@{_LABEL63}.fr", f"a@{_LABEL64}.fr", "a" * 64 + "@x.fr", "a" * 65 + "@x.fr",
    "a@" + ".".join([_LABEL63] * 3) + "." + "b" * 57 + ".fr", "a@" + ".".join([_LABEL63] * 3) + "." + "b" * 58 + ".fr",
    "a" * 64 + "@" + ".".join(["b" * 60] * 3) + "." + "c" * 2, "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".fr",
]


@pytest.fixture(scope="module")
def synthetic_emails(tmp_path_factory) -> pd.Series:
    """Every address of synthetic sources (carto.synth, 4 000 persons): clean, and dirty as the sources hold them."""
    from carto import ingest, synth

    folder = tmp_path_factory.mktemp("emails")
    synth.generate(folder, n_persons=4000, today=dt.date(2026, 11, 29))
    values = pd.read_csv(folder / "verite" / "personnes.csv", dtype=str)["courriel"].tolist()
    for source, name, column in (("jeparticipe", "jeparticipe.csv", "Courriel"), ("lreav", "lreav.csv", "Courriel"),
                                 ("newsletter", "newsletter.csv", "EMAIL")):
        values += ingest.read_table(folder / "sources" / name, source)[column].tolist()
    return pd.Series(values, dtype=object).dropna().drop_duplicates()


def test_emails_fast_path_agrees_with_email_validator(monkeypatch, synthetic_emails):
    from email_validator import EmailNotValidError, validate_email

    values = pd.concat([synthetic_emails, pd.Series(_NASTY_EMAILS, dtype=object)], ignore_index=True)
    assert len(values) > 4000
    fast = normalize.emails(values)
    # the fast path only pre-accepts: each address it decides is one email-validator accepts unchanged
    lowered = normalize.text(values).str.lower().str.removeprefix("mailto:")
    plain = normalize._plain_emails(lowered)
    assert plain.mean() > 0.9  # it does decide the common case
    for value in lowered[plain]:
        assert validate_email(value, check_deliverability=False).normalized.lower() == value
    rejected = [v for v in lowered[~plain].dropna() if not _accepted(validate_email, EmailNotValidError, v)]
    assert {"a@x.local", "a..b@x.fr", "a@ab--cd.fr", f"a@{_LABEL64}.fr", "a@x.1", ".a@x.fr"} <= set(rejected)
    # and the whole function gives what email-validator alone gives, value by value
    monkeypatch.setattr(normalize, "_plain_emails", lambda s: pd.Series(False, index=s.index))
    reference = normalize.emails(values)
    pd.testing.assert_frame_equal(fast, reference)


def _accepted(validate, error, value: str) -> bool:
    try:
        validate(value, check_deliverability=False)
    except error:
        return False
    return True


# ---------------------------------------------------------------------------
# Phones
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["06 12 34 56 78", "+33612345678", "0612345678", "06.12.34.56.78",
                                   "+33 6 12 34 56 78", "06-12-34-56-78", "0033 6 12 34 56 78",
                                   "612345678", 612345678, 612345678.0])
def test_phones_five_writings_one_number(value):
    out = normalize.phones(pd.Series([value], dtype=object))
    assert out.loc[0, "phone"] == "+33612345678"
    assert pd.isna(out.loc[0, "error"])


def test_phones_landline_and_foreign():
    out = normalize.phones(pd.Series(["05 61 33 50 50", "+44 20 7946 0958", "+32 2 555 12 12"]))
    assert out["phone"].tolist() == ["+33561335050", "+442079460958", "+3225551212"]


@pytest.mark.parametrize("value", ["06 12 34", "abc", "06 12 34 56 78 90", "+33 0 00 00 00 00", "00"])
def test_phones_invalid(value):
    out = normalize.phones(pd.Series([value]))
    assert pd.isna(out.loc[0, "phone"])
    assert out.loc[0, "error"].startswith(f"« {value} » n'est pas un numéro de téléphone")
    assert out.loc[0, "error"].endswith("(10 chiffres pour la France, ou +indicatif du pays).")


# ---------------------------------------------------------------------------
# Postcodes and communes
# ---------------------------------------------------------------------------

def test_postcodes_typical_and_dirty():
    pcs = pd.Series(["31000", "31 000", "31037 CEDEX 1", 31000, 31000.0, "09200", "09200", "  34000 "],
                    index=list("abcdefgh"))
    names = pd.Series(["Toulouse", "TOULOUSE", "TOULOUSE CEDEX 1", None, "toulouse", "ST GIRONS",
                       "Saint-Girons", "MONTPELLIER CEDEX 2"], index=list("abcdefgh"))
    out = normalize.postcodes(pcs, names)
    assert out.columns.tolist() == ["postcode", "commune_code", "error"]
    assert out["postcode"].tolist() == ["31000", "31000", "31037", "31000", "31000", "09200", "09200", "34000"]
    assert out["commune_code"].tolist() == ["31555"] * 5 + ["09261", "09261", "34172"]
    assert out["error"].isna().all()


def test_postcode_four_digits_is_an_error():
    out = normalize.postcodes(pd.Series(["3100", 9200, "9200"]), pd.Series(["Toulouse", "Saint-Girons", None]))
    assert out["postcode"].isna().all() and out["commune_code"].isna().all()
    assert out.loc[0, "error"] == "« 3100 » n'est pas un code postal (5 chiffres attendus)."
    assert out.loc[1, "error"] == "« 9200 » n'est pas un code postal (5 chiffres attendus)."


def test_postcode_outside_occitanie_and_unresolved():
    out = normalize.postcodes(pd.Series(["75001", "31000", "31", None, "31999"]),
                              pd.Series(["Paris", "Montpellier", None, "Nulle-Part-sur-Garonne", None]))
    assert out.loc[0, "postcode"] == "75001" and pd.isna(out.loc[0, "commune_code"])
    assert out.loc[0, "error"] == "« 75001 » (Paris) : ce code postal n'est pas en Occitanie."
    assert out.loc[1, "error"].startswith("« 31000 » (Montpellier) : aucune commune d'Occitanie")
    assert out.loc[2, "error"].startswith("« 31 » n'est pas un code postal")
    assert out.loc[3, "error"].startswith("« Nulle-Part-sur-Garonne » : aucune commune d'Occitanie")
    assert "indiquez le nom de la commune" in out.loc[4, "error"]


def test_postcode_shared_without_name():
    # 81000 is shared? No: pick a postcode of several communes from the reference.
    from carto import geo

    ref = geo.postcodes()
    shared = ref.groupby("code_postal")["code"].nunique()
    pc = shared[shared > 1].index[0]
    largest = normalize.postcodes(pd.Series([pc]))
    assert largest.loc[0, "commune_code"] in set(ref.loc[ref["code_postal"] == pc, "code"])
    assert pd.isna(largest.loc[0, "error"])
    strict = normalize.postcodes(pd.Series([pc]), shared="error")
    assert pd.isna(strict.loc[0, "commune_code"])
    assert "commun à plusieurs communes" in strict.loc[0, "error"]
    with pytest.raises(ValueError, match="shared"):
        normalize.postcodes(pd.Series([pc]), shared="au hasard")


def test_postcodes_inputs_untouched_and_duplicates_mapped_back():
    pcs = pd.Series(["31000", "3100", None, "31000", 31000.0] * 4, index=range(100, 120), dtype=object)
    names = pd.Series(["TOULOUSE", "Toulouse", "Albi", "Toulouse", None] * 4, index=range(100, 120), dtype=object)
    before = pcs.copy(), names.copy()
    out = normalize.postcodes(pcs, names)
    pd.testing.assert_series_equal(pcs, before[0])
    pd.testing.assert_series_equal(names, before[1])
    assert out.index.equals(pcs.index)
    assert out["commune_code"].tolist() == ["31555", pd.NA, "81004", "31555", "31555"] * 4
    assert out["error"].notna().tolist() == [False, True, False, False, False] * 4


def test_postcodes_name_only_and_length_mismatch():
    out = normalize.postcodes(pd.Series([None, None], index=[7, 8]), pd.Series(["Albi", None], index=[1, 2]))
    assert out.index.tolist() == [7, 8]
    assert out["commune_code"].tolist() == ["81004", pd.NA]
    with pytest.raises(ValueError, match="même longueur"):
        normalize.postcodes(pd.Series(["31000"]), pd.Series(["a", "b"]))


# ---------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------

def test_sirets_typical_spaces_and_siren():
    out = normalize.sirets(pd.Series(["73282932000074", "732 829 320 00074", "732.829.320.00074",
                                      "732829320", 73282932000074.0, "356 000 000 00048"]))
    assert out["siret"].tolist() == ["73282932000074"] * 3 + [pd.NA, "73282932000074", "35600000000048"]
    assert out["siren"].tolist() == ["732829320"] * 5 + ["356000000"]
    assert out["error"].isna().all()


@pytest.mark.parametrize(("value", "reason"), [
    ("73282932000075", "clé de contrôle fausse"),
    ("732829321", "n'est pas un SIREN valide"),
    ("7328293200007", "ni un SIRET (14 chiffres) ni un SIREN (9 chiffres)"),
    ("7328293200007A", "seuls des chiffres"),
])
def test_sirets_invalid(value, reason):
    out = normalize.sirets(pd.Series([value]))
    assert out[["siret", "siren"]].isna().all(axis=None)
    assert out.loc[0, "error"].startswith(f"« {value} » ")
    assert reason in out.loc[0, "error"]


def test_rnas():
    out = normalize.rnas(pd.Series(["W313012345", "w313012345", " W 313 012 345 ", "W31301234", "313012345",
                                    "X313012345"]))
    assert out["rna"].tolist() == ["W313012345"] * 3 + [pd.NA] * 3
    assert out["error"].notna().tolist() == [False] * 3 + [True] * 3
    assert "W suivi de 9 chiffres" in out.loc[3, "error"]


def test_urls():
    out = normalize.urls(pd.Series(["www.les-amis.fr", "HTTPS://WWW.Les-Amis.FR/Agenda?x=1", "http://asso.org:8080/a",
                                    "les-amis.fr", "ftp://x.fr", "javascript:alert(1)", "http://localhost",
                                    "pas une adresse", "http://", "https://été.fr"]))
    assert out["url"].tolist()[:4] == ["https://www.les-amis.fr", "https://www.les-amis.fr/Agenda?x=1",
                                      "http://asso.org:8080/a", "https://les-amis.fr"]
    assert out["url"].iloc[4:9].isna().all()
    assert "http:// et https://" in out.loc[4, "error"]
    assert "nom de domaine incorrect" in out.loc[6, "error"]
    assert out.loc[9, "url"] == "https://été.fr"


# ---------------------------------------------------------------------------
# Dates, amounts, booleans
# ---------------------------------------------------------------------------

def test_dates_formats_and_objects():
    values = pd.Series(["04/03/2021", "4/3/2021", "04-03-2021", "04.03.2021", "2021-03-04",
                        "2021-03-04 18:30:00", "2021-03-04T18:30", "04/03/2021 18:30",
                        dt.date(2021, 3, 4), dt.datetime(2021, 3, 4, 9), pd.Timestamp("2021-03-04"),
                        np.datetime64("2021-03-04")], dtype=object)
    out = normalize.dates(values)
    assert out["date"].tolist() == [dt.date(2021, 3, 4)] * len(values)
    assert all(type(d) is dt.date for d in out["date"])
    assert out["error"].isna().all()


def test_dates_invalid():
    out = normalize.dates(pd.Series(["31/02/2021", "2021-13-01", "03/04/21", "demain", 44000]))
    assert out["date"].isna().all()
    assert out.loc[0, "error"] == "« 31/02/2021 » n'est pas une date qui existe (jour ou mois hors limites)."
    assert "qui existe" in out.loc[1, "error"]
    assert all("formats attendus" in e for e in out["error"][2:])


def test_amounts():
    out = normalize.amounts(pd.Series(["12 500,00 €", "12\u202f500,50\u00a0€", "12500.5", 3000, 2.5,
                                       "1.250,5", "1,250.5", "-40", "12 500 EUR", "€", "douze", "1,2,3"]))
    assert out["amount"].iloc[:9].tolist() == [12500.0, 12500.5, 12500.5, 3000.0, 2.5, 1250.5, 1250.5,
                                               -40.0, 12500.0]
    assert out["amount"].iloc[9:].isna().all()
    assert out["amount"].dtype == "float64"
    assert out.loc[10, "error"] == "« douze » n'est pas un montant (par exemple 12 500,00 €)."


def test_booleans():
    values = pd.Series(["Oui", "NON", "yes", "no", "Vrai", "faux", "1", "0", "x", "X", 1, 0, True, "peut-être",
                        None, ""])
    out = normalize.booleans(values)
    assert out["value"].tolist() == [True, False] * 4 + [True, True, True, False, True, pd.NA, pd.NA, pd.NA]
    assert out["value"].dtype == "boolean"
    assert out["error"].notna().tolist() == [False] * 13 + [True, False, False]
    ticked = normalize.booleans(pd.Series(["x", None, "", "  ", "?"]), empty=False)
    assert ticked["value"].tolist() == [True, False, False, False, pd.NA]
