"""Writers of what Terreau hands out: self-contained HTML pages, PNG images and Excel workbooks.

HTML pages made by folium (and other libraries, such as pyvis) load Leaflet and
its plugins from CDNs: with no internet they show a blank page. :func:`inline_assets`
replaces every such link by the file of the pinned npm package copied into
``carto/_vendor`` by ``make assets`` (``scripts/vendor_assets.py``), embeds the
images those stylesheets use as ``data:`` URIs, drops the libraries our pages do
not use (Bootstrap, Font Awesome…) and refuses to write a page that would still
fetch something from the network. :func:`save_html` writes such a page,
:func:`save_png` takes a screenshot of it with headless Chromium.

:func:`save_members_xlsx` writes a community's member-tracking table as the
workbook an agent opens in Excel: real dates, a filter on every column, the
header kept in view, a sheet defining each column and the rules of the cercles,
and no text from a source file that Excel could run as a formula.
"""

from __future__ import annotations

import base64
import html
import logging
import mimetypes
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from unidecode import unidecode

from carto import communities
from carto._errors import AssetError, BrowserError, ExportError
from carto._fr import integer
from carto.settings import PACKAGE_DIR

__all__ = [
    "CHROMIUM_CANDIDATES",
    "CHROMIUM_FLAGS",
    "VENDOR_DIR",
    "VENDORED_FILES",
    "VendoredFile",
    "external_urls",
    "find_chromium",
    "inline_assets",
    "member_definitions",
    "save_html",
    "save_members_xlsx",
    "save_figure",
    "save_figures",
    "save_map",
    "save_pdf",
    "save_png",
    "show",
]

log = logging.getLogger(__name__)

#: Folder holding the pinned JavaScript/CSS files (filled by ``make assets``).
VENDOR_DIR = PACKAGE_DIR / "_vendor"


@dataclass(frozen=True)
class VendoredFile:
    """One file of a pinned npm package, copied flat into :data:`VENDOR_DIR`.

    Attributes
    ----------
    package : str
        npm package name (its version is pinned in ``assets/package-lock.json``).
    source : str
        Path of the file inside the npm package.
    replaces : str
        Regular expression matched against the last part of a CDN URL: a page
        linking such a URL gets this file inlined instead. Empty for files only
        referenced from a stylesheet (images).
    """

    package: str
    source: str
    replaces: str = ""

    @property
    def name(self) -> str:
        """Name of the file in :data:`VENDOR_DIR`."""
        return Path(self.source).name


#: Every file ``scripts/vendor_assets.py`` copies, and the CDN URLs each one replaces.
VENDORED_FILES: tuple[VendoredFile, ...] = (
    VendoredFile("leaflet", "dist/leaflet.js", r"leaflet(-src)?\.js"),
    VendoredFile("leaflet", "dist/leaflet.css", r"leaflet\.css"),
    VendoredFile("leaflet", "dist/images/layers.png"),
    VendoredFile("leaflet", "dist/images/layers-2x.png"),
    VendoredFile("leaflet", "dist/images/marker-icon.png"),
    VendoredFile("leaflet", "dist/images/marker-icon-2x.png"),
    VendoredFile("leaflet", "dist/images/marker-shadow.png"),
    VendoredFile("leaflet.markercluster", "dist/leaflet.markercluster.js", r"leaflet\.markercluster(-src)?\.js"),
    VendoredFile("leaflet.markercluster", "dist/MarkerCluster.css", r"MarkerCluster\.css"),
    VendoredFile("leaflet.markercluster", "dist/MarkerCluster.Default.css", r"MarkerCluster\.Default\.css"),
    VendoredFile("jquery", "dist/jquery.min.js", r"jquery(-[\d.]+)?(\.min)?\.js"),
    VendoredFile("graphology", "dist/graphology.umd.min.js", r"graphology\.umd(\.min)?\.js"),
    VendoredFile("sigma", "dist/sigma.min.js", r"sigma(\.min)?\.js"),
)

# Libraries folium/pyvis link that our pages do without: dropped, unless the page
# calls them (second item: a regular expression over the page), which is an error.
_DROPPED: tuple[tuple[str, str | None], ...] = (
    (r"bootstrap(\.bundle)?(\.min)?\.(js|css)$", None),
    (r"bootstrap-glyphicons\.css$", None),
    (r"fontawesome|font-awesome", None),
    (r"leaflet\.awesome\.rotate(\.min)?\.css$", None),
    (r"leaflet\.awesome-markers(\.min)?\.(js|css)$", r"L\.AwesomeMarkers\.icon\("),
)

_TAG_RE = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"'](?P<js>[^\"']+)[\"'][^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref\s*=\s*[\"'](?P<css>[^\"']+)[\"'][^>]*/?>",
    re.IGNORECASE,
)
_CSS_URL_RE = re.compile(r"url\(\s*([\"']?)(?P<url>[^)\"']+)\1\s*\)")
_EXTERNAL_RE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def _is_external(url: str) -> bool:
    return bool(_EXTERNAL_RE.match(url))


def _vendored(url: str) -> VendoredFile | None:
    last = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    for item in VENDORED_FILES:
        if item.replaces and re.fullmatch(item.replaces, last):
            return item
    return None


def _read_vendor(name: str) -> bytes:
    path = VENDOR_DIR / name
    if not path.is_file():
        raise AssetError(
            f"Fichier introuvable pour la page hors ligne (script, feuille de style ou image) : {path}. "
            "Lancez « make assets » (npm ci dans assets/ puis scripts/vendor_assets.py) "
            "pour installer Leaflet et ses extensions épinglées."
        )
    return path.read_bytes()


def _data_uri(name: str) -> str:
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(_read_vendor(name)).decode("ascii")


def _inline_css(css: str, origin: str) -> str:
    """Replace the relative ``url(...)`` of a vendored stylesheet by data URIs."""

    def repl(match: re.Match[str]) -> str:
        url = match.group("url").strip()
        if url.startswith(("data:", "#")):
            return match.group(0)
        if _is_external(url):
            raise AssetError(f"La feuille de style {origin} charge {url} depuis Internet : impossible hors ligne.")
        return f'url("{_data_uri(Path(url.split("?")[0]).name)}")'

    return _CSS_URL_RE.sub(repl, css)


def _banner(item: VendoredFile, versions: dict[str, str]) -> str:
    version = versions.get(item.package, "?")
    return f"/* {item.package} {version} ({item.source}), intégré hors ligne par Terreau */\n"


def _versions() -> dict[str, str]:
    path = VENDOR_DIR / "versions.txt"
    if not path.is_file():
        return {}
    pairs = (line.split("==", 1) for line in path.read_text(encoding="utf-8").splitlines() if "==" in line)
    return {name.strip(): version.strip() for name, version in pairs}


def _icon_default_js() -> str:
    # Leaflet finds its default marker icons through leaflet.css; with data URIs it
    # cannot, so give them explicitly (a plain folium.Marker then works offline).
    urls = {key: _data_uri(name) for key, name in
            (("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
             ("shadowUrl", "marker-shadow.png"))}
    body = "".join(f'L.Icon.Default.prototype.options.{key} = "{url}";\n' for key, url in urls.items())
    return f"<script>\nL.Icon.Default.prototype.options.imagePath = \"\";\n{body}</script>"


def inline_assets(page: str) -> str:
    """Make an HTML page self-contained: inline pinned JS/CSS, drop what is unused.

    Every ``<script src>``/``<link href>`` pointing to a CDN is replaced by the
    matching file of :data:`VENDORED_FILES` (images of stylesheets become
    ``data:`` URIs); libraries the page does not call (Bootstrap, Font Awesome,
    awesome-markers) are removed. Works on any HTML text (folium, pyvis…).

    Parameters
    ----------
    page : str
        The HTML text, as rendered by folium (``m.get_root().render()``) or another library.

    Returns
    -------
    str
        The same page with no external ``src``/``href``.

    Raises
    ------
    AssetError
        ``carto/_vendor`` is missing (run ``make assets``), or the page needs a
        library that is not vendored (the message names it).

    Examples
    --------
    >>> from carto.export import inline_assets, external_urls
    >>> page = inline_assets('<html><head><link rel="stylesheet" '
    ...     'href="https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css"/>'
    ...     '</head><body></body></html>')
    >>> external_urls(page)
    []
    """
    versions = _versions()
    seen: set[str] = set()
    leaflet_inlined = False

    def repl(match: re.Match[str]) -> str:
        nonlocal leaflet_inlined
        url = match.group("js") or match.group("css")
        tag = match.group(0)
        if not _is_external(url):
            return tag
        if match.group("css") is not None and "stylesheet" not in tag.lower():
            return ""  # preload/preconnect hints and icons: nothing to fetch offline
        item = _vendored(url)
        if item is None:
            for pattern, used_if in _DROPPED:
                if re.search(pattern, url, re.IGNORECASE):
                    if used_if and re.search(used_if, page):
                        raise AssetError(
                            f"La page utilise {url}, qui n'est pas intégré hors ligne. "
                            "Utilisez des CircleMarker ou des DivIcon plutôt que folium.Icon, "
                            "ou ajoutez la bibliothèque à assets/package.json et à VENDORED_FILES."
                        )
                    return ""
            raise AssetError(
                f"La page charge {url} depuis Internet et cette bibliothèque n'est pas intégrée "
                "hors ligne : ajoutez-la à assets/package.json et à carto.export.VENDORED_FILES, "
                "puis lancez « make assets »."
            )
        if item.name in seen:
            return ""
        seen.add(item.name)
        text = _read_vendor(item.name).decode("utf-8")
        if item.name.endswith(".css"):
            css = _inline_css(text, item.name).replace("</style", "<\\/style")
            return f"<style>\n{_banner(item, versions)}{css}\n</style>"
        js = text.replace("</script", "<\\/script")
        script = f"<script>\n{_banner(item, versions)}{js}\n</script>"
        if item.name == "leaflet.js":
            leaflet_inlined = True
            script += "\n" + _icon_default_js()
        return script

    result = _TAG_RE.sub(repl, page)
    remaining = external_urls(result)
    if remaining:
        raise AssetError(
            "La page charge encore des ressources depuis Internet : " + ", ".join(remaining[:5])
            + ". Intégrez-les (assets/package.json) ou retirez-les de la carte."
        )
    if not leaflet_inlined and "L.map(" in result:
        raise AssetError("La page utilise Leaflet sans le charger : impossible de l'intégrer hors ligne.")
    return result


class _UrlCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":  # a hyperlink is not fetched when the page loads
            return
        self.urls += [v for k, v in attrs if k in {"src", "href", "srcset", "poster", "data"} and v
                      and _is_external(v)]


def external_urls(page: str) -> list[str]:
    """URLs a page would fetch from the network (``src``/``href`` of its tags, hyperlinks aside).

    Examples
    --------
    >>> from carto.export import external_urls
    >>> external_urls('<script src="https://cdn.example.org/x.js"></script><img src="data:,">')
    ['https://cdn.example.org/x.js']
    """
    collector = _UrlCollector()
    collector.feed(page)
    collector.close()
    return collector.urls


def _offline_page(m: Any, *, title: str | None = None) -> str:
    """The self-contained page of a map (or branca element, or HTML text), in French, with its title."""
    if isinstance(m, str):
        page = m
    else:
        page = (m.get_root() if hasattr(m, "get_root") else m).render()
    page = inline_assets(page)
    page = re.sub(r"<html(?=[\s>])(?![^>]*\blang=)", '<html lang="fr"', page, count=1)
    if title is not None:
        tag = f"<title>{html.escape(title)}</title>"
        if re.search(r"<title>.*?</title>", page, re.DOTALL):
            page = re.sub(r"<title>.*?</title>", lambda _: tag, page, count=1, flags=re.DOTALL)
        else:
            page = re.sub(r"<head>", lambda _: f"<head>\n{tag}", page, count=1)
    return page


def save_html(m: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Write a map as a self-contained HTML page that works offline.

    Parameters
    ----------
    m : folium.Map
        The map (any branca element, or an HTML text, is accepted too).
    path : str or Path
        File to write (its folder is created).
    title : str, optional
        Title of the browser tab (escaped).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    AssetError
        ``carto/_vendor`` is missing: run ``make assets``.

    Examples
    --------
    >>> import tempfile, folium
    >>> from carto.export import save_html
    >>> m = folium.Map(tiles=None, location=[43.6, 1.44], zoom_start=7)
    >>> path = save_html(m, tempfile.mkdtemp() + "/carte.html", title="Essai <b>")
    >>> text = path.read_text(encoding="utf-8")
    >>> "<title>Essai &lt;b&gt;</title>" in text, "cdn.jsdelivr" in text
    (True, False)
    """
    page = _offline_page(m, title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    size = f"{path.stat().st_size / 1e6:.1f}".replace(".", ",")
    log.info("Page HTML hors ligne écrite : %s (%s Mo)", path, size)
    return path


def save_network_html(
    G: Any,
    metrics: Any,
    path: str | Path,
    *,
    title: str | None = None,
    **options: Any,
) -> Path:
    """Write the interactive view of the network as a self-contained HTML page that works offline.

    Parameters
    ----------
    G, metrics, title
        As :func:`carto.netviz.network_page`.
    path : str or Path
        File to write (its folder is created).
    **options
        Other options of :func:`carto.netviz.network_page` (``as_of``, ``colour``, ``size``, ``pos``, ``labels``…).

    Returns
    -------
    Path
        The file written; :func:`save_png` takes a picture of it.

    Examples
    --------
    >>> import tempfile, networkx as nx
    >>> G = nx.Graph()
    >>> G.add_edge(1, 2, weight=1)
    >>> nx.set_node_attributes(G, {1: "Asso", 2: "Collectif"}, "name")
    >>> nx.set_node_attributes(G, "organisation", "kind")
    >>> from carto.export import save_network_html
    >>> path = save_network_html(G, None, tempfile.mkdtemp() + "/reseau.html", title="Réseau")
    >>> text = path.read_text(encoding="utf-8")
    >>> "sigma 3" in text, "cdn.jsdelivr" in text
    (True, False)
    """
    from carto import netviz  # a view: imported when used (the maps need no network code)

    page = netviz.network_page(G, metrics, title=title, **options)
    return save_html(page, path, title=title or G.graph.get("name") or "Réseau des acteurs")


#: What each column of the network metrics table means, for the « Définitions » sheet of its workbook.
METRIC_DEFINITIONS = {
    "acteur": "Identifiant de l'acteur dans la base Terreau.",
    "nom": "Nom de la personne ou de la structure.",
    "type": "personne ou organisation.",
    "degré": "Nombre d'acteurs avec qui il a un lien (venus aux mêmes événements, relation déclarée, appartenance).",
    "degré pondéré": "Somme de la force de ses liens : un événement partagé compte 1/(n − 1) pour n présents (un "
                     "grand événement ne pèse pas plus qu'une petite réunion), une relation déclarée son poids, une "
                     "appartenance à une structure 1.",
    "intermédiarité": "Part des plus courts chemins entre deux autres acteurs qui passent par lui : les passeurs "
                      "entre groupes ont une valeur élevée.",
    "pagerank": "Importance tenant compte de l'importance de ses voisins (somme 1 sur le réseau).",
    "portée à 2 pas": "Nombre d'acteurs qu'il peut joindre directement ou par un seul intermédiaire.",
    "contrainte": "Contrainte de Burt : faible quand ses contacts ne se connaissent pas entre eux (il relie des "
                  "groupes séparés), forte quand tous ses liens vont vers le même groupe.",
    "taille effective": "Taille effective de Burt : nombre de ses contacts non redondants (qui ne se connaissent "
                        "pas entre eux).",
    "cœur": "k-cœur : il appartient au noyau où chacun a au moins k liens ; plus il est élevé, plus il est au "
            "centre du réseau.",
    "groupe": "Groupe du réseau : acteurs plus liés entre eux qu'avec le reste (méthode de Louvain ou de Leiden), "
              "1 = le plus grand. Ce n'est pas une communauté d'engagement de Terreau.",
    "nom du groupe": "Le groupe porte le nom de son organisation la plus centrale (« Groupe 3 » quand il n'en a "
                     "pas).",
}


def save_metrics_xlsx(table: pd.DataFrame, path: str | Path, *, title: str, as_of: date) -> Path:
    """Write a network's metrics table (one row per actor) as an Excel workbook with a « Définitions » sheet.

    The table of :func:`carto.network.stored_metrics` (or :func:`carto.netmetrics.metrics` with « nom » and
    « type »), written as :func:`save_members_xlsx` writes the members: header kept in view with filters,
    sources' texts never read as formulas, written whole or not at all.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import date
    >>> import openpyxl, pandas as pd
    >>> table = pd.DataFrame({"nom": ["Asso"], "degré": [3], "pagerank": [0.25]},
    ...                      index=pd.Index([7], name="acteur"))
    >>> path = save_metrics_xlsx(table, tempfile.mkdtemp() + "/reseau.xlsx", title="Réseau", as_of=date(2026, 11, 29))
    >>> wb = openpyxl.load_workbook(path)
    >>> wb.sheetnames, [c.value for c in wb["Réseau"][3]]
    (['Réseau', 'Définitions'], [7, 'Asso', 3, 0.25])
    """
    path = _xlsx_path(path)
    from openpyxl import Workbook

    flat = table.reset_index() if table.index.name else table
    heading = f"{title} au {as_of:%d/%m/%Y}"
    lines = {name: text for name, text in METRIC_DEFINITIONS.items() if name in flat.columns}
    wb = Workbook()
    _members_sheet(wb.active, flat, heading, name="Réseau")
    _definitions_sheet(wb.create_sheet(), lines, [], f"Définitions — {heading}", as_of)
    _save_workbook(wb, path, heading)
    log.info("Tableau du réseau écrit : %s (%s acteurs)", path, integer(len(flat)))
    return path


def show(m: Any, *, height: int = 650) -> Any:
    """Display a map in a notebook, offline (same self-contained page as :func:`save_html`).

    folium's own notebook display loads Leaflet from CDNs (a blank frame with no
    internet); this one puts the inlined page in an ``<iframe srcdoc>``.

    Parameters
    ----------
    m : folium.Map
        The map (any branca element, or an HTML text).
    height : int
        Height of the frame in pixels.

    Returns
    -------
    IPython.display.HTML
        Shown by Jupyter when it is the last expression of a cell.

    Examples
    --------
    >>> import folium
    >>> from carto.export import show
    >>> frame = show(folium.Map(tiles=None), height=400)
    >>> '<iframe srcdoc="' in frame.data and "cdn.jsdelivr" not in frame.data
    True
    """
    from IPython.display import HTML  # notebooks only

    page = html.escape(_offline_page(m), quote=True)
    return HTML(f'<div class="carto-carte"><iframe srcdoc="{page}" title="Carte" '
                f'style="width:100%;height:{int(height)}px;border:none"></iframe></div>')


#: Flags of every headless Chromium run (no network chatter, no profile reuse).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
)


#: Names (on the PATH) or paths tried, in order, by :func:`find_chromium`.
CHROMIUM_CANDIDATES: tuple[str, ...] = ("chromium", "chromium-browser", "/usr/bin/chromium")


def find_chromium() -> Path:
    """Path of the Chromium browser (``chromium`` on the PATH or ``/usr/bin/chromium``).

    Raises
    ------
    BrowserError
        No Chromium is installed (the message says how to install it).

    Examples
    --------
    >>> from carto.export import find_chromium
    >>> from carto._errors import BrowserError
    >>> try:
    ...     print(find_chromium().name.startswith("chrom"))
    ... except BrowserError:
    ...     print(True)
    True
    """
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    raise BrowserError(
        "Chromium est introuvable (ni « chromium » dans le PATH, ni /usr/bin/chromium) : "
        "installez-le avec « apt-get install chromium » pour produire les images PNG des cartes."
    )


def _run_chromium(html_path: str | Path, out_path: str | Path, flags: list[str], *, budget_ms: int,
                  what: str) -> Path:
    """Run headless Chromium (offline, fresh profile) on a page to write ``out_path``; return its path."""
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise BrowserError(f"Page HTML introuvable : {html_path}. Écrivez-la d'abord avec save_html.")
    out_path = Path(out_path).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.unlink(missing_ok=True)
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="carto-chromium-") as profile:
        command = [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={int(budget_ms)}", *flags, html_path.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"Chromium n'a pas terminé {what} de {html_path} en 120 s.") from exc
    if not out_path.is_file() or out_path.stat().st_size == 0:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise BrowserError(
            f"Chromium n'a pas produit {what} {out_path} (code {done.returncode}) : " + " | ".join(tail)
        )
    return out_path


#: A4 landscape at the 96 px per inch of CSS, in pixels.
_A4_LANDSCAPE_PX = (1123, 794)
_PRINT_CSS = ("<style>@page { size: A4 landscape; margin: 0 } html, body { width: %dpx !important; "
              "height: %dpx !important; margin: 0; overflow: hidden } "
              "* { -webkit-print-color-adjust: exact !important; print-color-adjust: exact !important } "
              ".leaflet-control-zoom, .leaflet-control-layers { display: none !important }</style>")


def save_map(m: Any, html_path: str | Path, *, title: str | None = None, png: bool = False,
             pdf: bool = False) -> dict[str, Path]:
    """Write a map as self-contained HTML and, if asked, as PNG (1400 × 1000) and A4 landscape PDF beside it.

    Returns
    -------
    dict
        ``{"html": …, "png": …, "pdf": …}`` (only what was written).
    """
    html_path = Path(html_path)
    written = {"html": save_html(m, html_path, title=title)}
    if png:
        written["png"] = save_png(written["html"], html_path.with_suffix(".png"))
    if pdf:
        written["pdf"] = save_pdf(written["html"], html_path.with_suffix(".pdf"))
    return written


def save_pdf(html_path: str | Path, pdf_path: str | Path, *, budget_ms: int = 10_000) -> Path:
    """Print an HTML map (from :func:`save_html`) to a one-page **A4 landscape** PDF with headless Chromium.

    The page is laid out at A4 size before it is drawn, so that the map, its title box, legend and data
    date fill the sheet as on screen (colours printed as shown), ready to attach to a note for élus.

    Returns
    -------
    Path
        The PDF written.

    Raises
    ------
    BrowserError
        Chromium is missing or did not write the PDF.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise BrowserError(f"Page HTML introuvable : {html_path}. Écrivez-la d'abord avec save_html.")
    width, height = _A4_LANDSCAPE_PX
    page = html_path.read_text(encoding="utf-8").replace("</head>", _PRINT_CSS % (width, height) + "</head>", 1)
    with tempfile.TemporaryDirectory(prefix="carto-pdf-") as folder:
        printable = Path(folder) / html_path.name
        printable.write_text(page, encoding="utf-8")
        path = _run_chromium(printable, pdf_path, [f"--window-size={width},{height}", "--no-pdf-header-footer",
                                                   f"--print-to-pdf={Path(pdf_path).resolve()}"],
                             budget_ms=budget_ms, what="le PDF")
    if not path.read_bytes().startswith(b"%PDF"):
        raise BrowserError(f"Le fichier {path} écrit par Chromium n'est pas un PDF.")
    log.info("Carte imprimée en PDF A4 paysage : %s", path)
    return path


def save_png(
    html_path: str | Path,
    png_path: str | Path,
    *,
    width: int = 1400,
    height: int = 1000,
    budget_ms: int = 10_000,
) -> Path:
    """Take a screenshot of an HTML page with headless Chromium (offline).

    Parameters
    ----------
    html_path : str or Path
        The page (for instance written by :func:`save_html`).
    png_path : str or Path
        The image to write (its folder is created).
    width, height : int
        Size of the window, in pixels.
    budget_ms : int
        Virtual time given to the page to draw before the screenshot.

    Returns
    -------
    Path
        The image written.

    Raises
    ------
    BrowserError
        Chromium is missing or did not write the image.

    Examples
    --------
    >>> from carto.export import save_png
    >>> save_png.__name__
    'save_png'
    """
    png_path = _run_chromium(html_path, png_path, [f"--window-size={int(width)},{int(height)}",
                                                    f"--screenshot={Path(png_path).resolve()}"],
                             budget_ms=budget_ms, what="l'image")
    log.info("Image de la carte écrite : %s (%s × %s px)", png_path, integer(int(width)), integer(int(height)))
    return png_path


# --------------------------------------------------------------------------- charts


def save_figure(fig: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Write a matplotlib figure (e.g. from :mod:`carto.charts`) to a PNG file; returns the path.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> fig = Figure()
    >>> _ = fig.add_subplot().plot([1, 2], [3, 1])
    >>> save_figure(fig, Path(tempfile.mkdtemp()) / "courbe.png").suffix
    '.png'
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ExportError(f"« {path} » : donnez un nom de fichier en .png.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png", facecolor="white")
    except OSError as exc:
        raise ExportError(f"Impossible d'écrire l'image « {path} » ({exc.strerror}) : vérifiez le dossier "
                          "et ses droits.") from exc
    return path


def save_figures(figures: dict[str, Any], folder: str | Path, *, prefix: str = "", dpi: int = 150) -> dict[str, Path]:
    """Write figures by name (:func:`carto.charts.community_figures`) as PNG files in ``folder``.

    File names come from the figure names (« cercles par mois » → ``<prefix>-cercles-par-mois.png``).

    Returns
    -------
    dict
        The path of each figure, by name.
    """
    out = {}
    for name, fig in figures.items():
        stem = re.sub(r"[^a-z0-9]+", "-", unidecode(name).lower()).strip("-")
        out[name] = save_figure(fig, Path(folder) / (f"{prefix}-{stem}.png" if prefix else f"{stem}.png"), dpi=dpi)
    return out


def save_print_map(fig: Any, path: str | Path, *, dpi: int = 200) -> dict[str, Path]:
    """Write a print map (:func:`carto.printmap.print_map`) as an A4 vector PDF and a PNG beside it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The map, A4 landscape.
    path : str or Path
        ``<name>``, ``<name>.pdf`` or ``<name>.png``: ``<name>.pdf`` and ``<name>.png`` are written (the
        folder is created).
    dpi : int
        Resolution of the PNG (200 by default: 2 338 × 1 654 pixels on A4; the PDF is vector).

    Returns
    -------
    dict
        ``{"pdf A4": …, "png A4": …}``.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(11.69, 8.27))
    >>> _ = fig.text(0.1, 0.9, "Carte")
    >>> sorted(p.name for p in save_print_map(fig, Path(tempfile.mkdtemp()) / "carte-a4").values())
    ['carte-a4.pdf', 'carte-a4.png']
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in {".pdf", ".png"} else path
    title = next((t.get_text().replace("\n", " ") for t in fig.texts if t.get_gid() == "carto-title"), "Carte")
    written = {"pdf A4": stem.parent / f"{stem.name}.pdf", "png A4": stem.parent / f"{stem.name}.png"}
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(written["pdf A4"], format="pdf", facecolor="white",
                    metadata={"Title": title, "Creator": "Terreau (carto)", "CreationDate": None})
        fig.savefig(written["png A4"], format="png", dpi=dpi, facecolor="white")
    except OSError as exc:
        raise ExportError(f"Impossible d'écrire la carte « {stem} » ({exc.strerror}) : vérifiez le dossier "
                          "et ses droits.") from exc
    log.info("Carte A4 écrite : %s (PDF) et %s (PNG, %s dpi)", written["pdf A4"], written["png A4"], dpi)
    return written


# --------------------------------------------------------------------------- Excel workbooks

#: Background colours of the cercle cells (light: the text stays readable when printed).
CIRCLE_FILLS = {k: v.lstrip("#").upper() for k, v in communities.CIRCLE_TINTS.items()}
_CIRCLE_COLUMNS = ("cercle", "cercle calculé", "cercle imposé")
#: First characters that make Excel or LibreOffice read a text as a formula (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_MAX_TEXT = 32_767
_MAX_WIDTH = 50
_DATE_FORMAT = "DD/MM/YYYY"
_DATETIME_FORMAT = "DD/MM/YYYY HH:MM"


def _last_months(n: int) -> str:
    return "le dernier mois" if n == 1 else f"les {n} derniers mois"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"« {v} »" for v in values)


def member_definitions(rules: communities.CircleRules | None = None) -> dict[str, str]:
    """What each column of :func:`carto.communities.members` means, in French.

    Parameters
    ----------
    rules : CircleRules, optional
        Rules of the cercles (default :func:`carto.communities.load_rules`), for the relaunch delay.

    Returns
    -------
    dict
        Column name → definition, in the order of :data:`carto.communities.MEMBER_COLUMNS`.

    Examples
    --------
    >>> from carto.export import member_definitions
    >>> print(member_definitions()["participations"])
    Nombre d'événements de la communauté où la personne était présente.
    """
    rules = rules or communities.load_rules()
    return {
        "acteur": "Numéro de l'acteur dans la base Terreau (stable : il sert à retrouver sa fiche).",
        "nom": "Nom de la personne ou de la structure, sur sa fiche de référence "
               "(après rapprochement des doublons).",
        "type": "personne ou organisation.",
        "cercle": "Cercle retenu : le cercle imposé par un·e jardinier·e s'il y en a un, sinon le cercle calculé "
                  "(1 engagé·e, 2 impliqué·e, 3 informé·e).",
        "cercle calculé": "Cercle que donnent les règles ci-dessous (participations, inscription à la lettre) ; "
                          "vide : plus aucun signal.",
        "cercle imposé": "Cercle fixé à la main par un·e jardinier·e : il prime sur le calcul "
                         "et survit aux recalculs.",
        "raison": "Pourquoi le cercle a été imposé.",
        "imposé par": "Qui a imposé le cercle.",
        "imposé le": "Quand le cercle a été imposé.",
        "depuis": "Date d'entrée dans le cercle actuel (date où il a été imposé, s'il l'a été).",
        "dernière activité": "Date de la dernière participation (présence) à un événement de la communauté.",
        "participations": "Nombre d'événements de la communauté où la personne était présente.",
        "à relancer": f"oui : aucune participation depuis plus de {rules.relaunch_months} mois (les personnes "
                      "seulement inscrites à la lettre ne sont pas à relancer).",
        "sources": "Fichiers d'où viennent les informations sur cet acteur.",
        "commune": "Commune de la personne ou de la structure.",
        "EPCI": "Intercommunalité (EPCI) de la commune.",
        "département": "Département de la commune.",
        "organisation": "Structure à laquelle la personne est rattachée.",
        "courriel": "Adresse électronique.",
        "accord carte": "Dernière réponse de la personne à « J'accepte d'apparaître sur la carte des membres » "
                        "(oui, non, sans réponse) : sans « oui », elle n'est que comptée dans sa commune.",
        "charte signée le": "Date de signature de la charte d'engagement de la communauté (vide : pas signée).",
        "notes": "Notes des jardinier·e·s sur ce membre.",
    }


def _rules_lines(rules: communities.CircleRules, as_of: date) -> list[tuple[str, str]]:
    """The rules of the cercles in plain French, as (label, text) lines."""
    roles = {"participant": "participant·e", "organisateur": "organisateur·rice", "intervenant": "intervenant·e"}
    window = _last_months(rules.window_months)
    labels = communities.CIRCLE_LABELS
    engaged = []
    if rules.engaged_kinds:
        engaged.append(f"a participé à un événement de type {_quoted(rules.engaged_kinds)}")
    if rules.engaged_roles:
        engaged.append(f"a été {' ou '.join(roles.get(r, r) for r in rules.engaged_roles)} "
                       "d'un événement de la communauté")
    involved = (f"de type {_quoted(rules.involved_kinds)}" if rules.involved_kinds
                else "(rencontre, concertation, atelier…, quel qu'en soit le type)")
    informed = []
    if rules.newsletter:
        informed.append("est inscrit·e à la lettre d'information de la communauté")
    came = " (ou s'y est inscrit·e sans venir)" if rules.registered else ""
    informed.append(f"a participé à un événement de la communauté{came} "
                    f"dans {_last_months(rules.informed_months)}")
    limit = (pd.Timestamp(as_of) - pd.DateOffset(months=rules.relaunch_months)).date()
    shared = (f", et ceux de type {_quoted(rules.shared_kinds)}, qui comptent pour toutes les communautés"
              if rules.shared_kinds else "")
    return [
        ("Principe", "Chaque membre est dans le cercle le plus engagé que lui donnent ses signaux, "
                     f"au {as_of:%d/%m/%Y}."),
        (f"Cercle {labels[1]}", (" ou ".join(engaged) or "aucun signal (règles modifiées)") + f", dans {window}."),
        (f"Cercle {labels[2]}", f"a participé à un événement de la communauté {involved}, dans {window}."),
        (f"Cercle {labels[3]}", " ou ".join(informed) + "."),
        ("Durée", f"Un événement compte à partir de sa date et jusqu'à la veille de la même date "
                  f"{rules.window_months} mois plus tard pour les cercles 1 et 2, {rules.informed_months} mois "
                  "plus tard pour le cercle 3."),
        ("Événements comptés", f"Ceux rattachés à la communauté, ceux de son espace thématique{shared}."),
        ("Sortie", "Sans aucun de ces signaux, la personne sort des cercles (elle reste dans l'historique)."),
        ("Cercle imposé", "Un·e jardinier·e peut imposer un cercle, avec une raison : il prime sur le calcul "
                          "(colonne « cercle ») et survit aux recalculs ; le cercle calculé reste indiqué."),
        ("À relancer", f"Dernière participation avant le {limit:%d/%m/%Y} (plus de {rules.relaunch_months} mois "
                       f"avant le {as_of:%d/%m/%Y}) ; les personnes seulement inscrites à la lettre ne sont pas "
                       "à relancer."),
    ]


def _cell_value(value: Any) -> Any:
    """A Python value openpyxl writes as the right Excel type (None: empty cell)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return "oui" if value else "non"
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, datetime):  # pd.Timestamp included
        if value.tzinfo is not None:
            value = pd.Timestamp(value).tz_convert("Europe/Paris").tz_localize(None)
        stamp = pd.Timestamp(value)
        return stamp.date() if stamp == stamp.normalize() else stamp.to_pydatetime()
    if isinstance(value, date):
        return value
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def _put(ws: Any, row: int, column: int, value: Any) -> Any:
    """Write one cell: dates as dates (jj/mm/aaaa), and every text as text, never as a formula."""
    cell = ws.cell(row=row, column=column)
    value = _cell_value(value)
    if value is None:
        return cell
    if isinstance(value, str):
        value = _ILLEGAL_XML.sub("", value)[:_EXCEL_MAX_TEXT]
        cell.value = value
        if value.startswith(_FORMULA_START):
            cell.data_type = "s"  # stored as text, shown with Excel's « ' » prefix
            cell.quotePrefix = True
        return cell
    cell.value = value
    if isinstance(value, datetime):
        cell.number_format = _DATETIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = _DATE_FORMAT
    return cell


def _shown_length(value: Any) -> int:
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def _members_sheet(ws: Any, table: pd.DataFrame, heading: str, *, name: str = "Membres") -> None:
    from openpyxl.styles import Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    columns = [str(c) for c in table.columns]
    ws.title = name
    _put(ws, 1, 1, heading).font = Font(bold=True, size=14)
    header_fill = PatternFill("solid", fgColor="E7E6E6")
    rule = Border(bottom=Side(style="thin", color="808080"))
    fills = {k: PatternFill("solid", fgColor=v) for k, v in CIRCLE_FILLS.items()}
    for j, name in enumerate(columns, start=1):
        cell = _put(ws, 2, j, name)
        cell.font, cell.fill, cell.border = Font(bold=True), header_fill, rule
    widths = [len(name) + 3 for name in columns]  # room for the filter arrow
    for j, name in enumerate(columns, start=1):
        coloured = name in _CIRCLE_COLUMNS
        for i, raw in enumerate(table.iloc[:, j - 1].tolist(), start=3):
            cell = _put(ws, i, j, raw)
            if cell.value is None:
                continue
            widths[j - 1] = max(widths[j - 1], _shown_length(cell.value) + 2)
            if coloured and cell.value in fills:
                cell.fill = fills[cell.value]
    for j, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(width, _MAX_WIDTH)
    last = get_column_letter(max(len(columns), 1))
    ws.auto_filter.ref = f"A2:{last}{len(table) + 2}"
    keep = columns.index("nom") + 1 if "nom" in columns[:3] else 0  # the name stays in view too
    ws.freeze_panes = f"{get_column_letter(keep + 1)}3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"


def _definitions_sheet(ws: Any, lines: Mapping[str, str], rules_lines: list[tuple[str, str]], heading: str,
                       as_of: date) -> None:
    from openpyxl.styles import Alignment, Font

    ws.title = "Définitions"
    _put(ws, 1, 1, heading).font = Font(bold=True, size=14)
    wrap = Alignment(wrap_text=True, vertical="top")
    row = 3
    for section, items in (("Colonne", list(lines.items())), ("Règles des cercles", rules_lines)):
        if not items:
            continue
        _put(ws, row, 1, section).font = Font(bold=True)
        if section == "Colonne":
            _put(ws, row, 2, "Signification").font = Font(bold=True)
        for label, text in items:
            row += 1
            _put(ws, row, 1, label).alignment = wrap
            _put(ws, row, 2, text).alignment = wrap
        row += 2
    _put(ws, row, 1, "Données au").font = Font(bold=True)
    _put(ws, row, 2, as_of).alignment = Alignment(horizontal="left")
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100


def _xlsx_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ExportError(f"Le fichier « {path} » doit se terminer par .xlsx (classeur Excel) : "
                          f"par exemple « {path.with_suffix('.xlsx').name} ».")
    return path


def _save_workbook(wb: Any, path: Path, heading: str) -> None:
    """Write a workbook whole or not at all (a temporary file renamed), with a French error."""
    wb.properties.title = heading
    wb.properties.creator = "Terreau"
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.xlsx")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        wb.save(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary.parent.is_dir():
            temporary.unlink(missing_ok=True)
        raise ExportError(
            f"Impossible d'écrire « {path} » ({exc.strerror or exc}) : s'il est ouvert dans Excel ou "
            "LibreOffice, fermez-le et recommencez ; sinon choisissez un dossier où vous pouvez écrire."
        ) from exc


def save_members_xlsx(
    table: pd.DataFrame,
    path: str | Path,
    *,
    title: str,
    as_of: date,
    definitions: Mapping[str, str] | None = None,
    rules: communities.CircleRules | None = None,
) -> Path:
    """Write a community's member-tracking table as an Excel workbook.

    Sheet « Membres »: a title line, the header row (kept in view, with a filter on every column),
    one row per member; dates are Excel dates shown jj/mm/aaaa, numbers are numbers, yes/no
    columns read « oui »/« non », cercle cells are coloured by cercle, missing values are empty
    cells. A text starting with ``=``, ``+``, ``-`` or ``@`` (from a source file) is written as
    text, never as a formula. Sheet « Définitions »: what each column means, the rules of the
    cercles in plain French, and the date of the data.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`carto.communities.members` (any columns are written, in order).
    path : str or Path
        File to write, ending in ``.xlsx`` (its folder is created). Written whole or not at all.
    title : str
        First line of the sheet, followed by « au jj/mm/aaaa », e.g. « Membres de la communauté Biodiversité ».
    as_of : datetime.date
        Date of the data (the ``as_of`` given to :func:`carto.communities.members`).
    definitions : mapping, optional
        Column → definition lines added to, or replacing, those of :func:`member_definitions`.
    rules : CircleRules, optional
        The rules the table was computed with (default :func:`carto.communities.load_rules`).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        The name does not end in ``.xlsx``, or the file cannot be written (open in Excel, no permission).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import date
    >>> import openpyxl, pandas as pd
    >>> from carto.export import save_members_xlsx
    >>> table = pd.DataFrame({"nom": ["Léa Martin"], "depuis": [date(2026, 3, 1)], "à relancer": [False]})
    >>> path = save_members_xlsx(table, tempfile.mkdtemp() + "/membres.xlsx",
    ...                          title="Membres de la communauté Biodiversité", as_of=date(2026, 11, 29))
    >>> ws = openpyxl.load_workbook(path)["Membres"]
    >>> [[c.value for c in row] for row in ws.iter_rows()]  # doctest: +NORMALIZE_WHITESPACE
    [['Membres de la communauté Biodiversité au 29/11/2026', None, None], ['nom', 'depuis', 'à relancer'],
     ['Léa Martin', datetime.datetime(2026, 3, 1, 0, 0), 'non']]
    """
    path = _xlsx_path(path)
    from openpyxl import Workbook

    rules = rules or communities.load_rules()
    heading = f"{title} au {as_of:%d/%m/%Y}"
    lines = {name: text for name, text in member_definitions(rules).items() if name in table.columns}
    lines.update(definitions or {})
    wb = Workbook()
    _members_sheet(wb.active, table, heading)
    _definitions_sheet(wb.create_sheet(), lines, _rules_lines(rules, as_of), f"Définitions — {heading}", as_of)
    _save_workbook(wb, path, heading)
    log.info("Tableau des membres écrit : %s (%s ligne%s)", path, integer(len(table)), "s" if len(table) > 1 else "")
    return path
