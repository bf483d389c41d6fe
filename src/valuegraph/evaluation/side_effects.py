"""Side effects of steering (the paper's metric on the test matrix): the intervention sets, the
graphs read as the metric reads them (descendants, arcs), and one row per (setting, graph) with
expected / unexpected change frequencies, bootstrap CIs and permutation p-values."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from valuegraph.causal.graphs import system_graph, to_networkx
from valuegraph.errors import DataError
from valuegraph.evaluation.deltas import NO_ROLE, NONE, paired_deltas, scores_by_role
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


def interventions(
    test: pl.DataFrame,
    values: Sequence[str],
    sae_conditions: Sequence[str],
    prompt_conditions: Sequence[str],
    baseline_role: str | None = None,
    sae_role: str | None = None,
) -> dict[str, np.ndarray]:
    """The intervention sets (rows = interventions, columns = values) on the test matrix.

    - ``role_prompt``: each test persona minus the baseline persona (the paper: the first one);
    - ``role_prompt_pairs``: every unordered pair of test personas (every role a baseline);
    - ``sae``: the kept features on one role (the paper: one test persona), vs unsteered;
    - ``sae_all_roles``: the kept features on every test role (no-role included);
    - ``value_prompt``: every explicit value prompt on every test role, vs unsteered.
    """
    base = scores_by_role(test, NONE, values)
    personas = sorted(r for r in base if r != NO_ROLE)
    out: dict[str, np.ndarray] = {}
    empty = np.zeros((0, len(values)))
    if personas:
        b = baseline_role or personas[0]
        if b not in base:
            raise DataError(
                f"steering.evaluation.baseline_role {b!r} is not a test role ({personas[:3]}...)"
            )
        out["role_prompt"] = (
            np.stack([base[r] - base[b] for r in personas if r != b])
            if len(personas) > 1
            else empty
        )
        pairs = list(combinations(personas, 2))
        out["role_prompt_pairs"] = (
            np.stack([base[i] - base[j] for i, j in pairs]) if pairs else empty
        )
    role = sae_role or (personas[0] if personas else NO_ROLE)
    one, every = [], []
    for cond in sae_conditions:
        ids, d = paired_deltas(test, values, cond)
        every += list(d)
        one += [row for r, row in zip(ids, d, strict=True) if r == role]
    out["sae"] = np.stack(one) if one else empty
    out["sae_all_roles"] = np.stack(every) if every else empty
    prompted = [row for cond in prompt_conditions for row in paired_deltas(test, values, cond)[1]]
    if prompted:
        out["value_prompt"] = np.stack(prompted)
    return out


def side_effects(
    test: pl.DataFrame,
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
    """One row per (intervention setting, graph): the paper's metric plus CIs and p-values."""
    sets = interventions(test, values, sae_conditions, prompt_conditions, baseline_role, sae_role)
    rows = []
    for gname, graph in graphs.items():
        g = restrict_graph(graph, values, gname)
        desc, arcs = descendant_matrix(g, values), n_arcs(g)
        for setting, delta in sets.items():
            stats = side_effect_stats(
                delta,
                desc,
                arcs,
                threshold,
                n_bootstrap,
                n_permutations,
                derive_seed(seed, "side-effects", setting, gname),
            )
            rows.append({"setting": setting, "graph": gname, "n_arcs": arcs, **stats})
            log.info(
                "%s / %s: expected %.3f unexpected %.3f (p %.3g, %d interventions)",
                setting,
                gname,
                stats["expected"],
                stats["unexpected"],
                stats["p_value"],
                stats["n_interventions"],
            )
    return pl.DataFrame(rows, infer_schema_length=None)
