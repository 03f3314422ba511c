"""Pairs of units lifted to pairs of actors, grouped (never two actors declared distinct), and the merge plan."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from carto.linkage.model import clusters


def _actor_edges(pairs: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Pairs of units lifted to pairs of distinct actors (``a < b``), best pair kept."""
    owner = pd.Series(units["actor"].to_numpy(), index=units["unit"].to_numpy())
    left = owner.reindex(pairs["id_l"].to_numpy()).to_numpy()
    right = owner.reindex(pairs["id_r"].to_numpy()).to_numpy()
    edges = pairs.assign(a=np.minimum(left, right), b=np.maximum(left, right))
    edges = edges[edges["a"] != edges["b"]]
    edges = edges.assign(_rank=_rule_rank(edges["rule"]))
    edges = edges.sort_values(["a", "b", "_rank", "probability"], ascending=[True, True, True, False])
    edges = edges.drop_duplicates(["a", "b"], keep="first").drop(columns=["_rank", "id_l", "id_r"])
    edges["a"] = edges["a"].astype("int64")
    edges["b"] = edges["b"].astype("int64")
    return edges.reset_index(drop=True)


#: Order in which evidence is trusted when grouping (most specific first; probabilistic last).
_RULE_RANK = {"siret": 0, "siren": 1, "rna": 2, "email": 2, "contact": 3, "nom": 4}


def _rule_rank(rules: pd.Series) -> pd.Series:
    return rules.map(_RULE_RANK).fillna(len(_RULE_RANK)).astype(int)


def _details(edges: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON details of each edge: rule and level of each comparison."""
    gammas = [c for c in edges.columns if c.startswith("gamma_")]
    levels = edges[gammas].rename(columns=lambda c: c[len("gamma_"):]).astype("Int64")
    records = levels.to_dict("records")
    rules = edges["rule"].tolist()
    return [
        {"regle": rule, "niveaux": {k: int(v) for k, v in record.items() if not pd.isna(v)}}
        for rule, record in zip(rules, records)
    ]


def _groups(
    edges: pd.DataFrame, *, threshold: float, forbidden: set[tuple[int, int]]
) -> tuple[dict[int, int], int]:
    """Groups of actors linked by pairs scored at least ``threshold``; never two actors declared distinct.

    Returns the root (smallest id of its group) of every actor in a group of
    two or more, and the number of pairs refused because of ``forbidden``.
    A connected component holding no forbidden pair is one group; the others
    are grouped greedily (:func:`_greedy`). Edges with a true ``settled``
    column (doubtful pairs the model decides alone, see
    :func:`carto.linkage.base._triage`) count as strong too.
    """
    strong_mask = edges["probability"] >= threshold
    if "settled" in edges.columns:
        strong_mask |= edges["settled"].astype(bool)
    strong = edges[strong_mask]
    if strong.empty:
        return {}, 0
    nodes = pd.unique(np.concatenate([strong["a"].to_numpy(), strong["b"].to_numpy()]))
    component = clusters(nodes, strong.rename(columns={"a": "id_l", "b": "id_r"}).assign(probability=1.0),
                         threshold=1.0)
    where = component.to_dict()
    troubled = {where[a] for a, b in forbidden if a in where and where[a] == where.get(b)}
    roots = component[~component.isin(troubled)]
    found = dict(zip(roots.index.astype(int).tolist(), roots.astype(int).tolist()))
    if not troubled:
        return found, 0
    inside = strong[strong["a"].map(where).isin(troubled)]
    greedy, refused = _greedy(inside, forbidden=forbidden)
    return found | greedy, refused


def _greedy(strong: pd.DataFrame, *, forbidden: set[tuple[int, int]]) -> tuple[dict[int, int], int]:
    """Greedy grouping by decreasing evidence (:data:`_RULE_RANK`, then score), refusing forbidden unions."""
    strong = strong.assign(_rank=_rule_rank(strong["rule"])).sort_values(
        ["_rank", "probability", "a", "b"], ascending=[True, False, True, True]
    )
    parent: dict[int, int] = {}
    members: dict[int, set[int]] = {}
    banned: dict[int, set[int]] = {}
    for a, b in forbidden:
        banned.setdefault(a, set()).add(b)
        banned.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    refused = 0
    for a, b in zip(strong["a"].tolist(), strong["b"].tolist()):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        group_a, group_b = members.get(ra, {ra}), members.get(rb, {rb})
        if banned.get(ra, set()) & group_b or banned.get(rb, set()) & group_a:
            refused += 1
            continue
        root, other = (ra, rb) if ra < rb else (rb, ra)
        parent[other] = root
        parent.setdefault(root, root)
        members[root] = group_a | group_b
        members.pop(other, None)
        banned[root] = banned.get(ra, set()) | banned.get(rb, set())
    return {x: find(x) for x in list(parent)}, refused


def _plan(edges: pd.DataFrame, roots: dict[int, int]) -> pd.DataFrame:
    """One merge per absorbed actor: kept, absorbed, method, rule, score, round."""
    columns = ["kept_id", "absorbed_id", "method", "rule", "score", "round"]
    absorbed = {x: r for x, r in roots.items() if x != r}
    if not absorbed:
        return pd.DataFrame(columns=columns)
    root_of = pd.Series(roots)
    inside = edges[
        edges["a"].map(root_of).eq(edges["b"].map(root_of)) & edges["a"].isin(root_of.index)
    ]
    incident = pd.concat(
        [inside[["a", "probability", "rule"]].rename(columns={"a": "actor"}),
         inside[["b", "probability", "rule"]].rename(columns={"b": "actor"})],
        ignore_index=True,
    )
    incident = incident.assign(_rank=_rule_rank(incident["rule"])).sort_values(
        ["actor", "_rank", "probability"], ascending=[True, True, False]
    ).drop_duplicates("actor")
    best = incident.set_index("actor")
    plan = pd.DataFrame({"absorbed_id": list(absorbed), "kept_id": list(absorbed.values())})
    plan = plan.sort_values(["kept_id", "absorbed_id"], ignore_index=True)
    plan["rule"] = best["rule"].reindex(plan["absorbed_id"]).to_numpy()
    plan["score"] = best["probability"].reindex(plan["absorbed_id"]).clip(0, 1).to_numpy()
    plan["method"] = np.where(plan["rule"].notna(), "rule", "probabilistic")
    plan["round"] = plan.groupby("kept_id").cumcount()
    plan["rule"] = plan["rule"].astype(object).where(plan["rule"].notna(), None)
    return plan[columns]
