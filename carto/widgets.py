"""ipywidgets for the notebooks: the duplicate review queue, the merges and attachments, the member-tracking table.

Nothing is undone by running a notebook again: a merge or an attachment is
undone only when a person chooses it in :func:`merges_widget` /
:func:`attachments_widget` and confirms.

Widgets only display and call the domain modules; every decision is written by
:mod:`carto.linkage` or :mod:`carto.communities`, with its audit row.
"""

from __future__ import annotations

import html
import math
from datetime import date

import ipywidgets as widgets
import numpy as np
import pandas as pd
import sqlalchemy as sa

from carto import _fr, communities, geo, linkage, normalize, themes
from carto._errors import CartoError, ConfigError
from carto.events import find_community

__all__ = ["ReviewWidget", "review_widget", "MergesWidget", "merges_widget", "AttachmentsWidget",
           "attachments_widget", "MemberTable", "member_table", "MEMBER_TABLE_COLUMNS"]

#: Fields shown side by side (column prefix in :func:`carto.linkage.review_queue`).
_FIELDS = ("nom", "e-mail", "téléphone", "code postal", "commune", "organisation", "SIRET", "RNA")


def _cell(value: object) -> str:
    """A table cell: escaped text, empty for a missing value (None, NaN, NA)."""
    return "" if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else html.escape(str(value))


def pair_table_html(row: pd.Series) -> str:
    """HTML table of one review pair: field, actor A, actor B, with equal values highlighted.

    Every value is escaped (it may come from a source file).

    Examples
    --------
    >>> import pandas as pd
    >>> row = pd.Series({"nom A": "<b>Léa</b>", "nom B": "Lea", "e-mail A": "a@b.fr", "e-mail B": "a@b.fr"})
    >>> "&lt;b&gt;Léa&lt;/b&gt;" in pair_table_html(row)
    True
    """
    lines = []
    for field in _FIELDS:
        a, b = row.get(f"{field} A"), row.get(f"{field} B")
        if _cell(a) == "" and _cell(b) == "":
            continue
        same = _cell(a) != "" and _cell(a) == _cell(b)
        style = ' style="background:#e3f2e1"' if same else ""
        lines.append(f"<tr{style}><th style='text-align:left;padding-right:1em'>{html.escape(field)}</th>"
                     f"<td style='padding-right:1.5em'>{_cell(a)}</td><td>{_cell(b)}</td></tr>")
    head = "<tr><th></th><th style='text-align:left'>Acteur A</th><th style='text-align:left'>Acteur B</th></tr>"
    return f"<table>{head}{''.join(lines)}</table>"


class ReviewWidget(widgets.VBox):
    """The review queue of uncertain duplicates, one pair at a time.

    Shows the two actors side by side with what matches, and takes
    « Même acteur », « Différents » or « Passer ». « Différents » is remembered:
    the pair is never proposed again.
    """

    def __init__(self, engine: sa.Engine, *, who: str | None = None, kind: str | None = None) -> None:
        self.engine = engine
        self.who = who
        self.kind = kind
        self.queue = pd.DataFrame()
        self.title = widgets.HTML()
        self.table = widgets.HTML()
        self.matches = widgets.HTML()
        self.status = widgets.HTML()
        self.same = widgets.Button(description="Même acteur", button_style="success", icon="check")
        self.different = widgets.Button(description="Différents", button_style="danger", icon="times")
        self.skip = widgets.Button(description="Passer", icon="forward")
        self.same.on_click(lambda _: self._decide("meme", "fusionnés"))
        self.different.on_click(lambda _: self._decide("differents", "notés comme différents"))
        self.skip.on_click(lambda _: self._decide("passer", "remis en fin de file"))
        buttons = widgets.HBox([self.same, self.different, self.skip])
        super().__init__([self.title, self.table, self.matches, buttons, self.status])
        self.refresh()

    @property
    def current(self) -> pd.Series | None:
        """The pair on screen (None when the queue is empty)."""
        return None if self.queue.empty else self.queue.iloc[0]

    def refresh(self) -> None:
        """Reload the queue from the base and show its first pair."""
        self.queue = linkage.review_queue(self.engine, kind=self.kind)
        row = self.current
        for button in (self.same, self.different, self.skip):
            button.disabled = row is None
        if row is None:
            self.title.value = "<h3>Aucune paire à examiner.</h3>"
            self.table.value = self.matches.value = ""
            return
        self.title.value = (f"<h3>Doublon possible ({html.escape(str(row['type']))}) — "
                            f"{_fr.count(len(self.queue), 'paire', 'paires')} à examiner, "
                            f"{linkage.review_time(len(self.queue))}</h3>"
                            f"<p>Score : {_fr.decimal(float(row['score']))}</p>")
        self.table.value = pair_table_html(row)
        self.matches.value = f"<p><i>{_cell(row['correspondances'])}</i></p>"

    def _decide(self, decision: str, done: str) -> None:
        row = self.current
        if row is None:
            return
        linkage.decide(self.engine, int(row["paire"]), decision, who=self.who)
        self.status.value = f"Paire {int(row['paire'])} : {done}."
        self.refresh()


def review_widget(engine: sa.Engine, *, who: str | None = None, kind: str | None = None) -> ReviewWidget:
    """The duplicate review widget for a notebook.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    who : str, optional
        Name written in the audit log with each decision.
    kind : {"personne", "organisation"}, optional
        Only pairs of this kind.

    Examples
    --------
    >>> from carto import store
    >>> w = review_widget(store.init_base("sqlite://"))
    >>> w.title.value
    '<h3>Aucune paire à examiner.</h3>'
    """
    return ReviewWidget(engine, who=who, kind=kind)


# --------------------------------------------------------------------------- merges and attachments


def _escaped(value: object) -> str:
    """A value as read on screen (:func:`_shown`), escaped for an HTML text (quotes left as they are)."""
    return html.escape(_shown(value), quote=False)


def plain_table_html(rows: pd.DataFrame) -> str:
    """HTML table of texts as people read them (every value escaped; empty for a missing one).

    Examples
    --------
    >>> import pandas as pd
    >>> text = plain_table_html(pd.DataFrame({"nom": ["<b>Léa</b>", None]}))
    >>> "&lt;b&gt;Léa&lt;/b&gt;" in text, "<b>Léa" in text, "None" in text
    (True, False, False)
    """
    head = "".join(f"<th style='text-align:left;padding:2px 8px;border-bottom:1px solid #888'>"
                   f"{html.escape(str(c), quote=False)}</th>" for c in rows.columns)
    lines = []
    for i, values in enumerate(rows.itertuples(index=False)):
        cells = "".join(f"<td style='padding:2px 8px;vertical-align:top'>{_escaped(v)}</td>"
                        for v in values)
        background = " style='background:#f6f6f6'" if i % 2 else ""
        lines.append(f"<tr{background}>{cells}</tr>")
    return (f"<div style='overflow-x:auto'><table style='border-collapse:collapse;font-size:90%'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table></div>")


class _UndoList(widgets.VBox):
    """A list of what Terreau did (most recent first) and a button that undoes the chosen line, after confirmation.

    Subclasses say what is listed (:meth:`_read`), how a line reads
    (:meth:`_display`, :meth:`_label`, :meth:`_question`) and how it is undone (:meth:`_undo`).
    Nothing is undone without the two clicks of a person: the button, then « Oui ».
    """

    _key = ""  # column of the id given to the undo
    _what = ""  # French name of a line, in the list (« une fusion »)
    _action = ""  # label of the button
    _confirm = ""  # label of the confirmation button

    def __init__(self, engine: sa.Engine, *, who: str | None = None, limit: int = 20) -> None:
        if isinstance(limit, bool) or int(limit) < 1:
            raise ConfigError(f"Nombre de lignes « {limit} » invalide : donnez un entier d'au moins 1.")
        self.engine = engine
        self.who = who
        self.limit = int(limit)
        self.frame = pd.DataFrame()
        self.pending: int | None = None
        self._search_key = pd.Series(dtype=object)
        wide = {"description_width": "initial"}
        self.title = widgets.HTML()
        self.search = widgets.Text(description="Recherche", placeholder="nom ou numéro", style=wide)
        self.table = widgets.HTML()
        self.choice = widgets.Dropdown(description="Choix", style=wide, layout=widgets.Layout(width="40em"))
        self.button = widgets.Button(description=self._action, button_style="warning", icon="undo",
                                     layout=widgets.Layout(width="auto"))
        self.question = widgets.HTML()
        self.yes = widgets.Button(description=self._confirm, button_style="danger", icon="check",
                                  layout=widgets.Layout(width="auto"))
        self.no = widgets.Button(description="Non, ne rien changer", icon="times", layout=widgets.Layout(width="auto"))
        self.confirmation = widgets.VBox([self.question, widgets.HBox([self.yes, self.no])])
        self.status = widgets.HTML()
        self.search.observe(lambda _: self._render(), names="value")
        self.choice.observe(lambda _: self._hide_question(), names="value")
        self.button.on_click(lambda _: self.ask())
        self.yes.on_click(lambda _: self.confirm())
        self.no.on_click(lambda _: self.cancel())
        super().__init__([self.title, self.search, self.table, widgets.HBox([self.choice, self.button]),
                          self.confirmation, self.status])
        self.refresh()

    # ------------------------------------------------------------------ hooks

    def _read(self) -> pd.DataFrame:
        raise NotImplementedError

    def _undoable(self, frame: pd.DataFrame) -> pd.Series:
        return pd.Series(True, index=frame.index)

    def _search_text(self, frame: pd.DataFrame) -> pd.Series:
        raise NotImplementedError

    def _display(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def _label(self, row: pd.Series) -> str:
        raise NotImplementedError

    def _question(self, row: pd.Series) -> str:
        raise NotImplementedError

    def _undo(self, row: pd.Series) -> str:
        raise NotImplementedError

    def _counts(self, frame: pd.DataFrame) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ reading

    def refresh(self) -> None:
        """Read the list again from the base and redraw it (the search is kept)."""
        self.frame = self._read()
        self._search_key = (_keys(self._search_text(self.frame).astype(object).fillna(""))
                            if len(self.frame) else pd.Series(dtype=object))
        self._render()

    @property
    def filtered(self) -> pd.DataFrame:
        """The lines that match the search, most recent first (all of them; the table shows :attr:`limit`)."""
        frame = self.frame
        if frame.empty:
            return frame
        keep = pd.Series(True, index=frame.index)
        for word in _keys(pd.Series([self.search.value or ""])).iloc[0].split():
            keep &= self._search_key.str.contains(word, regex=False)
        return frame[keep]

    def _render(self) -> None:
        filtered = self.filtered
        shown = filtered.head(self.limit)
        text = self._counts(self.frame)
        if len(filtered) != len(self.frame):
            text += f" — {_fr.count(len(filtered), 'ligne correspond', 'lignes correspondent')} à la recherche"
        if len(filtered) > len(shown):
            text += f" ; les {_fr.integer(len(shown))} plus récentes ci-dessous (cherchez un nom pour les autres)"
        self.title.value = f"<p>{text}.</p>"
        self.table.value = ("<p><i>Rien à afficher.</i></p>" if shown.empty
                            else plain_table_html(self._display(shown)))
        rows = shown[self._undoable(shown)].drop_duplicates(self._key) if len(shown) else shown
        options = [("— choisir —", 0)] + [(self._label(r), int(r[self._key])) for _, r in rows.iterrows()]
        current = self.choice.value if self.choice.value in {v for _, v in options} else 0
        self.choice.options = options
        self.choice.value = current
        self.button.disabled = len(options) == 1
        self._hide_question()

    def _row(self, key: int) -> pd.Series | None:
        found = self.frame[self.frame[self._key] == int(key)] if len(self.frame) else self.frame
        return None if found.empty else found.iloc[0]

    # ------------------------------------------------------------------ undoing

    def ask(self, key: int | None = None) -> None:
        """Ask the confirmation to undo line ``key`` (default: the chosen one); nothing is written yet."""
        key = int(key if key is not None else self.choice.value or 0)
        row = self._row(key) if key else None
        if row is None:
            self._say(f"Choisissez d'abord {self._what} dans la liste.", error=True)
            return
        self.pending = key
        self.question.value = f"<p><b>{self._question(row)}</b></p>"
        self.confirmation.layout.display = None
        self.status.value = ""

    def confirm(self) -> bool:
        """Undo the line asked by :meth:`ask`, then read the list again; a French error is shown, not raised."""
        key, self.pending = self.pending, None
        self._hide_question()
        row = None if key is None else self._row(key)
        if row is None:
            self._say(f"Choisissez d'abord {self._what}, puis confirmez.", error=True)
            return False
        try:
            done = self._undo(row)
        except CartoError as exc:
            self._say(html.escape(str(exc), quote=False), error=True)
            return False
        self.refresh()
        self._say(done)
        return True

    def cancel(self) -> None:
        """Give up the confirmation asked: nothing is changed."""
        self.pending = None
        self._hide_question()
        self._say("Rien n'a été changé.")

    def _hide_question(self) -> None:
        self.pending = None
        self.question.value = ""
        self.confirmation.layout.display = "none"

    def _say(self, text: str, *, error: bool = False) -> None:
        """Show a status line (``text`` is HTML, already escaped)."""
        colour = "#b00020" if error else "#1b5e20"
        self.status.value = f"<p style='color:{colour}'>{text}</p>"


def _named(name: object, actor: object) -> str:
    """« Léa Martin (n° 73) », escaped."""
    return f"« {_escaped(name)} » (n° {int(actor)})"


class MergesWidget(_UndoList):
    """The merges of the base, most recent first, and « Annuler cette fusion » after confirmation.

    Undoing a merge (:func:`carto.linkage.undo_merge`) gives both actors back
    exactly as they were; a pair merged from the review queue goes back to it.
    """

    _key = "fusion"
    _what = "une fusion"
    _action = "Annuler cette fusion"
    _confirm = "Oui, annuler la fusion"

    def _read(self) -> pd.DataFrame:
        return linkage.merges(self.engine)

    def _undoable(self, frame: pd.DataFrame) -> pd.Series:
        return ~frame["annulée"].astype(bool)

    def _search_text(self, frame: pd.DataFrame) -> pd.Series:
        return (frame["nom conservé"].astype(object).fillna("") + " " + frame["nom absorbé"].astype(object).fillna("")
                + " " + frame["fusion"].astype(str) + " " + frame["conservé"].astype(str) + " "
                + frame["absorbé"].astype(str))

    def _counts(self, frame: pd.DataFrame) -> str:
        if frame.empty:
            return "<b>Aucune fusion</b> dans cette base"
        undone = int(frame["annulée"].sum())
        return (f"<b>{_fr.count(len(frame), 'fusion')}</b>, dont "
                f"{_fr.count(undone, 'annulée', 'annulées')}")

    def _display(self, frame: pd.DataFrame) -> pd.DataFrame:
        state = [f"annulée le {_shown(when)}" if undone else "en vigueur"
                 for undone, when in zip(frame["annulée"], frame["annulée le"])]
        return pd.DataFrame({
            "n°": frame["fusion"], "le": frame["le"],
            "acteur gardé": [f"{_shown(n)} (n° {int(i)})" for n, i in zip(frame["nom conservé"], frame["conservé"])],
            "acteur fondu": [f"{_shown(n)} (n° {int(i)})" for n, i in zip(frame["nom absorbé"], frame["absorbé"])],
            "méthode": frame["méthode"], "règle": frame["règle"],
            "score": ["" if _missing(x) else _fr.decimal(float(x)) for x in frame["score"]],
            "par": frame["par"], "état": state,
        })

    def _label(self, row: pd.Series) -> str:
        return (f"n° {int(row['fusion'])} — {_shown(row['nom conservé'])} ← {_shown(row['nom absorbé'])} "
                f"({_shown(row['le'])})")

    def _question(self, row: pd.Series) -> str:
        return (f"Annuler la fusion n° {int(row['fusion'])} ? {_named(row['nom conservé'], row['conservé'])} et "
                f"{_named(row['nom absorbé'], row['absorbé'])} redeviendront deux acteurs, chacun avec ses "
                "participations, inscriptions et relations d'avant la fusion.")

    def _undo(self, row: pd.Series) -> str:
        linkage.undo_merge(self.engine, int(row["fusion"]), who=self.who)
        return (f"Fusion n° {int(row['fusion'])} annulée : {_named(row['nom conservé'], row['conservé'])} et "
                f"{_named(row['nom absorbé'], row['absorbé'])} sont de nouveau deux acteurs.")


def merges_widget(engine: sa.Engine, *, who: str | None = None, limit: int = 20) -> MergesWidget:
    """The merges of the base, with « Annuler cette fusion » (after confirmation), for a notebook.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    who : str, optional
        Name written in the audit log with each undo.
    limit : int
        Merges shown in the table (the most recent; the search finds the others).

    Examples
    --------
    >>> from carto import store
    >>> w = merges_widget(store.init_base("sqlite://"))
    >>> w.title.value, w.button.disabled
    ('<p><b>Aucune fusion</b> dans cette base.</p>', True)
    """
    return MergesWidget(engine, who=who, limit=limit)


class AttachmentsWidget(_UndoList):
    """The rows the import attached to a known actor (same e-mail, SIREN, RNA…), and « Détacher cette ligne ».

    Detaching (:func:`carto.linkage.detach`) gives the row an actor of its own
    again, with what it brings; both actors are noted as different.
    """

    _key = "enregistrement"
    _what = "une ligne"
    _action = "Détacher cette ligne"
    _confirm = "Oui, détacher la ligne"

    def _read(self) -> pd.DataFrame:
        frame = linkage.attachments(self.engine)
        return frame.sort_values(["lot", "enregistrement"], ascending=False, ignore_index=True)

    def _search_text(self, frame: pd.DataFrame) -> pd.Series:
        return (frame["nom"].astype(object).fillna("") + " " + frame["fichier"].astype(object).fillna("") + " "
                + frame["enregistrement"].astype(str) + " " + frame["acteur"].astype(str))

    def _counts(self, frame: pd.DataFrame) -> str:
        if frame.empty:
            return "<b>Aucune ligne rattachée</b> à un acteur déjà connu"
        n = frame["enregistrement"].nunique()
        return f"<b>{_fr.count(n, 'ligne rattachée', 'lignes rattachées')}</b> à l'import à un acteur déjà connu"

    def _display(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "n°": frame["enregistrement"], "fichier": frame["fichier"], "ligne": frame["ligne"],
            "rattachée à": [f"{_shown(n)} (n° {int(i)})" for n, i in zip(frame["nom"], frame["acteur"])],
            "par": frame["règle"], "lot d'import": frame["lot"],
        })

    def _label(self, row: pd.Series) -> str:
        return (f"n° {int(row['enregistrement'])} — {_shown(row['fichier'])}, ligne {_shown(row['ligne'])} → "
                f"{_shown(row['nom'])}")

    def _question(self, row: pd.Series) -> str:
        return (f"Détacher la ligne {_escaped(row['ligne'])} de « {_escaped(row['fichier'])} » "
                f"de {_named(row['nom'], row['acteur'])} ? Elle aura de nouveau son propre acteur, avec ses "
                "participations et inscriptions, et les deux seront notés comme différents.")

    def _undo(self, row: pd.Series) -> str:
        created = linkage.detach(self.engine, int(row["enregistrement"]), who=self.who)
        new = " et ".join(f"n° {int(i)}" for i in created)
        own = "son propre acteur" if len(created) == 1 else "ses propres acteurs"
        return (f"Ligne {_escaped(row['ligne'])} de « {_escaped(row['fichier'])} » détachée de "
                f"{_named(row['nom'], row['acteur'])} : elle a de nouveau {own} ({new}), que le rapprochement ne "
                "remettra plus avec lui.")


def attachments_widget(engine: sa.Engine, *, who: str | None = None, limit: int = 20) -> AttachmentsWidget:
    """The rows the import attached to a known actor, with « Détacher cette ligne » (after confirmation).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    who : str, optional
        Name written in the audit log with each detachment.
    limit : int
        Rows shown in the table (the latest imports first; the search finds the others).

    Examples
    --------
    >>> from carto import store
    >>> w = attachments_widget(store.init_base("sqlite://"))
    >>> w.title.value, w.button.disabled
    ('<p><b>Aucune ligne rattachée</b> à un acteur déjà connu.</p>', True)
    """
    return AttachmentsWidget(engine, who=who, limit=limit)


# --------------------------------------------------------------------------- member-tracking table

#: Columns of :func:`carto.communities.members` shown on screen (the XLSX export has them all).
MEMBER_TABLE_COLUMNS = ("acteur", "nom", "cercle", "depuis", "dernière activité", "participations", "commune",
                        "organisation", "sources", "à relancer", "notes")
_HEADERS = {"acteur": "n°"}
_NOTE_LENGTH = 60


def _missing(value: object) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _text(value: object) -> str | None:
    """Stripped text, None when missing or blank."""
    return None if _missing(value) else (str(value).strip() or None)


def _shown(value: object) -> str:
    """A value as read on screen (not escaped): dates jj/mm/aaaa, booleans oui/non, decimal comma, empty when missing.

    Examples
    --------
    >>> from datetime import date
    >>> _shown(date(2026, 11, 29)), _shown(0.6667), _shown(3.0), _shown(None), _shown(True)
    ('29/11/2026', '0,67', '3', '', 'oui')
    """
    if _missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "oui" if value else "non"
    if isinstance(value, date):  # datetime and pd.Timestamp too
        return f"{value:%d/%m/%Y}"
    if isinstance(value, float | np.floating):  # « 0,67 », never « 0.67 »; a whole number without decimals
        return str(int(value)) if float(value).is_integer() else _fr.decimal(float(value))
    return str(value)


def _keys(values: pd.Series) -> pd.Series:
    """Texts compared without accents, case or punctuation (:func:`carto.normalize.name_keys`; « » if empty)."""
    return normalize.name_keys(values.astype(object)).fillna("").astype(object)


def _sort_key(values: pd.Series) -> pd.Series:
    """Key sorting dates as dates and texts without regard to accents or case."""
    present = values.dropna()
    if present.empty or values.dtype == bool or pd.api.types.is_numeric_dtype(values.dtype):
        return values
    if isinstance(present.iloc[0], date):
        return pd.to_datetime(values, errors="coerce")
    return _keys(values)


def _circle_cell(row: pd.Series) -> str:
    circle = row.get("cercle")
    if _missing(circle):
        return ""
    circle = int(circle)
    badge = (f"<span style='background:{communities.CIRCLE_TINTS.get(circle, '#eee')};padding:0 .5em;"
             f"border-radius:.6em'>{circle}</span>")
    if _missing(row.get("cercle imposé")):
        return badge
    when = _shown(row.get("imposé le"))
    tip = f"cercle imposé par {_shown(row.get('imposé par'))} le {when} : {_shown(row.get('raison'))}"
    return f"<span title=\"{html.escape(tip, quote=True)}\">{badge} ✎</span>"


def member_rows_html(rows: pd.DataFrame, *, columns: tuple[str, ...] = MEMBER_TABLE_COLUMNS,
                     sort: str | None = None, ascending: bool = True) -> str:
    """HTML table of members (rows of :func:`carto.communities.members`); every value is escaped.

    Parameters
    ----------
    rows : pandas.DataFrame
        Members to show.
    columns : tuple of str
        Columns shown, in order (those missing from ``rows`` are skipped).
    sort : str, optional
        Column marked as sorted (▲ ascending, ▼ descending).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"nom": ["<b>Léa</b>"], "cercle": [2], "à relancer": [True]})
    >>> text = member_rows_html(rows)
    >>> "&lt;b&gt;Léa&lt;/b&gt;" in text, "<b>Léa" in text, "oui" in text
    (True, False, True)
    """
    shown = [c for c in columns if c in rows.columns]
    if rows.empty:
        return "<p><i>Aucun membre ne correspond à ces critères.</i></p>"
    arrow = {True: " ▲", False: " ▼"}[bool(ascending)]
    head = "".join(f"<th style='text-align:left;padding:2px 8px;border-bottom:1px solid #888'>"
                   f"{html.escape(_HEADERS.get(c, c))}{arrow if c == sort else ''}</th>" for c in shown)
    lines = []
    for i, (_, row) in enumerate(rows.iterrows()):
        cells = []
        for c in shown:
            if c == "cercle":
                cell = _circle_cell(row)
            elif c == "notes" and len(_shown(row[c])) > _NOTE_LENGTH:
                full = _shown(row[c])
                cell = (f"<span title=\"{html.escape(full, quote=True)}\">"
                        f"{html.escape(full[:_NOTE_LENGTH - 1])}…</span>")
            elif c == "à relancer" and _shown(row[c]) == "oui":
                cell = "<b style='color:#b35900'>oui</b>"
            else:
                cell = html.escape(_shown(row[c]))
            cells.append(f"<td style='padding:2px 8px;vertical-align:top'>{cell}</td>")
        background = " style='background:#f6f6f6'" if i % 2 else ""
        lines.append(f"<tr{background}>{''.join(cells)}</tr>")
    return (f"<div style='overflow-x:auto'><table style='border-collapse:collapse;font-size:90%'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table></div>")


class MemberTable(widgets.VBox):
    """The jardiniers' tracking table of a community's members, with filters, sort, pages and edits.

    Shows the members of :func:`carto.communities.members` a page at a time; a
    jardinier filters them (cercle, thematic space, « à relancer », territory, search on
    name, e-mail or organisation, without regard to accents or case), sorts them, and
    edits one member: impose a cercle with a reason (or give it back to the
    computation), and write notes. Every edit is written by
    :func:`carto.communities.set_override` / :func:`carto.communities.set_notes`
    (with ``who`` in the audit log), then the table is read again from the base.

    The « Thème » filter keeps the actors of the space as everywhere else
    (:func:`carto.events.actor_themes`: the members map's « Thème » and the graph's
    ``theme`` give the same members). A territory typed as a code or a name that names
    one département, EPCI or commune (« 34 », « Hérault », « Sète »,
    :func:`carto.geo.match_territory`) keeps the members whose commune is in it;
    otherwise the members whose commune, EPCI or département name contains the words.

    The logic is in plain members the notebooks and tests can call:
    :attr:`filtered`, :attr:`page_rows`, :meth:`set_page`, :meth:`select`,
    :meth:`save`, :meth:`refresh`.
    """

    def __init__(self, engine: sa.Engine, community: str | int, *, who: str | None = None,
                 as_of: date | None = None, page_size: int = 25) -> None:
        if int(page_size) < 1:
            raise ConfigError(f"Nombre de lignes par page « {page_size} » invalide : donnez un entier d'au moins 1.")
        with engine.connect() as conn:
            row = find_community(conn, community)
        self.engine = engine
        self.community = row.slug
        self.community_name = row.name
        self.who = who
        self.as_of = as_of
        self.table = pd.DataFrame()
        self.page = 0
        self.selected: int | None = None
        self._drawing = False
        self._search_key = pd.Series(dtype=object)
        self._territory_key = pd.Series(dtype=object)
        self._scope: set[int] | None = None  # members of the chosen theme and territory (None: no such filter)
        self._territory_found = False
        wide = {"description_width": "initial"}
        labels = [(label, k) for k, label in communities.CIRCLE_LABELS.items()]
        self.title = widgets.HTML(f"<h3>Membres de la communauté {html.escape(str(row.name))}</h3>")
        self.counts = widgets.HTML()
        self.circle_filter = widgets.Dropdown(options=[("tous", 0), *labels], value=0, description="Cercle",
                                              style=wide)
        self.relaunch_filter = widgets.Checkbox(value=False, description="à relancer seulement", indent=False)
        self.territory = widgets.Text(description="Territoire", placeholder="34, Hérault, un EPCI, Sète…",
                                      style=wide)
        self.theme_filter = widgets.Dropdown(options=[("tous", None), *((name, slug) for slug, name in
                                                                        themes.theme_names().items())],
                                             value=None, description="Thème", style=wide)
        self.search = widgets.Text(description="Recherche", placeholder="nom, courriel ou organisation", style=wide)
        self.sort_by = widgets.Dropdown(options=[(_HEADERS.get(c, c), c) for c in MEMBER_TABLE_COLUMNS],
                                        value="cercle", description="Trier par", style=wide)
        self.sort_order = widgets.ToggleButtons(options=[("croissant", True), ("décroissant", False)], value=True)
        sizes = sorted({10, 25, 50, 100, int(page_size)})
        self.page_size = widgets.Dropdown(options=sizes, value=int(page_size), description="Lignes par page",
                                          style=wide)
        self.table_html = widgets.HTML()
        self.previous = widgets.Button(description="précédent", icon="chevron-left")
        self.next = widgets.Button(description="suivant", icon="chevron-right")
        self.page_label = widgets.HTML()
        self.member = widgets.Dropdown(description="Membre", style=wide, layout=widgets.Layout(width="32em"))
        self.member_info = widgets.HTML()
        self.circle_choice = widgets.Dropdown(options=[("calculé", 0), *labels], value=0,
                                              description="Cercle imposé", style=wide)
        self.reason = widgets.Text(description="Raison", placeholder="obligatoire pour imposer un cercle",
                                   style=wide, layout=widgets.Layout(width="32em"))
        self.notes = widgets.Textarea(description="Notes", style=wide, layout=widgets.Layout(width="40em"))
        self.save_button = widgets.Button(description="Enregistrer", button_style="primary", icon="save")
        self.status = widgets.HTML()
        for control in (self.circle_filter, self.relaunch_filter, self.search, self.sort_by, self.sort_order,
                        self.page_size):
            control.observe(self._on_view_change, names="value")
        for control in (self.territory, self.theme_filter):
            control.observe(self._on_scope_change, names="value")
        self.previous.on_click(lambda _: self.set_page(self.page - 1))
        self.next.on_click(lambda _: self.set_page(self.page + 1))
        self.member.observe(self._on_member, names="value")
        self.save_button.on_click(lambda _: self._on_save())
        super().__init__([
            self.title, self.counts,
            widgets.HBox([self.circle_filter, self.theme_filter, self.relaunch_filter]),
            widgets.HBox([self.territory, self.search]),
            widgets.HBox([self.sort_by, self.sort_order, self.page_size]),
            self.table_html,
            widgets.HBox([self.previous, self.page_label, self.next]),
            widgets.HTML("<h4>Modifier un membre</h4>"),
            self.member, self.member_info,
            widgets.HBox([self.circle_choice, self.reason]),
            self.notes, self.save_button, self.status,
        ])
        self.refresh()

    # ------------------------------------------------------------------ reading and filtering

    def refresh(self) -> None:
        """Read the members again from the base and redraw (filters, sort, page and selection kept)."""
        table = communities.members(self.engine, self.community, as_of=self.as_of)
        self.table = table
        self._search_key = _keys(table["nom"].astype(object).fillna("") + " "
                                       + table["courriel"].astype(object).fillna("") + " "
                                       + table["organisation"].astype(object).fillna(""))
        self._territory_key = _keys(table["commune"].astype(object).fillna("") + " | "
                                          + table["EPCI"].astype(object).fillna("") + " | "
                                          + table["département"].astype(object).fillna(""))
        self._scope = self._read_scope()
        if self.selected is not None and self._row(self.selected) is None:
            self.selected = None
        self._render()

    def _read_scope(self) -> set[int] | None:
        """The members of the chosen theme and of the territory typed, when it names one
        (:func:`carto.communities.members` with ``theme`` and ``territory``: the map's and the graph's actors)."""
        found = geo.match_territory(self.territory.value) if (self.territory.value or "").strip() else []
        self._territory_found = len(found) == 1
        territory = found[0].code if self._territory_found else None
        if territory is None and self.theme_filter.value is None:
            return None
        return set(communities.members(self.engine, self.community, as_of=self.as_of, theme=self.theme_filter.value,
                                       territory=territory)["acteur"])

    def _on_scope_change(self, _: object) -> None:
        self._scope = self._read_scope()
        self._on_view_change(None)

    @property
    def filtered(self) -> pd.DataFrame:
        """The members that pass the filters and the search, in the chosen order."""
        table = self.table
        if table.empty:
            return table
        keep = pd.Series(True, index=table.index)
        if self.circle_filter.value:
            keep &= (table["cercle"] == self.circle_filter.value).fillna(False).astype(bool)
        if self.relaunch_filter.value:
            keep &= table["à relancer"].astype(bool)
        if self._scope is not None:
            keep &= table["acteur"].isin(self._scope)
        words = [(self.search.value, self._search_key)]
        if not self._territory_found:  # a territory being typed, or several communes: the names that contain it
            words.append((self.territory.value, self._territory_key))
        for query, key in words:
            for word in _keys(pd.Series([query or ""])).iloc[0].split():
                keep &= key.str.contains(word, regex=False)
        rows = table[keep]
        order = pd.DataFrame({"key": _sort_key(rows[self.sort_by.value]), "name": _keys(rows["nom"])})
        order = order.sort_values(["key", "name"], ascending=[bool(self.sort_order.value), True],
                                  na_position="last", kind="stable")
        return rows.loc[order.index]

    @property
    def n_pages(self) -> int:
        """Number of pages of :attr:`filtered` (at least 1)."""
        return self._pages(len(self.filtered))

    @property
    def page_rows(self) -> pd.DataFrame:
        """The members on the current page."""
        return self._page_of(self.filtered)

    def _pages(self, n_rows: int) -> int:
        return max(1, math.ceil(n_rows / int(self.page_size.value)))

    def _page_of(self, filtered: pd.DataFrame) -> pd.DataFrame:
        size = int(self.page_size.value)
        return filtered.iloc[self.page * size:(self.page + 1) * size]

    def set_page(self, page: int) -> None:
        """Show page ``page`` (0 is the first; clamped to the pages there are)."""
        self.page = min(max(int(page), 0), self.n_pages - 1)
        self._render()

    def _row(self, actor_id: int) -> pd.Series | None:
        found = self.table[self.table["acteur"] == int(actor_id)] if len(self.table) else self.table
        return None if found.empty else found.iloc[0]

    def _on_view_change(self, _: object) -> None:
        self.page = 0
        self._render()

    def _render(self) -> None:
        filtered = self.filtered
        pages = self._pages(len(filtered))
        self.page = min(self.page, pages - 1)
        self.counts.value = self._counts_html(len(filtered))
        rows = self._page_of(filtered)
        self.table_html.value = member_rows_html(rows, sort=self.sort_by.value, ascending=self.sort_order.value)
        self.page_label.value = f"<span style='padding:0 1em'>page {self.page + 1} / {pages}</span>"
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= pages - 1
        options = [("— choisir un membre —", 0)]
        options += [(f"{_shown(r['nom'])} — n° {int(r['acteur'])}", int(r["acteur"])) for _, r in rows.iterrows()]
        if self.selected is not None and self.selected not in {v for _, v in options}:
            row = self._row(self.selected)
            options.insert(1, (f"{_shown(row['nom'])} — n° {self.selected}", self.selected))
        self._drawing = True  # new options reset the Dropdown's value: not the jardinier's choice
        try:
            self.member.options = options
            self.member.value = self.selected or 0
        finally:
            self._drawing = False
        self._show_member()

    def _counts_html(self, shown: int) -> str:
        table = self.table
        if table.empty:
            return ("<p>Aucun membre : les cercles n'ont pas encore été calculés "
                    "(<code>carto.communities.update_circles</code>).</p>")
        n = {k: int((table["cercle"] == k).fillna(False).sum()) for k in communities.CIRCLE_LABELS}
        total, relaunch = len(table), int(table["à relancer"].astype(bool).sum())
        parts = " · ".join(f"cercle {k} : {_fr.integer(v)}" for k, v in n.items())
        text = (f"<b>{_fr.integer(total)} membre{'s' if total > 1 else ''}</b> — {parts} — "
                f"à relancer : <b>{_fr.integer(relaunch)}</b>")
        if shown != total:
            text += f" — {_fr.integer(shown)} avec ces critères"
        return f"<p>{text}</p>"

    # ------------------------------------------------------------------ editing

    def select(self, actor_id: int | None) -> None:
        """Choose the member to edit (by actor id; None: no one) and fill the edit panel with their values."""
        if actor_id is not None and self._row(actor_id) is None:
            self._say(f"L'acteur n° {int(actor_id)} n'est pas membre de la communauté "
                      f"{html.escape(str(self.community_name))}.", error=True)
            return
        self.selected = None if actor_id is None else int(actor_id)
        self._render()

    def _on_member(self, change: dict) -> None:
        value = change["new"] or None
        if not self._drawing and value != self.selected:
            self.selected = value
            self._show_member()

    def _show_member(self) -> None:
        row = None if self.selected is None else self._row(self.selected)
        for control in (self.circle_choice, self.reason, self.notes, self.save_button):
            control.disabled = row is None
        if row is None:
            self.member_info.value = ""
            self.circle_choice.value, self.reason.value, self.notes.value = 0, "", ""
            return
        imposed = row["cercle imposé"]
        self.circle_choice.value = 0 if _missing(imposed) else int(imposed)
        self.reason.value = _text(row["raison"]) or ""
        self.notes.value = _text(row["notes"]) or ""
        computed = row["cercle calculé"]
        info = f"cercle calculé : {communities.CIRCLE_LABELS[int(computed)] if not _missing(computed) else 'aucun'}"
        if not _missing(imposed):
            info += (f" · cercle imposé par {html.escape(_shown(row['imposé par']))} le "
                     f"{_shown(row['imposé le'])}")
        info += f" · dernière activité : {_shown(row['dernière activité']) or 'aucune'}"
        self.member_info.value = f"<p><b>{html.escape(_shown(row['nom']))}</b> — {info}</p>"

    def _on_save(self) -> None:
        if self.selected is None:
            self._say("Choisissez d'abord un membre dans la liste.", error=True)
            return
        self.save(self.selected, circle=self.circle_choice.value or None, reason=self.reason.value,
                  notes=self.notes.value)

    def save(self, actor_id: int, *, circle: object = communities.KEEP, reason: str | None = None,
             notes: object = communities.KEEP) -> bool:
        """Write a jardinier's edit of a member, then read the table again.

        Only what changed is written (an unchanged override keeps its author and date). A
        :class:`~carto._errors.CartoError` is shown in French in :attr:`status`, not raised.

        Parameters
        ----------
        actor_id : int
            The member.
        circle : {1, 2, 3} or None
            Cercle to impose; None gives the member back to the computed cercle. Not given: unchanged.
        reason : str, optional
            Why the cercle is imposed (required to impose one). Not given: the current reason.
        notes : str or None
            The jardiniers' notes (empty removes them). Not given: unchanged.

        Returns
        -------
        bool
            True when the edit was written (or there was nothing to change), False on an error.
        """
        row = self._row(actor_id)
        name = _shown(row["nom"]) if row is not None else f"acteur n° {int(actor_id)}"
        try:
            done = communities.edit_member(self.engine, self.community, int(actor_id), circle=circle, reason=reason,
                                           notes=notes, who=self.who)
        except CartoError as exc:
            self._say(f"{html.escape(name)} : {html.escape(str(exc))}", error=True)
            return False
        if not done:
            self._say(f"{html.escape(name)} : rien à enregistrer, aucune modification.")
            return True
        self.refresh()
        self._say(f"{html.escape(name)} : {' ; '.join(done)}.")
        return True

    def _say(self, text: str, *, error: bool = False) -> None:
        """Show a status line (``text`` is HTML, already escaped)."""
        colour = "#b00020" if error else "#1b5e20"
        self.status.value = f"<p style='color:{colour}'>{text}</p>"


def member_table(engine: sa.Engine, community: str | int, *, who: str | None = None, as_of: date | None = None,
                 page_size: int = 25) -> MemberTable:
    """The member-tracking table of a community, for a notebook.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The base.
    community : str or int
        Slug, name or id of the community (« biodiversite » or « Biodiversité »).
    who : str, optional
        Name written in the audit log with each edit (default: the ``CARTO_USER`` setting).
    as_of : datetime.date, optional
        Date against which « à relancer » is judged (default today).
    page_size : int
        Members per page.

    Examples
    --------
    >>> from carto import communities, store
    >>> engine = store.init_base("sqlite://")
    >>> _ = communities.create_communities(engine)
    >>> w = member_table(engine, "biodiversite", who="Camille")
    >>> w.title.value, len(w.filtered), w.page_label.value
    ('<h3>Membres de la communauté Biodiversité</h3>', 0, "<span style='padding:0 1em'>page 1 / 1</span>")
    """
    return MemberTable(engine, community, who=who, as_of=as_of, page_size=page_size)
