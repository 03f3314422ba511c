"""The report of one import (:class:`ImportReport`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields as dc_fields

from carto import _fr


@dataclass
class ImportReport:
    """What one import did. ``lus = nouveaux + mis_a_jour + inchanges + en_quarantaine``.

    Examples
    --------
    >>> r = ImportReport(file="a.csv", source="lreav", lus=3, nouveaux=1, mis_a_jour=1, inchanges=0,
    ...                  en_quarantaine=1)
    >>> print(r)
    a.csv : 3 lignes lues, 2 importées (1 nouvelles, 1 mises à jour, 0 inchangées), 1 en quarantaine
    """

    file: str
    source: str
    lus: int = 0
    nouveaux: int = 0
    mis_a_jour: int = 0
    inchanges: int = 0
    en_quarantaine: int = 0
    avertissements: int = 0
    acteurs: int = 0
    rattachements: int = 0
    evenements: int = 0
    participations: int = 0
    inscriptions: int = 0
    accords: int = 0
    seconds: float = 0.0
    batch_id: int | None = None

    @property
    def importees(self) -> int:
        """Rows imported (not quarantined)."""
        return self.nouveaux + self.mis_a_jour + self.inchanges

    def __str__(self) -> str:
        text = (
            f"{self.file} : {_fr.integer(self.lus)} lignes lues, {_fr.integer(self.importees)} importées "
            f"({_fr.integer(self.nouveaux)} nouvelles, {_fr.integer(self.mis_a_jour)} mises à jour, "
            f"{_fr.integer(self.inchanges)} inchangées), {_fr.integer(self.en_quarantaine)} en quarantaine"
        )
        extra = [
            f"{_fr.integer(n)} {label}"
            for n, label in ((self.acteurs, "acteurs créés"),
                             (self.rattachements, "lignes rattachées par courriel, SIREN, RNA ou personne de contact"),
                             (self.evenements, "événements écrits"),
                             (self.participations, "participations écrites"),
                             (self.inscriptions, "inscriptions écrites"),
                             (self.accords, "déclarations d'accord pour la carte écrites"))
            if n
        ]
        return text + (" ; " + ", ".join(extra) if extra else "")

    @classmethod
    def combine(cls, reports: Sequence[ImportReport], *, file: str) -> ImportReport:
        """Sum of several reports of one source (e.g. every sign-in sheet)."""
        total = cls(file=file, source=reports[0].source if reports else "")
        for report in reports:
            for f in dc_fields(cls):
                if f.name not in ("file", "source", "batch_id"):
                    setattr(total, f.name, getattr(total, f.name) + getattr(report, f.name))
        return total
