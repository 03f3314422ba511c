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
import weakref
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from carto import _fr, communities, events, ingest, linkage, store
from carto._errors import ConfigError
from carto.settings import REPO_DIR, get_settings

__all__ = ["DEMO_CHOICES", "USER_CHOICES", "open_base", "describe", "prepare_demo", "demo_sources", "is_demo"]

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
    shown = store.display_url(engine)
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


def prepare_demo(engine: sa.Engine, *, as_of: date | None = None, who: str | None = None,
                 verbose: bool = False) -> str:
    """Fill the demonstration base once: demo files imported, linked, pilot communities and cercles.

    Does nothing on a base that already holds actors, and refuses any base
    that is not the demonstration base (the user's base is only ever filled
    by the user's own imports).

    Returns
    -------
    str
        What was done, in French.
    """
    if not is_demo(engine):
        raise ConfigError(
            "Seule la base de démonstration se remplit d'elle-même ; votre base se remplit avec vos "
            "fichiers (carnet 01, ou `carto import`)."
        )
    with engine.connect() as conn:
        n_actors = conn.execute(sa.select(sa.func.count()).select_from(store.actors)).scalar_one()
    if n_actors:
        return "Base de démonstration déjà prête : rien à refaire."
    reports = ingest.import_folder(engine, demo_sources(), who=who, verbose=verbose)
    linked = linkage.link(engine, who=who, verbose=verbose)
    communities.create_communities(engine, who=who)
    events.classify_events(engine, who=who)
    circles = communities.update_circles(engine, as_of=as_of, who=who)
    read = sum(r.lus for r in reports)
    return (f"Base de démonstration préparée : {_fr.count(read, 'ligne lue', 'lignes lues')} dans "
            f"{_fr.count(len(reports), 'fichier')} ; {linked} ; {circles}")
