"""Copy the pinned JavaScript/CSS files from ``assets/node_modules`` into ``carto/_vendor``.

Run by ``make assets`` after ``cd assets && npm ci``. The list of files is
:data:`carto.export.VENDORED_FILES`; the versions installed are written to
``carto/_vendor/versions.txt`` (``package==version``) and each package's licence
is copied next to its files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also without `pip install -e .`

from carto.export import VENDOR_DIR, VENDORED_FILES  # noqa: E402
from carto.settings import REPO_DIR  # noqa: E402

NODE_MODULES = REPO_DIR / "assets" / "node_modules"
LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "MIT-LICENCE.txt", "LICENCE")


def vendor(node_modules: Path = NODE_MODULES, target: Path = VENDOR_DIR) -> list[Path]:
    """Copy the vendored files (flat) and licences; return the files written."""
    if not node_modules.is_dir():
        sys.exit(f"Dossier {node_modules} introuvable : lancez d'abord « cd assets && npm ci ».")
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    versions: dict[str, str] = {}
    for item in VENDORED_FILES:
        package_dir = node_modules / item.package
        source = package_dir / item.source
        if not source.is_file():
            sys.exit(f"Fichier {source} introuvable : relancez « cd assets && npm ci ».")
        written.append(Path(shutil.copy2(source, target / item.name)))
        if item.package not in versions:
            versions[item.package] = json.loads((package_dir / "package.json").read_text("utf-8"))["version"]
            for name in LICENCE_NAMES:
                if (package_dir / name).is_file():
                    written.append(Path(shutil.copy2(package_dir / name, target / f"LICENCE-{item.package}.txt")))
                    break
    lines = [f"{name}=={version}" for name, version in sorted(versions.items())]
    (target / "versions.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    written.append(target / "versions.txt")
    return written


def main() -> None:
    """Vendor the assets and print one French line of counts."""
    written = vendor()
    licences = ", ".join(sorted(p.name for p in written if p.name.startswith("LICENCE")))
    print(f"{len(written)} fichiers copiés dans {VENDOR_DIR} (licences : {licences})")


if __name__ == "__main__":
    main()
