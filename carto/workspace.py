"""Which base is open: the user's base, or the demonstration base, and what it holds.

Every notebook starts by opening a base with :func:`open_base` and showing
:func:`describe`: the same base for all of them (the user's, resolved by
:mod:`carto.settings`: ``CARTO_DATABASE_URL``, then ``terreau.toml``, then
``data/base.sqlite``), so that what a person decides in one notebook
(a merge, « différents », an imposed cercle) is what the others see.

The **base de démonstration** is a choice among others, never substituted
silently: ``open_base("démonstration")`` opens ``<data_dir>/demonstration.sqlite``
and :func:`prepare_demo` fills it once from the demo files of ``data/demo``
(import, linkage, pilot communities, cercles). Running a notebook again never
redoes what is done: imports are idempotent, linkage only looks at what is
new, and nothing a person decided is undone.

Examples
--------
>>> import tempfile
>>> from carto import workspace
>>> folder = tempfile.mkdtemp()
>>> base = workspace.open_base(f"{folder}/essai.sqlite")
>>> print(workspace.describe(base))  # doctest: +ELLIPSIS
Base ouverte : .../essai.sqlite (fichier SQLite, choisi dans le carnet) — vide : importez des fichiers (carnet 01).
"""

from __future__ import annotations

import logging
import re
import weakref
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from carto import _fr, communities, events, ingest, linkage, store
from carto._errors import ConfigError
from carto.settings import REPO_DIR, get_settings

__all__ = ["DEMO_CHOICES", "USER_CHOICES", "open_base", "describe", "prepare_demo", "demo_sources", "is_demo",
           "import_sources", "require_actors", "pilot_communities", "ready"]

log = logging.getLogger(__name__)
_PARIS = ZoneInfo("Europe/Paris")

#: Values of a notebook's ``base`` parameter that choose the demonstration base.
DEMO_CHOICES = frozenset({"démonstration", "demonstration", "démo", "demo", "base de démonstration"})
#: Values that choose the user's base (as :mod:`carto.settings` resolves it).
USER_CHOICES = frozenset({"", "ma base", "utilisateur", "base"})

#: How each open engine was chosen (French), for :func:`describe`.
_ORIGINS: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()
_DEMOS: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def demo_base_url() -> str:
    """URL of the demonstration base of the notebooks (``<data_dir>/demonstration.sqlite``)."""
    return f"sqlite:///{(Path(get_settings().data_dir) / 'demonstration.sqlite').resolve()}"


def demo_sources() -> Path:
    """Folder of the demo source files shipped with Terreau (``data/demo``)."""
    return REPO_DIR / "data" / "demo"


def open_base(choice: str | None = None, *, create: bool = True) -> sa.Engine:
    """Open the base a notebook works on, creating it (or upgrading its schema) when needed.

    Parameters
    ----------
    choice : str, optional
        ``None``, ``""`` or ``"ma base"``: the user's base (see :mod:`carto.settings`);
        ``"démonstration"``: the demonstration base; anything else: an URL
        (``sqlite:///…``, ``postgresql://…``) or the path of an SQLite file.
    create : bool
        Create the base when it does not exist yet (default); else refuse.

    Returns
    -------
    sqlalchemy.Engine

    Raises
    ------
    StoreError, SchemaError
        The base cannot be opened (French message saying why and what to do).
    """
    settings = get_settings()
    text = "" if choice is None else str(choice).strip()
    folded = text.lower()
    if folded in DEMO_CHOICES:
        url, origin = demo_base_url(), "base de démonstration"
    elif folded in USER_CHOICES:
        url, origin = settings.database_url, f"votre base, {settings.database_origin}"
    elif "://" in text:
        url, origin = text, "choisie dans le carnet"
    else:
        path = Path(text).expanduser()
        if path.suffix.lower() not in {".sqlite", ".sqlite3", ".db"}:
            raise ConfigError(
                f"« {text} » n'est ni « ma base », ni « démonstration », ni une URL de base, ni un fichier "
                "SQLite (.sqlite) : corrigez le paramètre « base » du carnet."
            )
        url, origin = f"sqlite:///{path.resolve()}", "fichier SQLite, choisi dans le carnet"
    sqlite_file = url.startswith("sqlite:///") and len(url) > len("sqlite:///")
    if sqlite_file:
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = store.init_base(url) if create else store.open_base(url)
    _ORIGINS[engine] = origin
    if origin == "base de démonstration":
        _DEMOS.add(engine)
    return engine


def is_demo(engine: sa.Engine) -> bool:
    """Whether ``engine`` was opened as the demonstration base by :func:`open_base`."""
    return engine in _DEMOS


def describe(engine: sa.Engine) -> str:
    """One French line: which base is open, why this one, and what it holds.

    Examples
    --------
    >>> from carto import store
    >>> print(describe(store.init_base("sqlite://")))
    Base ouverte : sqlite:// — vide : importez des fichiers (carnet 01).
    """
    shown = re.sub(r"^(\w+)\+\w+://", r"\1://", store.display_url(engine))  # « postgresql:// », not its driver
    if shown.startswith("sqlite:///"):
        shown = shown[len("sqlite:///"):]
    origin = _ORIGINS.get(engine)
    head = f"Base ouverte : {shown}" + (f" ({origin})" if origin else "")
    a = store.actors
    with engine.connect() as conn:
        kinds = dict(conn.execute(
            sa.select(a.c.kind, sa.func.count()).where(a.c.status == "active").group_by(a.c.kind)).all())
        n_communities = conn.execute(sa.select(sa.func.count()).select_from(store.communities)).scalar_one()
        last = conn.execute(sa.select(sa.func.max(store.import_batches.c.finished_at))).scalar_one()
    total = sum(kinds.values())
    if not total:
        return f"{head} — vide : importez des fichiers (carnet 01)."
    parts = [f"{_fr.count(total, 'acteur')} ({_fr.count(kinds.get('personne', 0), 'personne')}, "
             f"{_fr.count(kinds.get('organisation', 0), 'organisation')})",
             _fr.count(int(n_communities), "communauté")]
    if last is not None:
        parts.append(f"dernier import le {last.astimezone(_PARIS):%d/%m/%Y}")
    return f"{head} — " + ", ".join(parts) + "."


def _is_demo_folder(folder: Path) -> bool:
    """Whether ``folder`` holds invented persons: the demo files (``data/demo``, or a copy), or any synthetic sources.

    Synthetic sources (:func:`carto.synth.generate`, which made the demo
    files) come with their truth, ``verite/correspondances.csv``, beside
    ``sources/``: that is how a copy of them is recognised wherever it is.
    """
    demo = demo_sources().resolve()
    here = folder.expanduser().resolve()
    if here == demo or demo in here.parents:
        return True
    return any((place / "verite" / "correspondances.csv").is_file() for place in (here, *here.parents[:2]))


def import_sources(engine: sa.Engine, folder: str | Path, *, who: str | None = None,
                   verbose: bool = False) -> list[ingest.ImportReport]:
    """Import the source files of a folder (:func:`carto.ingest.import_folder`), never the demo files into a real base.

    The demo files of ``data/demo`` describe invented persons: they go only
    into the demonstration base, so that a user's base never mixes them
    with real contacts. Importing the same files again changes nothing
    (every row is « inchangée »).

    Parameters and result: those of :func:`carto.ingest.import_folder` (``engine`` from :func:`open_base`).

    Raises
    ------
    ConfigError
        ``folder`` holds the demo files and ``engine`` is not the demonstration base.
    SourceFileError
        No source file in ``folder``, or a file cannot be read.

    Examples
    --------
    >>> from carto import store
    >>> import_sources(store.init_base("sqlite://"), demo_sources())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.ConfigError: « .../data/demo » contient les fichiers de démonstration ...
    """
    folder = Path(folder)
    if _is_demo_folder(folder) and not is_demo(engine):
        raise ConfigError(
            f"« {folder.expanduser().resolve()} » contient les fichiers de démonstration de Terreau (des personnes "
            "inventées) : ils ne vont que dans la base de démonstration. Donnez au paramètre « sources » le "
            "dossier de vos fichiers, ou choisissez base = « démonstration » pour essayer Terreau."
        )
    return ingest.import_folder(engine, folder, who=who, verbose=verbose)


#: Action of the audit log written by :func:`carto.communities.update_circles`.
_CIRCLES_ACTION = "calcul des cercles"


def _count(conn: sa.Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def require_actors(engine: sa.Engine) -> int:
    """The number of active actors of the base; a French error when it has none yet.

    Notebooks 03 and 05 read what notebook 01 wrote: on an empty base they
    stop here and say so, rather than failing further down.

    Raises
    ------
    ConfigError
        The base holds no actor (notebook 01 has not been run on it).

    Examples
    --------
    >>> from carto import store
    >>> require_actors(store.init_base("sqlite://"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    carto._errors.ConfigError: La base ouverte ne contient encore aucun acteur : lancez d'abord le carnet 01 ...
    """
    with engine.connect() as conn:
        n = _count(conn, store.actors, store.actors.c.status == "active")
    if not n:
        raise ConfigError(
            "La base ouverte ne contient encore aucun acteur : lancez d'abord le carnet 01 (importer et "
            "harmoniser) sur cette base, ou choisissez base = « démonstration » pour essayer Terreau."
        )
    return n


def pilot_communities(engine: sa.Engine, *, who: str | None = None) -> pd.DataFrame:
    """The communities of the base, the pilot ones created on a base that has none yet; events classified.

    The pilot communities of ``carto/data/communautes.toml`` are created only
    in a base without any community: once they exist, what a person changed
    (a binôme named, a community added or removed) is kept as it is.
    Events without a community or a theme are then classified from their
    title (:func:`carto.events.classify_events`, which keeps what is set).

    Returns
    -------
    pandas.DataFrame
        The communities of the base (:func:`carto.communities.list_communities`).

    Examples
    --------
    >>> from carto import store
    >>> engine = store.init_base("sqlite://")
    >>> pilot_communities(engine)["communauté"].tolist()
    ['alimentation-agriculture', 'biodiversite', 'engagement-citoyen']
    >>> communities.set_binome(engine, "biodiversite", jardinier_region="Camille Martin")
    >>> pilot_communities(engine).set_index("communauté").loc["biodiversite", "jardinier Région"]
    'Camille Martin'
    """
    with engine.connect() as conn:
        empty = not _count(conn, store.communities)
    if empty:
        communities.create_communities(engine, who=who)
    events.classify_events(engine, who=who)
    return communities.list_communities(engine)


def prepare_demo(engine: sa.Engine, *, as_of: date | None = None, who: str | None = None,
                 verbose: bool = False) -> str:
    """Fill the demonstration base once: demo files imported, linked, pilot communities and cercles.

    Only what is missing is done: the demo files are imported and linked in a
    base without actors (notebook 01 may have done it already), the pilot
    communities created in a base without communities, the cercles computed
    when they never were. A base that has everything is left as it is, so
    that nothing a person decided (a merge undone, « différents », an
    imposed cercle) is ever redone. Any base that is not the demonstration
    base is refused: the user's base is only ever filled by the user's own
    imports.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The demonstration base (``open_base("démonstration")``).
    as_of : datetime.date, optional
        Date of the cercles (default today).
    who : str, optional
        Author in the audit log.
    verbose : bool
        Progress bars.

    Returns
    -------
    str
        What was done, in French.

    Raises
    ------
    ConfigError
        ``engine`` is not the demonstration base.
    """
    if not is_demo(engine):
        raise ConfigError(
            "Seule la base de démonstration se remplit d'elle-même ; votre base se remplit avec vos "
            "fichiers (carnet 01, ou `carto import`)."
        )
    with engine.connect() as conn:
        n_actors = _count(conn, store.actors)
    done = []
    if not n_actors:
        reports = ingest.import_folder(engine, demo_sources(), who=who, verbose=verbose)
        linked = linkage.link(engine, who=who, verbose=verbose)
        read = sum(r.lus for r in reports)
        done.append(f"{_fr.count(read, 'ligne lue', 'lignes lues')} dans {_fr.count(len(reports), 'fichier')} ; "
                    f"{linked}")
    done += _communities_and_circles(engine, as_of=as_of, who=who)
    if not done:
        return "Base de démonstration déjà prête : rien à refaire."
    return "Base de démonstration préparée : " + " ; ".join(done)


def _communities_and_circles(engine: sa.Engine, *, as_of: date | None, who: str | None) -> list[str]:
    """Pilot communities in a base without any, cercles when never computed; what was done, in French."""
    with engine.connect() as conn:
        n_communities = _count(conn, store.communities)
        circles_done = _count(conn, store.audit_log, store.audit_log.c.action == _CIRCLES_ACTION)
    done = []
    if not n_communities:
        made = pilot_communities(engine, who=who)
        done.append(f"{_fr.count(len(made), 'communauté pilote créée', 'communautés pilotes créées')}")
    else:
        events.classify_events(engine, who=who)
    if not circles_done:
        done.append(str(communities.update_circles(engine, as_of=as_of, who=who)))
    return done


def ready(engine: sa.Engine, *, as_of: date | None = None, who: str | None = None) -> str:
    """Make the open base ready to explore (notebooks 03, 05) and say, in French, what it holds.

    The demonstration base is filled if it is not yet (:func:`prepare_demo`);
    any other base must hold the actors notebook 01 imported
    (:func:`require_actors`), and gets the pilot communities if it has none
    and its cercles if they were never computed. Nothing else is redone:
    what notebook 01 (or a person) decided is what is read.

    Returns
    -------
    str
        What was done, if anything, then :func:`describe`.

    Raises
    ------
    ConfigError
        A base that is not the demonstration base holds no actor yet.

    Examples
    --------
    >>> from carto import store
    >>> engine = store.init_base("sqlite://")
    >>> with store.transaction(engine, action="exemple") as conn:
    ...     store.insert_rows(conn, store.actors, [{"kind": "organisation", "display_name": "Les Jardins du Lez"}])
    1
    >>> print(ready(engine))  # doctest: +ELLIPSIS
    Base préparée : 3 communautés pilotes créées ; ...
    Base ouverte : sqlite:// — 1 acteur (0 personne, 1 organisation), 3 communautés.
    >>> print(ready(engine))  # a second time: nothing to do
    Base ouverte : sqlite:// — 1 acteur (0 personne, 1 organisation), 3 communautés.
    """
    if is_demo(engine):
        done = [prepare_demo(engine, as_of=as_of, who=who)]
    else:
        require_actors(engine)
        done = _communities_and_circles(engine, as_of=as_of, who=who)
        done = ["Base préparée : " + " ; ".join(done)] if done else []
    return "\n".join([*done, describe(engine)])
