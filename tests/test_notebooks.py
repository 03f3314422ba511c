"""The notebooks run top to bottom (papermill, real kernel), all on one base.

Each notebook runs alone on a fresh demonstration base; then 01 → 01 → 03 → 05
run in sequence on one base, with a person's decisions in between (a merge
undone and a pair declared « différents » after notebook 01, a cercle imposed
after notebook 03): a second run of 01 undoes none of them, and 03 and 05 read
the base 01 wrote. A notebook opened on a base that 01 never filled, or fed
the demo files on a real base, stops with its French message only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from carto import _fr, communities, linkage, store, workspace
from carto.settings import REPO_DIR

NOTEBOOKS = sorted((REPO_DIR / "notebooks").glob("*.ipynb"))
BY_NUMBER = {path.name[:2]: path for path in NOTEBOOKS}

pytestmark = [
    pytest.mark.slow,
    # jupyter_client/papermill internals, not our code
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder of its own (so a demonstration base of its own), the reference geography of the repository."""
    monkeypatch.delenv("CARTO_DATABASE_URL", raising=False)
    monkeypatch.setenv("CARTO_DATA_DIR", str(tmp_path / "donnees"))
    monkeypatch.setenv("CARTO_REF_DIR", str(REPO_DIR / "data" / "ref"))
    monkeypatch.setenv("CARTO_OUT_DIR", str(tmp_path / "sorties"))
    return tmp_path


def _run(notebook: Path, out: Path, **parameters: Any) -> dict:
    """Execute ``notebook`` with the parameters it declares; the executed notebook (JSON)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    papermill.execute_notebook(
        str(notebook), str(out), parameters={k: v for k, v in parameters.items() if k in declared},
        cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
    )
    return json.loads(out.read_text(encoding="utf-8"))


def _printed(executed: dict, comment: str) -> str:
    """What the code cell starting with ``comment`` printed."""
    for cell in executed["cells"]:
        if cell["cell_type"] == "code" and "".join(cell["source"]).startswith(comment):
            return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o["output_type"] == "stream")
    raise AssertionError(f"no cell starting with {comment!r}")


def _opened(executed: dict) -> str:
    """The line that says which base is open and what it holds."""
    text = _printed(executed, "# Ouvrir la base")
    return next(line for line in text.splitlines() if line.startswith("Base ouverte"))


def _base_and_actors(executed: dict) -> str:
    """Which base is open and its actors (« … — 1 851 acteurs (1 402 personnes, 449 organisations) »)."""
    line = _opened(executed)
    return line.split(" — ")[0] + " — " + re.search(r"\d[\d\u202f]* acteurs? \([^)]*\)", line).group(0)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook: Path, home: Path) -> None:
    _run(notebook, home / notebook.name, dossier=str(home / "sortie"), taille=300)


def test_notebooks_in_sequence_share_one_base_and_keep_what_a_person_decided(home: Path) -> None:
    first = _run(BY_NUMBER["01"], home / "01-a.ipynb")
    assert "base de démonstration" in _opened(first)
    engine = workspace.open_base("démonstration")
    # a person's decisions, as the widgets of notebook 01 make them
    latest = linkage.merges(engine, include_undone=False).iloc[0]
    kept, absorbed = int(latest["conservé"]), int(latest["absorbé"])
    linkage.undo_merge(engine, int(latest["fusion"]), who="Camille")
    queue = linkage.review_queue(engine)
    assert len(queue)
    pair = queue.iloc[0]
    linkage.decide(engine, int(pair["paire"]), "differents", who="Camille")
    apart = (min(int(pair["acteur A"]), int(pair["acteur B"])), max(int(pair["acteur A"]), int(pair["acteur B"])))
    with engine.connect() as conn:
        n_active = conn.execute(sa.select(sa.func.count()).select_from(store.actors)
                                .where(store.actors.c.status == "active")).scalar_one()

    again = _run(BY_NUMBER["01"], home / "01-b.ipynb")
    new_rows = re.findall(r"\((\S+) nouvelle", _printed(again, "# Importer les fichiers"))
    assert new_rows and set(new_rows) == {"0"}
    assert _printed(again, "# Rapprocher les doublons").startswith("Rien de nouveau")
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(store.actors.c.id, store.actors.c.status)
                                   .where(store.actors.c.id.in_([kept, absorbed, *apart]))).all())
        undone = conn.execute(sa.select(store.merges.c.undone_at).where(store.merges.c.id == int(latest["fusion"])))
        distinct = conn.execute(sa.select(store.not_duplicates.c.id).where(
            store.not_duplicates.c.actor_a_id == apart[0], store.not_duplicates.c.actor_b_id == apart[1])).all()
        assert undone.scalar_one() is not None
    assert status[kept] == status[absorbed] == "active"
    assert status[apart[0]] == status[apart[1]] == "active" and distinct
    assert _fr.count(n_active, "acteur") in _opened(again)

    network = _run(BY_NUMBER["03"], home / "03.ipynb", dossier=str(home / "reseau"))
    assert _base_and_actors(network) == _base_and_actors(again)
    member = int(communities.members(engine, "biodiversite")["acteur"].iloc[-1])
    communities.set_override(engine, "biodiversite", member, 1, reason="anime le groupe", who="Camille")

    following = _run(BY_NUMBER["05"], home / "05.ipynb", dossier=str(home / "suivi"))
    assert _base_and_actors(following) == _base_and_actors(again)
    table = communities.members(engine, "biodiversite").set_index("acteur")
    assert table.loc[member, "cercle imposé"] == 1 and table.loc[member, "cercle"] == 1
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(store.actors.c.id, store.actors.c.status)
                                   .where(store.actors.c.id.in_([kept, absorbed]))).all())
    assert status[kept] == status[absorbed] == "active"
    engine.dispose()


def _french_error(notebook: Path, out: Path, **parameters: Any) -> str:
    """Run ``notebook`` expecting it to stop on a Terreau error; what the failing cell showed."""
    import papermill

    with pytest.raises(papermill.PapermillExecutionError):
        _run(notebook, out, **parameters)
    executed = json.loads(out.read_text(encoding="utf-8"))
    shown = []
    for cell in executed["cells"]:
        for output in cell.get("outputs", []):
            shown.append(json.dumps(output, ensure_ascii=False))
    return "\n".join(shown)


def test_notebooks_on_the_wrong_base_say_what_to_do_in_french(home: Path) -> None:
    empty = home / "vide.sqlite"
    shown = _french_error(BY_NUMBER["05"], home / "05-vide.ipynb", quelle_base=str(empty), dossier=str(home / "s"))
    assert "lancez d'abord le carnet 01" in shown
    assert "Traceback" not in shown and "ConfigError" not in shown
    shown = _french_error(BY_NUMBER["01"], home / "01-reelle.ipynb", quelle_base=str(home / "reelle.sqlite"))
    assert "fichiers de démonstration" in shown and "Traceback" not in shown


@pytest.mark.postgresql
def test_notebooks_on_the_users_postgresql_base(home: Path, postgresql_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """« ma base » is the user's PostgreSQL base (CARTO_DATABASE_URL), filled by 01 with the user's files, read by 05."""
    import shutil

    monkeypatch.setenv("CARTO_DATABASE_URL", postgresql_url)
    files = home / "mes-fichiers"
    shutil.copytree(REPO_DIR / "data" / "demo" / "sources", files / "sources")  # the files alone, without the truth
    first = _run(BY_NUMBER["01"], home / "01-pg.ipynb", quelle_base="ma base", sources=str(files))
    assert "votre base" in _opened(first) and "CARTO_DATABASE_URL" in _opened(first)
    assert "postgresql://" in _opened(first)
    following = _run(BY_NUMBER["05"], home / "05-pg.ipynb", quelle_base="ma base", dossier=str(home / "suivi"))
    assert "Base préparée : 3 communautés pilotes créées" in _printed(following, "# Ouvrir la base")
    assert _opened(following).split(" — ")[0] == _opened(first).split(" — ")[0]  # the same base
    engine = store.open_base(postgresql_url)
    with engine.connect() as conn:
        n_active = conn.execute(sa.select(sa.func.count()).select_from(store.actors)
                                .where(store.actors.c.status == "active")).scalar_one()
    engine.dispose()
    assert n_active > 1000 and _fr.count(n_active, "acteur") in _opened(following)  # what 01 wrote
