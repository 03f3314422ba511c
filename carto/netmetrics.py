"""Metrics of an actor graph: who is central, who bridges, who is in which group.

The input is an undirected :class:`networkx.Graph` whose nodes are actors
(node attributes ``name`` and ``kind``, ``"personne"`` or ``"organisation"``)
and whose edges carry a positive ``weight``, the strength of the tie. It may
have isolated actors and several components. :func:`metrics` gives one row
per actor, with French column names:

=====================  ==========================================================
column                 meaning
=====================  ==========================================================
« degré »              number of neighbours
« degré pondéré »      sum of the weights of the actor's ties
« intermédiarité »     betweenness centrality: share of the shortest paths
                       between two other actors that go through this one
                       (normalised as networkx does); paths are counted in
                       steps, a tie's weight does not shorten it
« pagerank »           weighted PageRank (damping 0.85); sums to 1
« portée à 2 pas »     how many actors one can reach directly or through one
                       intermediary (the actor itself not counted)
« contrainte »         Burt's constraint: high when the actor's contacts all
                       know each other (no structural hole); NaN when isolated
« taille effective »   Burt's effective size: number of non-redundant
                       contacts; NaN when isolated
« cœur »               k-core number: the largest k such that the actor is in
                       a group where everyone has at least k ties in the group
« groupe »             group found by modularity optimisation (a
                       "community" of network science; Terreau keeps that
                       word for its communities of engagement), 1 = largest
« nom du groupe »      named after its most central organisation
=====================  ==========================================================

Two backends give the same numbers: **networkx** (the reference, used
below :data:`IGRAPH_FROM_NODES` actors and :data:`IGRAPH_FROM_EDGES` ties)
and **igraph** (C code, used above: 9 times faster at 500 actors, 30 times
at 2 000). The graph users
handle is always networkx; the igraph copy is made and dropped inside
:func:`metrics`.

How each metric is computed
---------------------------
- degree, weighted degree, 2-step reach, constraint and effective size come
  from the same scipy sparse code for both backends (:func:`_local_structure`,
  Burt's formulas, vectorised). They equal networkx's ``G.degree``,
  ``nx.single_source_shortest_path_length(G, v, cutoff=2)``,
  ``nx.constraint(G, weight=...)`` and ``nx.effective_size(G, nodes=list(G),
  weight=...)``. (networkx 3.6's ``nx.effective_size`` *without* ``nodes``
  normalises the weights by the wrong axis and is wrong on weighted graphs,
  networkx pull request #8906; with ``nodes`` it is right but pure Python,
  80 s for 500 actors with a few hubs.)
- betweenness: ``nx.betweenness_centrality`` / ``igraph.Graph.betweenness``,
  unweighted (an introduction is one step whatever the tie's strength; this
  also keeps the two backends exactly equal, with no floating-point ties
  between path lengths). It is exact while ``actors × ties`` is at most
  :data:`BETWEENNESS_WORK`; above, it is **estimated** from the shortest
  paths starting at ``k = max(500, ⌈BETWEENNESS_WORK / ties⌉)`` actors drawn
  at random with the seed (networkx's ``k=`` estimator, the same sources for
  both backends), and ``frame.attrs["intermédiarité"]`` says so.
- PageRank: ``nx.pagerank`` (tolerance 1e-12, to agree with igraph to 1e-9;
  networkx's default 1e-6 only agrees to about 1e-5) / igraph's PRPACK.
- core number: ``nx.core_number`` / ``igraph.Graph.coreness``.
- groups: Louvain with networkx (``louvain_communities``) / Leiden with
  igraph (``community_leiden``, modularity objective, run until stable), both
  maximising modularity with the given ``resolution`` and ``seed``. igraph's
  built-in Leiden is the same algorithm as leidenalg's, 5 to 8 times faster
  on a million ties with the same modularity. The partitions of the two
  backends may differ, with close modularity (``frame.attrs["modularité"]``).

Examples
--------
>>> import networkx as nx
>>> from carto import netmetrics
>>> G = nx.Graph()
>>> G.add_node(1, name="Les Jardins partagés", kind="organisation")
>>> G.add_node(2, name="Awa Diallo", kind="personne")
>>> G.add_node(3, name="Jean Roux", kind="personne")
>>> G.add_edge(1, 2, weight=2.0)
>>> G.add_edge(1, 3, weight=1.0)
>>> frame = netmetrics.metrics(G)
>>> frame[["degré", "degré pondéré", "intermédiarité", "portée à 2 pas", "cœur"]]  # doctest: +NORMALIZE_WHITESPACE
        degré  degré pondéré  intermédiarité  portée à 2 pas  cœur
acteur
1           2            3.0             1.0               2     1
2           1            2.0             0.0               2     1
3           1            1.0             0.0               2     1
>>> frame["nom du groupe"].unique().tolist()
['Les Jardins partagés']

:func:`in_words` says the same to a jardinier, one short sentence per fact:

>>> for text in netmetrics.in_words(frame):
...     print(text)
2 liens directs ; relie des groupes qui ne se parlent pas
1 lien direct ; touche 2 acteurs en deux pas
1 lien direct ; touche 2 acteurs en deux pas
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from carto import _fr
from carto._errors import NetworkError
from carto.network import gc_paused

__all__ = [
    "BETWEENNESS_MIN_SOURCES",
    "BETWEENNESS_WORK",
    "COLUMNS",
    "IGRAPH_FROM_EDGES",
    "IGRAPH_FROM_NODES",
    "in_words",
    "metrics",
    "modularity",
]

#: ``backend="auto"`` uses igraph from this many actors… (all the metrics
#: with networkx: 0.4 s for 500 actors and 4 000 ties on a 2-core machine,
#: 8 to 12 s for 2 000 actors and 22 000 ties; with igraph: 0.05 s and 0.3 s —
#: ``benchmarks/network_scale.py --seuil``).
IGRAPH_FROM_NODES = 500
#: …or from this many ties.
IGRAPH_FROM_EDGES = 5_000
#: Betweenness is exact while ``actors × ties`` is at most this (about 1 s
#: with igraph, 30 s with networkx, e.g. 5 000 actors and 20 000 ties);
#: above, it is estimated from ``max(BETWEENNESS_MIN_SOURCES,
#: ⌈BETWEENNESS_WORK / ties⌉)`` source actors: 1 119 sources for 10 000
#: actors and 89 000 ties (the 50 largest values within 7 % of the exact ones,
#: median), 500 for 100 000 actors and 1 000 000 ties (5 to 8 s with igraph).
BETWEENNESS_WORK = 100_000_000
#: The fewest sources of an estimated betweenness (with 500 sources, the 50
#: largest values of 10 000 actors are within 14 % of the exact ones, median;
#: with 200, 22 %).
BETWEENNESS_MIN_SOURCES = 500
#: The columns of :func:`metrics`, in order.
COLUMNS = (
    "degré", "degré pondéré", "intermédiarité", "pagerank", "portée à 2 pas", "contrainte",
    "taille effective", "cœur", "groupe", "nom du groupe",
)
BACKENDS = ("auto", "networkx", "igraph")
#: Upper bound of the entries of one block of the sparse 2-step product
#: (about 20 bytes each): bounds the memory of :func:`_local_structure`.
_BLOCK_ENTRIES = 10_000_000
_PAGERANK_TOL = 1e-12


@dataclass(frozen=True)
class _Ties:
    """The graph as arrays: ``nodes[i]`` is the actor at position ``i``; tie
    ``j`` joins positions ``src[j]`` and ``dst[j]`` with weight ``weight[j]``."""

    nodes: list
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray

    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def m(self) -> int:
        return len(self.src)


def metrics(G: nx.Graph, *, weight: str | None = "weight", resolution: float = 1.0, seed: int = 20190901,
            backend: str = "auto", betweenness_sources: int | None = None) -> pd.DataFrame:
    """Centralities, structural holes, reach and group of every actor.

    Parameters
    ----------
    G : networkx.Graph
        Undirected, without self-loops. Node attributes ``name`` and ``kind``
        (``"organisation"`` or ``"personne"``) name the groups.
    weight : str or None
        Edge attribute holding the strength of a tie (finite, > 0; a tie
        without it weighs 1, as in networkx). ``None``: every tie weighs 1.
    resolution : float
        Modularity resolution (> 0): above 1, more and smaller groups.
    seed : int
        Seed of the group detection and of the betweenness sources: the
        same graph and seed give the same frame.
    backend : {"auto", "networkx", "igraph"}
        ``"auto"``: networkx below :data:`IGRAPH_FROM_NODES` actors and
        :data:`IGRAPH_FROM_EDGES` ties, igraph above.
    betweenness_sources : int, optional
        Estimate betweenness from this many source actors (at least 2; as many
        as actors or more: exact). Default: exact up to
        :data:`BETWEENNESS_WORK`, estimated above.

    Returns
    -------
    pandas.DataFrame
        One row per actor (index ``acteur``, in the graph's order), the
        :data:`COLUMNS`. ``attrs`` says how it was computed: ``"moteur"``,
        ``"intermédiarité"`` (« exacte » or « estimée sur k sources… »),
        ``"groupes"`` (method) and ``"modularité"``.

    Raises
    ------
    NetworkError
        Directed graph or multigraph, self-loop, bad weight, unknown backend,
        resolution ≤ 0, fewer than 2 betweenness sources.

    Examples
    --------
    Two triangles joined by one bridge, and an isolated actor:

    >>> import networkx as nx
    >>> G = nx.Graph([(1, 2), (2, 3), (1, 3), (3, 4), (4, 5), (5, 6), (4, 6)])
    >>> G.add_node(7)
    >>> frame = metrics(G, weight=None)
    >>> frame[["intermédiarité", "taille effective", "groupe"]].round(3)  # doctest: +NORMALIZE_WHITESPACE
            intermédiarité  taille effective  groupe
    acteur
    1                  0.0             1.000           1
    2                  0.0             1.000           1
    3                  0.4             2.333           1
    4                  0.4             2.333           2
    5                  0.0             1.000           2
    6                  0.0             1.000           2
    7                  0.0               NaN           3
    >>> frame.attrs["moteur"], frame.attrs["intermédiarité"]
    ('networkx', 'exacte')
    """
    ties = _ties(G, weight)
    backend = _choose_backend(backend, ties)
    resolution = _check_resolution(resolution)
    sources = _betweenness_sources(ties, seed, betweenness_sources)
    method = "Louvain (networkx)" if backend == "networkx" else "Leiden (igraph)"
    notes = {"moteur": backend, "intermédiarité": _betweenness_note(ties, sources, seed),
             "groupes": f"{method}, résolution {resolution:g}"}
    if ties.n == 0:
        frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(COLUMNS, _DTYPES)},
                             index=pd.Index([], name="acteur"))
        frame.attrs.update(notes, modularité=float("nan"))
        return frame
    if backend == "networkx":
        betweenness, pagerank, core, membership = _with_networkx(G, ties, weight, resolution, seed, sources)
    else:
        betweenness, pagerank, core, membership = _with_igraph(ties, weight is not None, resolution, seed, sources)
    degree, strength, reach, constraint, effective = _local_structure(ties)
    labels = _rank_labels(membership)
    frame = pd.DataFrame({
        "degré": degree, "degré pondéré": strength, "intermédiarité": betweenness, "pagerank": pagerank,
        "portée à 2 pas": reach, "contrainte": constraint, "taille effective": effective, "cœur": core,
        "groupe": labels,
    }, index=pd.Index(ties.nodes, name="acteur"))
    frame["nom du groupe"] = frame["groupe"].map(_group_names(G, frame))
    frame.attrs.update(notes, modularité=_modularity(ties, labels - 1, resolution))
    return frame


#: Share of the actors, those of highest betweenness, that :func:`in_words` calls bridges between groups.
BROKER_SHARE = 0.1


def in_words(metrics: pd.DataFrame | pd.Series, *, network: pd.DataFrame | None = None) -> pd.Series | list[str]:
    """What the metrics say of each actor, in 1 to 4 short French sentences a jardinier understands.

    - « 12 liens directs » (« 1 lien direct », « aucun lien dans ce réseau »): the degree;
    - « touche 120 acteurs en deux pas »: the 2-step reach, when it goes beyond the direct ties;
    - « relie des groupes qui ne se parlent pas »: a betweenness above 0 and among the highest tenth
      (:data:`BROKER_SHARE`) of the network;
    - « au cœur du réseau »: in the network's highest k-core, when it is at least 2 and not everyone's.

    No sentence holds a name: what it says can be shown for any actor, named or not.

    Parameters
    ----------
    metrics : pandas.DataFrame or pandas.Series
        The table of :func:`metrics` (or :func:`carto.network.stored_metrics`), or one row of it. It needs
        « degré »; « portée à 2 pas », « intermédiarité » and « cœur » give the other sentences when present.
    network : pandas.DataFrame, optional
        The whole table the actors are compared with (the highest tenth, the highest core). Default: the
        table given; for one row without ``network``, only the sentences needing no comparison.

    Returns
    -------
    pandas.Series or list of str
        For a table: one text per actor (the sentences joined by « ; »), indexed like the table. For one
        row: the list of its sentences. An actor without a degree (not measured) has none.

    Raises
    ------
    NetworkError
        No « degré » column.

    Examples
    --------
    A star of four actors around one, and a fifth tied to the first branch:

    >>> import networkx as nx
    >>> frame = metrics(nx.Graph([(0, 1), (0, 2), (0, 3), (0, 4), (1, 5)]), weight=None)
    >>> in_words(frame)[0]
    '4 liens directs ; touche 5 acteurs en deux pas ; relie des groupes qui ne se parlent pas'
    >>> in_words(frame.loc[5], network=frame)
    ['1 lien direct', 'touche 2 acteurs en deux pas']
    """
    if isinstance(metrics, pd.Series):
        return _sentences(metrics.to_frame().T, network)[0]
    texts = [" ; ".join(sentences) for sentences in _sentences(metrics, metrics if network is None else network)]
    return pd.Series(texts, index=metrics.index, dtype=object, name="en mots")


def _sentences(frame: pd.DataFrame, network: pd.DataFrame | None) -> list[list[str]]:
    """The sentences of :func:`in_words` for each row of ``frame``, compared with ``network`` (None: no
    comparison)."""
    if "degré" not in frame:
        raise NetworkError("Pour dire les mesures en mots, le tableau doit avoir la colonne « degré » "
                           "(celui de netmetrics.metrics ou de network.stored_metrics).")

    def numbers(table: pd.DataFrame | None, column: str) -> np.ndarray | None:
        if table is None or column not in table:
            return None
        return pd.to_numeric(table[column], errors="coerce").to_numpy(float)

    degree, reach = numbers(frame, "degré"), numbers(frame, "portée à 2 pas")
    between, core = numbers(frame, "intermédiarité"), numbers(frame, "cœur")
    n = len(frame)
    broker = np.zeros(n, bool)
    ref = numbers(network, "intermédiarité")
    if between is not None and ref is not None and np.isfinite(ref).any():
        broker = (between > 0) & (between >= np.nanquantile(ref, 1 - BROKER_SHARE))
    central = np.zeros(n, bool)
    ref = numbers(network, "cœur")
    if core is not None and ref is not None and np.isfinite(ref).any():
        top = np.nanmax(ref)
        central = (core == top) & (top >= 2) & (np.nanmin(ref) < top)
    out = []
    for i in range(n):
        d = degree[i]
        if not np.isfinite(d):
            out.append([])
            continue
        words = [_fr.count(int(d), "lien direct", "liens directs") if d else "aucun lien dans ce réseau"]
        if reach is not None and np.isfinite(reach[i]) and reach[i] > d:
            words.append(f"touche {_fr.count(int(reach[i]), 'acteur')} en deux pas")
        if broker[i]:
            words.append("relie des groupes qui ne se parlent pas")
        if central[i]:
            words.append("au cœur du réseau")
        out.append(words)
    return out


_DTYPES = ("int64", "float64", "float64", "float64", "int64", "float64", "float64", "int64", "int64", "str")


def modularity(G: nx.Graph, labels, *, weight: str | None = "weight", resolution: float = 1.0) -> float:
    """Modularity of a partition of ``G`` (as ``nx.community.modularity``).

    Parameters
    ----------
    G : networkx.Graph
        Undirected graph, weights as in :func:`metrics`.
    labels : mapping or pandas.Series
        Group label of every node (e.g. the « groupe » column).
    weight : str or None
        Edge attribute of the weights (``None``: all 1).
    resolution : float
        Resolution γ: ``Q = Σ_c [L_c / m − γ (D_c / 2m)²]``.

    Returns
    -------
    float
        NaN for a graph without ties.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.Graph([(1, 2), (3, 4)])
    >>> modularity(G, {1: "a", 2: "a", 3: "b", 4: "b"}, weight=None)
    0.5
    """
    ties = _ties(G, weight)
    resolution = _check_resolution(resolution)
    missing = [v for v in ties.nodes if v not in labels]
    if missing:
        raise NetworkError(f"{_fr.count(len(missing), 'acteur')} sans groupe (par exemple {missing[0]!r}) : "
                           "donnez un groupe à chaque nœud du graphe.")
    _, codes = np.unique(pd.Series([labels[v] for v in ties.nodes], dtype=object).astype(str),
                         return_inverse=True)
    return _modularity(ties, codes, resolution)


def _modularity(ties: _Ties, codes: np.ndarray, resolution: float) -> float:
    """Modularity of the partition given by integer ``codes`` (0..K-1) per position."""
    total = ties.weight.sum()
    if total == 0:
        return float("nan")
    k = int(codes.max()) + 1 if codes.size else 0
    inside = np.bincount(codes[ties.src], weights=np.where(codes[ties.src] == codes[ties.dst], ties.weight, 0.0),
                         minlength=k)
    strength = np.bincount(ties.src, ties.weight, ties.n) + np.bincount(ties.dst, ties.weight, ties.n)
    degree_sum = np.bincount(codes, strength, k)
    return float(np.sum(inside / total - resolution * (degree_sum / (2 * total)) ** 2))


def _ties(G: nx.Graph, weight: str | None) -> _Ties:
    """Check ``G`` and turn it into arrays (raises :class:`NetworkError`)."""
    if not isinstance(G, nx.Graph) or G.is_directed() or G.is_multigraph():
        raise NetworkError("Les mesures attendent un graphe non orienté networkx.Graph "
                           f"(reçu : {type(G).__name__}) : convertissez-le avec nx.Graph(G.to_undirected()), "
                           "en additionnant d'abord les poids des liens multiples.")
    loops = nx.number_of_selfloops(G)
    if loops:
        u = next(iter(nx.selfloop_edges(G)))[0]
        raise NetworkError(f"{_fr.count(loops, 'lien')} d'un acteur vers lui-même (par exemple {u!r}) : retirez-les avec "
                           "G.remove_edges_from(list(nx.selfloop_edges(G))).")
    nodes = list(G)
    position = {v: i for i, v in enumerate(nodes)}
    m = G.number_of_edges()
    with gc_paused():
        src = np.fromiter((position[u] for u, _ in G.edges()), np.int64, m)
        dst = np.fromiter((position[v] for _, v in G.edges()), np.int64, m)
        if weight is None:
            values = np.ones(m)
        else:
            try:
                values = np.fromiter((w for _, _, w in G.edges(data=weight, default=1)), np.float64, m)
            except (TypeError, ValueError):  # some weight is not a number: find which
                values = np.fromiter((_number(w) for _, _, w in G.edges(data=weight, default=1)), np.float64, m)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            u, v = nodes[src[j]], nodes[dst[j]]
            raise NetworkError(f"Poids {G.edges[u, v][weight]!r} invalide sur le lien {u!r} – {v!r} "
                               f"({_fr.count(int(bad.sum()), 'lien concerné', 'liens concernés')}) : le poids « {weight} » d'un lien doit "
                               "être un nombre strictement positif (retirez le lien s'il n'existe pas).")
    return _Ties(nodes, src, dst, values)


def _number(value) -> float:
    """``value`` as a float, NaN when it is not a number.

    >>> _number("2,5"), _number(None), _number(3)
    (nan, nan, 3.0)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _check_resolution(resolution) -> float:
    value = _number(resolution)
    if not (math.isfinite(value) and value > 0) or isinstance(resolution, bool):
        raise NetworkError(f"Résolution {resolution!r} invalide : donnez un nombre strictement positif "
                           "(1 par défaut ; plus grand pour des groupes plus petits).")
    return value


def _choose_backend(backend: str, ties: _Ties) -> str:
    if backend not in BACKENDS:
        raise NetworkError(f"Moteur de calcul « {backend} » inconnu : choisissez "
                           + ", ".join(f"« {b} »" for b in BACKENDS) + ".")
    if backend != "auto":
        return backend
    return "igraph" if ties.n >= IGRAPH_FROM_NODES or ties.m >= IGRAPH_FROM_EDGES else "networkx"


def _betweenness_sources(ties: _Ties, seed: int, k: int | None) -> list[int] | None:
    """Positions of the sources of estimated betweenness, or None when exact.

    The sample is networkx's own for ``betweenness_centrality(G, k=k, seed=seed)``.
    """
    if k is None:
        if ties.n * ties.m <= BETWEENNESS_WORK:
            return None
        k = max(BETWEENNESS_MIN_SOURCES, math.ceil(BETWEENNESS_WORK / ties.m))
    elif isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise NetworkError(f"Nombre de sources {k!r} invalide pour l'intermédiarité : donnez un entier d'au moins "
                           "2 (ou rien, pour le choix automatique).")
    if k >= ties.n:
        return None
    return random.Random(seed).sample(range(ties.n), k)


def _betweenness_note(ties: _Ties, sources: list[int] | None, seed: int) -> str:
    if sources is None:
        return "exacte"
    return (f"estimée sur {_fr.integer(len(sources))} sources tirées au hasard parmi {_fr.integer(ties.n)} acteurs "
            f"(graine {seed}) : le calcul exact serait trop long")


def _with_networkx(G, ties, weight, resolution, seed, sources):
    """Betweenness, PageRank, core number and Louvain membership with networkx."""
    if sources is None:
        betweenness = nx.betweenness_centrality(G)
    else:
        betweenness = nx.betweenness_centrality(G, k=len(sources), seed=seed)
    pagerank = nx.pagerank(G, alpha=0.85, weight=weight, tol=_PAGERANK_TOL, max_iter=1000)
    core = nx.core_number(G)
    communities = nx.community.louvain_communities(G, weight=weight, resolution=resolution, seed=seed)
    group = {v: c for c, members in enumerate(communities) for v in members}
    return ([betweenness[v] for v in ties.nodes], [pagerank[v] for v in ties.nodes],
            [core[v] for v in ties.nodes], np.array([group[v] for v in ties.nodes]))


def _with_igraph(ties, weighted, resolution, seed, sources):
    """The same as :func:`_with_networkx`, with igraph (Leiden instead of Louvain)."""
    import igraph as ig

    with gc_paused():
        g = ig.Graph(n=ties.n, edges=np.column_stack([ties.src, ties.dst]).tolist())
        weights = ties.weight.tolist() if weighted else None
    n = ties.n
    if sources is None:  # igraph counts each pair of actors once, networkx twice
        betweenness = np.array(g.betweenness(directed=False))
        scale = 2 / ((n - 1) * (n - 2)) if n > 2 else 1.0
    else:
        # igraph gives half of networkx's raw sums, as for the exact value; networkx's k-estimator
        # divides the sources' own values by k - 1 instead of k (a source is never inside its own paths)
        betweenness = np.array(g.betweenness(directed=False, sources=sources))
        k = len(sources)
        scale = np.full(n, 2 / (k * (n - 2)))
        scale[sources] = 2 / ((k - 1) * (n - 2))
    pagerank = g.pagerank(directed=False, damping=0.85, weights=weights)
    core = g.coreness()
    ig.set_random_number_generator(random.Random(seed))
    try:
        membership = g.community_leiden(objective_function="modularity", weights=weights, resolution=resolution,
                                        n_iterations=-1).membership
    finally:
        ig.set_random_number_generator(random)
    return betweenness * scale, pagerank, core, np.array(membership)


def _local_structure(ties: _Ties):
    """Degree, weighted degree, 2-step reach, constraint and effective size.

    With ``W`` the symmetric weight matrix, ``s`` its row sums, ``p_uv = W_uv / s_u``
    and ``m_vw = W_vw / max_x W_vx`` (Burt's proportional and marginal strengths):

    - constraint ``c_u = Σ_{v ∈ N(u)} (p_uv + Σ_w p_uw p_wv)²``;
    - effective size ``e_u = Σ_{v ∈ N(u)} (1 − Σ_w p_uw m_vw)``;
    - 2-step reach: the nodes ``v ≠ u`` with ``W_uv > 0`` or ``(W²)_uv > 0``.

    One sparse product per block of rows, ``W[rows] @ (S⁻¹W + iW)``, gives both
    sums over ``w`` (real part: ``Σ_w W_uw W_wv / s_w``; imaginary part:
    ``Σ_w W_uw W_wv``) and the 2-step pattern. Blocks hold at most
    ``_BLOCK_ENTRIES`` entries.

    Examples
    --------
    A path 0 – 1 – 2:

    >>> t = _Ties([0, 1, 2], np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]))
    >>> degree, strength, reach, constraint, effective = _local_structure(t)
    >>> reach.tolist(), constraint.tolist(), effective.tolist()
    ([2, 2, 2], [1.0, 0.5, 1.0], [1.0, 2.0, 1.0])
    """
    n = ties.n
    rows = np.concatenate([ties.src, ties.dst])
    cols = np.concatenate([ties.dst, ties.src])
    W = sp.csr_array((np.concatenate([ties.weight, ties.weight]), (rows, cols)), shape=(n, n))
    degree = np.diff(W.indptr)
    strength = np.asarray(W.sum(axis=1)).ravel()
    linked = degree > 0
    inv_strength = np.divide(1.0, strength, out=np.zeros(n), where=linked)
    inv_max = np.zeros(n)
    if W.nnz:
        inv_max[linked] = 1.0 / np.maximum.reduceat(W.data, W.indptr[:-1][linked])
    Z = (sp.diags_array(inv_strength) @ W + 1j * W).tocsr()
    A = W.copy()
    A.data[:] = 1.0
    squares = np.zeros(n)      # Σ_v (W_uv + Σ_w W_uw W_wv / s_w)²
    redundancy = np.zeros(n)   # Σ_v Σ_w W_uw W_wv / max_v
    reach = np.zeros(n, np.int64)
    for a, b in _blocks(A @ degree.astype(np.float64)):
        paths = W[a:b] @ Z                 # every 2-step walk u – w – v from the block's rows
        on_ties = paths.multiply(A[a:b]).tocsr()   # …ending at a neighbour v of u
        local = W[a:b] + on_ties.real
        squares[a:b] = np.asarray(local.multiply(local).sum(axis=1)).ravel()
        redundancy[a:b] = on_ties.imag @ inv_max
        # 2-step walks reach u itself when it has a tie; neighbours without a common neighbour are added
        reach[a:b] = (np.diff(paths.indptr) - linked[a:b] + degree[a:b] - np.diff(on_ties.indptr))
    with np.errstate(invalid="ignore", divide="ignore"):
        constraint = np.where(linked, squares * inv_strength ** 2, np.nan)
        effective = np.where(linked, degree - redundancy * inv_strength, np.nan)
    return degree, strength, reach, constraint, effective


def _blocks(row_entries: np.ndarray):
    """Consecutive row ranges ``(a, b)`` whose entries sum to at most ``_BLOCK_ENTRIES``
    (or one row when a row alone has more).

    >>> list(_blocks(np.array([4e6, 4e6, 4e6, 2e7, 1.0])))
    [(0, 2), (2, 3), (3, 4), (4, 5)]
    """
    n = len(row_entries)
    ends = np.cumsum(row_entries)
    a = 0
    while a < n:
        before = ends[a - 1] if a else 0.0
        b = max(a + 1, int(np.searchsorted(ends, before + _BLOCK_ENTRIES, side="right")))
        yield a, min(b, n)
        a = b


def _rank_labels(membership: np.ndarray) -> np.ndarray:
    """Group labels 1, 2, … by decreasing size (ties: first member's position).

    >>> _rank_labels(np.array([7, 3, 3, 9, 7, 7])).tolist()
    [1, 2, 2, 3, 1, 1]
    """
    _, first, inverse, sizes = np.unique(membership, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -sizes))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank[inverse]


def _group_names(G: nx.Graph, frame: pd.DataFrame) -> dict[int, str]:
    """Name of each group: its organisation of highest weighted degree
    (then PageRank, then graph order), « Groupe N » without organisation."""
    kinds = pd.Series([G.nodes[v].get("kind") for v in frame.index], index=frame.index)
    organisations = frame[kinds == "organisation"]
    hubs = (organisations.assign(_order=np.arange(len(organisations)))
            .sort_values(["groupe", "degré pondéré", "pagerank", "_order"], ascending=[True, False, False, True])
            .drop_duplicates("groupe"))
    names = {int(c): f"Groupe {c}" for c in frame["groupe"].unique()}
    for actor, group in zip(hubs.index, hubs["groupe"]):
        names[int(group)] = str(G.nodes[actor].get("name") or actor)
    return names
