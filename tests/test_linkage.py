"""Tests of carto.linkage: pure core on DataFrames, and linkage on the base (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from carto import linkage, store
from carto._errors import CartoError

# --------------------------------------------------------------------------- data

FIRST = ["camille", "louis", "manon", "hugo", "ines", "lucas", "jade", "nathan", "lea", "tom",
         "chloe", "enzo", "sarah", "theo", "emma", "noah", "alice", "jules", "zoe", "paul"]
LAST = ["martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy", "moreau",
        "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux", "vincent", "fournier"]
COMMUNES = [("31555", "31000"), ("34172", "34000"), ("30189", "30000"), ("66136", "66000"), ("81004", "81000")]


def people(n: int = 60) -> pd.DataFrame:
    """``n`` distinct persons with keys, e-mail, phone and place (deterministic)."""
    rows = []
    for i in range(n):
        first, last = FIRST[i % 20], LAST[(i * 7 + i // 20) % 20]
        commune, postcode = COMMUNES[i % 5]
        rows.append({
            "id": i, "first_name_key": first, "last_name_key": last,
            "email_key": f"{first}{last}{i}@exemple.fr", "phone": f"+336{(i * 48271 + 12345) % 10**8:08d}",
            "postcode": postcode, "commune_code": commune,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- pure core


def test_exact_rules_for_organisations_and_persons() -> None:
    orgs = pd.DataFrame({
        "id": [1, 2, 3, 4, 5],
        "siret": ["12345678900011", "12345678900011", None, None, None],
        "siren": ["123456789", "123456789", "987654321", "987654321", None],
        "rna": [None, None, None, "W313000001", "W313000001"],
    })
    pairs = linkage.exact_pairs(orgs, kind="organisation")
    assert pairs[["id_l", "id_r", "rule"]].values.tolist() == [[1, 2, "siret"], [3, 4, "siren"], [4, 5, "rna"]]
    assert (pairs["probability"] == 1.0).all()
    persons = pd.DataFrame({"id": ["a", "b", "c"], "email_key": ["x@y.fr", "z@y.fr", "x@y.fr"]})
    assert linkage.exact_pairs(persons, kind="personne")[["id_l", "id_r"]].values.tolist() == [["a", "c"]]
    other = pd.DataFrame({"id": ["d"], "email_key": ["z@y.fr"]})
    linked = linkage.exact_pairs(persons, kind="personne", other=other)
    assert linked[["id_l", "id_r"]].values.tolist() == [["b", "d"]]
    assert linkage.exact_pairs(persons.drop(columns="email_key"), kind="personne").empty
    with pytest.raises(CartoError, match="Type d'acteur inconnu"):
        linkage.exact_pairs(persons, kind="chat")  # type: ignore[arg-type]


def test_organisation_rules_full_name_contact_alias_and_homonyms() -> None:
    orgs = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "organisation_name": ["Association Occitanie Vivre Ensemble", "AOVE", "Les Amis du Lez",
                              "Les Amis du Lez", "Les amis du Lez", "Amis du Lez"],
        "name_key": ["occitanie vivre ensemble", "aove", "amis lez", "amis lez", "amis lez", "amis lez"],
        "contact_key": ["p7", "p7", None, None, None, None],
        "commune_code": ["31555", None, "34172", "30189", None, "34172"],
    })
    pairs = linkage.exact_pairs(orgs, kind="organisation")
    found = {(a, b): rule for a, b, rule in pairs[["id_l", "id_r", "rule"]].itertuples(index=False)}
    # same contact, alias = initials; same full name unless the communes disagree
    assert found == {(1, 2): "contact", (3, 5): "nom", (4, 5): "nom"}
    # 3 and 4 (and 4 and 6: same name key) are homonyms: never grouped, even through 5
    assert linkage.homonyms(orgs)[["id_l", "id_r"]].values.tolist() == [[3, 4], [4, 6]]


def test_predict_finds_obvious_duplicates_and_is_deterministic() -> None:
    base = people(60)
    duplicates = base.iloc[[3, 10, 25, 40]].copy()
    duplicates["id"] = [100, 101, 102, 103]
    duplicates["email_key"] = None  # no exact rule: Splink must find them
    duplicates = duplicates.reset_index(drop=True)
    duplicates.loc[0, "first_name_key"] = duplicates.loc[0, "first_name_key"][:-1] + "e"  # typo
    names = ["first_name_key", "last_name_key"]
    duplicates.loc[1, names] = duplicates.loc[1, names[::-1]].to_numpy()  # swapped
    df = pd.concat([base, duplicates], ignore_index=True)
    before = df.copy()
    pairs = linkage.predict(df, kind="personne")
    pd.testing.assert_frame_equal(df, before)  # input untouched
    strong = pairs[pairs["probability"] >= 0.95]
    assert set(zip(strong["id_l"], strong["id_r"])) == {(3, 100), (10, 101), (25, 102), (40, 103)}
    assert strong["rule"].isna().all()
    assert any(c.startswith("gamma_") for c in pairs.columns)
    again = linkage.predict(df, kind="personne")
    pd.testing.assert_frame_equal(pairs, again)
    groups = linkage.clusters(df["id"], pairs, threshold=0.95)
    assert groups[100] == 3 and groups[101] == 10 and groups[0] == 0


def test_records_of_one_group_are_not_paired() -> None:
    """``group_column``: pairs inside a group (one actor already) are left out, every other pair is kept."""
    base = people(60)
    copies = base.iloc[[3, 10, 25]].assign(id=[100, 101, 102])
    copies.loc[copies["id"] == 101, "email_key"] = None  # 101 pairs with 10 by Splink, not by e-mail
    df = pd.concat([base, copies, copies.assign(id=[200, 201, 202])], ignore_index=True)
    df["actor"] = df["id"].map(lambda i: {100: 3, 101: 10, 200: 3}.get(i, i))
    every = linkage.predict(df, kind="personne", every_pair=False)
    grouped = linkage.predict(df, kind="personne", every_pair=False, group_column="actor")
    actor = df.set_index("id")["actor"]
    # 3, 100 and 200 are one actor: never paired (by e-mail or by Splink); 101 and 201 are one profile
    # of two actors, so that profile is still paired with 10's
    inside = {(3, 100), (3, 200), (100, 200)}
    assert inside <= set(zip(every["id_l"], every["id_r"]))
    assert not inside & set(zip(grouped["id_l"], grouped["id_r"]))
    assert len(grouped) < len(every)
    # the same actors end up together
    for pairs in (every, grouped):
        strong = pairs[pairs["probability"] >= 0.95]
        groups = linkage.clusters(pd.unique(actor), pd.DataFrame({
            "id_l": actor.reindex(strong["id_l"]).to_numpy(), "id_r": actor.reindex(strong["id_r"]).to_numpy(),
            "probability": strong["probability"].to_numpy()}).query("id_l != id_r"), threshold=0.95)
        assert groups[102] == groups[25] == groups[202] and groups[201] == groups[10]
        assert groups[3] != groups[10]


def test_name_blocking_stays_within_a_departement() -> None:
    """Same last name and first initial: compared within a département, not across the region.

    At 1 M persons, common names made « same last name and first initial » give 52 M pairs; the
    département (first two characters of the commune code) keeps the typo pairs that matter.
    """
    base = people(60)  # person 3: hugo bernard, Perpignan (66)
    near = {"first_name_key": "hugues", "last_name_key": "bernard", "email_key": None, "phone": None}
    extra = pd.DataFrame([{"id": 300, **near, "commune_code": "66172", "postcode": "66100"},  # Saint-Estève (66)
                          {"id": 301, **near, "commune_code": "11069", "postcode": "11000"}])  # Carcassonne (11)
    pairs = linkage.predict(pd.concat([base, extra], ignore_index=True), kind="personne", threshold=0.0)
    blocked = set(zip(pairs["id_l"], pairs["id_r"]))
    assert (3, 300) in blocked  # same département: compared (only this rule blocks them)
    assert (3, 301) not in blocked  # other département: not compared
    assert (300, 301) in blocked  # the same full name is compared anywhere
    without_place = pd.concat([base, extra], ignore_index=True).drop(columns=["commune_code"])
    pairs = linkage.predict(without_place, kind="personne", threshold=0.0)  # no commune: the whole file
    assert {(3, 300), (3, 301)} <= set(zip(pairs["id_l"], pairs["id_r"]))


def test_identical_records_scored_once_give_every_pair_or_a_star() -> None:
    """Records equal on every compared column are one profile for Splink; no pair is lost."""
    base = people(60)
    repeats = base.iloc[[3, 3, 3, 10, 10]].assign(id=[100, 101, 102, 103, 104], email_key=None)
    near = base.iloc[[3]].assign(id=[105], email_key=None, commune_code="31555")  # close to profile 3
    df = pd.concat([base.assign(email_key=None), repeats, near], ignore_index=True)
    every = linkage.predict(df, kind="personne")
    found = set(zip(every["id_l"], every["id_r"]))
    for group in ([3, 100, 101, 102], [10, 103, 104]):  # every pair of identical records, same score
        inside = {(a, b) for a in group for b in group if a < b}
        assert inside <= found
        scores = every[[(a, b) in inside for a, b in zip(every["id_l"], every["id_r"])]]["probability"]
        assert scores.nunique() == 1
    towards = every[every["id_r"] == 105].set_index("id_l")["probability"]
    assert {3, 100, 101, 102} <= set(towards.index) and towards.loc[[3, 100, 101, 102]].nunique() == 1
    star = linkage.predict(df, kind="personne", every_pair=False)
    assert len(star) < len(every)
    for threshold in (0.3, 0.8, 0.95):  # the same groups
        pd.testing.assert_series_equal(linkage.clusters(df["id"], star, threshold=threshold),
                                       linkage.clusters(df["id"], every, threshold=threshold))


def test_predict_links_two_tables() -> None:
    left = people(40)
    right = left.iloc[[1, 2, 30]].copy()
    right["id"] = [1001, 1002, 1030]
    right["email_key"] = None
    pairs = linkage.predict(left, kind="personne", other=right)
    strong = pairs[pairs["probability"] >= 0.95]
    assert set(zip(strong["id_l"], strong["id_r"])) == {(1, 1001), (2, 1002), (30, 1030)}


def test_predict_refuses_bad_ids() -> None:
    df = people(5)
    df.loc[1, "id"] = 0
    with pytest.raises(CartoError, match="unique"):
        linkage.predict(df, kind="personne")


def test_clusters_refuses_unknown_ids() -> None:
    pairs = pd.DataFrame({"id_l": [1], "id_r": [9], "probability": [1.0]})
    with pytest.raises(CartoError, match="absents"):
        linkage.clusters([1, 2], pairs, threshold=0.5)


# --------------------------------------------------------------------------- base helpers


@pytest.fixture
def engine(base_url: str) -> Any:
    engine = store.init_base(base_url, who="test")
    yield engine
    engine.dispose()


class Seeder:
    """Writes source records and their provisional actors like carto.ingest does."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.batches: dict[str, int] = {}
        self.count = 0

    def batch(self, source: str) -> int:
        if source not in self.batches:
            self.batches[source] = self.conn.execute(
                store.import_batches.insert().values(source=source, file_name=f"{source}.csv", who="test")
                .returning(store.import_batches.c.id)
            ).scalar_one()
        return self.batches[source]

    def actor(self, kind: str, part: dict[str, Any], source: str) -> int:
        if kind == "personne":
            values = {k: part.get(k) for k in ("first_name", "last_name", "first_name_key", "last_name_key",
                                                "email", "email_key", "phone", "postcode", "commune_code")}
            name = " ".join(p for p in (part.get("first_name"), part.get("last_name")) if p)
        else:
            values = {"organisation_name": part.get("name"), "name_key": part.get("name_key"),
                      **{k: part.get(k) for k in ("acronym", "siret", "siren", "rna", "postcode", "commune_code",
                                                  "email", "email_key", "phone")}}
            name = part.get("name") or "?"
        provenance = {k: source for k, v in values.items() if v is not None}
        return int(self.conn.execute(
            store.actors.insert().values(kind=kind, display_name=name, provenance=provenance, **values)
            .returning(store.actors.c.id)
        ).scalar_one())

    def record(self, source: str, *, personne: dict[str, Any] | None = None,
               organisation: dict[str, Any] | None = None, when: str = "2024-01-01") -> tuple[int | None, int | None]:
        """One ok source record; returns (person actor, organisation actor)."""
        self.count += 1
        person_actor = self.actor("personne", personne, source) if personne else None
        org_actor = self.actor("organisation", organisation, source) if organisation else None
        if person_actor and org_actor:
            self.conn.execute(store.actors.update().where(store.actors.c.id == person_actor)
                              .values(organisation_id=org_actor))
        fields = {"personne": personne, "organisation": organisation, "date": when, "extra": {}}
        raw = {"ligne": str(self.count)}
        self.conn.execute(store.source_records.insert().values(
            source=source, source_key=f"{source}-{self.count}", batch_id=self.batch(source),
            file_name=f"{source}.csv", line=self.count + 1, raw=raw,
            row_hash=hashlib.sha256(json.dumps(raw).encode()).hexdigest(), fields=fields, status="ok",
            actor_id=person_actor or org_actor, organisation_actor_id=org_actor if person_actor else None,
        ))
        return person_actor, org_actor


def person(first: str, last: str, *, email: str | None = None, phone: str | None = None,
           commune: tuple[str, str] = COMMUNES[0], display: tuple[str, str] | None = None) -> dict[str, Any]:
    shown = display or (first.title(), last.title())
    return {
        "first_name": shown[0], "last_name": shown[1], "first_name_key": first, "last_name_key": last,
        "email": email, "email_key": email, "phone": phone, "postcode": commune[1], "commune_code": commune[0],
        "pseudo": None,
    }


def crowd(seed: Seeder, n: int = 40, *, seen_twice: int = 10) -> list[int]:
    """``n`` distinct persons from the website, the first ``seen_twice`` also on the newsletter.

    Gives the model data to train on; the repeated ones share their e-mail (exact rule).
    """
    ids = []
    for i, row in enumerate(people(n).to_dict("records")):
        commune = next(c for c in COMMUNES if c[0] == row["commune_code"])
        values = person(row["first_name_key"], row["last_name_key"], email=row["email_key"], phone=row["phone"],
                        commune=commune)
        actor, _ = seed.record("jeparticipe", personne=values)
        if i < seen_twice:
            seed.record("newsletter", personne={**values, "phone": None})
        ids.append(actor)
    return ids


#: Tables of linkage's own working state (models, runs, blocking keys): an undo does not rewind them.
_LINKAGE_STATE = ("link_keys", "linkage_models", "link_runs")


def dump(engine: sa.Engine, *, skip: tuple[str, ...] = ("audit_log", "merges", *_LINKAGE_STATE)
         ) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
            for name, t in store.metadata.tables.items() if name not in skip
        }


def table_rows(state: dict[str, list[tuple[Any, ...]]], name: str, actor_ids: set[int]) -> list[tuple[Any, ...]]:
    """Rows of table ``name`` in a :func:`dump` without timestamps (only ``actor_ids`` for ``actors``)."""
    keep = [i for i, c in enumerate(store.metadata.tables[name].c.keys()) if c not in ("updated_at", "status_at")]
    return [tuple(r[i] for i in keep) for r in state[name] if name != "actors" or r[0] in actor_ids]


def actor(engine: sa.Engine, actor_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(store.actors).where(store.actors.c.id == actor_id)).one()


def count(engine: sa.Engine, table: sa.Table, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


# --------------------------------------------------------------------------- schema


def test_every_foreign_key_to_actors_is_handled_by_merges() -> None:
    handled = {(d.table, c) for d in linkage._DEPENDENTS for c in d.columns} | linkage._LINKAGE_COLUMNS
    found = {
        (table.name, fk.parent.name)
        for table in store.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "actors"
    }
    assert found == handled


@pytest.mark.parametrize("old", ["0001", "0002", "0003", "0004", "0005", "0006"])
def test_migrations_upgrade_an_older_base(base_url: str, old: str) -> None:
    engine = store.init_base(base_url)
    with engine.begin() as conn:  # back to what an older base looks like
        for table in (store.linkage_models, store.link_runs, store.link_keys):  # added by 0007
            table.drop(conn)
        conn.exec_driver_sql("DROP INDEX ix_actors_updated_at")
        conn.exec_driver_sql("DROP INDEX ix_merges_undone_at")  # added by 0008
        if old == "0006":
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{old}'")
    if old == "0006":
        store.init_base(base_url).dispose()
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), store.metadata) == []
        engine.dispose()
        return
    with engine.begin() as conn:
        store.network_metrics.drop(conn)  # added by 0006
        if old != "0005":
            store.consent_statements.drop(conn)  # added by 0005
        if old == "0001":
            store.review_pairs.drop(conn)
        if old in ("0001", "0002"):
            for column in ("actor_rule", "organisation_rule"):  # added by 0003
                conn.exec_driver_sql(f"ALTER TABLE source_records DROP COLUMN {column}")
        if old not in ("0004", "0005"):
            conn.exec_driver_sql("ALTER TABLE communities DROP COLUMN newsletter_list")  # added by 0004
            conn.exec_driver_sql("ALTER TABLE memberships DROP COLUMN history_hash")
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{old}'")
    store.init_base(base_url).dispose()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), store.metadata) == []
        assert conn.execute(sa.select(store.schema_info.c.schema_revision)).scalar_one() == store.SCHEMA_VERSION
    engine.dispose()


# --------------------------------------------------------------------------- link on the base


def test_exact_rules_merge_organisations_and_persons(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        crowd(seed, 20)
        asso = {"name": "Les Jardins du Lez", "name_key": "jardins lez", "siret": "12345678900011",
                "siren": "123456789", "rna": None, "postcode": "34000", "commune_code": "34172"}
        p1, o1 = seed.record("lreav", personne=person("anne", "vidal", email="anne.vidal@lez.fr"), organisation=asso)
        other = {**asso, "name": "Jardins du Lez (asso)", "siret": None}
        p2, o2 = seed.record("dispositifs", personne=person("annie", "vidale", email="anne.vidal@lez.fr"),
                             organisation=other, when="2025-03-01")
    report = linkage.link(engine, who="camille")
    assert report.merges_rule >= 2
    assert actor(engine, o2).merged_into_id == o1 and actor(engine, p2).merged_into_id == p1
    with engine.connect() as conn:
        rules = dict(conn.execute(sa.select(store.merges.c.absorbed_id, store.merges.c.rule)).all())
        methods = set(conn.execute(sa.select(store.merges.c.method)).scalars())
        persons_org = conn.execute(sa.select(store.actors.c.organisation_id)
                                   .where(store.actors.c.id.in_([p1, p2]))).scalars().all()
        records = conn.execute(sa.select(store.source_records.c.actor_id, store.source_records.c.organisation_actor_id)
                               .where(store.source_records.c.source.in_(["lreav", "dispositifs"]))).all()
        last = conn.execute(sa.select(store.audit_log).order_by(store.audit_log.c.id.desc())).first()
    assert rules[o2] == "siren" and rules[p2] == "email" and methods == {"rule"}
    shown = linkage.merges(engine).set_index("absorbé")
    assert (shown.loc[o2, "règle"], shown.loc[p2, "règle"]) == ("SIREN", "e-mail")  # French, where people read
    assert persons_org == [o1, o1]  # the absorbed person still points at the kept organisation
    assert set(records) == {(p1, o1)}
    assert (last.action, last.who) == ("liaison", "camille")
    assert "fusions" in str(report) and "à revoir" in str(report)


def test_probabilistic_merge_and_idempotent_relink(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        ids = crowd(seed, 40)
        # the same persons seen on sign-in sheets: no e-mail, a typo, swapped names
        phones = people(40)["phone"]
        dup1, _ = seed.record("emargement", personne=person("camile", "martin", phone=phones[0]))
        dup2, _ = seed.record("emargement", personne=person("moreau", "nathan", phone=phones[7],
                                                            commune=COMMUNES[2]))
    first = linkage.link(engine)
    assert actor(engine, dup1).merged_into_id == ids[0]
    assert actor(engine, dup2).merged_into_id == ids[7]
    assert first.merges_probabilistic >= 2
    before = dump(engine)
    second = linkage.link(engine)
    assert second.merges == 0
    assert dump(engine) == before


def test_review_band_decisions_and_memory(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linkage.base, "review_budget", lambda n: 10)  # both doubtful pairs asked (44 records)
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        crowd(seed, 40)
        a, _ = seed.record("newsletter", personne=person("margot", "fabre", commune=COMMUNES[0]))
        b, _ = seed.record("emargement", personne=person("margaux", "fabre", commune=COMMUNES[0]))
        c, _ = seed.record("newsletter", personne=person("yanis", "morel", commune=COMMUNES[3]))
        d, _ = seed.record("emargement", personne=person("yannis", "morel", commune=COMMUNES[3]))
    report = linkage.link(engine, auto_threshold=0.95, review_band=(0.05, 0.95))
    queue = linkage.review_queue(engine)
    pairs = {(r["acteur A"], r["acteur B"]): r["paire"] for _, r in queue.iterrows()}
    assert (a, b) in pairs and (c, d) in pairs and report.to_review == len(queue)
    assert {"paire", "score", "nom A", "nom B", "commune A", "commune B", "correspondances"} <= set(queue.columns)
    row = queue[queue["paire"] == pairs[(a, b)]].iloc[0]
    assert (row["nom A"], row["nom B"]) == ("Margot Fabre", "Margaux Fabre")
    assert "noms : proche" in row["correspondances"] and "lieu : identique" in row["correspondances"]
    assert "e-mail : inconnu" in row["correspondances"]
    # « passer »: same pair, now last
    linkage.decide(engine, pairs[(a, b)], "passer", who="lea")
    assert linkage.review_queue(engine)["paire"].iloc[-1] == pairs[(a, b)]
    # « différents »: remembered, never proposed again
    assert linkage.decide(engine, pairs[(a, b)], "différents", who="lea") is None
    assert count(engine, store.not_duplicates, store.not_duplicates.c.actor_a_id == a) == 1
    with pytest.raises(CartoError, match="déjà été tranchée \\(« différents »\\) par lea"):
        linkage.decide(engine, pairs[(a, b)], "meme")
    # « même »: merged by hand
    merge_id = linkage.decide(engine, pairs[(c, d)], "meme", who="lea")
    assert actor(engine, d).merged_into_id == c
    with engine.connect() as conn:
        made = conn.execute(sa.select(store.merges).where(store.merges.c.id == merge_id)).one()
    assert (made.method, made.who) == ("manual", "lea")
    linkage.link(engine, auto_threshold=0.95, review_band=(0.05, 0.95))
    again = linkage.review_queue(engine)
    assert not {(a, b), (c, d)} & set(zip(again["acteur A"], again["acteur B"]))
    # even a sure match is not merged against a « différents »
    linkage.link(engine, auto_threshold=0.3, review_band=(0.05, 0.3))
    assert actor(engine, b).status == "active"
    # undoing a merge made from the queue puts the pair back in the queue
    linkage.undo_merge(engine, merge_id)
    assert pairs[(c, d)] in linkage.review_queue(engine)["paire"].tolist()


def test_merge_undo_is_exact(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        kept, org = seed.record("lreav", personne=person("lou", "garnier", email="lou@a.fr"),
                                organisation={"name": "Asso A", "name_key": "asso a", "postcode": "31000",
                                              "commune_code": "31555"})
        absorbed, _ = seed.record("emargement", personne=person("lou", "garnier", phone="+33611111111",
                                                                commune=COMMUNES[1]), when="2025-06-01")
        friend, _ = seed.record("jeparticipe", personne=person("eli", "roy"))
        event_ids = conn.execute(store.events.insert().returning(store.events.c.id), [
            {"title": "Printemps citoyen", "kind": "rencontre régionale annuelle", "starts_on": date(2024, 4, 1)},
            {"title": "Atelier", "kind": "atelier de cartographie", "starts_on": date(2024, 5, 1)},
        ]).scalars().all()
        conn.execute(store.participations.insert(), [
            {"event_id": event_ids[0], "actor_id": kept, "signed": False},
            {"event_id": event_ids[0], "actor_id": absorbed, "signed": True},  # same event: folded
            {"event_id": event_ids[1], "actor_id": absorbed, "signed": None},  # re-pointed
        ])
        conn.execute(store.subscriptions.insert(), [
            {"actor_id": kept, "list_name": "regionale", "status": "subscribed", "source": "jeparticipe"},
            {"actor_id": absorbed, "list_name": "regionale", "status": "blocklisted", "source": "newsletter"},
            {"actor_id": absorbed, "list_name": "biodiversite", "status": "subscribed", "source": "newsletter"},
        ])
        community = conn.execute(store.communities.insert().values(slug="mer", name="Mer")
                                 .returning(store.communities.c.id)).scalar_one()
        conn.execute(store.memberships.insert(), [
            {"community_id": community, "actor_id": absorbed, "computed_circle": 2}])
        conn.execute(store.relations.insert(), [
            {"source_id": absorbed, "target_id": friend, "type": "connaît", "provenance": "declared", "who": "t"},
            {"source_id": kept, "target_id": absorbed, "type": "connaît", "provenance": "declared", "who": "t"},
        ])
    before = dump(engine)
    merge_id = linkage.merge(engine, kept, absorbed, who="lea")
    with engine.connect() as conn:
        parts = conn.execute(sa.select(store.participations.c.event_id, store.participations.c.actor_id,
                                       store.participations.c.signed).order_by(store.participations.c.event_id)).all()
        subs = dict(conn.execute(sa.select(store.subscriptions.c.list_name, store.subscriptions.c.status)
                                 .where(store.subscriptions.c.actor_id == kept)).all())
        n_subs = conn.execute(sa.select(sa.func.count()).select_from(store.subscriptions)).scalar_one()
        rels = conn.execute(sa.select(store.relations.c.source_id, store.relations.c.target_id)).all()
        member = conn.execute(sa.select(store.memberships.c.actor_id)).scalar_one()
    assert parts == [(event_ids[0], kept, True), (event_ids[1], kept, None)]
    assert subs == {"regionale": "blocklisted", "biodiversite": "subscribed"} and n_subs == 2
    assert rels == [(kept, friend)] and member == kept
    golden = actor(engine, kept)
    assert (golden.email, golden.phone) == ("lou@a.fr", "+33611111111")
    assert golden.organisation_id == org and actor(engine, absorbed).status == "merged"
    assert golden.provenance["phone"] == "emargement" and golden.provenance["email"] == "lreav"
    linkage.undo_merge(engine, merge_id, who="lea")
    assert dump(engine) == before
    frame = linkage.merges(engine)
    assert frame.loc[0, "annulée"] and frame.loc[0, "méthode"] == "manuelle"
    for column in ("le", "annulée le"):  # read by people: no microseconds nor time zone
        assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", frame.loc[0, column])
    with pytest.raises(CartoError, match=r"déjà été annulée le \d\d/\d\d/\d{4} \d\d:\d\d\."):
        linkage.undo_merge(engine, merge_id)


def test_shown_time_is_paris_time() -> None:
    assert linkage._shown_time(datetime(2024, 7, 1, 10, 5, 59, 123456, tzinfo=timezone.utc)) == "01/07/2024 12:05"
    assert linkage._shown_time(datetime(2024, 1, 1, 23, 30, tzinfo=timezone.utc)) == "02/01/2024 00:30"


def test_undo_refuses_out_of_order_and_bad_merges(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        a, org = seed.record("lreav", personne=person("lou", "garnier"), organisation={"name": "Asso"})
        b, _ = seed.record("emargement", personne=person("lou", "garnier"))
        c, _ = seed.record("emargement", personne=person("lou", "garnie"))
    before = dump(engine)
    first = linkage.merge(engine, a, b)
    second = linkage.merge(engine, a, c)
    with pytest.raises(CartoError, match=f"suivie d'autres fusions.*{second}"):
        linkage.undo_merge(engine, first)
    with pytest.raises(CartoError, match="actifs et du même type"):
        linkage.merge(engine, a, b)
    with pytest.raises(CartoError, match="actifs et du même type"):
        linkage.merge(engine, a, org)
    with pytest.raises(CartoError, match="introuvable"):
        linkage.undo_merge(engine, 999)
    linkage.undo_merge(engine, second)
    linkage.undo_merge(engine, first)
    assert dump(engine) == before


def test_golden_record_survivorship_and_provenance(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        crowd(seed, 20)
        old, _ = seed.record("newsletter", when="2023-01-01", personne=person(
            "rose", "lambert", email="rose@l.fr", phone="+33622222222", commune=COMMUNES[3]))
        new, _ = seed.record("emargement", when="2025-01-01", personne=person(
            "rose", "lambert", email="rose@l.fr", phone="+33633333333", commune=COMMUNES[4],
            display=("Rose", "LAMBERT-Test")))
        top, _ = seed.record("lreav", when="2020-01-01", personne={
            **person("rose", "lambert", email="rose@l.fr", commune=COMMUNES[2]), "phone": None})
    linkage.link(engine, priority=("lreav", "emargement", "newsletter"))
    golden = actor(engine, old)
    assert actor(engine, new).merged_into_id == old and actor(engine, top).merged_into_id == old
    # lreav first (even though oldest), then the most recent for what lreav lacks
    assert golden.commune_code == "30189" and golden.phone == "+33633333333"
    assert golden.provenance["commune_code"] == "lreav" and golden.provenance["phone"] == "emargement"
    assert golden.lon is not None and golden.location_precision == "commune"
    linkage.link(engine, priority=("newsletter",))  # already merged: nothing recomputed
    assert actor(engine, old).phone == "+33633333333"


def test_homonymous_organisations_are_never_merged(engine: sa.Engine) -> None:
    def org(name: str, commune: tuple[str, str] | None = None, address: str | None = None) -> dict[str, Any]:
        key = " ".join(w for w in name.lower().split() if w not in {"les", "de", "en"})
        return {"name": name, "name_key": key, "postcode": commune[1] if commune else None,
                "commune_code": commune[0] if commune else None, "address": address}

    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        crowd(seed, 20)
        _, first = seed.record("lreav", personne=person("ana", "sol", email="ana@sol.fr"),
                               organisation=org("Les Amis en transition", COMMUNES[0], "1 rue Haute"))
        _, second = seed.record("lreav", personne=person("rui", "mar", email="rui@mar.fr"),
                                organisation=org("Les Amis en transition", COMMUNES[0], "9 rue Basse"))
        _, bare = seed.record("emargement", personne=person("eve", "lune"), organisation=org("Les Amis en transition"))
        _, by_contact = seed.record("emargement", personne=person("ana", "sol", email="ana@sol.fr"),
                                    organisation=org("Les Amis en transition"))
    report = linkage.link(engine)
    assert actor(engine, first).status == actor(engine, second).status == "active"
    assert actor(engine, bare).status == "active" and report.ambiguous == 2
    assert actor(engine, by_contact).merged_into_id == first  # its contact person tells which one


def test_bad_thresholds_and_decisions(engine: sa.Engine) -> None:
    with pytest.raises(CartoError, match="Seuils incohérents"):
        linkage.link(engine, auto_threshold=0.8, review_band=(0.5, 0.9))
    with pytest.raises(CartoError, match="introuvable"):
        linkage.decide(engine, 42, "meme")
    with pytest.raises(CartoError, match="« même », « différents » ou « passer »"):
        linkage.decide(engine, 42, "oui")
    with pytest.raises(CartoError, match=r"Acteurs introuvables : 41, 42\."):
        linkage.merge(engine, 41, 42)


def test_link_merges_whole_groups_and_undo_latest_first_is_exact(engine: sa.Engine) -> None:
    """Groups of several actors merged by one run: folding rules, then exact undo merge after merge."""
    lou = person("lou", "garnier", email="lou@a.fr")
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        crowd(seed, 20)
        kept, _ = seed.record("lreav", personne=lou)
        copies = [seed.record(source, personne={**lou, "phone": phone}, when=when)[0] for source, phone, when in [
            ("emargement", "+33611111111", "2025-06-01"), ("newsletter", None, "2025-07-01"),
            ("emargement", "+33622222222", "2025-08-01")]]
        friend, _ = seed.record("jeparticipe", personne=person("eli", "roy"))
        event = conn.execute(store.events.insert().values(
            title="Printemps citoyen", kind="rencontre régionale annuelle", starts_on=date(2024, 4, 1),
        ).returning(store.events.c.id)).scalar_one()
        conn.execute(store.participations.insert(), [
            {"event_id": event, "actor_id": kept, "signed": None},
            {"event_id": event, "actor_id": copies[0], "signed": False},
            {"event_id": event, "actor_id": copies[2], "signed": True},
        ])
        conn.execute(store.subscriptions.insert(), [
            {"actor_id": copies[0], "list_name": "regionale", "status": "unsubscribed", "source": "newsletter"},
            {"actor_id": copies[1], "list_name": "regionale", "status": "blocklisted", "source": "newsletter"},
            {"actor_id": copies[2], "list_name": "regionale", "status": "subscribed", "source": "newsletter"},
        ])
        community = conn.execute(store.communities.insert().values(slug="mer", name="Mer")
                                 .returning(store.communities.c.id)).scalar_one()
        conn.execute(store.memberships.insert(), [
            {"community_id": community, "actor_id": copies[1], "computed_circle": 2, "charter_signed": False,
             "charter_signed_on": None, "override_circle": 1, "override_reason": "anime le groupe",
             "override_by": "claire", "override_at": datetime(2025, 3, 1, tzinfo=timezone.utc), "notes": "à appeler"},
            {"community_id": community, "actor_id": copies[2], "computed_circle": 1, "charter_signed": True,
             "charter_signed_on": date(2025, 1, 2), "override_circle": None, "override_reason": None,
             "override_by": None, "override_at": None, "notes": "charte reçue"}])
        conn.execute(store.relations.insert(), [
            {"source_id": copies[0], "target_id": copies[1], "type": "connaît", "provenance": "declared", "who": "t"},
            {"source_id": copies[2], "target_id": friend, "type": "connaît", "provenance": "declared", "who": "t"},
        ])
    before = dump(engine)
    states = [before]
    report = linkage.link(engine)
    if engine.dialect.name == "sqlite":  # link checks only its smaller tables in full: no reference broken anywhere
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    with engine.connect() as conn:
        ours = conn.execute(sa.select(store.merges.c.id, store.merges.c.absorbed_id)
                            .where(store.merges.c.kept_id == kept).order_by(store.merges.c.id)).all()
        parts = conn.execute(sa.select(store.participations.c.actor_id, store.participations.c.signed)).all()
        subs = conn.execute(sa.select(store.subscriptions.c.actor_id, store.subscriptions.c.status)).all()
        members = conn.execute(sa.select(store.memberships.c.actor_id, store.memberships.c.charter_signed)).all()
        override = conn.execute(sa.select(store.memberships.c.override_circle, store.memberships.c.override_by,
                                          store.memberships.c.notes)).one()
        rels = conn.execute(sa.select(store.relations.c.source_id, store.relations.c.target_id)).all()
    assert [a for _, a in ours] == copies  # one merge per absorbed actor, in order
    assert parts == [(kept, True)] and subs == [(kept, "blocklisted")]
    assert members == [(kept, True)] and rels == [(kept, friend)]
    assert tuple(override) == (1, "claire", "à appeler\ncharte reçue")  # the jardiniers' work is kept
    golden = actor(engine, kept)
    assert (golden.email, golden.phone, golden.provenance["phone"]) == ("lou@a.fr", "+33622222222", "emargement")
    # each merge undone latest first gives the base the merges before it would have given
    for n in range(1, len(copies)):
        partial = store.init_base("sqlite://", who="test")
        with store.transaction(partial, action="test") as conn:
            for table in store.metadata.sorted_tables:  # the same rows in a new base
                rows = before.get(table.name)
                if rows and not conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
                    conn.execute(table.insert(), [dict(zip(table.c.keys(), row)) for row in rows])
        for absorbed in copies[:n]:
            linkage.merge(partial, kept, absorbed)
        states.append(dump(partial))
        partial.dispose()
    for (merge_id, _), expected in zip(reversed(ours), reversed(states)):
        linkage.undo_merge(engine, merge_id)
        got = dump(engine)
        for name in ("actors", "participations", "subscriptions", "memberships", "relations"):
            # other groups are merged in one of the two bases only: compare the rows of this group's actors
            assert table_rows(got, name, {kept, *copies}) == table_rows(expected, name, {kept, *copies}), name
    for merge_id in reversed(report.merge_ids):
        if merge_id not in {m for m, _ in ours}:
            linkage.undo_merge(engine, merge_id)
    assert dump(engine) == before


def test_link_never_hits_the_sqlite_parameter_limit(tmp_path, monkeypatch):
    """Big bases are read and merged in chunks: the same links with tiny chunks as with the default ones."""
    from carto import ingest
    from carto.settings import REPO_DIR

    lreav = REPO_DIR / "data" / "demo" / "sources" / "lreav.csv"
    results = []
    for chunk in (store.IN_CHUNK, 3):
        monkeypatch.setattr(store, "IN_CHUNK", chunk)  # read by linkage and ingest
        monkeypatch.setattr(store.bulk, "IN_CHUNK", chunk)  # read by select_in, delete_in
        monkeypatch.setattr(linkage.base, "_PLAN_BATCH", max(chunk, 2))  # merges applied a few groups at a time
        monkeypatch.setattr(linkage.units, "_RECORD_CHUNK", max(chunk, 2))
        engine = store.init_base(f"sqlite:///{tmp_path / f'base-{chunk}.sqlite'}")
        try:
            ingest.import_file(engine, lreav, source="lreav")
            report = linkage.link(engine)
            listed = linkage.merges(engine)[["conservé", "absorbé", "méthode"]]
        finally:
            engine.dispose()
        results.append((report.merges, sorted(map(tuple, listed.to_numpy().tolist()))))
    assert results[0][0] > 0
    assert results[0] == results[1]


# --------------------------------------------------------------------------- attached at import, detached


_SHEET = "Événement;Date;Lieu;Nom;Prénom;Structure;Courriel;Code postal;Signature\n"
_SITE = ("Identifiant,Pseudo,Prénom,Nom,Courriel,Code postal,Date d'inscription,Accepte la newsletter,"
         "Démarches\n")
_BREVO = "EMAIL;NOM;PRENOM;LISTES;DATE_INSCRIPTION;BLOCKLISTE;DESINSCRIT\n"
_LIST = "Lettre régionale de la participation citoyenne"


def _anne_files(tmp_path):
    """Anne Roy in three sources, always with her address: twice on one sheet, on the website, in Brevo."""
    sheet = tmp_path / "emargement"
    sheet.mkdir()
    (sheet / "E90002_2024-05-02.csv").write_text(
        _SHEET + "Atelier mer;02/05/2024;Sète;ROY;Anne;;anne.roy@free.fr;;non\n"
        "Atelier mer;02/05/2024;Sète;ROY;Anne;;anne.roy@free.fr;;oui\n"
        "Atelier mer;02/05/2024;Sète;PETIT;Paul;;paul.petit@orange.fr;;oui\n", encoding="utf-8")
    site = tmp_path / "site.csv"
    site.write_text(_SITE + "42,,Anne,Roy,Anne.Roy@free.fr,31000,2024-05-01 10:00:00,oui,"
                            "Concertation : littoral\n", encoding="utf-8")
    brevo = tmp_path / "brevo.csv"
    brevo.write_text(_BREVO + f"anne.roy@free.fr;ROY;Anne;{_LIST};01-02-2024;Non;Oui\n", encoding="utf-8")
    return [("emargement", sheet), ("jeparticipe", site), ("newsletter", brevo)]


def _by_record(engine: sa.Engine) -> dict[str, Any]:
    """Participations and subscriptions named by the record (source, line) whose actor holds them."""
    sr, p, s, e = store.source_records, store.participations, store.subscriptions, store.events
    with engine.connect() as conn:
        owner = {}
        for record_id, source, line, actor_id in conn.execute(sa.select(sr.c.id, sr.c.source, sr.c.line, sr.c.actor_id)):
            owner.setdefault(actor_id, []).append((source, line))
        parts = conn.execute(sa.select(e.c.title, p.c.actor_id, p.c.signed).select_from(p.join(e))).all()
        subs = conn.execute(sa.select(s.c.list_name, s.c.actor_id, s.c.status)).all()
    return {"participations": sorted((t, tuple(sorted(owner[a])), signed) for t, a, signed in parts),
            "subscriptions": sorted((name, tuple(sorted(owner[a])), status) for name, a, status in subs)}


def test_import_attaches_by_email_link_completes_and_detach_undoes(base_url: str, tmp_path, monkeypatch) -> None:
    from carto import ingest

    files = _anne_files(tmp_path)
    engine = store.init_base(base_url, who="test")
    try:
        reports = [ingest.import_file(engine, path, source=source) for source, path in files]
        # one actor for Anne: the second sheet row, the website and Brevo rows are attached by e-mail
        assert [(r.acteurs, r.rattachements) for r in reports] == [(2, 1), (0, 1), (0, 1)]
        with engine.connect() as conn:
            sr = store.source_records
            anne = conn.execute(sa.select(sr.c.actor_id).where(sr.c.actor_rule.is_(None),
                                                                sr.c.source == "emargement", sr.c.line == 2)
                                ).scalar_one()
            attached = dict(conn.execute(sa.select(sr.c.source, sr.c.id).where(sr.c.actor_rule == "email")
                                         .order_by(sr.c.id)).all())
        assert actor(engine, anne).commune_code is None  # the website's postcode waits for linkage
        # the most restrictive status wins across sources: unsubscribed (Brevo) over subscribed (website)
        assert _by_record(engine)["subscriptions"] == [
            (_LIST, (("emargement", 2), ("emargement", 3), ("jeparticipe", 2), ("newsletter", 2)), "unsubscribed")]
        report = linkage.link(engine, who="test")
        assert report.refreshed == 1 and report.merges == 0
        golden = actor(engine, anne)
        assert golden.commune_code == "31555" and golden.provenance["commune_code"] == "jeparticipe"
        before = dump(engine)
        assert linkage.link(engine).refreshed == 0 and dump(engine) == before  # a second run writes nothing

        # detach the website row: its own actor again, with what it brings; Anne keeps the rest
        (site_actor,) = linkage.detach(engine, attached["jeparticipe"], who="lea")
        assert actor(engine, site_actor).email_key == "anneroy@free.fr"
        assert actor(engine, site_actor).commune_code == "31555"
        assert actor(engine, anne).commune_code is None  # only the website gave it
        assert count(engine, store.not_duplicates, store.not_duplicates.c.who == "lea") == 1
        state = _by_record(engine)
        assert ("Concertation : littoral", (("jeparticipe", 2),), None) in state["participations"]
        # the address is unsubscribed in Brevo: the website's actor shares the restriction
        assert (_LIST, (("jeparticipe", 2),), "unsubscribed") in state["subscriptions"]
        with pytest.raises(CartoError, match="déjà son propre acteur"):
            linkage.detach(engine, attached["jeparticipe"])
        # the folded sign-in (same sheet twice, signed once): each actor keeps its own participation
        linkage.detach(engine, attached["emargement"])
        parts = _by_record(engine)["participations"]
        assert ("Atelier mer", (("emargement", 2), ("newsletter", 2)), False) in parts
        assert ("Atelier mer", (("emargement", 3),), True) in parts
        # linkage does not put them back with Anne, though the rule says « same address » (the two
        # detached rows were not declared distinct from each other: they may be merged together)
        again = linkage.link(engine)
        assert again.refused >= 2 and again.merges <= 1
        assert actor(engine, anne).status == "active"
        with engine.connect() as conn:
            assert not conn.execute(sa.select(store.actors.c.id).where(store.actors.c.merged_into_id == anne)).all()
    finally:
        engine.dispose()

    # nothing lost: detaching every attached record gives the participations and subscriptions of an
    # import that attaches nothing, record by record
    monkeypatch.setattr(ingest.actors, "SURE_KEYS", {"personne": {}, "organisation": {}})
    apart = store.init_base(f"sqlite:///{tmp_path / 'apart.sqlite'}", who="test")
    try:
        for source, path in files:
            ingest.import_file(apart, path, source=source)
        expected = _by_record(apart)
    finally:
        apart.dispose()
    engine = store.init_base(base_url, who="test")
    try:
        for merge_id in reversed(again.merge_ids):
            linkage.undo_merge(engine, merge_id)
        linkage.detach(engine, attached["newsletter"])
        assert _by_record(engine) == expected
    finally:
        engine.dispose()


def test_an_undone_merge_holds_when_everything_is_linked_again(engine: sa.Engine) -> None:
    """Undoing a merge is a person's decision: even a full re-link does not merge the two actors again."""
    lou = person("lou", "garnier", email="lou@a.fr")
    with store.transaction(engine, action="test") as conn:
        seed = Seeder(conn)
        crowd(seed, 20)
        first, _ = seed.record("lreav", personne=lou)
        second, _ = seed.record("emargement", personne={**lou, "phone": "+33611111111"}, when="2025-06-01")
    linkage.link(engine)
    merged = linkage.merges(engine, include_undone=False)
    mine = merged[merged["conservé"].isin([first, second]) & merged["absorbé"].isin([first, second])]
    assert len(mine) == 1
    linkage.undo_merge(engine, int(mine["fusion"].iloc[0]))
    linkage.link(engine, full=True)
    assert actor(engine, first).status == "active" and actor(engine, second).status == "active"
    linkage.merge(engine, first, second)  # by hand: lifted
    linkage.link(engine, full=True)
    assert {actor(engine, first).status, actor(engine, second).status} == {"active", "merged"}
