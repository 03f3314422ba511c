"""Shared fixtures of Terreau's tests.

PostgreSQL
----------
``postgresql_server`` (session) starts a real, throw-away PostgreSQL server from
Debian's binaries (``/usr/lib/postgresql/<version>/bin``, or ``initdb``/``pg_ctl``
on the ``PATH``): ``initdb`` once per session in a temporary folder, trust
authentication, localhost only, on a free port, durability off (fast); as root,
through ``runuser -u postgres`` since PostgreSQL refuses to run as root. It is
stopped at the end of the session.

Chromium
--------
``chromium`` gives the path of Debian's headless Chromium (with the vendored
Leaflet in ``carto/_vendor``), for the tests that render maps in a real browser.

Without the binaries the PostgreSQL and browser tests are skipped with a message saying what
to install — except when the ``CI`` environment variable is set, where they fail:
CI must run them.

``base_url`` gives each test a fresh, empty base, once on SQLite (a file under
``tmp_path``) and once on PostgreSQL (a new database, dropped after the test).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from carto import export
from carto._errors import BrowserError



@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server started for the test session."""

    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        """``postgresql://`` URL of ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement on the ``postgres`` database, outside a transaction."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def _postgres_bin_dir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgresServer]:
    """Throw-away PostgreSQL server for the whole test session (see module docstring)."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        missing("PostgreSQL (initdb, pg_ctl)", "installez-le avec « sudo apt-get install postgresql »")
    as_root = os.geteuid() == 0
    runner: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="terreau-pg-"))  # under /tmp: reachable by postgres
    data = folder / "data"
    if as_root:
        shutil.chown(folder, user="postgres")
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run([*runner, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} a échoué :\n{done.stdout}\n{done.stderr}")

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
        "-E", "UTF8", "--no-sync", "--no-instructions")
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{folder}'",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "50",
    }
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
    try:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "start")
    except RuntimeError as exc:
        log_file = folder / "server.log"
        server_log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"{exc}\nJournal du serveur :\n{server_log}") from exc
    try:
        yield PostgresServer(host="127.0.0.1", port=port, user="postgres")
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgresql_url(postgresql_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    name = f"terreau_{uuid.uuid4().hex[:12]}"
    postgresql_server.admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgresql_server.url(name)
    finally:
        postgresql_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty base: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'base.sqlite'}"
    return str(request.getfixturevalue("postgresql_url"))


def missing(what: str, install: str) -> None:
    """Skip on a user's machine, fail in CI (where the test must run)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} est absent alors que CI est défini : ce test doit tourner en CI ({install}).")
    pytest.skip(f"{what} est absent : {install} pour lancer ce test.")


@pytest.fixture
def vendored() -> None:
    absent = [item.name for item in export.VENDORED_FILES if not (export.VENDOR_DIR / item.name).is_file()]
    if absent:
        missing(f"carto/_vendor ({', '.join(absent)} : bibliothèques JavaScript épinglées)",
                "lancez « make assets »")


@pytest.fixture
def chromium(vendored) -> Path:
    try:
        return export.find_chromium()
    except BrowserError:
        missing("Chromium", "installez-le avec « apt-get install chromium chromium-driver »")
        raise  # pragma: no cover - unreachable (skip/fail raise)


#: Debian's chromedriver, for the tests that drive Chromium with selenium.
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def offline_browser(chromium, tmp_path, monkeypatch):
    """Factory of selenium drivers on Debian's Chromium with no network at all (dead proxy)."""
    if not CHROMEDRIVER.is_file():
        missing("chromedriver", "installez-le avec « apt-get install chromium-driver »")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start(width: int, height: int):
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium)
        for flag in (*export.CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / f'profil{len(drivers)}'}",
                     f"--window-size={width},{height}",
                     "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        drivers.append(webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options))
        return drivers[-1]

    yield start
    for driver in drivers:
        driver.quit()


#: Names of the persons of :func:`members_base` who did not agree to be shown on a map.
HIDDEN_NAMES = ("Camille Secret", "Noé Discret", "Sam Caché")
#: Name of a person of :func:`members_base` who agreed to be shown: hostile HTML, shown as text.
HOSTILE_MEMBER = '<img src=x onerror="alert(1)">'


@pytest.fixture
def members_base(tmp_path: Path):
    """A base with a community « mer » of 7 members (as of 29/11/2026) for the members map and its filters.

    ==  ============  ========  =======  ======  ======================  =============================
    id  member        commune   consent  cercle  sources                 themes
    ==  ============  ========  =======  ======  ======================  =============================
    1   HOSTILE       Sète      yes      2       emargement              mer + its org's biodiv., eau
    2   Camille       Sète      no       2       jeparticipe             mer
    3   Noé           Sète      no       1       emargement              mer
    4   organisation  address   —        2       lreav                   mer, biodiversité, eau (own)
    5   Alix          Montp.    yes      2       lreav, emargement       mer, alimentation (event)
    6   Lou           Montp.    yes      1       (none)                  mer
    7   Sam           Perpignan no       3       newsletter              mer
    ==  ============  ========  =======  ======  ======================  =============================
    """
    import hashlib
    import json
    from datetime import date

    from carto import communities, store

    engine = store.init_base(f"sqlite:///{tmp_path / 'membres.sqlite'}")
    communities.add_community(engine, slug="mer", name="Mer et littoral", theme="mer", start_date=date(2024, 1, 1))
    people = [(1, HOSTILE_MEMBER, "34301", True), (2, HIDDEN_NAMES[0], "34301", False),
              (3, HIDDEN_NAMES[1], "34301", False), (5, "Alix Visible", "34172", True),
              (6, "Lou Visible", "34172", True), (7, HIDDEN_NAMES[2], "66136", False)]
    fed = {1: ["emargement"], 2: ["jeparticipe"], 3: ["emargement"], 4: ["lreav"], 5: ["lreav", "emargement"],
           7: ["newsletter"]}
    with store.transaction(engine, action="test", who="test") as conn:
        conn.execute(store.actors.insert().values(
            id=4, kind="organisation", display_name="Les Amis de l'Étang", commune_code="34301", lon=3.6123,
            lat=43.4012, location_precision="adresse", themes=["Biodiversité", "eau"]))
        conn.execute(store.actors.insert(), [{"id": i, "kind": "personne", "display_name": name, "commune_code": code,
                                              "consent_map": consent} for i, name, code, consent in people])
        conn.execute(store.actors.update().where(store.actors.c.id == 1).values(organisation_id=4))
        conn.execute(store.events.insert(), [
            {"id": 1, "title": "Rencontre", "kind": "rencontre de communauté", "starts_on": date(2026, 10, 1),
             "theme": "mer", "commune_code": "34301"},
            {"id": 2, "title": "Atelier ancien", "kind": "atelier de cartographie", "starts_on": date(2025, 1, 10),
             "theme": "mer", "commune_code": "34301"},
            {"id": 3, "title": "Formation", "kind": "formation-action", "starts_on": date(2026, 6, 1),
             "theme": "alimentation-agriculture", "commune_code": "34172"},
        ])
        conn.execute(store.participations.insert(), [
            {"event_id": event, "actor_id": actor, "role": role} for event, actor, role in [
                (1, 1, "participant"), (1, 2, "participant"), (1, 3, "organisateur"), (1, 4, "participant"),
                (1, 5, "participant"), (3, 5, "participant"), (1, 6, "organisateur"), (2, 7, "participant")]])
        for source in sorted({s for names in fed.values() for s in names}):
            batch = conn.execute(store.import_batches.insert().values(source=source, file_name=f"{source}.csv",
                                                                      who="test")
                                 .returning(store.import_batches.c.id)).scalar_one()
            for actor in sorted(a for a, names in fed.items() if source in names):
                raw = {"ligne": f"{source}-{actor}"}
                conn.execute(store.source_records.insert().values(
                    source=source, source_key=f"{source}-{actor}", batch_id=batch, file_name=f"{source}.csv",
                    line=actor + 1, raw=raw, row_hash=hashlib.sha256(json.dumps(raw).encode()).hexdigest(),
                    fields={}, status="ok", actor_id=actor))
    communities.update_circles(engine, as_of=date(2026, 11, 29))
    yield engine
    engine.dispose()
