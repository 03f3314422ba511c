"""Tests of carto.store, on SQLite and on a real PostgreSQL server (see conftest)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from carto import store
from carto._errors import SchemaError, StoreError
from conftest import missing

REVISION_NEXT = '''"""Test revision: add actors.nickname (recreating the table on SQLite)."""
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("actors", recreate=recreate) as batch:
        batch.add_column(sa.Column("nickname", sa.Text))


def downgrade():
    with op.batch_alter_table("actors") as batch:
        batch.drop_column("nickname")
'''


@pytest.fixture
def engine(base_url: str) -> Any:
    """A fresh base at the current schema."""
    engine = store.init_base(base_url, who="test")
    yield engine
    engine.dispose()


def content(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key."""
    with engine.connect() as conn:
        tables = sa.MetaData()
        tables.reflect(conn)
        return {
            name: [tuple(row) for row in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
            for name, t in sorted(tables.tables.items())
        }


def stored_records(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.select(store.source_records).order_by(store.source_records.c.id)).all()


def add_actor(conn: sa.Connection, name: str = "Camille Martin", **values: Any) -> int:
    row = {"kind": "personne", "display_name": name, **values}
    return int(conn.execute(store.actors.insert().values(**row).returning(store.actors.c.id)).scalar_one())


def add_batch(conn: sa.Connection) -> int:
    statement = store.import_batches.insert().values(source="lreav", file_name="lreav.csv", who="test")
    return int(conn.execute(statement.returning(store.import_batches.c.id)).scalar_one())


# --------------------------------------------------------------------------- creation


def test_schema_created_matches_metadata(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        assert names == set(store.metadata.tables) | {"alembic_version"}
        assert MigrationContext.configure(conn).get_current_revision() == store.schema_revision()
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, store.metadata) == []
    summary = store.base_summary(engine)
    assert summary["schema_info"] == 1 and summary["audit_log"] == 1
    assert sum(summary.values()) == 2
    opened = store.open_base(engine.url)
    assert opened.url == engine.url
    opened.dispose()


def test_init_is_idempotent_and_audited(engine: sa.Engine) -> None:
    before = content(engine)
    store.init_base(engine.url, who="autre").dispose()
    assert content(engine) == before
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.audit_log)).one()
    assert (row.who, row.action, row.table_name) == ("test", "init", "schema_info")
    assert row.details == {"création": True, "schéma": store.schema_revision()}


def test_concurrent_inits_create_the_base_once(base_url: str) -> None:
    errors: list[BaseException] = []

    def init() -> None:
        try:
            store.init_base(base_url, who="parallèle").dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=init) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = store.open_base(base_url)
    assert store.base_summary(engine)["audit_log"] == 1
    engine.dispose()


def test_sqlite_file_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "sous" / "dossier" / "base.sqlite"
    engine = store.init_base(f"sqlite:///{path}")
    assert path.exists()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    engine.dispose()


def test_postgresql_urls_use_psycopg3() -> None:
    for url in ("postgresql://u:secret@localhost:5433/terreau", "postgres://u@localhost/terreau"):
        engine = store.connect(url)  # no connection is made before the first use
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.database == "terreau"
    assert store.connect("postgresql+psycopg://u@h/b").url.drivername == "postgresql+psycopg"
    with pytest.raises(StoreError, match="non prise en charge"):
        store.connect("mysql://u@h/b")
    with pytest.raises(StoreError, match="URL de base invalide.*CARTO_DATABASE_URL"):
        store.connect("base.sqlite")


def test_default_url_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTO_DATABASE_URL", f"sqlite:///{tmp_path / 'defaut.sqlite'}")
    store.init_base().dispose()
    assert (tmp_path / "defaut.sqlite").exists()


# --------------------------------------------------------------------------- integrity


def test_foreign_keys_and_checks_enforced(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction(engine, action="test") as conn:
            conn.execute(store.memberships.insert().values(community_id=999, actor_id=999))
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction(engine, action="test") as conn:
            add_actor(conn, kind="robot")
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction(engine, action="test") as conn:
            add_actor(conn, siret="123")
    with pytest.raises(sa.exc.IntegrityError):  # an override needs a reason, an author and a date
        with store.transaction(engine, action="test") as conn:
            community = conn.execute(
                store.communities.insert().values(slug="mer", name="Mer").returning(store.communities.c.id)
            ).scalar_one()
            conn.execute(
                store.memberships.insert().values(
                    community_id=community, actor_id=add_actor(conn), override_circle=1
                )
            )
    assert store.base_summary(engine)["actors"] == 0


def test_on_delete_rules(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        person = add_actor(conn)
        traced = add_actor(conn, "Alex Durand")
        community = conn.execute(
            store.communities.insert().values(slug="mer", name="Mer", jardinier_acteurs_id=person)
            .returning(store.communities.c.id)
        ).scalar_one()
        conn.execute(store.memberships.insert().values(community_id=community, actor_id=person, computed_circle=2))
        conn.execute(
            store.source_records.insert().values(
                source="lreav", source_key="1", batch_id=add_batch(conn), file_name="lreav.csv",
                line=2, raw={"nom": "Durand"}, row_hash="h", actor_id=traced,
            )
        )
    with store.transaction(engine, action="effacement") as conn:  # erasure cascades what describes
        conn.execute(store.actors.delete().where(store.actors.c.id == person))
    summary = store.base_summary(engine)
    assert summary["memberships"] == 0 and summary["communities"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.communities.c.jardinier_acteurs_id)).scalar() is None
    with pytest.raises(sa.exc.IntegrityError):  # source records block it
        with store.transaction(engine, action="effacement") as conn:
            conn.execute(store.actors.delete().where(store.actors.c.id == traced))


def test_one_merge_in_force_per_absorbed_actor(engine: sa.Engine) -> None:
    with store.transaction(engine, action="fusion") as conn:
        kept, absorbed, other = add_actor(conn), add_actor(conn), add_actor(conn)
        merge = {"kept_id": kept, "absorbed_id": absorbed, "method": "rule", "who": "t", "snapshot": {}}
        first = conn.execute(store.merges.insert().values(**merge).returning(store.merges.c.id)).scalar_one()
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction(engine, action="fusion") as conn:
            conn.execute(store.merges.insert().values(**{**merge, "kept_id": other}))
    with store.transaction(engine, action="annulation") as conn:
        conn.execute(
            store.merges.update().where(store.merges.c.id == first)
            .values(undone_at=datetime.now(timezone.utc), undone_by="t")
        )
        conn.execute(store.merges.insert().values(**{**merge, "kept_id": other}))
    assert store.base_summary(engine)["merges"] == 2


def test_timestamps_are_aware_utc(engine: sa.Engine) -> None:
    paris = timezone(timedelta(hours=2))
    with store.transaction(engine, action="test") as conn:
        add_actor(conn, consent_map=True, consent_map_at=datetime(2024, 6, 1, 14, 0, tzinfo=paris))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(store.actors.c.consent_map_at)).scalar_one()
    assert stored == datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert stored.tzinfo == timezone.utc
    with pytest.raises(sa.exc.StatementError, match="fuseau"):
        with store.transaction(engine, action="test") as conn:
            add_actor(conn, consent_map_at=datetime(2024, 6, 1, 14, 0))


# --------------------------------------------------------------------------- transactions


def test_bulk_transaction_checks_foreign_keys_before_commit(engine: sa.Engine) -> None:
    """check_tables: references checked once at the end (SQLite) or as usual (PostgreSQL), never lost."""
    before = content(engine)
    with pytest.raises((StoreError, sa.exc.IntegrityError), match="cassée|foreign key|violates"):
        with store.transaction(engine, action="test", check_tables=["memberships"]) as conn:
            community = conn.execute(
                store.communities.insert().values(slug="mer", name="Mer").returning(store.communities.c.id)
            ).scalar_one()
            conn.execute(store.memberships.insert().values(community_id=community, actor_id=999))
    assert content(engine) == before
    with store.transaction(engine, action="test", check_tables=["memberships"]) as conn:
        community = conn.execute(
            store.communities.insert().values(slug="mer", name="Mer").returning(store.communities.c.id)
        ).scalar_one()
        conn.execute(store.memberships.insert().values(community_id=community, actor_id=add_actor(conn)))
    assert store.base_summary(engine)["memberships"] == 1
    with engine.connect() as conn:  # foreign keys are on again for what follows
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_failure_mid_write_leaves_base_unchanged(engine: sa.Engine) -> None:
    with store.transaction(engine, action="préparation") as conn:
        batch = add_batch(conn)
        add_actor(conn)
    before = content(engine)
    rows = [
        {"source": "lreav", "source_key": str(i), "batch_id": batch, "file_name": "lreav.csv",
         "line": i + 2, "raw": {"n": i}, "row_hash": str(i)}
        for i in range(250)
    ]
    rows[-1]["source_key"] = "0"  # duplicate natural key in the last chunk
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction(engine, action="import", who="camille") as conn:
            conn.execute(store.actors.update().values(display_name="Modifié"))
            conn.execute(store.communities.insert().values(slug="mer", name="Mer"))
            store.audit(conn, table="communities", count=1)
            store.insert_rows(conn, store.source_records, rows, chunk_size=100)
    assert content(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(store.audit_log.c.action == "import")).scalar() == 0
    # the base is usable afterwards
    with store.transaction(engine, action="import") as conn:
        assert store.insert_rows(conn, store.source_records, rows[:-1], chunk_size=100) == 249


def test_exception_in_caller_code_rolls_back(engine: sa.Engine) -> None:
    before = content(engine)
    with pytest.raises(ZeroDivisionError):
        with store.transaction(engine, action="test") as conn:
            add_actor(conn)
            1 / 0  # noqa: B018
    assert content(engine) == before


def test_audit_rows_on_success(engine: sa.Engine) -> None:
    start = datetime.now(timezone.utc)
    with store.transaction(engine, action="ajout", who="camille") as conn:
        ids = [add_actor(conn), add_actor(conn)]
        store.audit(conn, table="actors", ids=ids, details={"motif": "essai"})
        store.audit(conn, table="communities", ids=range(store.AUDIT_MAX_IDS + 1))
    end = datetime.now(timezone.utc)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.audit_log).where(store.audit_log.c.action == "ajout").order_by(store.audit_log.c.id)
        ).all()
    assert [(r.who, r.table_name, r.row_count) for r in rows] == [
        ("camille", "actors", 2), ("camille", "communities", store.AUDIT_MAX_IDS + 1)
    ]
    assert rows[0].row_ids == ids and rows[0].details == {"motif": "essai"}
    assert rows[1].row_ids is None
    assert rows[0].transaction_id == rows[1].transaction_id
    assert start <= rows[0].at <= end


def test_default_author_and_plain_audit_row(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTO_USER", "dominique")
    with store.transaction(engine, action="rien"):
        pass
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.audit_log).where(store.audit_log.c.action == "rien")).one()
    assert (row.who, row.table_name, row.row_count) == ("dominique", None, None)


def test_transaction_misuse_is_refused(engine: sa.Engine) -> None:
    with pytest.raises(StoreError, match="action"):
        with store.transaction(engine, action=" "):
            pass
    with engine.connect() as conn, pytest.raises(StoreError, match="transaction"):
        store.audit(conn, table="actors")
    with pytest.raises(StoreError, match="imbriquée"):
        with store.transaction(engine, action="dehors") as conn:
            add_actor(conn)
            with store.transaction(store.connect(engine.url), action="dedans"):
                pass
    assert store.base_summary(engine)["actors"] == 0
    with store.transaction(engine, action="ensuite"):  # the base is free again
        pass


# --------------------------------------------------------------------------- bulk writers


def test_upsert_is_idempotent(engine: sa.Engine) -> None:
    with store.transaction(engine, action="import") as conn:
        batch = add_batch(conn)
    rows = pd.DataFrame(
        {
            "source": "lreav",
            "source_key": [f"K{i}" for i in range(1200)],
            "batch_id": batch,
            "file_name": "lreav.csv",
            "line": range(2, 1202),
            "raw": [{"nom": f"Nom {i}", "ville": "Albi"} for i in range(1200)],
            "row_hash": [f"h{i}" for i in range(1200)],
            "reason": None,
        }
    )
    key = ["source", "source_key"]
    with store.transaction(engine, action="import") as conn:
        assert store.upsert(conn, store.source_records, rows, key=key, chunk_size=500) == 1200
    first = stored_records(engine)
    with store.transaction(engine, action="import") as conn:
        assert store.upsert(conn, store.source_records, rows, key=key, chunk_size=500) == 0
    assert stored_records(engine) == first
    changed = rows.copy()
    changed.loc[:9, "raw"] = pd.Series([{"nom": "Autre", "ville": "Albi"}] * 10)
    changed.loc[:9, "row_hash"] = "changé"
    with store.transaction(engine, action="import") as conn:
        assert store.upsert(conn, store.source_records, changed, key=key, chunk_size=500) == 10
    stored = stored_records(engine)
    assert len(stored) == 1200 and stored[0].raw == {"nom": "Autre", "ville": "Albi"}
    assert stored[0].reason is None
    assert stored[0].updated_at > first[0].updated_at  # changed rows: updated_at moves
    assert stored[10] == first[10]  # unchanged rows are not touched at all
    assert [r.id for r in stored] == [r.id for r in first]


def test_upsert_where_protects_blocklisted_contacts(engine: sa.Engine) -> None:
    with store.transaction(engine, action="import") as conn:
        a, b = add_actor(conn), add_actor(conn)
        store.insert_rows(conn, store.subscriptions, [
            {"actor_id": a, "list_name": "lettre-mer", "status": "blocklisted"},
            {"actor_id": b, "list_name": "lettre-mer", "status": "subscribed"},
        ])
    incoming = [
        {"actor_id": a, "list_name": "lettre-mer", "status": "subscribed"},
        {"actor_id": b, "list_name": "lettre-mer", "status": "unsubscribed"},
    ]
    subs = store.subscriptions
    with store.transaction(engine, action="import") as conn:
        written = store.upsert(
            conn, subs, incoming, key=["actor_id", "list_name"],
            update_where=lambda new: sa.or_(subs.c.status == "subscribed", new.status != "subscribed"),
        )
    assert written == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(subs.c.status).order_by(subs.c.actor_id)).scalars().all() == [
            "blocklisted", "unsubscribed"
        ]


def test_bulk_writers_edge_cases(engine: sa.Engine) -> None:
    frame = pd.DataFrame({"slug": ["mer", "montagne"], "name": ["Mer", "Montagne"],
                          "start_date": [date(2020, 1, 1), pd.NaT], "theme": ["mer", float("nan")]})
    with store.transaction(engine, action="test") as conn:
        assert store.insert_rows(conn, store.communities, frame) == 2
        assert store.upsert(conn, store.communities, [], key=["slug"]) == 0
        assert store.upsert(conn, store.communities, [{"slug": "mer", "name": "?"}], key=["slug"], update=[]) == 0
        with pytest.raises(StoreError, match="inconnue"):
            store.upsert(conn, store.communities, [{"slug": "mer", "couleur": "bleu"}], key=["slug"])
    assert list(frame["theme"].isna()) == [False, True]  # input untouched
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.communities).order_by(store.communities.c.slug)).all()
    assert [(r.start_date, r.theme) for r in rows] == [(date(2020, 1, 1), "mer"), (None, None)]


# --------------------------------------------------------------------------- versions


@pytest.fixture
def newer_migrations(tmp_path: Path) -> Path:
    """A copy of the migrations with one more revision (0099)."""
    folder = tmp_path / "migrations"
    shutil.copytree(store.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "0099_nickname.py").write_text(
        REVISION_NEXT.replace("{head}", store.SCHEMA_VERSION), encoding="utf-8")
    return folder


@pytest.fixture
def backups(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Folder of the backup copies made before an upgrade of ``engine``'s base (author of the upgrades: admin).

    Next to the file on SQLite; ``<data_dir>/sauvegardes`` on PostgreSQL, with a
    data_dir of the test, and pg_dump needed.
    """
    monkeypatch.setenv("CARTO_DATA_DIR", str(tmp_path / "donnees"))
    monkeypatch.setenv("CARTO_USER", "admin")
    if engine.dialect.name == "postgresql":
        if shutil.which("pg_dump") is None:
            missing("pg_dump", "installez-le avec « apt-get install postgresql-client »")
        return tmp_path / "donnees" / "sauvegardes"
    return Path(str(engine.url.database)).parent


def copies(folder: Path) -> list[Path]:
    """Backup copies in ``folder``."""
    return sorted(folder.glob("*.avant-*"))


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Bring the base back to an older ``revision`` (as an older Terreau left it)."""
    with store._write_connection(engine, foreign_keys=False) as conn:
        with conn.begin():
            command.downgrade(store._alembic_config(conn), revision)
            conn.execute(store.schema_info.update().values(schema_revision=revision))


def revision_of(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_older_base_is_upgraded_on_opening_after_a_backup(
    engine: sa.Engine, newer_migrations: Path, backups: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with store.transaction(engine, action="test") as conn:
        person = add_actor(conn)
        community = conn.execute(
            store.communities.insert().values(slug="mer", name="Mer").returning(store.communities.c.id)
        ).scalar_one()
        conn.execute(store.memberships.insert().values(community_id=community, actor_id=person, computed_circle=1))
    before = content(engine)
    monkeypatch.setattr(store.versions, "MIGRATIONS_DIR", newer_migrations)
    with caplog.at_level(logging.INFO, logger="carto.store"):
        opened = store.open_base(engine.url)
    upgrade = store.last_upgrade(opened)
    opened.dispose()
    assert upgrade is not None
    assert (upgrade.base, upgrade.from_revision, upgrade.to_revision) == (
        store.display_url(engine), store.SCHEMA_VERSION, "0099")
    assert upgrade.backup is not None and copies(backups) == [upgrade.backup]
    name = engine.url.database if engine.dialect.name == "postgresql" else "base"
    assert upgrade.backup.name.startswith(f"{name}.avant-{store.SCHEMA_VERSION}-")
    said = (f"Base {store.display_url(engine)} : schéma mis à niveau de {store.SCHEMA_VERSION} vers 0099 ; "
            f"copie de sauvegarde : {upgrade.backup}")
    assert str(upgrade) == said
    assert [(r.name, r.levelno) for r in caplog.records if r.getMessage() == said] == [("carto.store", logging.INFO)]
    with engine.connect() as conn:
        assert "nickname" in {c["name"] for c in sa.inspect(conn).get_columns("actors")}
        assert conn.execute(sa.select(store.memberships.c.actor_id)).scalars().all() == [person]
        info = conn.execute(sa.select(store.schema_info)).one()
        last = conn.execute(sa.select(store.audit_log).order_by(store.audit_log.c.id.desc())).first()
    assert info.schema_revision == "0099" and info.upgraded_at is not None
    assert (last.who, last.action, last.details) == (
        "admin", "init", {"de": store.SCHEMA_VERSION, "vers": "0099", "sauvegarde": str(upgrade.backup)})
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        copy = store.connect(f"sqlite:///{upgrade.backup}")  # a whole SQLite base, as it was before
        try:
            with copy.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert revision_of(copy) == store.SCHEMA_VERSION
            assert content(copy) == before
        finally:
            copy.dispose()
    else:
        assert upgrade.backup.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    # opened again: nothing to upgrade, no new copy
    again = store.open_base(engine.url)
    assert store.last_upgrade(again) is None
    again.dispose()
    assert copies(backups) == [upgrade.backup]
    # back to this version of Terreau: the base is now newer than it, refused untouched, without a copy
    monkeypatch.setattr(store.versions, "MIGRATIONS_DIR", store.PACKAGE_DIR / "migrations")
    newer = content(engine)
    with pytest.raises(SchemaError, match="plus récente.*Mettez Terreau à jour"):
        store.open_base(engine.url)
    with pytest.raises(SchemaError, match="Mettez Terreau à jour"):
        store.init_base(engine.url)
    assert content(engine) == newer and copies(backups) == [upgrade.backup]


def test_init_upgrades_an_older_base_after_the_same_backup(engine: sa.Engine, backups: Path) -> None:
    with store.transaction(engine, action="test") as conn:
        add_actor(conn)
    downgrade(engine, "0005")
    older = content(engine)
    upgraded = store.init_base(engine.url, who="admin")
    upgrade = store.last_upgrade(upgraded)
    upgraded.dispose()
    assert upgrade is not None and (upgrade.from_revision, upgrade.to_revision) == ("0005", store.SCHEMA_VERSION)
    assert upgrade.backup is not None and copies(backups) == [upgrade.backup]
    assert ".avant-0005-" in upgrade.backup.name
    if engine.dialect.name == "sqlite":
        copy = store.connect(f"sqlite:///{upgrade.backup}")
        try:
            assert revision_of(copy) == "0005" and content(copy) == older
        finally:
            copy.dispose()
    assert revision_of(engine) == store.SCHEMA_VERSION
    # a base backed up by hand: upgraded without a copy, and said so
    downgrade(engine, "0005")
    upgraded = store.init_base(engine.url, who="admin", backup=False)
    upgrade = store.last_upgrade(upgraded)
    upgraded.dispose()
    assert upgrade is not None and upgrade.backup is None and str(upgrade).endswith("; sans copie de sauvegarde")
    assert len(copies(backups)) == 1 and revision_of(engine) == store.SCHEMA_VERSION
    with engine.connect() as conn:
        last = conn.execute(sa.select(store.audit_log).order_by(store.audit_log.c.id.desc())).first()
    assert last.details == {"de": "0005", "vers": store.SCHEMA_VERSION, "sauvegarde": None}


def test_backup_copies_are_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "registre.db"
    store.init_base(f"sqlite:///{base}").dispose()
    monkeypatch.setattr(store.backup, "_stamp", lambda: "20261129-101500")
    first = store.backup_base(f"sqlite:///{base}", reason="avant-essai")
    second = store.backup_base(store.connect(f"sqlite:///{base}"), reason="avant-essai")
    uri = store.backup_base(f"sqlite:///file:{base}?uri=true", reason="avant-essai")
    assert [first.name, second.name, uri.name] == [
        "registre.avant-essai-20261129-101500.sqlite", "registre.avant-essai-20261129-101500-2.sqlite",
        "registre.avant-essai-20261129-101500-3.sqlite"]
    assert first.parent == second.parent == tmp_path
    with pytest.raises(StoreError, match="en mémoire"):
        store.backup_base("sqlite://", reason="avant-essai")
    with pytest.raises(StoreError, match="Motif de sauvegarde invalide"):
        store.backup_base(f"sqlite:///{base}", reason="../ailleurs")
    with pytest.raises(StoreError, match="Aucune base"):
        store.backup_base(f"sqlite:///{tmp_path / 'absente.sqlite'}", reason="avant-essai")
    assert not (tmp_path / "absente.sqlite").exists()


def test_pg_dump_gets_the_password_from_its_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def run(args: list[str], *, env: dict[str, str], **options: Any) -> subprocess.CompletedProcess[str]:
        calls.append((args, env))
        return subprocess.CompletedProcess(args, 1 if len(calls) > 1 else 0, "", "pg_dump: error: connexion refusée")

    monkeypatch.setenv("CARTO_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(store.backup.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(store.backup.subprocess, "run", run)
    url = "postgresql://agent:s3cret@serveur:5433/terreau?sslmode=require"
    dump = store.backup_base(url, reason="avant-0005")
    assert dump.parent == tmp_path / "sauvegardes" and dump.name.startswith("terreau.avant-0005-")
    (args, env), = calls
    assert args == ["/usr/bin/pg_dump", "--format=custom", f"--file={dump}",
                    "--dbname=postgresql://agent@serveur:5433/terreau?sslmode=require"]
    assert env["PGPASSWORD"] == "s3cret" and not any("s3cret" in a for a in args)
    with pytest.raises(SchemaError, match="pg_dump a échoué.*connexion refusée.*à la main.*carto init --sans-sauvegarde"
                       ) as failed:
        store.backup_base(url, reason="avant-0005")
    assert "s3cret" not in str(failed.value)
    assert sorted(p.name for p in (tmp_path / "sauvegardes").iterdir()) == [dump.name]  # the failed one removed


@pytest.mark.postgresql
def test_older_postgresql_base_is_upgraded_after_a_pg_dump(
    postgresql_server: Any, postgresql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        missing("pg_dump, pg_restore", "installez-les avec « apt-get install postgresql-client »")
    monkeypatch.setenv("CARTO_DATA_DIR", str(tmp_path))
    engine = store.init_base(postgresql_url, who="test")
    try:
        with store.transaction(engine, action="test") as conn:
            add_actor(conn)
        downgrade(engine, "0005")
        older = content(engine)
        # without pg_dump: refused, untouched, with what to do by hand
        with monkeypatch.context() as without:
            without.setattr(store.backup.shutil, "which", lambda name: None)
            with pytest.raises(SchemaError, match="pg_dump est absent.*à la main.*carto init --sans-sauvegarde"):
                store.open_base(postgresql_url)
        assert content(engine) == older and not (tmp_path / "sauvegardes").exists()
        opened = store.open_base(postgresql_url)
        upgrade = store.last_upgrade(opened)
        opened.dispose()
        assert upgrade is not None and upgrade.from_revision == "0005" and upgrade.backup is not None
        assert upgrade.backup.parent == tmp_path / "sauvegardes" and revision_of(engine) == store.SCHEMA_VERSION
        # the dump gives back the base as it was
        restored_name = f"terreau_{uuid.uuid4().hex[:12]}"
        postgresql_server.admin(f'CREATE DATABASE "{restored_name}"')
        try:
            done = subprocess.run(["pg_restore", f"--dbname={postgresql_server.url(restored_name)}",
                                   str(upgrade.backup)], capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            restored = store.connect(postgresql_server.url(restored_name))
            try:
                assert revision_of(restored) == "0005" and content(restored) == older
            finally:
                restored.dispose()
        finally:
            postgresql_server.admin(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
    finally:
        engine.dispose()


def test_failed_upgrade_leaves_base_unchanged(
    engine: sa.Engine, newer_migrations: Path, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = REVISION_NEXT.replace("{head}", store.SCHEMA_VERSION).replace('batch.add_column(sa.Column("nickname", sa.Text))',
                                   'batch.add_column(sa.Column("nickname", sa.Text))\n    raise RuntimeError("panne")')
    (newer_migrations / "versions" / "0099_nickname.py").write_text(broken, encoding="utf-8")
    before = content(engine)
    monkeypatch.setattr(store.versions, "MIGRATIONS_DIR", newer_migrations)
    with pytest.raises(RuntimeError, match="panne"):
        store.init_base(engine.url)
    assert content(engine) == before
    assert len(copies(backups)) == 1  # the copy made before the upgrade is kept
    with engine.connect() as conn:
        assert "nickname" not in {c["name"] for c in sa.inspect(conn).get_columns("actors")}


def test_foreign_base_is_refused(base_url: str) -> None:
    engine = store.connect(base_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE clients (id INTEGER PRIMARY KEY, nom TEXT)")
    for opener in (store.open_base, store.init_base):
        with pytest.raises(SchemaError, match="n'est pas une base Terreau.*clients"):
            opener(base_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["clients"]
    engine.dispose()


def test_missing_or_empty_base_is_refused(base_url: str, tmp_path: Path) -> None:
    if base_url.startswith("sqlite"):
        missing = tmp_path / "absente.sqlite"
        with pytest.raises(StoreError, match="Aucune base.*carto init"):
            store.open_base(f"sqlite:///{missing}")
        assert not missing.exists()
        engine = store.connect(base_url)
        engine.connect().close()  # an empty SQLite file
        engine.dispose()
    with pytest.raises(StoreError, match="vide.*carto init"):
        store.open_base(base_url)


def test_unreadable_base_gives_a_french_error(base_url: str, tmp_path: Path) -> None:
    if base_url.startswith("sqlite"):
        garbage = tmp_path / "pas-une-base.sqlite"
        garbage.write_bytes(b"ceci n'est pas une base SQLite" * 100)
        bad = f"sqlite:///{garbage}"
    else:
        bad = base_url.rsplit("/", 1)[0] + "/base_inexistante"
    for opener in (store.open_base, store.init_base):
        with pytest.raises(StoreError, match="Impossible d'ouvrir la base.*CARTO_DATABASE_URL"):
            opener(bad)


def test_bulk_writers_round_trip_types_and_defaults(engine: sa.Engine) -> None:
    moment = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
    rows = [
        {"kind": "personne", "display_name": "Léa Dupré", "themes": ["mer", "biodiversite"],
         "consent_map": True, "consent_map_at": moment, "lon": 1.44, "lat": 43.6, "commune_code": "31555"},
        {"kind": "organisation", "display_name": "Collectif « L'Oasis »", "themes": [],
         "consent_map": False, "consent_map_at": None, "lon": None, "lat": None, "commune_code": None},
    ]
    frame = pd.DataFrame(rows)
    assert str(frame["consent_map_at"].dtype).startswith("datetime64")
    with store.transaction(engine, action="test") as conn:
        assert store.insert_rows(conn, store.actors, rows, chunk_size=1) == 2
        assert store.insert_rows(conn, store.actors, frame) == 2
    with engine.connect() as conn:
        stored = conn.execute(sa.select(store.actors).order_by(store.actors.c.id)).all()
    assert len(stored) == 4
    for row, back in zip(rows + rows, stored):
        assert {k: getattr(back, k) for k in row} == row
        assert back.status == "active" and back.provenance == {} and back.consent_newsletter is False
        assert back.created_at.tzinfo == timezone.utc
    with pytest.raises(StoreError, match="même clé"):
        with store.transaction(engine, action="test") as conn:
            store.upsert(conn, store.communities, [{"slug": "a", "name": "A"}, {"slug": "a", "name": "B"}],
                         key=["slug"])


def test_select_in_and_delete_in_take_any_number_of_values(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store.bulk, "IN_CHUNK", 3)  # several chunks on SQLite; one array on PostgreSQL
    with store.transaction(engine, action="test", who="test") as conn:
        ids = [add_actor(conn, f"Personne {i}") for i in range(8)]
    statement = sa.select(store.actors.c.id, store.actors.c.display_name)
    with engine.connect() as conn:
        frame = store.select_in(conn, statement, store.actors.c.id, ids[:7] + [10**9])
        empty = store.select_in(conn, statement, store.actors.c.id, [])
    assert sorted(frame["id"]) == ids[:7]
    assert set(frame["display_name"]) == {f"Personne {i}" for i in range(7)}
    assert empty.empty and list(empty.columns) == ["id", "display_name"]
    with store.transaction(engine, action="test", who="test") as conn:
        store.delete_in(conn, store.actors, store.actors.c.id, ids[1:])
        store.delete_in(conn, store.actors, store.actors.c.id, [])
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.actors.c.id)).scalars().all() == [ids[0]]


def test_bulk_timestamps_vectorised_as_the_column_type_writes_them() -> None:
    processor = store.UTCDateTime()._cached_bind_processor(store.connect("sqlite://").dialect)
    values = pd.Series(pd.to_datetime(["2024-01-02 03:04:05+00:00", "1999-12-31 23:59:59.999999+05:30", None,
                                       "2024-06-01 00:00:00.5-03:00"], format="ISO8601", utc=True))
    paris = pd.Series(pd.to_datetime(["2024-07-02 03:04:05", "1970-01-01 00:00:00"]).tz_localize("Europe/Paris"))
    for series in (values, paris):
        expected = [None if pd.isna(v) else processor(v.to_pydatetime()) for v in series]
        assert store._sqlite_utc_text(series) == expected


def test_bulk_days_from_datetime64_columns(engine: sa.Engine) -> None:
    with store.transaction(engine, action="test") as conn:
        store.insert_rows(conn, store.events, pd.DataFrame({
            "title": ["a", "b"], "kind": "webinaire", "starts_on": pd.to_datetime(["2024-02-29", "2025-01-01"]),
            "ends_on": pd.to_datetime([None, "2025-01-02"])}))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.events.c.starts_on, store.events.c.ends_on).order_by(store.events.c.id))
        assert [tuple(r) for r in rows] == [(date(2024, 2, 29), None), (date(2025, 1, 1), date(2025, 1, 2))]


def test_migration_0004_upgrades_a_base_of_0003(engine: sa.Engine, backups: Path) -> None:
    """A base of revision 0003 (working groups unknown) is brought to this schema when it is opened."""
    with engine.connect() as conn:
        fresh = {t: {c["name"] for c in sa.inspect(conn).get_check_constraints(t)} for t in ("events", "communities")}
    with store.transaction(engine, action="test") as conn:
        conn.execute(store.events.insert().values(title="Rencontre", kind="rencontre de communauté",
                                                  starts_on=date(2024, 3, 1)))
    with store._write_connection(engine, foreign_keys=False) as conn:
        with conn.begin():
            command.downgrade(store._alembic_config(conn), "0003")
            conn.execute(store.schema_info.update().values(schema_revision="0003"))
    with engine.connect() as conn:
        assert "newsletter_list" not in {c["name"] for c in sa.inspect(conn).get_columns("communities")}
    store.open_base(engine.url).dispose()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, store.metadata) == []
        kept = {t: {c["name"] for c in sa.inspect(conn).get_check_constraints(t)} for t in ("events", "communities")}
    assert kept == fresh and "ck_events_kind" in kept["events"]
    with store.transaction(engine, action="test") as conn:
        conn.execute(store.events.insert().values(title="Groupe de travail", kind="groupe de travail",
                                                  starts_on=date(2024, 4, 1)))
        conn.execute(store.communities.insert().values(slug="mer", name="Mer", newsletter_list="Lettre Mer"))
    with pytest.raises(sa.exc.IntegrityError), store.transaction(engine, action="test") as conn:
        conn.execute(store.events.insert().values(title="?", kind="pique-nique", starts_on=date(2024, 4, 1)))
