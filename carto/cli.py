"""The ``carto`` command (messages in French).

Examples
--------
>>> from carto.cli import build_parser
>>> build_parser().parse_args(["demo", "--size", "500"]).size
500
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from carto import __version__, _fr, communities, demo, events, export, ingest, linkage, maps, printmap, privacy, store
from carto._errors import CartoError
from carto.settings import get_settings

__all__ = ["build_parser", "main"]


#: argparse's own messages, in French (those that list names: :func:`_french_argparse`).
_ARGPARSE_FR = {
    "invalid int value:": "nombre entier invalide :",
    "invalid float value:": "nombre décimal invalide :",
    "invalid choice:": "choix invalide :",
    "(choose from": "(choix possibles :",
    "expected one argument": "une valeur est attendue",
    "expected at least one argument": "au moins une valeur est attendue",
    "ambiguous option:": "option ambiguë :",
    "could match": "peut désigner",
    "not allowed with argument": "incompatible avec l'argument",
}
#: argparse messages followed by a list of names → (separator of the list, singular, plural).
_ARGPARSE_LISTS = {
    "unrecognized arguments:": (" ", "option inconnue :", "options inconnues :"),
    "the following arguments are required:": (", ", "argument obligatoire manquant :",
                                              "arguments obligatoires manquants :"),
}


def _french_argparse(message: str) -> str:
    """An argparse error message in French, singular or plural as the names listed.

    Examples
    --------
    >>> _french_argparse("unrecognized arguments: --vite"), _french_argparse("unrecognized arguments: -x -y")
    ('option inconnue : --vite', 'options inconnues : -x -y')
    >>> _french_argparse("the following arguments are required: fichier, --source")
    'arguments obligatoires manquants : fichier, --source'
    >>> _french_argparse("argument --size: invalid int value: 'dix'")
    "argument --size : nombre entier invalide : 'dix'"
    """
    for english, (sep, one, many) in _ARGPARSE_LISTS.items():
        head, found, names = message.partition(english)
        if found:
            listed = [n for n in names.strip().split(sep.strip() or None) if n.strip()]
            message = f"{head}{one if len(listed) <= 1 else many}{names}"
    for english, french in _ARGPARSE_FR.items():
        message = message.replace(english, french)
    return re.sub(r"^argument (\S+): ", r"argument \1 : ", message)


def _table_text(frame: pd.DataFrame) -> str:
    """A table as a French reader reads it in a terminal: decimal comma, dates jj/mm/aaaa, empty when missing.

    Examples
    --------
    >>> import pandas as pd
    >>> from datetime import date, datetime
    >>> _table_text(pd.DataFrame({"score": [1.0, 0.875], "le": [date(2026, 11, 29), None],
    ...                           "à": [datetime(2026, 1, 5, 9, 30), None]})).split()
    ['score', 'le', 'à', '1,00', '29/11/2026', '05/01/2026', '0,88']
    """
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            shown[column] = [_fr.date(v) if not pd.isna(v) else "" for v in values]
        elif values.dtype == object:
            shown[column] = [_fr.date(v) if isinstance(v, date) else v for v in values]
    return shown.to_string(index=False, na_rep="", float_format=lambda x: _fr.decimal(x, 2))


class _FrenchFormatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
        return super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)


class _FrenchParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _FrenchFormatter)
        super().__init__(*args, **kwargs, add_help=False)  # argparse's own -h is in English
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        self.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")

    def error(self, message: str) -> None:  # type: ignore[override]
        message = _french_argparse(message)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``carto`` command."""
    parser = _FrenchParser(
        prog="carto",
        description="Terreau : cartographie des acteurs des communautés d'engagement citoyen.",
    )
    parser.add_argument(
        "--version", action="version", version=f"carto {__version__}", help="afficher la version"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="afficher la progression")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMANDE", parser_class=_FrenchParser, title="commandes"
    )

    init = _command(
        sub, "init", help="créer la base, ou la mettre à jour",
        description="Crée la base (SQLite par défaut, PostgreSQL par URL) ou met à jour son schéma, "
                    "après une copie de sauvegarde.",
    )
    init.add_argument("--sans-sauvegarde", dest="backup", action="store_false",
                      help="mettre à jour le schéma sans copie de sauvegarde (base déjà sauvegardée à la main)")

    demo = sub.add_parser(
        "demo", help="générer la démonstration complète dans un dossier",
        description="Génère les sources synthétiques, la base de démonstration, la carte et le résumé.",
    )
    demo.add_argument("--out", metavar="DOSSIER", default=None,
                      help="dossier de sortie (défaut : CARTO_OUT_DIR, sinon out)")
    demo.add_argument("--size", metavar="N", type=int, default=6000,
                      help="nombre de personnes synthétiques (défaut : 6000)")
    demo.add_argument("--seed", metavar="S", type=int, default=None,
                      help="graine du générateur (défaut : CARTO_SEED, sinon 20190901)")
    demo.add_argument("--base", metavar="URL",
                      help="URL de la base de démonstration (défaut : DOSSIER/base-demo.sqlite)")
    demo.add_argument("--sans-png", dest="png", action="store_false",
                      help="ne faire ni les images PNG ni les PDF des cartes (plus rapide)")
    _add_base_commands(sub)
    _add_community_commands(sub)
    _add_map_command(sub)
    return parser


def _command(sub: argparse._SubParsersAction, name: str, **texts: str) -> argparse.ArgumentParser:
    """A sub-command working on a base: its parser (French ``help`` and ``description``), with ``--base``."""
    command = sub.add_parser(name, **texts)
    command.add_argument(
        "--base", metavar="URL",
        help="URL de la base (défaut : CARTO_DATABASE_URL, sinon data/base.sqlite)",
    )
    return command


def _add_base_commands(sub: argparse._SubParsersAction) -> None:
    """Sub-commands working on an existing base: import, quarantine, link, merges, attachments."""
    from carto.sources import builtin_sources

    imp = _command(
        sub, "import", help="importer un fichier source dans la base",
        description="Importe un fichier CSV/XLSX (ou un dossier de feuilles d'émargement) : lecture, "
                    "normalisation, validation, quarantaine des lignes fautives. Réimporter le même "
                    "fichier ne change rien.",
    )
    imp.add_argument("source", metavar="SOURCE", nargs="?",
                     help=f"source intégrée : {', '.join(builtin_sources())}")
    imp.add_argument("fichier", metavar="FICHIER", help="fichier (ou dossier) à importer")
    imp.add_argument("--mapping", metavar="FICHIER.toml",
                     help="au lieu de SOURCE : le fichier de correspondance d'une nouvelle source")

    quarantine = _command(
        sub, "quarantine", help="lister les lignes en quarantaine et leur raison",
        description="Liste les lignes mises en quarantaine (fichier, ligne, raison). Corrigez le "
                    "fichier puis réimportez-le : les lignes corrigées sortent de la quarantaine.",
    )
    quarantine.add_argument("--source", metavar="SOURCE", help="seulement cette source")

    link = _command(
        sub, "link", help="rapprocher les doublons (règles exactes puis Splink)",
        description="Compare les enregistrements importés depuis le dernier rapprochement avec toute la base, "
                    "fusionne les doublons sûrs et met les quelques paires douteuses qui en valent la peine dans "
                    "la file de revue (carnet 01, ou « carto merges review »). Chaque fusion est réversible.",
    )
    link.add_argument("--tout", action="store_true", help="tout rapprocher de nouveau, pas seulement les nouveautés")
    link.add_argument("--reentrainer", action="store_true",
                      help="réentraîner le modèle sur toute la base (l'ancien est gardé ; l'écart est affiché)")

    merges = _command(
        sub, "merges", help="lister ou annuler les fusions",
        description="« carto merges list » liste les fusions ; « carto merges undo ID » en annule une ; "
                    "« carto merges review » passe en revue les paires douteuses dans le terminal.",
    )
    merges.add_argument("action", metavar="ACTION", choices=["list", "undo", "review"], help="list, undo ou review")
    merges.add_argument("id", metavar="ID", type=int, nargs="?", help="numéro de la fusion à annuler")

    attached = _command(
        sub, "attachments", help="lister ou défaire les rattachements faits à l'import (même courriel, SIREN, RNA, "
                            "personne de contact)",
        description="« carto attachments list [--acteur ID] » liste les lignes sources que l'import a rattachées "
                    "à un acteur déjà connu ; « carto attachments undo ID » rend à la ligne ID son propre acteur "
                    "(les deux acteurs sont alors déclarés différents).",
    )
    attached.add_argument("action", metavar="ACTION", choices=["list", "undo"], help="list ou undo")
    attached.add_argument("id", metavar="ID", type=int, nargs="?", help="numéro de la ligne source à détacher")
    attached.add_argument("--acteur", type=int, metavar="ID", help="seulement les lignes de cet acteur")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date invalide « {text} » : écrivez-la AAAA-MM-JJ, "
                                         "par exemple 2026-03-31") from None


#: How a community, a theme and a territory are given (the same everywhere).
_COMMUNITY_HELP = "identifiant ou nom : biodiversite, « Biodiversité »"
_THEME_HELP = "identifiant ou nom, séparés par des virgules : mer, « Mer et littoral »"
_TERRITORY_HELP = ("départements, EPCI ou communes par code ou nom, séparés par des virgules : 34, Hérault, "
                   "243400017, Sète")


def _values(text: str | None) -> list[str] | None:
    """The values of a comma-separated option (None when not given)."""
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


_CONSENT_DESCRIPTION = (
    "Sans --oui ni --non : affiche les déclarations de la personne (date, réponse, preuve). Avec --oui ou --non "
    "et --preuve : enregistre sa réponse, datée de --date (défaut : maintenant). La déclaration la plus récente "
    "l'emporte ; sans « oui », la personne n'apparaît sur les cartes que comptée dans sa commune."
)


def _add_community_commands(sub: argparse._SubParsersAction) -> None:
    """Sub-commands of issue 4: communities, cercles, member-tracking table."""
    comm = _command(
        sub, "communities", help="créer ou lister les communautés et leur binôme",
        description="« carto communities init [--fichier F.toml] » crée (ou met à jour) les communautés décrites "
                    "dans le fichier (par défaut les trois communautés pilotes) ; « carto communities list » "
                    "les liste.",
    )
    comm.add_argument("action", metavar="ACTION", choices=["init", "list"], help="init ou list")
    comm.add_argument("--fichier", metavar="F.toml", default="communautes.toml",
                      help="fichier de configuration des communautés (défaut : les communautés pilotes)")

    circles = _command(
        sub, "circles", help="calculer les cercles des membres des communautés",
        description="Calcule le cercle de chaque membre (1 engagé·e, 2 impliqué·e, 3 informé·e) à partir des "
                    "participations et des inscriptions, selon les règles de cercles.toml, et l'écrit dans la "
                    "base avec l'historique des changements. Avec --date dans le passé : affiche les cercles "
                    "à cette date, sans rien écrire (évaluation).",
    )
    circles.add_argument("--community", metavar="COMMUNAUTÉ", help=f"seulement cette communauté ({_COMMUNITY_HELP})")
    circles.add_argument("--date", metavar="AAAA-MM-JJ", type=_date, help="date du calcul (défaut : aujourd'hui)")
    circles.add_argument("--regles", metavar="F.toml", default="cercles.toml",
                         help="fichier des règles des cercles (défaut : celles de Terreau)")

    memb = _command(
        sub, "members", help="écrire le tableau de suivi des membres d'une communauté (XLSX)",
        description="Écrit le tableau de suivi des membres (cercle, depuis quand, dernière activité, "
                    "participations, sources, commune, organisation, notes…) dans un classeur Excel, avec une "
                    "feuille de définitions.",
    )
    memb.add_argument("--community", metavar="COMMUNAUTÉ", required=True, help=f"la communauté ({_COMMUNITY_HELP})")
    memb.add_argument("--out", metavar="FICHIER.xlsx", required=True, help="classeur à écrire")
    memb.add_argument("--date", metavar="AAAA-MM-JJ", type=_date,
                      help="date à laquelle « à relancer » est jugé (défaut : aujourd'hui)")
    memb.add_argument("--anciens", action="store_true", help="inclure les anciens membres (sortis des cercles)")
    memb.add_argument("--themes", metavar="THÈMES", help=f"seulement les membres de ces espaces thématiques ({_THEME_HELP})")
    memb.add_argument("--territoire", metavar="TERRITOIRES", help=f"seulement les membres de ces territoires ({_TERRITORY_HELP})")

    consent = _command(sub, "consent", help="enregistrer ou consulter l'accord d'une personne pour apparaître sur "
                                            "les cartes", description=_CONSENT_DESCRIPTION)
    consent.add_argument("acteur", metavar="ACTEUR", type=int, help="identifiant de la personne (colonne « acteur »)")
    answer = consent.add_mutually_exclusive_group()
    answer.add_argument("--oui", dest="accord", action="store_const", const=True, help="elle accepte")
    answer.add_argument("--non", dest="accord", action="store_const", const=False, help="elle refuse ou retire son accord")
    consent.add_argument("--preuve", metavar="TEXTE", help="où sa réponse est écrite (document, date, classement)")
    consent.add_argument("--date", metavar="AAAA-MM-JJ", type=_date, help="jour où elle l'a dit (défaut : maintenant)")


def _add_map_command(sub: argparse._SubParsersAction) -> None:
    """``carto map``: the maps of a community, as offline HTML (and PNG, PDF)."""
    carte = _command(
        sub, "map", help="dessiner les cartes d'une communauté (HTML hors ligne, PNG, PDF A4)",
        description="Dessine les cartes d'une communauté : « membres » (par cercle ; une personne n'apparaît "
                    "que si elle l'a accepté, sinon comptée dans sa commune), « evenements » (par type et "
                    "affluence, une couche par année), « zones-blanches » (membres pour 10 000 habitants, "
                    "territoires sans membre). Plusieurs cartes : un fichier chacune (FICHIER-membres.html…).",
    )
    carte.add_argument("--community", metavar="COMMUNAUTÉ", required=True, help=f"la communauté ({_COMMUNITY_HELP})")
    carte.add_argument("--layers", metavar="CARTES", default="membres",
                       help=f"cartes, séparées par des virgules, parmi : {', '.join(maps.MAP_KINDS)} "
                            "(défaut : membres)")
    carte.add_argument("--niveau", choices=["commune", "epci", "departement"], default="epci",
                       help="découpage des zones blanches (défaut : epci)")
    for flag, metavar, what in (("--cercles", "1,2", "ces cercles (1, 2, 3)"),
                                ("--types", "TYPES", "ces types (personne, organisation)"),
                                ("--sources", "SOURCES", "les membres venus de ces sources (lreav, emargement…)"),
                                ("--themes", "THÈMES", f"ces espaces thématiques ({_THEME_HELP})")):
        carte.add_argument(flag, metavar=metavar, help=f"carte des membres : seulement {what}, séparés par des "
                                                       "virgules (défaut : tous ; la page garde ses filtres à cocher)")
    carte.add_argument("--out", metavar="FICHIER.html", required=True, help="page HTML à écrire")
    carte.add_argument("--png", action="store_true", help="aussi une image PNG (Chromium)")
    carte.add_argument("--pdf", action="store_true", help="aussi un PDF A4 paysage (Chromium)")
    carte.add_argument("--a4", action="store_true",
                       help="aussi une carte A4 paysage pour impression, sans navigateur : FICHIER-a4.pdf "
                            "(vectoriel) et FICHIER-a4.png, avec titre, légende, date, échelle ; aucune "
                            "personne nommée")
    carte.add_argument("--date", metavar="AAAA-MM-JJ", type=_date, help="date des données (défaut : aujourd'hui)")


def _run_map(engine: sa.Engine, args: argparse.Namespace) -> None:
    kinds = [k.strip() for k in args.layers.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in maps.MAP_KINDS]
    if unknown or not kinds:
        named = (f"Carte inconnue : {unknown[0]}" if len(unknown) == 1 else
                 f"Cartes inconnues : {', '.join(unknown)}" if unknown else "Aucune carte demandée")
        raise CartoError(f"{named} ; choisissez parmi {', '.join(maps.MAP_KINDS)}.")
    out = Path(args.out)
    with engine.connect() as conn:
        name = events.find_community(conn, args.community).name
    for kind in kinds:
        options = {"level": args.niveau} if kind == "zones-blanches" else {}
        filters = {key: _values(value) for key, value in (
            ("circles", args.cercles), ("kinds", args.types), ("sources", args.sources), ("themes", args.themes))
            if value} if kind == "membres" else {}
        fmap = maps.community_map(engine, args.community, kind, as_of=args.date, **options, **filters)
        path = out if len(kinds) == 1 else out.with_name(f"{out.stem}-{kind}{out.suffix or '.html'}")
        written = export.save_map(fmap, path, title=f"Carte {kind} — {name}", png=args.png, pdf=args.pdf)
        if args.a4:
            fig = printmap.print_map(engine, args.community, kind, as_of=args.date, **options)
            written.update(export.save_print_map(fig, path.with_name(f"{path.stem}-a4")))
        print(f"Carte « {kind} » : " + ", ".join(str(p) for p in written.values()))


def _run_communities(engine: sa.Engine, args: argparse.Namespace) -> None:
    if args.command == "communities":
        listed = (communities.create_communities(engine, args.fichier) if args.action == "init"
                  else communities.list_communities(engine))
        print(_table_text(listed) if len(listed) else
              "Aucune communauté : créez-les avec « carto communities init ».")
    elif args.command == "circles":
        rules = communities.load_rules(args.regles)
        today = date.today()
        if args.date is not None and args.date > today:
            raise CartoError(f"Date {args.date:%d/%m/%Y} dans le futur : les cercles se calculent au plus tard "
                             "aujourd'hui.")
        if args.date is None or args.date == today:
            events.classify_events(engine)
            print(communities.update_circles(engine, args.community, rules=rules))
            return
        listed = communities.list_communities(engine)
        names = dict(zip(listed["communauté"], listed["nom"], strict=True))
        if args.community:
            with engine.connect() as conn:
                row = events.find_community(conn, args.community)
            names = {row.slug: row.name}
        print(f"Cercles au {args.date:%d/%m/%Y} (calcul à une date passée : rien n'est écrit) :")
        for slug, name in names.items():
            counts = communities.circles(engine, slug, as_of=args.date, rules=rules)["cercle"].value_counts()
            print(f"  {name} : " + ", ".join(f"cercle {c} : {_fr.integer(int(counts.get(c, 0)))}"
                                             for c in store.CIRCLES))
    else:
        table = communities.members(engine, args.community, as_of=args.date, former=args.anciens,
                                    theme=_values(args.themes), territory=_values(args.territoire))
        with engine.connect() as conn:
            name = events.find_community(conn, args.community).name
        path = export.save_members_xlsx(table, Path(args.out), title=f"Membres de la communauté {name}",
                                        as_of=args.date or date.today())
        print(f"{_fr.count(len(table), 'membre')} de la communauté {name} écrit{'s' if len(table) > 1 else ''} "
              f"dans {path}.")


def _run_consent(engine: sa.Engine, args: argparse.Namespace) -> None:
    if args.accord is not None:
        privacy.state_map_consent(engine, args.acteur, args.accord, proof=args.preuve or "", stated_at=args.date)
    history = privacy.consent_history(engine, args.acteur)
    if history.empty:
        print(f"Aucune déclaration pour l'acteur {args.acteur} : il n'apparaît sur les cartes que compté dans "
              "sa commune.")
        return
    shown = history[["déclaré le", "accord", "preuve", "enregistré par", "enregistré le"]]
    print(_table_text(shown))
    print(f"Réponse qui compte : {history['accord'].iloc[-1]} (la plus récente).")


def _review_in_terminal(engine: sa.Engine) -> None:
    """The review queue, pair by pair, answered at the prompt (m : même, d : différents, p : passer, q : quitter)."""
    queue = linkage.review_queue(engine)
    print(f"{_fr.count(len(queue), 'paire')} à revoir" + (f", {linkage.review_time(len(queue))}." if len(queue)
                                                         else "."))
    answers = {"m": "meme", "d": "differents", "p": "passer"}
    for _, pair in queue.iterrows():
        print(f"\nPaire {pair['paire']} ({pair['type']}, probabilité {pair['probabilité']}) : "
              f"{pair['correspondances']}")
        for label in ("nom", "e-mail", "téléphone", "code postal", "commune", "organisation", "SIRET", "RNA"):
            left, right = pair.get(f"{label} A"), pair.get(f"{label} B")
            if not (pd.isna(left) and pd.isna(right)):
                print(f"  {label:<13} A : {'' if pd.isna(left) else left:<40} B : {'' if pd.isna(right) else right}")
        while True:
            try:
                answer = input("Même acteur (m), différents (d), passer (p), quitter (q) ? ").strip().lower()
            except EOFError:
                return
            if answer == "q":
                return
            if answer in answers:
                merged = linkage.decide(engine, int(pair["paire"]), answers[answer])
                print(f"  → fusionnés (fusion {merged})" if merged else
                      "  → remise en fin de file" if answer == "p" else "  → notés comme différents")
                break


def _tell_upgrade(engine: sa.Engine, args: argparse.Namespace) -> None:
    """Say on stderr that the base's schema was just upgraded, and where its backup copy is (once with -v)."""
    upgrade = store.last_upgrade(engine)
    if upgrade is not None and not args.verbose:  # with -v, the log line of carto.store says it
        print(f"{upgrade}.", file=sys.stderr)


def _run_on_base(args: argparse.Namespace) -> int:
    engine = store.open_base(args.base or get_settings().database_url)
    _tell_upgrade(engine, args)
    try:
        if args.command in {"communities", "circles", "members"}:
            _run_communities(engine, args)
        elif args.command == "consent":
            _run_consent(engine, args)
        elif args.command == "map":
            _run_map(engine, args)
        elif args.command == "import":
            if bool(args.source) == bool(args.mapping):
                raise CartoError("Indiquez soit une SOURCE intégrée, soit --mapping FICHIER.toml (pas les deux).")
            print(ingest.import_file(engine, args.fichier, source=args.source, mapping=args.mapping,
                                     verbose=args.verbose))
        elif args.command == "quarantine":
            rows = ingest.quarantine(engine, source=args.source)
            print(f"{_fr.count(len(rows), 'ligne')} en quarantaine." if len(rows)
                  else "Aucune ligne en quarantaine.")
            for reason in rows["raison"]:
                print(f"  {reason}")
        elif args.command == "link":
            print(linkage.link(engine, full=args.tout, retrain=args.reentrainer, verbose=args.verbose))
            if args.reentrainer:
                for kind in ("personne", "organisation"):
                    drift = linkage.model_drift(engine, kind).head(5)
                    if len(drift):
                        print(f"Plus grands écarts du modèle ({kind}s) :")
                        print(drift.to_string(index=False, float_format=lambda x: _fr.decimal(x, 3)))
        elif args.command == "merges" and args.action == "review":
            _review_in_terminal(engine)
        elif args.command == "attachments":
            if args.action == "list":
                listed = linkage.attachments(engine, actor_id=args.acteur)
                print(_table_text(listed) if len(listed) else "Aucun rattachement.")
            else:
                if args.id is None:
                    raise CartoError("Indiquez le numéro de la ligne source : carto attachments undo ID "
                                     "(voir carto attachments list).")
                created = linkage.detach(engine, args.id)
                print(f"Ligne source {args.id} détachée : nouvel acteur {', '.join(map(str, created))}, "
                      "déclaré différent de celui qu'elle quitte.")
        elif args.action == "list":
            listed = linkage.merges(engine)
            listed["annulée"] = listed["annulée"].map({True: "oui", False: "non"})
            print(_table_text(listed) if len(listed) else "Aucune fusion.")
        else:
            if args.id is None:
                raise CartoError("Indiquez le numéro de la fusion : carto merges undo ID.")
            linkage.undo_merge(engine, args.id)
            print(f"Fusion {args.id} annulée : les deux acteurs sont de nouveau distincts.")
    finally:
        engine.dispose()
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "init":
        url = args.base or get_settings().database_url
        engine = store.init_base(url, backup=args.backup)
        _tell_upgrade(engine, args)
        counts = store.base_summary(engine)
        engine.dispose()
        print(
            f"Base prête : {store.display_url(url)} ({len(counts)} tables, "
            f"schéma version {store.SCHEMA_VERSION})."
        )
        return 0
    if args.command == "demo":
        result = demo.run_demo(
            args.out, n_persons=args.size, seed=args.seed, database_url=args.base,
            png=args.png, verbose=args.verbose,
        )
        print(result)
        return 0
    if args.command in {"import", "quarantine", "link", "merges", "attachments", "communities", "circles", "members",
                        "map", "consent"}:
        return _run_on_base(args)
    build_parser().print_help()
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``carto`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are in English
    try:
        return _run(args)
    except CartoError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
