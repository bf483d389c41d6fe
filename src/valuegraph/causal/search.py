"""One causal-learn search over a checked array, and the paper's post-processing.

Defaults reproduce the paper (spec §9): causal-learn ``pc`` with Fisher-z, ``stable=True,
uc_rule=0, uc_priority=2``. JCI context nodes enter as background knowledge (PC, FCI) or, for the
score-based methods, by orienting edges out of them afterwards. Edges come back as GRAPH.json
edges (:mod:`valuegraph.causal.graphs`).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from valuegraph.errors import DataError
from valuegraph.seeding import global_rngs

METHODS = ("pc", "fci", "ges", "boss", "grasp")
CONSTRAINT_METHODS = ("pc", "fci")
INDEP_TESTS = ("fisherz", "chisq", "gsq", "kci", "mv_fisherz", "d_separation")
DEFAULT_SCORE = {"ges": "local_score_BIC", "boss": "local_score_BIC_from_cov"}
DEFAULT_SCORE["grasp"] = DEFAULT_SCORE["boss"]

# causal-learn endpoint codes: graph[i, j] is the mark at i on the edge i–j.
_TAIL, _ARROW, _CIRCLE = -1, 1, 2


# --------------------------------------------------------------------------- one search


def _background_knowledge(names: Sequence[str], context: Sequence[str]):
    from causallearn.graph.GraphNode import GraphNode
    from causallearn.utils.PCUtils.BackgroundKnowledge import BackgroundKnowledge

    bk = BackgroundKnowledge()
    nodes = {name: GraphNode(name) for name in names}
    for c in context:
        for other in names:
            if other != c:
                bk.add_forbidden_by_node(nodes[other], nodes[c])
    return bk


def marks_to_edges(graph: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
    """Edges of a causal-learn endpoint matrix, scanning i < j in column order."""
    edges = []
    n = graph.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            mi, mj = int(graph[i, j]), int(graph[j, i])
            if mi == 0 and mj == 0:
                continue
            src, tgt, kind = names[i], names[j], None
            pair = (mi, mj)
            if pair == (_TAIL, _ARROW):
                kind = "directed"
            elif pair == (_ARROW, _TAIL):
                src, tgt, kind = names[j], names[i], "directed"
            elif pair == (_TAIL, _TAIL):
                kind = "undirected"
            elif pair == (_ARROW, _ARROW):
                kind = "bidirected"
            elif pair == (_CIRCLE, _CIRCLE):
                kind = "nondirected"
            elif pair == (_CIRCLE, _ARROW):
                kind = "partially_directed"
            elif pair == (_ARROW, _CIRCLE):
                src, tgt, kind = names[j], names[i], "partially_directed"
            elif pair == (_CIRCLE, _TAIL):
                kind = "partially_undirected"
            elif pair == (_TAIL, _CIRCLE):
                src, tgt, kind = names[j], names[i], "partially_undirected"
            else:
                raise DataError(f"unexpected causal-learn edge marks {pair} between {src}, {tgt}")
            edges.append({"source": src, "target": tgt, "type": kind})
    return edges


@contextlib.contextmanager
def _quiet_seeded(seed: int):
    """Silence causal-learn's prints and warnings; seed Python's and NumPy's global generators
    (which BOSS and GRaSP draw from) from ``derive_seed(seed, "search")``, restored afterwards."""
    with (
        global_rngs(seed, "search"),
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def run_search(
    data: np.ndarray,
    names: list[str],
    context: list[str],
    method: str,
    alpha: float,
    indep_test: str,
    score_func: str | None,
    seed: int,
) -> list[dict[str, Any]]:
    """Run one causal-learn search; return the edge list (before any post-processing)."""
    bk = _background_knowledge(names, context) if context else None
    try:
        with _quiet_seeded(seed):
            if method == "pc":
                from causallearn.search.ConstraintBased.PC import pc

                cg = pc(
                    data,
                    alpha,
                    indep_test,
                    stable=True,
                    uc_rule=0,
                    uc_priority=2,
                    background_knowledge=bk,
                    show_progress=False,
                    node_names=list(names),
                )
                graph = cg.G.graph
            elif method == "fci":
                from causallearn.search.ConstraintBased.FCI import fci

                g, _ = fci(
                    data,
                    indep_test,
                    alpha,
                    background_knowledge=bk,
                    show_progress=False,
                    node_names=list(names),
                )
                graph = g.graph
            elif method == "ges":
                from causallearn.search.ScoreBased.GES import ges

                graph = ges(data, score_func=score_func)["G"].graph
            elif method == "boss":
                from causallearn.search.PermutationBased.BOSS import boss

                graph = boss(data, score_func=score_func, verbose=False).graph
            else:
                from causallearn.search.PermutationBased.GRaSP import grasp

                graph = grasp(data, score_func=score_func, verbose=False).graph
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"{method} failed on this matrix ({first}); check for near-collinear or "
            "near-constant columns"
        ) from None
    edges = marks_to_edges(np.asarray(graph), names)
    if context and method not in CONSTRAINT_METHODS:
        edges = _orient_from_context(edges, set(context))
    return edges


def _orient_from_context(edges: list[dict[str, Any]], context: set[str]) -> list[dict[str, Any]]:
    """Score-based methods take no background knowledge: enforce JCI afterwards."""
    out = []
    for e in edges:
        s_ctx, t_ctx = e["source"] in context, e["target"] in context
        if s_ctx and t_ctx:
            continue
        if t_ctx:
            e = {"source": e["target"], "target": e["source"], "type": "directed"}
        elif s_ctx:
            e = {**e, "type": "directed"}
        out.append(e)
    return out


# --------------------------------------------------------------------------- post-processing


def paper_edge_order(
    edges: Sequence[dict[str, Any]], nodes: Sequence[str]
) -> list[tuple[str, str]]:
    """The authors' edge list (spec §9): scan pairs i < j in column order; a directed edge is
    written as it points, any other edge as i→j then j→i."""
    index = {n: k for k, n in enumerate(nodes)}
    by_pair: dict[tuple[int, int], dict[str, Any]] = {}
    for e in edges:
        a, b = index[e["source"]], index[e["target"]]
        by_pair[(min(a, b), max(a, b))] = e
    ordered: list[tuple[str, str]] = []
    for i, j in sorted(by_pair):
        e = by_pair[(i, j)]
        if e["type"] == "directed":
            ordered.append((e["source"], e["target"]))
        else:
            ordered.extend([(nodes[i], nodes[j]), (nodes[j], nodes[i])])
    return ordered


def _reach(graph: nx.DiGraph) -> dict[str, set[str]]:
    return {n: nx.descendants(graph, n) for n in graph.nodes}


def greedy_reduction(
    nodes: Sequence[str], ordered: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Greedy transitive reduction (spec §9): pass over ``ordered``, removing each edge whose
    removal leaves every node's reachable set unchanged; repeat passes until one removes nothing.
    Returns the kept edges in their original order."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(ordered)
    target = _reach(graph)
    kept = list(dict.fromkeys(ordered))
    removed_any = True
    while removed_any:
        removed_any = False
        for edge in list(kept):
            graph.remove_edge(*edge)
            if _reach(graph) == target:
                kept.remove(edge)
                removed_any = True
            else:
                graph.add_edge(*edge)
    return kept


def paper_postprocess(
    edges: Sequence[dict[str, Any]], nodes: Sequence[str]
) -> list[dict[str, Any]]:
    """The paper's post-processing: split non-directed edges into two directed edges, then the
    order-dependent greedy transitive reduction. All output edges are ``directed``."""
    kept = greedy_reduction(nodes, paper_edge_order(edges, nodes))
    return [{"source": s, "target": t, "type": "directed"} for s, t in kept]
