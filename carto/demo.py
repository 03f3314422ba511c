"""The demo pipeline behind ``carto demo`` and notebook ``00-demarrer``.

It generates the synthetic sources (:mod:`carto.synth`), creates the demo base
(:mod:`carto.store`), imports the sources (:mod:`carto.ingest`), links the
duplicates (:mod:`carto.linkage`) and measures that linkage against the
synthetic truth (:mod:`carto.quality`), draws the overview map of Occitanie
(:mod:`carto.maps`) and writes everything, with a French summary, into one
folder; then creates the three pilot communities, computes their members'
cercles (:mod:`carto.communities`) and writes each one's member-tracking table
(XLSX), indicator charts (:mod:`carto.evaluation`, :mod:`carto.charts`) and maps
(HTML, and A4 print maps from :mod:`carto.printmap`).
Later issues extend it (network, report).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.engine import Engine

from carto import (charts, communities, events, export, geo, ingest, linkage, maps, netmetrics, netviz, network,
                   printmap, quality, store, synth)
from carto import _fr
from carto._errors import BrowserError
from carto.settings import get_settings

__all__ = ["DemoResult", "run_demo"]

log = logging.getLogger(__name__)

MAP_TITLE = "Acteurs et événements des communautés d'engagement citoyen — démonstration"

#: What the tables of the base hold, in the order and words the summary shows a French reader
#: (``schema_info`` is left out: its one row is the schema version, printed apart).
_TABLE_LABELS = {
    "source_records": "lignes sources (importées ou en quarantaine)",
    "import_batches": "imports",
    "actors": "acteurs (fiches, y compris celles fusionnées)",
    "merges": "fusions",
    "review_pairs": "paires à revoir",
    "not_duplicates": "paires déclarées différentes",
    "events": "événements",
    "participations": "participations",
    "subscriptions": "inscriptions aux lettres",
    "consent_statements": "déclarations d'accord pour la carte",
    "communities": "communautés",
    "memberships": "adhésions",
    "membership_history": "changements de cercle",
    "relations": "relations",
    "workshops": "ateliers",
    "workshop_actors": "acteurs placés en atelier",
    "workshop_goals": "objectifs d'atelier",
    "workshop_influence": "influences d'atelier",
    "network_metrics": "mesures du réseau (par acteur)",
    "linkage_models": "modèles de rapprochement entraînés",
    "link_runs": "rapprochements",
    "link_keys": "clés de blocage du rapprochement",
    "audit_log": "lignes du journal d'audit",
}


#: The files of a community folder, by kind: (test on the file name, singular, plural). Each file is of one kind
#: only (the first that matches); the screenshots and the PNG of the A4 sheets go with their page or PDF.
_COMMUNITY_FILES = (
    ("members", lambda n: n.startswith("suivi-membres-") and n.endswith(".xlsx"),
     "tableau de suivi des membres XLSX", "tableaux de suivi des membres XLSX"),
    ("charts", lambda n: n.startswith("indicateurs-") and n.endswith(".png"),
     "graphique d'indicateurs PNG", "graphiques d'indicateurs PNG"),
    ("a4", lambda n: n.startswith("carte-") and n.endswith("-a4.pdf"),
     "carte A4 à imprimer (PDF et PNG)", "cartes A4 à imprimer (PDF et PNG)"),
    ("a4 png", lambda n: n.startswith("carte-") and n.endswith("-a4.png"), "", ""),
    ("maps", lambda n: n.startswith("carte-") and n.endswith(".html"), "carte HTML", "cartes HTML"),
    ("map png", lambda n: n.startswith("carte-") and n.endswith(".png"), "", ""),
    ("map pdf", lambda n: n.startswith("carte-") and n.endswith(".pdf"), "", ""),
    ("net xlsx", lambda n: n.startswith("reseau-") and n.endswith(".xlsx"), "mesures XLSX", "mesures XLSX"),
    ("net html", lambda n: n == "reseau.html", "page HTML", "page HTML"),
    ("net png", lambda n: n == "reseau.png", "", ""),
    ("net a4", lambda n: n == "reseau-a4.pdf", "image A4 PDF et PNG", "image A4 PDF et PNG"),
    ("net a4 png", lambda n: n == "reseau-a4.png", "", ""),
)


def folder_summary(paths: list[Path]) -> str:
    """What a community folder of the demo holds, each file counted once, in French.

    Examples
    --------
    >>> names = ["suivi-membres-mer.xlsx", "indicateurs-parcours.png", "carte-membres.html", "carte-membres.png",
    ...          "carte-membres-a4.pdf", "carte-membres-a4.png", "reseau-mer.xlsx", "reseau.html", "reseau.png",
    ...          "notes.txt"]
    >>> for part in folder_summary([Path("mer") / n for n in names]).split(" ; "):
    ...     print(part)
    tableau de suivi des membres XLSX, 1 graphique d'indicateurs PNG, 1 carte HTML avec image PNG, 1 carte A4 à \
imprimer (PDF et PNG)
    réseau : mesures XLSX, page HTML avec image PNG
    autre fichier : notes.txt
    """
    kinds: dict[str, int] = {}
    others: list[str] = []
    for path in dict.fromkeys(paths):  # a file given under two labels is still one file
        kind = next((k for k, test, _, _ in _COMMUNITY_FILES if test(path.name)), None)
        if kind is None:
            others.append(path.name)
        else:
            kinds[kind] = kinds.get(kind, 0) + 1
    words = {k: (one, many) for k, _, one, many in _COMMUNITY_FILES}

    def counted(kind: str) -> str:
        n = kinds[kind]
        return f"{words[kind][0]}" if kind == "members" and n == 1 else _fr.count(n, *words[kind])

    def with_images(kind: str, png: str, pdf: str) -> str:
        images = " et ".join(name for k, name in ((png, "image PNG"), (pdf, "PDF")) if kinds.get(k))
        return counted(kind) + (f" avec {images}" if images else "")

    parts = [counted(k) for k in ("members", "charts") if kinds.get(k)]
    if kinds.get("maps"):
        parts.append(with_images("maps", "map png", "map pdf"))
    if kinds.get("a4"):
        parts.append(counted("a4"))
    net = [words[k][0] for k in ("net xlsx",) if kinds.get(k)]
    if kinds.get("net html"):
        net.append(words["net html"][0] + (" avec image PNG" if kinds.get("net png") else ""))
    if kinds.get("net a4"):
        net.append(words["net a4"][0])
    text = ", ".join(parts) + (" ; réseau : " + ", ".join(net) if net else "")
    if others:
        text += f" ; {_fr.plural(len(others), 'autre fichier', 'autres fichiers')} : {', '.join(sorted(others))}"
    return text


@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes
    ----------
    out : Path
        Output folder.
    data_date : date
        Date of the data.
    database_url : str
        URL of the demo base.
    synth : carto.synth.SynthSummary
        Counts of the generated sources.
    imports : list of carto.ingest.ImportReport
        One reconciliation per source file imported into the base.
    link : carto.linkage.LinkReport
        What the duplicate linkage did.
    link_quality : dict
        Pairwise precision, recall, F1 of the linkage against the synthetic
        truth, for persons, organisations and both.
    circles : carto.communities.CirclesReport
        Members per cercle of the pilot communities.
    base_counts : dict
        Rows per table of the base.
    files : dict
        Produced files, by French label.
    seconds : float
        Wall time.
    notes : list of str
        Remarks for the user (e.g. no PNG without Chromium).
    """

    out: Path
    data_date: date
    database_url: str
    synth: synth.SynthSummary
    imports: list[ingest.ImportReport]
    link: linkage.LinkReport
    link_quality: dict[str, tuple[float, float, float]]
    circles: communities.CirclesReport
    base_counts: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [
            "Terreau — démonstration",
            "=======================",
            f"Dossier : {self.out}",
            f"Base de démonstration : {store.display_url(self.database_url)}",
            "",
            "Sources synthétiques générées :",
            f"  {self.synth}",
            "",
            "Géographie de référence : "
            f"{_fr.integer(len(geo.communes()))} communes, {_fr.integer(len(geo.epci()))} EPCI, "
            f"{_fr.integer(len(geo.departements()))} départements",
            "",
            "Import des cinq sources dans la base :",
            *[f"  {report}" for report in self.imports],
            "",
            "Rapprochement des doublons :",
            f"  {self.link}",
            "  Qualité mesurée sur la vérité des sources synthétiques (paires d'enregistrements) :",
            *[f"    {name} : précision {_fr.decimal(p, 3)}, rappel {_fr.decimal(r, 3)}, F1 {_fr.decimal(f, 3)}"
              for name, (p, r, f) in self.link_quality.items()],
            "",
            "Communautés pilotes, membres par cercle :",
            *[f"  {line}" for line in str(self.circles).splitlines()],
            "",
            f"Base : schéma {store.SCHEMA_VERSION}, {len(self.base_counts)} tables, "
            f"{_fr.integer(sum(self.base_counts.values()))} lignes",
        ]
        lines += [f"  {label} : {_fr.integer(self.base_counts[table])}"
                  for table, label in _TABLE_LABELS.items() if self.base_counts.get(table)]
        lines += ["", "Fichiers produits :"]
        per_folder: dict[Path, list[Path]] = {}
        for label, path in self.files.items():
            if path.parent.parent == self.out / "communautes":  # one line per community folder
                per_folder.setdefault(path.parent, []).append(path)
            else:
                lines.append(f"  {label} : {path}")
        lines += [f"  communauté {self.circles.counts.get(folder.name, {}).get('nom', folder.name)} : {folder} "
                  f"({folder_summary(paths)})" for folder, paths in per_folder.items()]  # its name, not its slug
        if self.notes:
            lines += ["", "Remarques :"] + [f"  - {note}" for note in self.notes]
        lines += ["", f"Durée : {_fr.duration(self.seconds)}"]
        return "\n".join(lines)


def _communities(engine: Engine, out: Path, today: date, *, png: bool, a4: bool
                 ) -> tuple[communities.CirclesReport, dict[str, Path]]:
    """The pilot communities: cercles, a jardinier Acteurs, tracking tables (XLSX), indicator charts, and the
    maps of members, events, zones blanches and links (HTML; PNG of the page when ``png``; the A4 print maps,
    PDF and PNG, when ``a4``)."""
    communities.create_communities(engine, who="carto demo")
    events.classify_events(engine, who="carto demo")
    report = communities.update_circles(engine, as_of=today, who="carto demo")
    files: dict[str, Path] = {}
    for slug, counts in report.counts.items():
        table = communities.members(engine, slug, as_of=today)
        if len(table):  # the demo's jardinier Acteurs: the most active member of the most engaged cercle
            best = table.sort_values(["cercle", "participations"], ascending=[True, False]).iloc[0]
            communities.set_binome(engine, slug, jardinier_acteurs=int(best["acteur"]), who="carto demo")
        folder = out / "communautes" / slug
        files[f"suivi des membres — {counts['nom']}"] = export.save_members_xlsx(
            table, folder / f"suivi-membres-{slug}.xlsx", title=f"Membres de la communauté {counts['nom']}",
            as_of=today)
        figures = charts.community_figures(engine, slug, as_of=today)
        for name, path in export.save_figures(figures, folder, prefix="indicateurs").items():
            files[f"{name} — {counts['nom']}"] = path
        for kind in maps.MAP_KINDS:
            fmap = maps.community_map(engine, slug, kind, as_of=today)
            # the PDF for élus is the A4 print map (vector, drawn without a browser): no screenshot PDF
            written = export.save_map(fmap, folder / f"carte-{kind}.html", title=f"{counts['nom']} — {kind}",
                                      png=png)
            if a4:
                written.update(export.save_print_map(printmap.print_map(engine, slug, kind, as_of=today),
                                                     folder / f"carte-{kind}-a4"))
            for fmt, path in written.items():
                files[f"carte {kind} ({fmt}) — {counts['nom']}"] = path
        for label, path in _network(engine, slug, counts["nom"], folder, today, png=png, a4=a4).items():
            files[f"{label} — {counts['nom']}"] = path
    return report, files


def _network(engine: Engine, slug: str, name: str, folder: Path, today: date, *, png: bool, a4: bool
             ) -> dict[str, Path]:
    """A community's network: its metrics (stored in the base, and as XLSX), its interactive page (HTML, and PNG
    when ``png``) and its A4 picture (PDF and PNG, when ``a4``)."""
    graph = network.actor_graph(engine, community=slug)
    table = netmetrics.metrics(graph)
    network.store_metrics(engine, table, community=slug, as_of=today, parameters=graph.graph["filters"],
                          who="carto demo")
    files = {"réseau (XLSX)": export.save_metrics_xlsx(network.stored_metrics(engine, community=slug),
                                                        folder / f"reseau-{slug}.xlsx",
                                                        title=f"Réseau de la communauté {name}", as_of=today)}
    files["réseau (html)"] = export.save_network_html(graph, table, folder / "reseau.html", as_of=today)
    if png:
        files["réseau (png)"] = export.save_png(files["réseau (html)"], folder / "reseau.png")
    if a4:
        picture = netviz.network_picture(graph, table, as_of=today, labels=12)
        files.update({f"réseau ({fmt})": path for fmt, path in
                      export.save_print_map(picture, folder / "reseau-a4").items()})
    return files


def _has_chromium() -> bool:
    try:
        export.find_chromium()
    except BrowserError:
        return False
    return True


def run_demo(
    out: str | Path | None = None,
    *,
    n_persons: int = 6000,
    seed: int | None = None,
    database_url: str | None = None,
    png: bool = True,
    today: date | None = None,
    verbose: bool = False,
) -> DemoResult:
    """Run the whole demo: synthetic sources, import, linkage, overview map, summary.

    Parameters
    ----------
    out : str or Path, optional
        Output folder (created; default: settings' ``out_dir``). The demo base goes there too unless
        ``database_url`` is given, so that a demo never touches a real base;
        that default demo base is rebuilt from scratch at each run.
    n_persons : int
        Number of synthetic persons (organisations are a quarter of it).
    seed : int, optional
        Seed of the generator (settings' seed by default).
    database_url : str, optional
        Base to initialise (default: ``sqlite:///<out>/base-demo.sqlite``).
    png : bool
        Also render the maps to PNG (and the community maps to PDF) with headless Chromium when it is
        installed, and draw the A4 print maps of the communities (PDF and PNG, no browser needed).
    today : date, optional
        Date of the data (default: today).
    verbose : bool
        Show progress bars.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import tempfile
    >>> from carto.demo import run_demo
    >>> result = run_demo(tempfile.mkdtemp(), n_persons=100, png=False)
    >>> [label for label in result.files if "Biodiversité" not in label and "—" not in label]
    ['carte', 'résumé']
    >>> result.files["suivi des membres — Biodiversité"].name
    'suivi-membres-biodiversite.xlsx'
    >>> sorted(result.circles.counts)
    ['alimentation-agriculture', 'biodiversite', 'engagement-citoyen']
    """
    started = time.perf_counter()
    settings = get_settings()
    out = Path(settings.out_dir if out is None else out)
    out.mkdir(parents=True, exist_ok=True)
    seed = settings.seed if seed is None else seed
    today = today or date.today()
    summary = synth.generate(out, n_persons=n_persons, seed=seed, today=today, verbose=verbose)
    log.info("Sources synthétiques : %s", summary)

    url = database_url
    if url is None:
        demo_base = (out / "base-demo.sqlite").resolve()
        for stale in out.glob("base-demo.sqlite*"):  # the previous demo's base, WAL and SHM files
            stale.unlink()
        url = f"sqlite:///{demo_base}"

    engine = store.init_base(url, who="carto demo")
    try:
        imports = ingest.import_folder(engine, out, who="carto demo", verbose=verbose)
        link = linkage.link(engine, who="carto demo", verbose=verbose)
        link_quality = quality.synthetic_scores(engine, out)
        circles, community_files = _communities(engine, out, today, png=png and _has_chromium(), a4=png)
        counts = store.base_summary(engine)
    finally:
        engine.dispose()

    organisations = synth.load_truth(out, "organisations")
    events = synth.load_truth(out, "evenements")
    fmap = maps.overview_map(organisations, events, title=MAP_TITLE, data_date=today)
    files: dict[str, Path] = {"carte": export.save_html(fmap, out / "carte-occitanie.html", title=MAP_TITLE)}
    notes: list[str] = []
    if png:
        try:
            files["carte (image)"] = export.save_png(files["carte"], out / "carte-occitanie.png")
        except BrowserError as exc:
            notes.append(f"Pas d'image PNG de la carte : {exc}")

    files.update(community_files)
    result = DemoResult(
        out=out, data_date=today, database_url=url, synth=summary, imports=imports, link=link,
        link_quality=link_quality, circles=circles, base_counts=counts, files=files, notes=notes,
    )
    result.files["résumé"] = out / "resume.txt"
    result.seconds = time.perf_counter() - started
    result.files["résumé"].write_text(str(result) + "\n", encoding="utf-8")
    log.info("Démonstration écrite dans %s en %.1f s", out, result.seconds)
    return result
