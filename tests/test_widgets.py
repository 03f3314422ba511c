"""The duplicate review widget: clicks reach the base."""

from __future__ import annotations

import sqlalchemy as sa

from carto import linkage, store, widgets


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
        assert "2 paire(s)" in w.title.value
        assert "Léa Martin" in w.table.value and "background" in w.table.value  # same e-mail highlighted
        w.skip.click()  # « Passer »: first pair goes to the end
        assert "&lt;script&gt;" in w.table.value and "<script>" not in w.table.value
        w.different.click()  # « Différents »: remembered
        assert "1 paire(s)" in w.title.value and "Léa Martin" in w.table.value
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
