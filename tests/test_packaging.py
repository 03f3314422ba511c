"""The project's set-up files agree with each other, and notebooks are stripped."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

#: pip name -> conda-forge name, where they differ.
CONDA_NAMES = {"psycopg[binary]": "psycopg", "duckdb": "python-duckdb", "igraph": "python-igraph"}


def _pip_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    pins = {}
    for req in reqs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([\w.]+)", req)
        assert match, f"dépendance non épinglée dans pyproject.toml : {req!r}"
        name = match.group(1).lower()
        pins[CONDA_NAMES.get(name, name)] = match.group(2)
    return pins


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"][0] == "conda-forge"
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for req in dep["pip"]:
                name, version = req.split("==")
                pins[name.lower()] = version
            continue
        name, _, version = dep.partition("=")
        if name in {"python", "pip", "nodejs"}:
            continue
        assert version, f"dépendance non épinglée dans environment.yml : {dep!r}"
        pins[name.lower()] = version
    return pins


def test_pyproject_and_environment_agree():
    assert _pip_requirements() == _conda_requirements()


def test_every_pin_is_installed():
    from importlib.metadata import version

    for name, pinned in _pip_requirements().items():
        name = {conda: pip.split("[")[0] for pip, conda in CONDA_NAMES.items()}.get(name, name)
        assert version(name) == pinned, f"{name}: installé {version(name)}, épinglé {pinned}"


def test_notebooks_are_stripped():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks, "aucun notebook dans notebooks/"
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [], f"{path.name} : sorties non nettoyées"
                assert cell.get("execution_count") is None, f"{path.name} : compteur d'exécution"
        assert "widgets" not in nb.get("metadata", {}), f"{path.name} : état des widgets enregistré"
