"""The widgets: duplicate review and member-tracking table; clicks and edits reach the base."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa

from carto import communities, ingest, linkage, store, widgets
from carto._errors import CartoError


def _queue_two_pairs(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": 1, "kind": "personne", "display_name": "Léa Martin", "email": "lea@exemple.fr", "postcode": None},
            {"id": 2, "kind": "personne", "display_name": "Lea MARTIN", "email": "lea@exemple.fr", "postcode": None},
            {"id": 3, "kind": "personne", "display_name": "<script>x</script>", "email": None, "postcode": "31000"},
            {"id": 4, "kind": "personne", "display_name": "Paul Durand", "email": None, "postcode": "31000"},
        ])
        conn.execute(store.review_pairs.insert(), [
            {"actor_a_id": 1, "actor_b_id": 2, "kind": "personne", "score": 0.9, "details": {}},
            {"actor_a_id": 3, "actor_b_id": 4, "kind": "personne", "score": 0.6, "details": {}},
        ])


def test_review_widget_decisions_reach_the_base(base_url: str) -> None:
    engine = store.init_base(base_url)
    try:
        _queue_two_pairs(engine)
        w = widgets.review_widget(engine, who="jardinière")
        assert "2 paires à examiner, moins d’une minute" in w.title.value and "Score : 0,90" in w.title.value
        assert "Léa Martin" in w.table.value and "background" in w.table.value  # same e-mail highlighted
        w.skip.click()  # « Passer »: first pair goes to the end
        assert "&lt;script&gt;" in w.table.value and "<script>" not in w.table.value
        w.different.click()  # « Différents »: remembered
        assert "1 paire à examiner" in w.title.value and "Léa Martin" in w.table.value
        with engine.connect() as conn:
            assert conn.execute(sa.select(store.not_duplicates.c.actor_a_id,
                                          store.not_duplicates.c.actor_b_id)).all() == [(3, 4)]
        w.same.click()  # « Même acteur »: merged
        assert w.title.value == "<h3>Aucune paire à examiner.</h3>"
        assert w.same.disabled
        listed = linkage.merges(engine)
        assert len(listed) == 1
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- merges and attachments


def _three_merges(engine: sa.Engine) -> list[int]:
    """Actors 1 ← 2 (Léa, merged twice: 1 ← 2, then 1 ← 3) and 4 ← 5 (a hostile name): three manual merges."""
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert(), [
            {"id": 1, "kind": "personne", "display_name": "Léa Martin"},
            {"id": 2, "kind": "personne", "display_name": "Lea MARTIN"},
            {"id": 3, "kind": "personne", "display_name": "L. Martin"},
            {"id": 4, "kind": "organisation", "display_name": HOSTILE},
            {"id": 5, "kind": "organisation", "display_name": "Éole"},
        ])
    return [linkage.merge(engine, 1, 2, who="test"), linkage.merge(engine, 4, 5, who="test"),
            linkage.merge(engine, 1, 3, who="test")]


def _status(engine: sa.Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(store.actors.c.id, store.actors.c.status)).all())


def test_merges_widget_undoes_a_merge_only_after_confirmation(base_url: str) -> None:
    engine = store.init_base(base_url)
    try:
        first, hostile, last = _three_merges(engine)
        w = widgets.merges_widget(engine, who="jardinière", limit=2)
        assert "<b>3 fusions</b>, dont 0 annulée" in w.title.value and "les 2 plus récentes" in w.title.value
        assert f"<td style='padding:2px 8px;vertical-align:top'>{last}</td>" in w.table.value
        assert "&lt;script&gt;" in w.table.value and "<script>" not in w.table.value
        assert [v for _, v in w.choice.options] == [0, last, hostile]  # the table's lines, most recent first
        # nothing chosen: the button says so, nothing is written
        w.button.click()
        assert "Choisissez d'abord une fusion" in w.status.value
        # the button only asks; « Non » changes nothing
        w.choice.value = hostile
        w.button.click()
        assert w.confirmation.layout.display is None and f"Annuler la fusion n° {hostile} ?" in w.question.value
        assert "&lt;script&gt;" in w.question.value and "<script>" not in w.question.value
        assert _status(engine)[5] == "merged"
        w.no.click()
        assert "Rien n'a été changé" in w.status.value and w.confirmation.layout.display == "none"
        assert _status(engine)[5] == "merged" and not linkage.merges(engine)["annulée"].any()
        # « Oui »: undone, in the audit log with its author, and the list is read again
        w.button.click()
        w.yes.click()
        assert f"Fusion n° {hostile} annulée" in w.status.value and "sont de nouveau deux acteurs" in w.status.value
        assert _status(engine)[5] == "active"
        assert "dont 1 annulée" in w.title.value and "annulée le" in w.table.value
        assert hostile not in [v for _, v in w.choice.options]
        with engine.connect() as conn:
            who = conn.execute(sa.select(store.audit_log.c.who)
                               .where(store.audit_log.c.action == "annulation de fusion")).scalars().all()
        assert who == ["jardinière"]
        # a merge followed by another one on the same actor: the French message, nothing raised, nothing written
        w.search.value = "lea  martin"
        assert w.filtered["fusion"].tolist() == [last, first] and "2 lignes correspondent" in w.title.value
        w.choice.value = first
        w.button.click()
        w.yes.click()
        assert "suivie d'autres fusions des mêmes acteurs" in w.status.value and "color:#b00020" in w.status.value
        assert _status(engine)[2] == "merged"
        w.ask(last)
        assert w.confirm() and _status(engine)[3] == "active"
        w.ask(first)
        w.yes.click()
        assert _status(engine)[2] == "active" and "dont 3 annulées" in w.title.value
        assert w.button.disabled  # nothing left to undo
        # a second « Oui » without a question does nothing
        assert w.confirm() is False and "Choisissez d'abord une fusion" in w.status.value
    finally:
        engine.dispose()


def test_merges_widget_refuses_a_wrong_limit(base_url: str) -> None:
    engine = store.init_base(base_url)
    try:
        with pytest.raises(CartoError, match="Nombre de lignes « 0 » invalide"):
            widgets.merges_widget(engine, limit=0)
    finally:
        engine.dispose()


def test_attachments_widget_detaches_a_row_after_confirmation(base_url: str, tmp_path) -> None:
    (tmp_path / "jeparticipe.csv").write_text(
        "Identifiant,Pseudo,Prénom,Nom,Courriel,Code postal,Date d'inscription,Accepte la newsletter,Démarches\n"
        "1,lmartin,Léa,Martin,lea.martin@exemple.fr,34000,2025-10-16 11:13:05,oui,\n", encoding="utf-8")
    (tmp_path / "newsletter.csv").write_text(
        "EMAIL;NOM;PRENOM;LISTES;DATE_INSCRIPTION;BLOCKLISTE;DESINSCRIT\n"
        "lea.martin@exemple.fr;<b>Martin</b>;Paul;Lettre Biodiversité;27-02-2023;Non;Non\n", encoding="utf-8")
    engine = store.init_base(base_url)
    try:
        ingest.import_file(engine, tmp_path / "jeparticipe.csv", source="jeparticipe")
        ingest.import_file(engine, tmp_path / "newsletter.csv", source="newsletter")
        attached = linkage.attachments(engine)
        assert attached["fichier"].tolist() == ["newsletter.csv"]  # same e-mail: attached to Léa
        record, actor = int(attached["enregistrement"].iloc[0]), int(attached["acteur"].iloc[0])
        w = widgets.attachments_widget(engine, who="jardinière")
        assert "<b>1 ligne rattachée</b>" in w.title.value and "newsletter.csv" in w.table.value
        assert [v for _, v in w.choice.options] == [0, record]
        w.choice.value = record
        w.button.click()
        assert "Détacher la ligne 2 de « newsletter.csv »" in w.question.value
        assert linkage.attachments(engine)["enregistrement"].tolist() == [record]  # not yet
        w.yes.click()
        assert "détachée de" in w.status.value and "elle a de nouveau son propre acteur" in w.status.value
        assert linkage.attachments(engine).empty and "Aucune ligne rattachée" in w.title.value and w.button.disabled
        with engine.connect() as conn:
            apart = conn.execute(sa.select(store.not_duplicates.c.actor_a_id, store.not_duplicates.c.actor_b_id)).all()
            who = conn.execute(sa.select(store.audit_log.c.who)
                               .where(store.audit_log.c.action == "détachement")).scalars().all()
        assert len(apart) == 1 and actor in apart[0] and who == ["jardinière"]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- member-tracking table

AS_OF = date(2026, 11, 29)
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def members_base(base_url: str) -> Iterator[tuple[sa.Engine, dict[str, int]]]:
    """Community « littoral » with five members of known cercles as of 29/11/2026.

    Léa 1 (working group), Paul 2 (organisation « Association Éole »), the hostile name 2 and
    « à relancer » (March), Hélène 2, Zoé 3 and « à relancer » (2024).
    """
    engine = store.init_base(base_url)
    communities.add_community(engine, slug="littoral", name="Mer et littoral", theme="mer", who="test")
    people = {"eole": ("organisation", "Association Éole", None, "34172", None),
              "lea": ("personne", "Léa Martin", "lea.martin@exemple.fr", "31555", None),
              "paul": ("personne", "Paul Durand", None, "81004", "eole"),
              "hostile": ("personne", HOSTILE, None, "11069", None),
              "helene": ("personne", "Hélène Müller", "helene@exemple.fr", "34172", None),
              "zoe": ("personne", "Zoé Étienne", "zoe@exemple.fr", "34172", None)}
    ids: dict[str, int] = {}
    with store.transaction(engine, action="test", who="test") as conn:
        for key, (kind, name, email, commune, organisation) in people.items():
            ids[key] = int(conn.execute(store.actors.insert().values(
                kind=kind, display_name=name, email=email, commune_code=commune,
                organisation_id=ids.get(organisation) if organisation else None,
            ).returning(store.actors.c.id)).scalar_one())
        for day, kind, key in ((date(2026, 10, 1), "groupe de travail", "lea"),
                               (date(2026, 9, 1), "rencontre de communauté", "paul"),
                               (date(2026, 3, 1), "concertation", "hostile"),
                               (date(2026, 11, 1), "rencontre de communauté", "helene"),
                               (date(2024, 6, 1), "rencontre de communauté", "zoe")):
            event = conn.execute(store.events.insert().values(title=f"{kind} {day}", kind=kind, starts_on=day,
                                                              theme="mer").returning(store.events.c.id)).scalar_one()
            conn.execute(store.participations.insert().values(event_id=event, actor_id=ids[key], role="participant",
                                                              signed=True))
    communities.update_circles(engine, "littoral", as_of=AS_OF, who="test")
    yield engine, ids
    engine.dispose()


def _names(frame) -> list[str]:
    return frame["nom"].tolist()


def test_member_table_filters_search_sort_and_pages(members_base) -> None:
    engine, ids = members_base
    w = widgets.member_table(engine, "littoral", who="jardinière", as_of=AS_OF, page_size=2)
    assert w.title.value == "<h3>Membres de la communauté Mer et littoral</h3>"
    assert "5 membres" in w.counts.value and "cercle 1 : 1 · cercle 2 : 3 · cercle 3 : 1" in w.counts.value
    assert "à relancer : <b>2</b>" in w.counts.value
    everyone = ["Léa Martin", "Hélène Müller", "Paul Durand", HOSTILE, "Zoé Étienne"]  # cercle, then name (letters)
    assert _names(w.filtered) == everyone
    # pages
    assert w.n_pages == 3 and _names(w.page_rows) == everyone[:2] and "page 1 / 3" in w.page_label.value
    assert w.previous.disabled and not w.next.disabled
    w.next.click()
    assert _names(w.page_rows) == everyone[2:4] and "page 2 / 3" in w.page_label.value
    w.next.click()
    assert _names(w.page_rows) == ["Zoé Étienne"] and w.next.disabled
    w.set_page(99)
    assert w.page == 2
    w.page_size.value = 10
    assert w.n_pages == 1 and w.page == 0 and len(w.page_rows) == 5
    # filters (the page goes back to the first)
    w.circle_filter.value = 2
    assert _names(w.filtered) == ["Hélène Müller", "Paul Durand", HOSTILE]
    assert "3 avec ces critères" in w.counts.value
    w.circle_filter.value = 0
    w.relaunch_filter.value = True
    assert _names(w.filtered) == [HOSTILE, "Zoé Étienne"]
    w.relaunch_filter.value = False
    w.territory.value = "HERAULT"
    assert _names(w.filtered) == ["Hélène Müller", "Zoé Étienne"]
    w.territory.value = "toulouse metropole"
    assert _names(w.filtered) == ["Léa Martin"]
    for typed in ("34", "Hérault", "34172", "Montpellier Méditerranée Métropole"):  # codes and names resolve
        w.territory.value = typed
        assert _names(w.filtered) == ["Hélène Müller", "Zoé Étienne"], typed
    w.territory.value = "Montpel"  # being typed: the names that contain it
    assert _names(w.filtered) == ["Hélène Müller", "Zoé Étienne"]
    w.territory.value = ""
    # theme: the members of the space, as in the map and the graph (here every member came to a « mer » event)
    w.theme_filter.value = "mer"
    assert _names(w.filtered) == everyone
    w.theme_filter.value = "biodiversite"
    assert _names(w.filtered) == [] and "0 avec ces critères" in w.counts.value
    w.theme_filter.value = None
    # search: name, e-mail, organisation; accents and case do not matter
    for query, expected in (("etienne", ["Zoé Étienne"]), ("EOLE", ["Paul Durand"]),
                            ("lea.martin@", ["Léa Martin"]), ("martin  LÉA", ["Léa Martin"]),
                            ("personne", [])):
        w.search.value = query
        assert _names(w.filtered) == expected, query
    assert "Aucun membre ne correspond" in w.table_html.value
    w.search.value = ""
    # sort
    w.sort_by.value = "dernière activité"
    w.sort_order.value = False
    assert _names(w.filtered) == ["Hélène Müller", "Léa Martin", "Paul Durand", HOSTILE, "Zoé Étienne"]
    assert "dernière activité ▼" in w.table_html.value and "01/11/2026" in w.table_html.value
    w.sort_by.value = "nom"
    w.sort_order.value = True
    assert _names(w.filtered) == ["Hélène Müller", "Léa Martin", "Paul Durand", HOSTILE, "Zoé Étienne"]
    # a hostile name is shown as text, everywhere
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in w.table_html.value and "<script>" not in w.table_html.value
    w.select(ids["hostile"])
    assert "&lt;script&gt;" in w.member_info.value and "<script>" not in w.member_info.value
    w.select(ids["eole"])  # not a member
    assert "n'est pas membre" in w.status.value and w.selected == ids["hostile"]


def test_member_table_edit_reaches_the_base_and_survives_recomputation(members_base) -> None:
    engine, ids = members_base
    helene = ids["helene"]
    w = widgets.member_table(engine, "littoral", who="jardinière", as_of=AS_OF)
    assert w.save_button.disabled  # no one chosen yet
    w.member.value = helene  # the Dropdown lists the members of the page
    assert w.selected == helene and not w.save_button.disabled
    assert w.circle_choice.value == 0 and w.reason.value == ""
    assert "cercle calculé : 2 — impliqué·e" in w.member_info.value
    w.circle_choice.value = 1
    w.reason.value = "Anime le groupe « herbiers »"
    w.notes.value = "Rappeler en janvier"
    w.save_button.click()
    assert "Hélène Müller : cercle imposé : 1 — engagé·e ; notes enregistrées." in w.status.value
    m, h, log = store.memberships, store.membership_history, store.audit_log
    with engine.connect() as conn:
        row = conn.execute(sa.select(m.c.override_circle, m.c.override_reason, m.c.override_by, m.c.notes,
                                     m.c.computed_circle).where(m.c.actor_id == helene)).one()
        assert tuple(row) == (1, "Anime le groupe « herbiers »", "jardinière", "Rappeler en janvier", 2)
        actions = conn.execute(sa.select(log.c.action).where(log.c.who == "jardinière").order_by(log.c.id)).scalars()
        assert list(actions) == ["édition de membre"]  # the override and the notes in one transaction
        history = conn.execute(sa.select(h.c.from_circle, h.c.to_circle, h.c.who, h.c.reason)
                               .where(h.c.actor_id == helene, h.c.by_override.is_(True))).all()
        assert [tuple(r) for r in history] == [(2, 1, "jardinière", "Anime le groupe « herbiers »")]
    # the table was read again: Hélène is now in cercle 1, still selected, the panel shows the override
    row = w.filtered.set_index("acteur").loc[helene]
    assert row["cercle"] == 1 and row["cercle calculé"] == 2 and row["imposé par"] == "jardinière"
    assert w.selected == helene and w.circle_choice.value == 1 and "imposé par jardinière" in w.member_info.value
    assert "✎" in w.table_html.value
    # saving again without change writes nothing (the override keeps its author and date)
    w.save_button.click()
    assert "rien à enregistrer" in w.status.value
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(log).where(log.c.who == "jardinière")).scalar() == 2
    # the override survives the computation of the cercles
    communities.update_circles(engine, "littoral", as_of=AS_OF, who="test")
    w.refresh()
    assert w.filtered.set_index("acteur").loc[helene, "cercle"] == 1
    # back to the computed cercle, notes erased
    assert w.save(helene, circle=None, notes="")
    assert "cercle rendu au calcul ; notes effacées" in w.status.value
    with engine.connect() as conn:
        row = conn.execute(sa.select(m.c.override_circle, m.c.override_by, m.c.notes)
                           .where(m.c.actor_id == helene)).one()
        assert tuple(row) == (None, None, None)
        last = conn.execute(sa.select(h.c.from_circle, h.c.to_circle, h.c.by_override).where(h.c.actor_id == helene)
                            .order_by(h.c.id.desc()).limit(1)).one()
        assert tuple(last) == (1, 2, True)
    assert w.filtered.set_index("acteur").loc[helene, "cercle"] == 2


def test_member_table_refuses_an_override_without_reason(members_base) -> None:
    engine, ids = members_base
    paul = ids["paul"]
    w = widgets.member_table(engine, "littoral", who="jardinière", as_of=AS_OF)
    log, m, h = store.audit_log, store.memberships, store.membership_history

    def written() -> tuple:
        with engine.connect() as conn:
            return (conn.execute(sa.select(sa.func.count()).select_from(log)).scalar(),
                    tuple(conn.execute(sa.select(m.c.override_circle, m.c.notes).where(m.c.actor_id == paul)).one()),
                    conn.execute(sa.select(sa.func.count()).select_from(h).where(h.c.by_override.is_(True))).scalar())

    before = written()
    assert w.save(paul, circle=1, reason="   ", notes="à appeler") is False  # no exception
    assert "Paul Durand : Donnez la raison du changement de cercle" in w.status.value
    w.select(paul)
    w.circle_choice.value = 3
    w.notes.value = "à appeler"
    w.save_button.click()
    assert "Donnez la raison" in w.status.value and "color:#b00020" in w.status.value
    assert written() == before == (before[0], (None, None), 0)
    assert w.filtered.set_index("acteur").loc[paul, "cercle"] == 2


def test_member_table_of_an_unknown_community_is_a_french_error(base_url: str) -> None:
    engine = store.init_base(base_url)
    try:
        with pytest.raises(CartoError, match="Communauté « nulle-part » inconnue"):
            widgets.member_table(engine, "nulle-part")
        communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer")
        w = widgets.member_table(engine, "mer")
        assert "Aucun membre" in w.counts.value and w.n_pages == 1 and w.page_rows.empty
    finally:
        engine.dispose()
