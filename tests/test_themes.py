"""Tests of carto.themes: the thematic spaces, and a space given by its slug or its name."""

from __future__ import annotations

import re

import pytest

from carto import themes
from carto._errors import NotFoundError


@pytest.mark.parametrize(("typed", "slug"), [
    ("biodiversite", "biodiversite"), ("Biodiversité", "biodiversite"), ("BIODIVERSITÉ", "biodiversite"),
    ("mer", "mer"), ("Mer et littoral", "mer"), ("mer et Littoral", "mer"),
    ("alimentation-agriculture", "alimentation-agriculture"), ("Alimentation et agriculture", "alimentation-agriculture"),
    ("Économie sociale et solidaire", "economie-sociale-solidaire"),
])
def test_find_theme_by_slug_or_name(typed, slug) -> None:
    assert themes.find_theme(typed) == slug


def test_an_unknown_theme_names_what_was_given_and_the_closest() -> None:
    with pytest.raises(NotFoundError, match=re.escape("Espace thématique « citoyenete » inconnu. Vouliez-vous dire "
                                                      "« Citoyenneté » ? Valeurs possibles (carto/data/themes.toml) : "
                                                      "citoyennete (Citoyenneté), biodiversite (Biodiversité)")):
        themes.find_theme("citoyenete")
    with pytest.raises(NotFoundError) as caught:
        themes.find_theme("océan")
    assert "Vouliez-vous dire" not in str(caught.value) and "mer (Mer et littoral)" in str(caught.value)
