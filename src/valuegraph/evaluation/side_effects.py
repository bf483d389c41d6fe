"""Side effects of steering (the paper's metric on the test matrix): the intervention sets, the
graphs read as the metric reads them (descendants, arcs), and one row per (setting, graph) with
expected / unexpected change frequencies, bootstrap CIs and permutation p-values."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from valuegraph.causal.graphs import load_graph, read_reference_graph, system_graph, to_networkx
from valuegraph.errors import DataError
from valuegraph.evaluation.deltas import NO_ROLE, NONE, ScoreMatrix, as_scores
from valuegraph.evaluation.statistics import reachability, side_effect_stats
from valuegraph.seeding import derive_seed

log = logging.getLogger(__name__)


def descendant_matrix(graph: Mapping[str, Any], values: Sequence[str]) -> np.ndarray:
    """D[x, y] = y is a descendant of x (reachability, undirected edges both ways, x excluded)."""
    return reachability(to_networkx(dict(graph)), values)


def restrict_graph(graph: Mapping[str, Any], values: Sequence[str], name: str) -> dict[str, Any]:
    """The graph on ``values`` only (JCI context nodes and edges naming other values dropped)."""
    g = system_graph(dict(graph))
    keep = set(values)
    edges = [e for e in g["edges"] if e["source"] in keep and e["target"] in keep]
    if len(edges) < len(g["edges"]):
        log.info(
            "%s: %d edge(s) name values outside the value set; dropped",
            name,
            len(g["edges"]) - len(edges),
        )
    return {**g, "nodes": list(values), "edges": edges}


def n_arcs(graph: Mapping[str, Any]) -> int:
    """Arcs of the graph read as the metric reads it (a non-directed edge = two arcs)."""
    arcs = set()
    for e in graph["edges"]:
        arcs.add((e["source"], e["target"]))
        if e["type"] != "directed":
            arcs.add((e["target"], e["source"]))
    return len(arcs)


def load_graph_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A GRAPH.json (from ``discover``; ``.json``) or a reference edge list (TSV, any other
    extension: header ``source<TAB>target``)."""
    if Path(path).suffix == ".json":
        return load_graph(path)
    return read_reference_graph(path)


def prompt_interventions(
    test: ScoreMatrix, baseline_role: str | None = None
) -> tuple[list[str], np.ndarray, str]:
    """The prompt arm (spec section 11): the unsteered rows of every persona (roles except the
    no-persona ``none``) minus the unsteered row of ``baseline_role`` (default: the first persona
    in file order); one intervention per persona other than the baseline. Returns the personas,
    the deltas and the baseline role."""
    base = test.scores(NONE)
    personas = test.personas()
    empty = np.zeros((0, len(test.values)))
    if not personas:
        return [], empty, baseline_role or ""
    b = baseline_role or personas[0]
    if b not in base:
        shown = ", ".join(list(base)[:5]) + (", ..." if len(base) > 5 else "")
        raise DataError(
            f"{test.source}: baseline_role {b!r} has no unsteered ('none') row (roles: {shown})"
        )
    labels = [r for r in personas if r != b]
    delta = np.stack([base[r] - base[b] for r in labels]) if labels else empty
    return labels, delta, b


def sae_interventions(
    test: ScoreMatrix, conditions: Sequence[str], role: str | None = None
) -> tuple[list[str], np.ndarray, str]:
    """The SAE arm (spec section 11): one role (default: the first persona in file order, else
    the no-persona role) under each SAE condition minus its unsteered row; a condition without
    both rows of the role is left out (the contract command refuses it first). Returns the
    conditions used, the deltas and the role."""
    personas = test.personas()
    role = role or (personas[0] if personas else NO_ROLE)
    labels, rows = [], []
    for cond in conditions:
        ids, d = test.deltas(cond, roles=[role])
        if ids:
            labels.append(cond)
            rows.append(d[0])
    delta = np.stack(rows) if rows else np.zeros((0, len(test.values)))
    return labels, delta, role


def graph_side_effects(
    delta: np.ndarray,
    graphs: Mapping[str, Mapping[str, Any]],
    values: Sequence[str],
    setting: str,
    threshold: float,
    n_bootstrap: int,
    n_permutations: int,
    seed: int,
) -> list[dict[str, Any]]:
    """The paper's metric with its statistics for one intervention set (rows of ``delta``,
    columns ``values``) on each graph: one dict per graph (``graph``, ``n_arcs``, the keys of
    :func:`~valuegraph.evaluation.statistics.side_effect_stats`). The seed of each (setting,
    graph) is ``derive_seed(seed, "side-effects", setting, graph)``."""
    out = []
    for gname, graph in graphs.items():
        g = restrict_graph(graph, values, gname)
        desc, arcs = descendant_matrix(g, values), n_arcs(g)
        stats = side_effect_stats(
            delta,
            desc,
            arcs,
            threshold,
            n_bootstrap,
            n_permutations,
            derive_seed(seed, "side-effects", setting, gname),
        )
        out.append({"graph": gname, "n_arcs": arcs, **stats})
        log.info(
            "%s / %s: expected %.3f unexpected %.3f (p %.3g, %d interventions)",
            setting,
            gname,
            stats["expected"],
            stats["unexpected"],
            stats["p_value"],
            stats["n_interventions"],
        )
    return out


def interventions(
    test: pl.DataFrame | ScoreMatrix,
    values: Sequence[str],
    sae_conditions: Sequence[str],
    prompt_conditions: Sequence[str],
    baseline_role: str | None = None,
    sae_role: str | None = None,
) -> dict[str, np.ndarray]:
    """The workflow's intervention sets (rows = interventions, columns = values) on the test
    matrix.

    - ``role_prompt``: the prompt arm, :func:`prompt_interventions` (the paper's);
    - ``role_prompt_pairs``: every unordered pair of test personas (every role a baseline);
    - ``sae``: the SAE arm, :func:`sae_interventions` (the paper's);
    - ``sae_all_roles``: the kept features on every test role (no-role included);
    - ``value_prompt``: every explicit value prompt on every test role, vs unsteered.
    """
    test = as_scores(test, values)
    base = test.scores(NONE)
    personas = test.personas()
    out: dict[str, np.ndarray] = {}
    empty = np.zeros((0, len(values)))
    if personas:
        out["role_prompt"] = prompt_interventions(test, baseline_role)[1]
        pairs = list(combinations(personas, 2))
        out["role_prompt_pairs"] = (
            np.stack([base[i] - base[j] for i, j in pairs]) if pairs else empty
        )
    out["sae"] = sae_interventions(test, sae_conditions, sae_role)[1]
    every = [row for cond in sae_conditions for row in test.deltas(cond)[1]]
    out["sae_all_roles"] = np.stack(every) if every else empty
    prompted = [row for cond in prompt_conditions for row in test.deltas(cond)[1]]
    if prompted:
        out["value_prompt"] = np.stack(prompted)
    return out


def side_effects(
    test: pl.DataFrame | ScoreMatrix,
    values: Sequence[str],
    graphs: Mapping[str, Mapping[str, Any]],
    sae_conditions: Sequence[str],
    prompt_conditions: Sequence[str],
    threshold: float,
    n_bootstrap: int,
    n_permutations: int,
    seed: int,
    baseline_role: str | None = None,
    sae_role: str | None = None,
) -> pl.DataFrame:
    """The workflow's table: one row per (intervention setting, graph), the metric of
    :func:`graph_side_effects` plus CIs and p-values (per-value arrays left out)."""
    sets = interventions(test, values, sae_conditions, prompt_conditions, baseline_role, sae_role)
    rows = []
    for gname, graph in graphs.items():
        for setting, delta in sets.items():
            (stats,) = graph_side_effects(
                delta,
                {gname: graph},
                values,
                setting,
                threshold,
                n_bootstrap,
                n_permutations,
                seed,
            )
            stats.pop("per_value")
            rows.append({"setting": setting, **stats})
    return pl.DataFrame(rows, infer_schema_length=None)
