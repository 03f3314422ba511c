"""Every notebook runs top to bottom on the demo data (papermill, real kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

pytestmark = [
    pytest.mark.slow,
    # jupyter_client/papermill internals, not our code
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook: Path, tmp_path: Path) -> None:
    import papermill

    wanted = {"dossier": str(tmp_path / "sortie"), "taille": 300}  # small and out of the repository
    declared = papermill.inspect_notebook(str(notebook))
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        parameters={name: value for name, value in wanted.items() if name in declared},
        cwd=str(notebook.parent),
        kernel_name="python3",
        progress_bar=False,
    )
