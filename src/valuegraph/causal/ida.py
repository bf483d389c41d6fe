"""Graph-implied total effects: the effect of value X on value Y for every ordered pair with a
(possible) directed path X -> ... -> Y in the learned graph, by IDA: enumerate the DAGs of the
equivalence class (:func:`enumerate_dags`), adjust for the parents of X in each, report the
range over DAGs (estimates: :mod:`valuegraph.causal.estimation`).

Columns of the graph table:

``treatment`` (X), ``outcome`` (Y), ``estimate`` (IDA's conservative summary: the DAG-wise
effect of smallest magnitude), ``estimate_min``, ``estimate_max`` (range over DAGs), ``ci_low``,
``ci_high`` (the widest CI bounds over DAGs; a DAG without a path X -> Y contributes exactly 0),
``n``, ``n_dags`` (DAGs enumerated), ``n_dags_with_path``, ``dags_truncated`` (the enumeration
hit ``max_dags``), ``enumeration`` (``consistent``: acyclic, no new unshielded colliders;
``acyclic_only``: no consistent extension existed, so only acyclicity was imposed),
``x_bidirected`` (X touches a bidirected edge: a latent confounder the adjustment cannot
remove), ``standardized``.

Graph conventions: ``undirected`` (and FCI's ``nondirected`` / ``partially_undirected``) edges are
orientable either way; a pair of opposite directed edges, or directed edges on a directed cycle
(as the paper's post-processing can leave), also count as undirected; ``partially_directed``
(o->) counts as directed; ``bidirected`` edges carry no orientation: they are never parents or
path links, so effects through them are not adjusted for (flagged by ``x_bidirected``). JCI
``context_nodes`` (``condition=<id>``) are rebuilt as indicators and may be adjusted for, but
are never treatment or outcome.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import polars as pl

from valuegraph.causal.estimation import check_matrix, dowhy_estimate
from valuegraph.errors import DataError
from valuegraph.io import read_json

log = logging.getLogger(__name__)

UNDIRECTED_TYPES = {"undirected", "nondirected", "partially_undirected"}
DIRECTED_TYPES = {"directed", "partially_directed"}
EDGE_TYPES = UNDIRECTED_TYPES | DIRECTED_TYPES | {"bidirected"}

GRAPH_SCHEMA: dict[str, pl.DataType] = {
    "treatment": pl.String(),
    "outcome": pl.String(),
    "estimate": pl.Float64(),
    "estimate_min": pl.Float64(),
    "estimate_max": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "n": pl.Int64(),
    "n_dags": pl.Int64(),
    "n_dags_with_path": pl.Int64(),
    "dags_truncated": pl.Boolean(),
    "enumeration": pl.String(),
    "x_bidirected": pl.Boolean(),
    "standardized": pl.Boolean(),
}


def load_graph(
    graph: Mapping[str, Any] | str | os.PathLike[str],
) -> tuple[list[str], set[tuple[str, str]], set[frozenset[str]], set[frozenset[str]], list[str]]:
    """Parse a GRAPH.json (path or dict) into nodes, directed, undirected, bidirected, context.

    Opposite directed edges and directed edges on a directed cycle become undirected.
    """
    source = str(graph) if isinstance(graph, str | os.PathLike) else "graph"
    data = read_json(Path(graph)) if isinstance(graph, str | os.PathLike) else graph
    if not isinstance(data, Mapping) or "nodes" not in data or "edges" not in data:
        raise DataError(f"{source}: a graph needs 'nodes' and 'edges' keys")
    nodes = [str(n) for n in data["nodes"]]
    context = [str(n) for n in data.get("context_nodes") or []]
    known = set(nodes)
    directed: set[tuple[str, str]] = set()
    undirected: set[frozenset[str]] = set()
    bidirected: set[frozenset[str]] = set()
    for i, edge in enumerate(data["edges"]):
        try:
            s, t, kind = str(edge["source"]), str(edge["target"]), str(edge["type"])
        except (KeyError, TypeError):
            raise DataError(f"{source}: edge {i} needs 'source', 'target' and 'type'") from None
        for end in (s, t):
            if end not in known:
                raise DataError(f"{source}: edge {i} names {end!r}, which is not a graph node")
        if kind not in EDGE_TYPES:
            raise DataError(f"{source}: edge {i} has type {kind!r}; expected one of {EDGE_TYPES}")
        if s == t:
            raise DataError(f"{source}: edge {i} is a self-loop on {s!r}")
        if kind in DIRECTED_TYPES:
            directed.add((s, t))
        elif kind == "bidirected":
            bidirected.add(frozenset((s, t)))
        else:
            undirected.add(frozenset((s, t)))
    dg = nx.DiGraph(directed)
    for component in nx.strongly_connected_components(dg):
        if len(component) > 1:
            cyc = {(s, t) for s, t in directed if s in component and t in component}
            directed -= cyc
            undirected |= {frozenset(e) for e in cyc}
    directed = {(s, t) for s, t in directed if frozenset((s, t)) not in undirected}
    return nodes, directed, undirected, bidirected, context


def enumerate_dags(
    nodes: Sequence[str],
    directed: set[tuple[str, str]],
    undirected: set[frozenset[str]],
    bidirected: set[frozenset[str]] = frozenset(),
    *,
    max_dags: int = 64,
    consistent: bool = True,
) -> tuple[list[nx.DiGraph], bool]:
    """Orient the undirected edges into DAGs (backtracking); return (dags, truncated).

    With ``consistent`` an orientation must be acyclic and add no unshielded collider
    (a -> c <- b, a and b non-adjacent, one of the two edges formerly undirected); otherwise
    only acyclic. Stops after ``max_dags`` DAGs. Bidirected edges count only as adjacencies.
    """
    order = {n: i for i, n in enumerate(nodes)}
    pending = sorted(tuple(sorted(e, key=order.__getitem__)) for e in undirected)
    adjacent = {frozenset(e) for e in directed} | set(undirected) | set(bidirected)
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(directed)
    dags: list[nx.DiGraph] = []
    budget = [200_000]
    truncated = False

    def new_collider(u: str, v: str) -> bool:
        return any(w != u and frozenset((w, u)) not in adjacent for w in g.predecessors(v))

    def extend(i: int) -> None:
        nonlocal truncated
        if truncated:
            return
        budget[0] -= 1
        if budget[0] < 0 or len(dags) > max_dags:  # one extra DAG proves truncation
            truncated = True
            return
        if i == len(pending):
            dags.append(g.copy())
            return
        a, b = pending[i]
        for u, v in ((a, b), (b, a)):
            if nx.has_path(g, v, u):
                continue
            if consistent and new_collider(u, v):
                continue
            g.add_edge(u, v)  # later parents of v are checked against u when oriented
            extend(i + 1)
            g.remove_edge(u, v)

    if not nx.is_directed_acyclic_graph(g):
        raise DataError("graph's directed edges form a cycle")
    extend(0)
    truncated = truncated or len(dags) > max_dags
    return dags[:max_dags], truncated


def graph_effects(
    matrix: pl.DataFrame,
    graph: Mapping[str, Any] | str | os.PathLike[str],
    values: Sequence[str] | None = None,
    *,
    standardize: bool = True,
    max_dags: int = 64,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """IDA-style total effects of X on Y for every pair with a (possible) directed path."""
    nodes, directed, undirected, bidirected, context = load_graph(graph)
    values = check_matrix(matrix, values)
    unknown = [n for n in nodes if n not in values and n not in context]
    if unknown:
        raise DataError(
            f"graph node(s) {unknown} are not value columns of the matrix "
            f"(values: {values}); was the graph learned on another matrix?"
        )
    targets = [n for n in nodes if n not in context]
    columns: dict[str, np.ndarray] = {v: matrix.get_column(v).to_numpy() for v in targets}
    for c in context:
        col, _, level = c.partition("=")
        if col not in matrix.columns:
            raise DataError(f"graph context node {c!r} needs a column {col!r} in the matrix")
        columns[c] = (matrix.get_column(col).cast(pl.String) == level).to_numpy().astype(float)
    if standardize:
        for name in targets:
            sd = columns[name].std()
            if not sd > 0:
                raise DataError(
                    f"value {name!r} is constant in the matrix and cannot be standardised; "
                    "drop it from the graph or use standardize=False"
                )
            columns[name] = (columns[name] - columns[name].mean()) / sd
    dags, truncated = enumerate_dags(nodes, directed, undirected, bidirected, max_dags=max_dags)
    enumeration = "consistent"
    if not dags:
        log.warning(
            "graph effects: no orientation of the %d undirected edges is free of new "
            "unshielded colliders (not a CPDAG); imposing acyclicity only",
            len(undirected),
        )
        dags, truncated = enumerate_dags(
            nodes, directed, undirected, bidirected, max_dags=max_dags, consistent=False
        )
        enumeration = "acyclic_only"
    if truncated:
        log.warning("graph effects: DAG enumeration capped at %d DAGs", max_dags)
    log.info("graph effects: %d DAG(s) from %d undirected edges", len(dags), len(undirected))
    on_bidirected = {n for e in bidirected for n in e}
    cache: dict[tuple[str, frozenset[str], str], dict[str, float]] = {}
    records = []
    for x in targets:
        below = [nx.descendants(dag, x) for dag in dags]
        for y in targets:
            if x == y:
                continue
            per_dag: list[tuple[float, float, float]] = []
            with_path = 0
            for dag, desc in zip(dags, below, strict=True):
                if y not in desc:
                    per_dag.append((0.0, 0.0, 0.0))
                    continue
                with_path += 1
                parents = frozenset(dag.predecessors(x))
                key = (x, parents, y)
                if key not in cache:
                    frame = pd.DataFrame({"t": columns[x], "y": columns[y]})
                    for i, p in enumerate(sorted(parents)):
                        frame[f"c{i}"] = columns[p]
                    cache[key] = dowhy_estimate(frame, confidence_level=confidence_level)
                r = cache[key]
                per_dag.append((r["estimate"], r["ci_low"], r["ci_high"]))
            if not with_path:
                continue
            est = np.array([e for e, _, _ in per_dag])
            records.append(
                {
                    "treatment": x,
                    "outcome": y,
                    "estimate": float(est[np.argmin(np.abs(est))]),
                    "estimate_min": float(est.min()),
                    "estimate_max": float(est.max()),
                    "ci_low": float(min(lo for _, lo, _ in per_dag)),
                    "ci_high": float(max(hi for _, _, hi in per_dag)),
                    "n": matrix.height,
                    "n_dags": len(dags),
                    "n_dags_with_path": with_path,
                    "dags_truncated": truncated,
                    "enumeration": enumeration,
                    "x_bidirected": x in on_bidirected,
                    "standardized": standardize,
                }
            )
    return pl.DataFrame(records, schema=GRAPH_SCHEMA, orient="row")
