"""GRAPH.json graphs: the format, reference graphs, and comparison (SHD, skeleton and
orientation scores).

Graphs are GRAPH.json dicts (``nodes``, ``edges`` with ``source``, ``target``, ``type``). Two
graphs are compared over node *pairs*: a pair's state is the set of its oriented marks, so
``A→B``, ``B→A``, ``A—B`` and the paper's 2-cycle ``A→B`` + ``B→A`` are four different states.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl

from valuegraph.errors import DataError
from valuegraph.io import read_json

SYMMETRIC_TYPES = ("undirected", "bidirected", "nondirected")
EDGE_TYPES = (
    "directed",
    "undirected",
    "bidirected",
    "partially_directed",
    "nondirected",
    "partially_undirected",
)


# --------------------------------------------------------------------------- the format


def graph_edges(graph: dict[str, Any], stable: bool = False) -> list[dict[str, Any]]:
    """The edge list of a GRAPH.json dict (``stable_edges`` when asked and present)."""
    if stable:
        if "stable_edges" not in graph:
            raise DataError("graph has no stable_edges (it was not bootstrapped)")
        return graph["stable_edges"]
    return graph["edges"]


def to_networkx(graph: dict[str, Any], stable: bool = False) -> nx.DiGraph:
    """A DiGraph over all nodes; non-directed edges become two opposite arcs (as the paper reads
    them for reachability). Arcs carry ``type`` and, if present, ``frequency``."""
    g = nx.DiGraph()
    g.add_nodes_from(graph["nodes"])
    for e in graph_edges(graph, stable):
        attrs = {k: v for k, v in e.items() if k not in ("source", "target")}
        g.add_edge(e["source"], e["target"], **attrs)
        if e["type"] != "directed":
            g.add_edge(e["target"], e["source"], **attrs)
    return g


def descendants(graph: dict[str, Any], stable: bool = False) -> dict[str, set[str]]:
    """Each node's descendants (reachable nodes, itself excluded), per :func:`to_networkx`."""
    g = to_networkx(graph, stable)
    return {n: nx.descendants(g, n) - {n} for n in g.nodes}


# --------------------------------------------------------------------------- loading


def read_reference_graph(
    path: str | os.PathLike[str], nodes: Sequence[str] | None = None
) -> dict[str, Any]:
    """Read a reference edge list (TSV with header ``source<TAB>target``; ``#`` lines are
    comments) as a GRAPH.json dict with directed edges.

    :param nodes: the allowed node names (e.g. the learned graph's); an edge naming another value
        raises :class:`DataError` naming the file and the value. The result's nodes are ``nodes``
        (or, when None, the endpoints in order of appearance).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: reference graph file not found")
    rows = [
        line.rstrip("\n").rstrip("\r")
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows or rows[0].split("\t")[:2] != ["source", "target"]:
        raise DataError(
            f"{path}: the first non-comment line must be the header 'source<TAB>target'"
        )
    known = set(nodes) if nodes is not None else None
    order: list[str] = list(nodes) if nodes is not None else []
    edges, seen = [], set()
    for lineno, line in enumerate(rows[1:], start=2):
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise DataError(f"{path}: edge line {lineno} needs 'source<TAB>target', got {line!r}")
        s, t = fields[0], fields[1]
        for value in (s, t):
            if known is not None and value not in known:
                raise DataError(
                    f"{path}: unknown value {value!r} (not among the graph's {len(known)} nodes); "
                    "fix the spelling or the value set"
                )
            if value not in order:
                order.append(value)
        if s == t:
            raise DataError(f"{path}: self-loop {s!r} → {t!r}")
        if (s, t) in seen:
            raise DataError(f"{path}: duplicate edge {s!r} → {t!r}")
        seen.add((s, t))
        edges.append({"source": s, "target": t, "type": "directed"})
    return {"nodes": order, "edges": edges, "params": {"reference": str(path)}, "handling": []}


def load_graph(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a GRAPH.json file."""
    graph = read_json(path)
    if not isinstance(graph, dict) or "nodes" not in graph or "edges" not in graph:
        raise DataError(f"{path}: not a GRAPH.json (needs 'nodes' and 'edges')")
    nodes = set(graph["nodes"])
    for e in graph["edges"]:
        for key in ("source", "target"):
            if e.get(key) not in nodes:
                raise DataError(f"{path}: edge {e} names {e.get(key)!r}, which is not a node")
    return graph


def system_graph(graph: dict[str, Any]) -> dict[str, Any]:
    """The graph without its JCI context nodes and their edges (for value-structure scores)."""
    context = set(graph.get("context_nodes") or ())
    if not context:
        return graph
    keep = [e for e in graph["edges"] if e["source"] not in context and e["target"] not in context]
    nodes = [n for n in graph["nodes"] if n not in context]
    return {**graph, "nodes": nodes, "edges": keep, "context_nodes": []}


# --------------------------------------------------------------------------- pair views


def pair_states(graph: dict[str, Any], stable: bool = False) -> dict[frozenset[str], frozenset]:
    """Map each adjacent pair to its state: a frozenset of (source, target, type) marks, with
    symmetric types written in sorted node order."""
    states: dict[frozenset[str], set] = {}
    for e in graph_edges(graph, stable):
        s, t, kind = e["source"], e["target"], e["type"]
        if kind in SYMMETRIC_TYPES:
            s, t = sorted((s, t))
        states.setdefault(frozenset((s, t)), set()).add((s, t, kind))
    return {k: frozenset(v) for k, v in states.items()}


def adjacencies(graph: dict[str, Any], stable: bool = False) -> set[frozenset[str]]:
    """The skeleton: unordered adjacent pairs."""
    return set(pair_states(graph, stable))


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def shd(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Structural Hamming distance: node pairs whose state differs (missing, extra or differently
    oriented edges each count 1)."""
    sa, sb = pair_states(a), pair_states(b)
    return sum(1 for pair in set(sa) | set(sb) if sa.get(pair) != sb.get(pair))


def skeleton_scores(learned: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """Skeleton precision, recall and F1 of ``learned`` against ``reference`` (NaN when a
    denominator is empty)."""
    la, ra = adjacencies(learned), adjacencies(reference)
    tp = len(la & ra)
    precision, recall = _ratio(tp, len(la)), _ratio(tp, len(ra))
    if math.isnan(precision) or math.isnan(recall):
        f1 = math.nan
    else:
        f1 = _ratio(2 * precision * recall, precision + recall) if tp else 0.0
    return {"skeleton_precision": precision, "skeleton_recall": recall, "skeleton_f1": f1}


def jaccard(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Jaccard index of the two skeletons (1.0 when both are empty)."""
    sa, sb = adjacencies(a), adjacencies(b)
    union = sa | sb
    return len(sa & sb) / len(union) if union else 1.0


def orientation_scores(learned: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """Orientation on the shared adjacencies.

    * ``orientation_agreement``: the fraction of shared pairs whose state is identical.
    * ``orientation_accuracy``: among shared pairs that are a single directed edge in
      ``reference``, the fraction that are that same single directed edge in ``learned``.
    * ``n_shared``, ``n_same_orientation``, ``n_opposite`` (single edges pointing the other way).
    """
    sl, sr = pair_states(learned), pair_states(reference)
    shared = set(sl) & set(sr)
    same = sum(1 for p in shared if sl[p] == sr[p])
    directed_ref = [p for p in shared if len(sr[p]) == 1 and next(iter(sr[p]))[2] == "directed"]
    correct = sum(1 for p in directed_ref if sl[p] == sr[p])
    opposite = 0
    for p in directed_ref:
        (s, t, _), lstate = next(iter(sr[p])), sl[p]
        if lstate == frozenset({(t, s, "directed")}):
            opposite += 1
    return {
        "orientation_agreement": _ratio(same, len(shared)),
        "orientation_accuracy": _ratio(correct, len(directed_ref)),
        "n_shared": len(shared),
        "n_same_orientation": same,
        "n_opposite": opposite,
    }


def compare(learned: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """All scores of ``learned`` against ``reference`` in one flat dict."""
    return {
        "shd": shd(learned, reference),
        **skeleton_scores(learned, reference),
        **orientation_scores(learned, reference),
        "jaccard": jaccard(learned, reference),
        "n_edges": len(learned["edges"]),
        "n_edges_against": len(reference["edges"]),
        "n_adjacencies": len(adjacencies(learned)),
        "n_adjacencies_against": len(adjacencies(reference)),
    }


def compare_graphs(
    graphs: Mapping[str, dict[str, Any]],
    references: Mapping[str, dict[str, Any]] | None = None,
    n_null: int = 0,
    seed: int = 0,
) -> pl.DataFrame:
    """Tidy table: each graph against each reference (``against_kind`` = ``reference``) and
    against each other graph (``model``, both orders since precision/recall are asymmetric).
    JCI context nodes are left out (:func:`system_graph`).

    With ``n_null`` > 0 each row also has its random-graph null
    (:func:`valuegraph.causal.uncertainty.graph_null`): skeleton F1 and SHD of ``n_null``
    random DAGs with the graph's adjacency count against the same graph (against a reference:
    the reference as it is; against another model: a random DAG with that model's count, so two
    unrelated graphs), their means and one-sided p-values, seeded by
    ``derive_seed(seed, "compare", graph, against)``. Without, those columns are empty."""
    from valuegraph.causal.uncertainty import graph_null
    from valuegraph.seeding import derive_seed

    graphs = {name: system_graph(g) for name, g in graphs.items()}
    rows = []

    def add(name, graph, against_name, against, kind):
        rows.append({"graph": name, "against": against_name, "against_kind": kind})
        rows[-1].update(compare(graph, against))
        if n_null > 0:
            seed_row = derive_seed(seed, "compare", name, against_name)
            rows[-1].update(graph_null(graph, against, n_null, seed_row, kind == "model"))

    for name, graph in graphs.items():
        for ref_name, ref in (references or {}).items():
            add(name, graph, ref_name, ref, "reference")
        for other_name, other in graphs.items():
            if other_name != name:
                add(name, graph, other_name, other, "model")
    schema = {
        "graph": pl.Utf8,
        "against": pl.Utf8,
        "against_kind": pl.Utf8,
        "shd": pl.Int64,
        "skeleton_precision": pl.Float64,
        "skeleton_recall": pl.Float64,
        "skeleton_f1": pl.Float64,
        "orientation_agreement": pl.Float64,
        "orientation_accuracy": pl.Float64,
        "n_shared": pl.Int64,
        "n_same_orientation": pl.Int64,
        "n_opposite": pl.Int64,
        "jaccard": pl.Float64,
        "n_edges": pl.Int64,
        "n_edges_against": pl.Int64,
        "n_adjacencies": pl.Int64,
        "n_adjacencies_against": pl.Int64,
        "skeleton_f1_null_mean": pl.Float64,
        "skeleton_f1_p": pl.Float64,
        "shd_null_mean": pl.Float64,
        "shd_p": pl.Float64,
        "n_null_graphs": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
