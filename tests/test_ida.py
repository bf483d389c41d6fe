"""Local IDA (possible parent sets of the treatment) against the global DAG enumeration of
valuegraph.causal.ida: the same (parent set, path) cases and the same effects for every ordered
pair on random CPDAGs and PDAGs, the validity rule on hand-built graphs, no cap."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
import polars as pl
import pytest

from valuegraph.causal import ida

SAME = ["treatment", "outcome", "estimate", "estimate_min", "estimate_max", "ci_low", "ci_high"]


def random_dag(rng: np.random.Generator, p: int, prob: float) -> tuple[list[str], set]:
    nodes = [f"V{i}" for i in range(p)]
    order = [nodes[i] for i in rng.permutation(p)]
    edges = {(a, b) for i, a in enumerate(order) for b in order[i + 1 :] if rng.random() < prob}
    return nodes, edges


def to_cpdag(nodes: list[str], edges: set) -> tuple[set, set]:
    """causal-learn's dag2cpdag, back to (directed, undirected) edge sets."""
    from causallearn.graph.Dag import Dag
    from causallearn.graph.GraphNode import GraphNode
    from causallearn.utils.DAG2CPDAG import dag2cpdag

    gn = [GraphNode(n) for n in nodes]
    dag = Dag(gn)
    for s, t in edges:
        dag.add_directed_edge(gn[nodes.index(s)], gn[nodes.index(t)])
    g = dag2cpdag(dag).graph
    directed, undirected = set(), set()
    for i, j in itertools.combinations(range(len(nodes)), 2):
        if (g[i, j], g[j, i]) == (-1, -1):
            undirected.add(frozenset((nodes[i], nodes[j])))
        elif (g[i, j], g[j, i]) == (-1, 1):
            directed.add((nodes[i], nodes[j]))
        elif (g[i, j], g[j, i]) == (1, -1):
            directed.add((nodes[j], nodes[i]))
    return directed, undirected


def random_pdag(rng: np.random.Generator, p: int) -> tuple[list[str], set, set, set]:
    """Any mix of directed (acyclic), undirected and bidirected edges: mostly not a CPDAG."""
    nodes = [f"V{i}" for i in range(p)]
    order = [nodes[i] for i in rng.permutation(p)]
    directed, undirected, bidirected = set(), set(), set()
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            if rng.random() < 0.55:
                r = rng.random()
                if r < 0.25:
                    directed.add((a, b))
                elif r < 0.8:
                    undirected.add(frozenset((a, b)))
                else:
                    bidirected.add(frozenset((a, b)))
    return nodes, directed, undirected, bidirected


def cases_agree(nodes, directed, undirected, bidirected=frozenset()) -> int | None:
    """Assert local and global IDA give the same (parent set, y descends) cases for every
    ordered pair; the number of pairs, or None when the graph has no consistent extension."""
    pdag = ida.PDAG(nodes, directed, undirected, bidirected)
    dags, truncated = ida.enumerate_dags(nodes, directed, undirected, bidirected, max_dags=10**6)
    assert not truncated
    assert pdag.extendable() == bool(dags)
    if not dags:
        return None
    pairs = 0
    for x in nodes:
        others = [y for y in nodes if y != x]
        local = ida.local_cases(pdag, x, others)
        dagwise = ida.global_cases(dags, x, others)
        assert len({p for p, _ in local}) == len(local)  # each parent set once
        assert {p for p, _ in local} == {p for p, _ in dagwise}
        for y in others:
            got = {(p, path) for p, status in local for path in status[y]}
            want = {(p, path) for p, status in dagwise for path in status[y]}
            assert got == want, (x, y, directed, undirected, bidirected)
            pairs += 1
    return pairs


def test_local_cases_match_enumeration_on_random_cpdags():
    rng = np.random.default_rng(0)
    pairs = 0
    for _ in range(150):
        nodes, edges = random_dag(rng, int(rng.integers(4, 8)), rng.uniform(0.2, 0.8))
        pairs += cases_agree(nodes, *to_cpdag(nodes, edges))
    assert pairs > 3000


def test_local_cases_match_enumeration_on_random_pdags_with_bidirected_edges():
    """Not CPDAGs: the extension test and, with bidirected edges, the path search matter."""
    rng = np.random.default_rng(1)
    graphs = pairs = ambiguous = 0
    for _ in range(400):
        nodes, directed, undirected, bidirected = random_pdag(rng, int(rng.integers(4, 8)))
        n = cases_agree(nodes, directed, undirected, bidirected)
        if n is not None:
            graphs, pairs = graphs + 1, pairs + n
            pdag = ida.PDAG(nodes, directed, undirected, bidirected)
            for x in nodes:
                others = [y for y in nodes if y != x]
                for _, status in ida.local_cases(pdag, x, others):
                    ambiguous += sum(len(s) == 2 for s in status.values())
    assert graphs > 250 and pairs > 5000
    assert ambiguous > 100  # parent sets with and without a path X -> Y both occur


# --------------------------------------------------------------------------- validity rule


def parent_sets(directed, undirected, bidirected=frozenset(), x="X", nodes=None):
    nodes = nodes or sorted({n for e in [*directed, *undirected, *bidirected] for n in e})
    pdag = ida.PDAG(nodes, directed, {frozenset(e) for e in undirected}, bidirected)
    return {p for p, _ in ida.possible_parent_sets(pdag, x)}


def fs(*names: str) -> frozenset[str]:
    return frozenset(names)


def test_non_clique_sibling_set_is_rejected():
    # A - X - B with A, B non-adjacent: {A, B} would be a new collider A -> X <- B.
    assert parent_sets(set(), [("A", "X"), ("X", "B")]) == {fs(), fs("A"), fs("B")}
    # with A - B the siblings are a clique and every subset is possible
    got = parent_sets(set(), [("A", "X"), ("X", "B"), ("A", "B")])
    assert got == {fs(), fs("A"), fs("B"), fs("A", "B")}


def test_sibling_not_adjacent_to_a_definite_parent_is_rejected():
    # P -> X - A, P and A non-adjacent (not a CPDAG: Meek's rule 1 would orient X -> A)
    assert parent_sets({("P", "X")}, [("X", "A")]) == {fs("P")}
    # adjacent (A - P) it may join the parents
    assert parent_sets({("P", "X")}, [("X", "A"), ("A", "P")]) == {fs("P"), fs("P", "A")}
    # a bidirected edge is an adjacency too: it shields the collider P -> X <- A
    assert parent_sets({("P", "X")}, [("X", "A")], {fs("A", "P")}) == {fs("P"), fs("P", "A")}


def test_new_collider_at_a_child_and_cycles_are_rejected():
    # W -> C - X, W and X non-adjacent: X -> C would make the collider X -> C <- W
    assert parent_sets({("W", "C")}, [("X", "C")]) == {fs("C")}
    # A -> B -> X - A: X -> A closes a cycle, so only A -> X
    assert parent_sets({("A", "B"), ("B", "X")}, [("X", "A")]) == {fs("A", "B")}


def test_bidirected_shield_leaves_both_path_statuses():
    # X -> A - Y with X <-> Y: A -> Y (Y descends from X) and Y -> A (a collider X -> A <- Y,
    # shielded by X <-> Y) are both consistent
    pdag = ida.PDAG(["X", "A", "Y"], {("X", "A")}, {fs("A", "Y")}, {fs("X", "Y")})
    [(parents, status)] = ida.local_cases(pdag, "X", ["A", "Y"])
    assert parents == fs() and status == {"A": {True}, "Y": {False, True}}
    pdag = ida.PDAG(["X", "A", "Y"], {("X", "A")}, {fs("A", "Y")})  # not shielded: A -> Y
    assert ida.local_cases(pdag, "X", ["Y"]) == [(fs(), {"Y": {True}})]


# --------------------------------------------------------------------------- graph effects


def ols_estimate(frame: pd.DataFrame, **_) -> dict[str, float]:
    """Stand-in for DoWhy's linear regression (same columns): coefficient of t and a CI."""
    data = frame.to_numpy(float)  # t, y, adjusters
    design = np.column_stack([np.ones(len(data)), data[:, :1], data[:, 2:]])
    gram = np.linalg.inv(design.T @ design)
    coef = gram @ design.T @ data[:, 1]
    resid = data[:, 1] - design @ coef
    se = float(np.sqrt(resid @ resid / (len(data) - design.shape[1]) * gram[1, 1]))
    return {"estimate": float(coef[1]), "ci_low": coef[1] - 2 * se, "ci_high": coef[1] + 2 * se}


@pytest.fixture
def fast_ols(monkeypatch):
    monkeypatch.setattr(ida, "dowhy_estimate", ols_estimate)


def gaussian_matrix(nodes, edges, rng, n=300) -> pl.DataFrame:
    """Linear-Gaussian data from a DAG (edge weights 0.5-1.5, random signs)."""
    dag = nx.DiGraph(edges)
    dag.add_nodes_from(nodes)
    cols: dict[str, np.ndarray] = {}
    for v in nx.topological_sort(dag):  # raises on a cycle
        parents = sorted(dag.predecessors(v))
        w = rng.uniform(0.5, 1.5, len(parents)) * rng.choice([-1, 1], len(parents))
        cols[v] = sum((wi * cols[p] for wi, p in zip(w, parents, strict=True)), 0.0)
        cols[v] = cols[v] + rng.normal(size=n)
    ids = {"role_id": [f"r{i}" for i in range(n)], "condition": "none"}
    return pl.DataFrame(ids | {v: cols[v] for v in nodes})


def as_graph(nodes, directed, undirected, bidirected=()) -> dict:
    edges = [{"source": s, "target": t, "type": "directed"} for s, t in sorted(directed)]
    for kind, group in (("undirected", undirected), ("bidirected", bidirected)):
        edges += [{"source": a, "target": b, "type": kind} for a, b in map(sorted, group)]
    return {"nodes": nodes, "edges": edges}


def distinct_effects(m: pl.DataFrame, cases: list, x: str, y: str) -> set[float]:
    """The distinct effects of x on y over (parent set, {y: path}) cases."""
    out = {0.0} if any(False in status[y] for _, status in cases) else set()
    for parents in {parents for parents, status in cases if True in status[y]}:
        frame = pd.DataFrame({"t": m[x].to_numpy(), "y": m[y].to_numpy()})
        for i, p in enumerate(sorted(parents)):
            frame[f"c{i}"] = m[p].to_numpy()
        out.add(ols_estimate(frame)["estimate"])
    return out


def test_graph_effects_local_equals_global_on_random_cpdags(fast_ols):
    rng = np.random.default_rng(2)
    pairs = 0
    for _ in range(20):
        nodes, edges = random_dag(rng, int(rng.integers(4, 8)), rng.uniform(0.3, 0.7))
        directed, undirected = to_cpdag(nodes, edges)
        m, g = gaussian_matrix(nodes, edges, rng), as_graph(nodes, directed, undirected)
        local = ida.graph_effects(m, g, standardize=False)
        dagwise = ida.graph_effects(m, g, standardize=False, method="global", max_dags=10**6)
        assert not dagwise["dags_truncated"].any() and not local["dags_truncated"].any()
        assert local.select(SAME).equals(dagwise.select(SAME))
        keep = ["n_parent_sets", "n_parent_sets_with_path"]
        assert local.select(keep).equals(dagwise.select(keep))
        assert (dagwise["n_dags_with_path"] >= dagwise["n_parent_sets_with_path"]).all()
        # the distinct effects themselves, for every ordered pair (with a path or not)
        pdag = ida.PDAG(nodes, directed, undirected)
        dags, _ = ida.enumerate_dags(nodes, directed, undirected, max_dags=10**6)
        for x in nodes:
            others = [y for y in nodes if y != x]
            lc, gc = ida.local_cases(pdag, x, others), ida.global_cases(dags, x, others)
            for y in others:
                assert distinct_effects(m, lc, x, y) == distinct_effects(m, gc, x, y)
                pairs += 1
    assert pairs > 500


def test_graph_effects_local_equals_global_with_ambiguous_paths(fast_ols):
    """PDAGs with bidirected edges, where one parent set can give both its regression and a 0."""
    rng = np.random.default_rng(3)
    compared = mixed = 0
    for _ in range(60):
        nodes, directed, undirected, bidirected = random_pdag(rng, int(rng.integers(4, 7)))
        if not ida.PDAG(nodes, directed, undirected, bidirected).extendable():
            continue
        [dag], _ = ida.enumerate_dags(nodes, directed, undirected, bidirected, max_dags=1)
        m = gaussian_matrix(nodes, set(dag.edges), rng, n=200)
        g = as_graph(nodes, directed, undirected, bidirected)
        local = ida.graph_effects(m, g)
        dagwise = ida.graph_effects(m, g, method="global", max_dags=10**6)
        keep = [*SAME, "n_parent_sets", "n_parent_sets_with_path", "x_bidirected"]
        assert local.select(keep).equals(dagwise.select(keep))
        # every parent set has a path, yet some DAG has none: a parent set with both
        mixed += local.filter(
            (pl.col("n_parent_sets_with_path") == pl.col("n_parent_sets"))
            & ((pl.col("estimate_min") == 0) | (pl.col("estimate_max") == 0))
        ).height
        compared += 1
    assert compared > 30 and mixed > 5


def test_no_cap_where_the_enumeration_was_truncated(fast_ols):
    """A complete undirected graph on 6 nodes: 720 DAGs, 32 parent sets per node. The old
    default (64 DAGs) is truncated and misses part of the range; local IDA is exact."""
    rng = np.random.default_rng(4)
    nodes = [f"V{i}" for i in range(6)]
    edges = {(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]}
    m = gaussian_matrix(nodes, edges, rng)
    g = as_graph(nodes, set(), {frozenset(e) for e in edges})
    local = ida.graph_effects(m, g)
    capped = ida.graph_effects(m, g, method="global")
    full = ida.graph_effects(m, g, method="global", max_dags=720)
    assert local.height == full.height == 30
    assert set(local["n_parent_sets"]) == {32} and not local["dags_truncated"].any()
    assert set(full["n_dags"]) == {720} and not full["dags_truncated"].any()
    assert capped["dags_truncated"].all() and set(capped["n_dags"]) == {64}
    assert local.select(SAME).equals(full.select(SAME))
    narrower = capped.join(local, on=["treatment", "outcome"], suffix="_local").filter(
        (pl.col("estimate_min") > pl.col("estimate_min_local"))
        | (pl.col("estimate_max") < pl.col("estimate_max_local"))
    )
    assert narrower.height > 10  # the cap cut the range of most pairs
    assert (capped["n_parent_sets"] < 32).any()


def test_graph_without_consistent_extension_falls_back_to_global(fast_ols):
    # an undirected 4-cycle without a chord: every orientation has an unshielded collider
    nodes = ["X", "A", "Y", "B"]
    ring = {fs("X", "A"), fs("A", "Y"), fs("Y", "B"), fs("B", "X")}
    assert not ida.PDAG(nodes, set(), ring).extendable()
    rng = np.random.default_rng(5)
    m = gaussian_matrix(nodes, {("X", "A"), ("A", "Y"), ("X", "B"), ("B", "Y")}, rng)
    out = ida.graph_effects(m, as_graph(nodes, set(), ring))
    assert set(out["enumeration"]) == {"acyclic_only"} and set(out["method"]) == {"global"}
    with pytest.raises(ValueError, match="unknown IDA method"):
        ida.graph_effects(m, as_graph(nodes, set(), ring), method="optimal")


def test_cli_passes_the_ida_method(tmp_path, monkeypatch):
    import argparse

    from valuegraph.cli import effects as cli_effects

    parser = argparse.ArgumentParser()
    cli_effects.register(parser.add_subparsers())
    base = ["effects", "--matrix", "m", "--out-role", "r", "--out-steering", "s"]
    assert parser.parse_args(base).ida == "local"
    assert parser.parse_args([*base, "--ida", "global", "--max-dags", "9"]).ida == "global"
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--ida", "optimal"])
