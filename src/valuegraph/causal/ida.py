"""Graph-implied total effects: the effect of value X on value Y for every ordered pair with a
(possible) directed path X -> ... -> Y in the learned graph, by IDA (Maathuis, Kalisch & Buehlmann
2009): adjust for the parents of X, over every parent set X can have in the graph's equivalence
class, and report the range (estimates: :mod:`valuegraph.causal.estimation`).

Two methods, with the same distinct effects (they differ only in multiplicities):

* ``local`` (default; pcalg's ``ida(method="local")``): the possible parent sets of X alone.
  X's definite parents plus a subset S of its siblings (undirected neighbours) is a possible
  parent set when orienting S -> X and X -> (the other siblings) creates no new unshielded
  collider (S is a clique, every member of S is adjacent to every definite parent of X, every
  definite parent of a new child is adjacent to X) and the graph so oriented still has a
  consistent extension (Dor & Tarsi's test; always true for a CPDAG, needed for other graphs,
  as pcalg's ``type="pdag"``). Exact and without a cap: one regression per (parent set, Y).
  Whether Y descends from X given that parent set is read off the oriented graph closed under
  Meek's rules 1-2 (a directed path: in every DAG; no possibly directed path: in none); when
  bidirected edges leave it open, a search over the remaining orientations settles which of the
  two occur (both may: the parent set then contributes its regression and a 0).
* ``global``: enumerate the DAGs of the equivalence class (:func:`enumerate_dags`, capped at
  ``max_dags`` DAGs and a step budget, flagged by ``dags_truncated``) and adjust for X's parents
  in each. Only needed for the DAG counts (``n_dags``, ``n_dags_with_path``).

Columns of the graph table:

``treatment`` (X), ``outcome`` (Y), ``estimate`` (IDA's conservative summary: the effect of
smallest magnitude), ``estimate_min``, ``estimate_max`` (range over parent sets, or DAGs),
``ci_low``, ``ci_high`` (the widest CI bounds; a parent set or DAG without a path X -> Y
contributes exactly 0), ``n``, ``method`` (``local`` or ``global``), ``n_parent_sets`` (possible
parent sets of X; under ``global`` the distinct ones among the enumerated DAGs),
``n_parent_sets_with_path`` (those with a path X -> Y in some DAG), ``n_dags`` and
``n_dags_with_path`` (``global`` only, else null), ``dags_truncated`` (the enumeration hit
``max_dags`` or its step budget; always false under ``local``, which enumerates no DAGs),
``enumeration`` (``consistent``: acyclic, no new unshielded colliders; ``acyclic_only``: the
graph has no consistent extension, so only acyclicity was imposed -- this always uses
``global``), ``x_bidirected`` (X touches a bidirected edge: a latent confounder the adjustment
cannot remove), ``standardized``.

Graph conventions: ``undirected`` (and FCI's ``nondirected`` / ``partially_undirected``) edges are
orientable either way; a pair of opposite directed edges, or directed edges on a directed cycle
(as the paper's post-processing can leave), also count as undirected; ``partially_directed``
(o->) counts as directed; ``bidirected`` edges carry no orientation: they are never parents or
path links, so effects through them are not adjusted for (flagged by ``x_bidirected``), but
their ends count as adjacent (they shield a collider). JCI ``context_nodes``
(``condition=<id>``) are rebuilt as indicators and may be adjusted for, but are never treatment
or outcome.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
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

METHODS = ("local", "global")

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
    "method": pl.String(),
    "n_parent_sets": pl.Int64(),
    "n_parent_sets_with_path": pl.Int64(),
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


class PDAG:
    """A partially directed graph being oriented: directed, undirected and bidirected edges
    (bidirected ones only as adjacencies: they shield a collider but are never oriented).

    :meth:`orient` turns an undirected edge into a directed one unless that makes a new
    unshielded collider, :meth:`extendable` is Dor & Tarsi's test for a consistent extension
    (a DAG orienting every undirected edge with no new unshielded collider and no cycle), and
    :meth:`close` applies Meek's rules 1 and 2, which every consistent extension obeys.
    """

    def __init__(
        self,
        nodes: Sequence[str],
        directed: set[tuple[str, str]],
        undirected: set[frozenset[str]],
        bidirected: set[frozenset[str]] = frozenset(),
    ) -> None:
        self.nodes = list(nodes)
        self.pa: dict[str, set[str]] = {n: set() for n in self.nodes}
        self.ch: dict[str, set[str]] = {n: set() for n in self.nodes}
        self.un: dict[str, set[str]] = {n: set() for n in self.nodes}
        self.adj: dict[str, set[str]] = {n: set() for n in self.nodes}
        for s, t in directed:
            self.pa[t].add(s)
            self.ch[s].add(t)
        for a, b in (tuple(e) for e in undirected):
            self.un[a].add(b)
            self.un[b].add(a)
        for a, b in [*directed, *(tuple(e) for e in (*undirected, *bidirected))]:
            self.adj[a].add(b)
            self.adj[b].add(a)

    def copy(self) -> PDAG:
        new = object.__new__(PDAG)
        new.nodes, new.adj = self.nodes, self.adj  # adjacencies never change
        new.pa = {n: set(s) for n, s in self.pa.items()}
        new.ch = {n: set(s) for n, s in self.ch.items()}
        new.un = {n: set(s) for n, s in self.un.items()}
        return new

    def _direct(self, u: str, v: str) -> None:
        self.un[u].discard(v)
        self.un[v].discard(u)
        self.pa[v].add(u)
        self.ch[u].add(v)

    def orient(self, u: str, v: str) -> bool:
        """Orient the undirected edge u - v as u -> v; False (nothing changed) if that makes an
        unshielded collider u -> v <- w. Cycles are left to :meth:`extendable`."""
        if v not in self.un[u]:
            raise ValueError(f"{u!r} - {v!r} is not an undirected edge")
        if any(w not in self.adj[u] for w in self.pa[v]):
            return False
        self._direct(u, v)
        return True

    def extendable(self) -> bool:
        """Whether a consistent extension exists (Dor & Tarsi 1992): repeatedly remove a node
        with no children whose undirected neighbours are adjacent to all its other parents and
        neighbours; the graph is extendable iff every node goes."""
        pa = {n: set(s) for n, s in self.pa.items()}
        ch = {n: set(s) for n, s in self.ch.items()}
        un = {n: set(s) for n, s in self.un.items()}
        alive = list(self.nodes)
        while alive:
            for x in alive:
                if ch[x]:
                    continue
                around = pa[x] | un[x]
                if all(around - {y} <= self.adj[y] for y in un[x]):
                    break
            else:
                return False
            alive.remove(x)
            for p in pa[x]:
                ch[p].discard(x)
            for y in un[x]:
                un[y].discard(x)
        return True

    def close(self) -> None:
        """Meek's rule 1 (a -> b - c, a and c non-adjacent: b -> c) and rule 2 (b -> a -> c and
        b - c: b -> c), to a fixed point. Only sound on an extendable graph."""
        changed = True
        while changed:
            changed = False
            for b in self.nodes:
                for c in sorted(self.un[b]):
                    if any(a not in self.adj[c] for a in self.pa[b]) or self.ch[b] & self.pa[c]:
                        self._direct(b, c)
                        changed = True

    def reach(self, x: str, possible: bool = False) -> dict[str, str]:
        """Nodes reachable from x by a directed path (``possible``: a possibly directed one,
        undirected edges allowed), each mapped to its predecessor on one such path."""
        prev: dict[str, str] = {}
        stack = [x]
        while stack:
            n = stack.pop()
            for m in sorted(self.ch[n] | (self.un[n] if possible else set())):
                if m != x and m not in prev:
                    prev[m] = n
                    stack.append(m)
        return prev


def path_statuses(pdag: PDAG, x: str, y: str) -> frozenset[bool]:
    """Whether y descends from x in the consistent extensions of ``pdag`` (extendable, closed
    under :meth:`PDAG.close`, every edge at x directed): ``{True}`` (all), ``{False}`` (none) or
    both. Without bidirected edges the answer is never both: a shortest possibly directed path
    in a graph closed under Meek's rules 1-2 is directed. Otherwise the first undirected edge
    on such a path is oriented both ways (each kept if still extendable) until it is settled.
    """
    if y in pdag.reach(x):
        return frozenset({True})
    prev = pdag.reach(x, possible=True)
    if y not in prev:
        return frozenset({False})
    path = [y]
    while path[-1] != x:
        path.append(prev[path[-1]])
    path.reverse()
    u, v = next((a, b) for a, b in pairwise(path) if b in pdag.un[a])
    found: set[bool] = set()
    for a, b in ((u, v), (v, u)):
        branch = pdag.copy()
        if branch.orient(a, b) and branch.extendable():
            branch.close()
            found |= path_statuses(branch, x, y)
            if len(found) == 2:
                break
    return frozenset(found)


def possible_parent_sets(pdag: PDAG, x: str) -> Iterator[tuple[frozenset[str], PDAG]]:
    """Local IDA: every parent set x can have in a consistent extension of ``pdag``, with the
    graph oriented at x (S -> x for the chosen siblings S, x -> the others) and closed.

    S must be a clique whose members are adjacent to every definite parent of x (no new
    unshielded collider at x); every definite parent of a new child must be adjacent to x, and
    the oriented graph must stay extendable (both always hold in a CPDAG).
    """
    base = frozenset(pdag.pa[x])
    order = {n: i for i, n in enumerate(pdag.nodes)}
    siblings = sorted(pdag.un[x], key=order.__getitem__)
    candidates = [s for s in siblings if base <= pdag.adj[s]]

    def cliques(start: int, chosen: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield chosen
        for i in range(start, len(candidates)):
            c = candidates[i]
            if all(c in pdag.adj[o] for o in chosen):
                yield from cliques(i + 1, (*chosen, c))

    for chosen in cliques(0, ()):
        g = pdag.copy()
        ok = all(g.orient(s, x) for s in chosen) and all(
            g.orient(x, c) for c in siblings if c not in chosen
        )
        if ok and g.extendable():
            g.close()
            yield base | frozenset(chosen), g


def local_cases(
    pdag: PDAG, x: str, outcomes: Sequence[str]
) -> list[tuple[frozenset[str], dict[str, frozenset[bool]]]]:
    """(parent set, {y: whether y descends from x}) for every possible parent set of x."""
    cases = []
    for parents, g in possible_parent_sets(pdag, x):
        definite, possible = g.reach(x), g.reach(x, possible=True)
        status = {}
        for y in outcomes:
            if y in definite or y not in possible:
                status[y] = frozenset({y in definite})
            else:
                status[y] = path_statuses(g, x, y)
        cases.append((parents, status))
    return cases


def global_cases(
    dags: Sequence[nx.DiGraph], x: str, outcomes: Sequence[str]
) -> list[tuple[frozenset[str], dict[str, frozenset[bool]]]]:
    """(parents of x, {y: whether y descends from x}) for every enumerated DAG."""
    cases = []
    for dag in dags:
        below = nx.descendants(dag, x)
        status = {y: frozenset({y in below}) for y in outcomes}
        cases.append((frozenset(dag.predecessors(x)), status))
    return cases


def graph_effects(
    matrix: pl.DataFrame,
    graph: Mapping[str, Any] | str | os.PathLike[str],
    values: Sequence[str] | None = None,
    *,
    standardize: bool = True,
    method: str = "local",
    max_dags: int = 64,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """IDA total effects of X on Y for every pair with a (possible) directed path.

    :param method: ``local`` (possible parent sets of X, exact, no cap) or ``global`` (DAG
        enumeration capped at ``max_dags``); a graph without a consistent extension always
        uses ``global`` under acyclicity only (``enumeration`` = ``acyclic_only``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown IDA method {method!r}; choose from {METHODS}")
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
    if not nx.is_directed_acyclic_graph(nx.DiGraph(directed)):
        raise DataError("graph's directed edges form a cycle")
    pdag = PDAG(nodes, directed, undirected, bidirected)
    enumeration = "consistent"
    if not pdag.extendable():
        log.warning(
            "graph effects: no orientation of the %d undirected edges is free of new "
            "unshielded colliders (not a CPDAG); imposing acyclicity only, by enumerating DAGs",
            len(undirected),
        )
        enumeration, method = "acyclic_only", "global"
    dags: list[nx.DiGraph] = []
    truncated = False
    if method == "global":
        dags, truncated = enumerate_dags(
            nodes,
            directed,
            undirected,
            bidirected,
            max_dags=max_dags,
            consistent=enumeration == "consistent",
        )
        if not dags:
            raise DataError("graph effects: DAG enumeration ran out of steps before any DAG")
        if truncated:
            log.warning("graph effects: DAG enumeration capped at %d DAGs", max_dags)
        log.info("graph effects: %d DAG(s) from %d undirected edges", len(dags), len(undirected))
    on_bidirected = {n for e in bidirected for n in e}
    cache: dict[tuple[str, frozenset[str], str], dict[str, float]] = {}

    def effect(x: str, parents: frozenset[str], y: str) -> tuple[float, float, float]:
        key = (x, parents, y)
        if key not in cache:
            frame = pd.DataFrame({"t": columns[x], "y": columns[y]})
            for i, p in enumerate(sorted(parents)):
                frame[f"c{i}"] = columns[p]
            cache[key] = dowhy_estimate(frame, confidence_level=confidence_level)
        r = cache[key]
        return r["estimate"], r["ci_low"], r["ci_high"]

    records = []
    for x in targets:
        outcomes = [y for y in targets if y != x]
        if method == "local":
            cases = local_cases(pdag, x, outcomes)
            log.info("graph effects: %d possible parent set(s) of %r", len(cases), x)
        else:
            cases = global_cases(dags, x, outcomes)
        for y in outcomes:
            with_path = [parents for parents, status in cases if True in status[y]]
            if not with_path:
                continue
            found = [
                effect(x, parents, y) if path else (0.0, 0.0, 0.0)
                for parents, status in cases
                for path in sorted(status[y])
            ]
            est = np.array([e for e, _, _ in found])
            records.append(
                {
                    "treatment": x,
                    "outcome": y,
                    "estimate": float(est[np.argmin(np.abs(est))]),
                    "estimate_min": float(est.min()),
                    "estimate_max": float(est.max()),
                    "ci_low": float(min(lo for _, lo, _ in found)),
                    "ci_high": float(max(hi for _, _, hi in found)),
                    "n": matrix.height,
                    "method": method,
                    "n_parent_sets": len({parents for parents, _ in cases}),
                    "n_parent_sets_with_path": len(set(with_path)),
                    "n_dags": len(dags) if method == "global" else None,
                    "n_dags_with_path": len(with_path) if method == "global" else None,
                    "dags_truncated": truncated,
                    "enumeration": enumeration,
                    "x_bidirected": x in on_bidirected,
                    "standardized": standardize,
                }
            )
    return pl.DataFrame(records, schema=GRAPH_SCHEMA, orient="row")
