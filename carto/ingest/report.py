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
    a.csv : 3 lignes lues, 2 importées (1 nouvelle, 1 mise à jour, 0 inchangée), 1 en quarantaine
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
        c = _fr.count
        text = (
            f"{self.file} : {c(self.lus, 'ligne lue', 'lignes lues')}, {c(self.importees, 'importée', 'importées')} "
            f"({c(self.nouveaux, 'nouvelle', 'nouvelles')}, {c(self.mis_a_jour, 'mise à jour', 'mises à jour')}, "
            f"{c(self.inchanges, 'inchangée', 'inchangées')}), {_fr.integer(self.en_quarantaine)} en quarantaine"
        )
        extra = [
            c(n, one, many)
            for n, one, many in (
                (self.acteurs, "acteur créé", "acteurs créés"),
                (self.rattachements, "ligne rattachée par courriel, SIREN, RNA ou personne de contact",
                 "lignes rattachées par courriel, SIREN, RNA ou personne de contact"),
                (self.evenements, "événement écrit", "événements écrits"),
                (self.participations, "participation écrite", "participations écrites"),
                (self.inscriptions, "inscription écrite", "inscriptions écrites"),
                (self.accords, "déclaration d'accord pour la carte écrite", "déclarations d'accord pour la carte écrites"))
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
