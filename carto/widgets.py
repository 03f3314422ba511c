"""ipywidgets for the notebooks: the duplicate review queue (more widgets come with later issues).

Widgets only display and call the domain modules; every decision is written by
:mod:`carto.linkage`, with its audit row.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd
import sqlalchemy as sa

from carto import linkage

__all__ = ["ReviewWidget", "review_widget"]

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
                            f"{len(self.queue)} paire(s) à examiner</h3>"
                            f"<p>Score : {float(row['score']):.2f}</p>")
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
