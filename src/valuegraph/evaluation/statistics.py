"""The paper's side-effect metric (``change_count``, spec section 11) and its statistics: bootstrap
95% CIs over interventions and the permutation p-value against random graphs with the same
number of arcs."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from valuegraph.evaluation.deltas import changed


def change_count(
    changes: np.ndarray,
    desc: np.ndarray,
    weights: np.ndarray | None = None,
    observed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's ``change_count`` per value X (spec section 11), as arrays over X.

    ``changes[k, y]``: intervention k changed value y. ``S_X`` = interventions changing X;
    ``f_X(Y)`` = share of ``S_X`` also changing Y; Expected_X = mean of f_X over the descendants
    of X, Unexpected_X = mean over all other values except X (ancestors included). NaN when
    ``S_X`` or the value set is empty. ``weights`` (bootstrap counts) weight the interventions.

    ``observed[k, y]`` (default: all True): intervention k's change of y is known (not NaN). An
    unknown change is neither counted nor in the denominator: ``f_X(Y)`` is the share among the
    interventions of ``S_X`` that observe Y, NaN when none does, and the means over Y skip NaN.
    """
    c = changes.astype(float)
    w = np.ones(c.shape[0]) if weights is None else weights.astype(float)
    o = np.ones_like(c) if observed is None else observed.astype(float)
    n_x = w @ c  # |S_X|
    co = c.T @ (c * w[:, None])  # co[x, y] = sum_k w_k c_kx c_ky
    den = c.T @ (o * w[:, None])  # den[x, y] = sum_k w_k c_kx o_ky
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(den > 0, co / np.where(den > 0, den, 1.0), np.nan)
    eye = np.eye(len(n_x), dtype=bool)
    expected = _masked_mean(f, desc)
    unexpected = _masked_mean(f, ~desc & ~eye)
    skip = n_x == 0
    expected[skip] = np.nan
    unexpected[skip] = np.nan
    return expected, unexpected


def _masked_mean(f: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row means of ``f`` over ``mask`` skipping NaN; NaN for a row with nothing to average."""
    use = mask & np.isfinite(f)
    n = use.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(use, f, 0.0).sum(1) / np.maximum(n, 1), np.nan)


def nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def nanstd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std()) if x.size else float("nan")


def _listed(x: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in x]


def reachability(graph: nx.DiGraph, nodes: Sequence[Hashable]) -> np.ndarray:
    """R[i, j] = ``nodes[j]`` is a descendant of ``nodes[i]`` in ``graph`` (a path of length >= 1;
    a node is never its own descendant, even on a cycle); a node not in ``graph`` reaches none."""
    index = {n: i for i, n in enumerate(nodes)}
    out = np.zeros((len(index), len(index)), dtype=bool)
    for x, i in index.items():
        if x in graph:
            out[i, [index[y] for y in nx.descendants(graph, x) if y in index]] = True
    return out


def random_descendants(n_values: int, arcs: int, rng: np.random.Generator) -> np.ndarray:
    """Descendant matrix of a uniformly random digraph with ``arcs`` distinct arcs, no loops."""
    pairs = np.array([(i, j) for i in range(n_values) for j in range(n_values) if i != j])
    pick = pairs[rng.choice(len(pairs), size=min(arcs, len(pairs)), replace=False)]
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n_values))
    graph.add_edges_from(pick.tolist())
    return reachability(graph, range(n_values))


def side_effect_stats(
    delta: np.ndarray,
    desc: np.ndarray,
    arcs: int,
    threshold: float,
    n_bootstrap: int,
    n_permutations: int,
    seed: int,
) -> dict[str, Any]:
    """Expected / unexpected (NaN-ignoring means over values, and their std as the paper's error
    bars), bootstrap 95% CIs over interventions, and the permutation p-value of
    ``expected - unexpected`` against random graphs with ``arcs`` arcs (one-sided: larger is
    better; p = (1 + #null >= observed) / (1 + n)).

    ``seed`` is a derived seed (:func:`valuegraph.seeding.derive_seed`, as
    :func:`valuegraph.evaluation.side_effects.side_effects` passes it); the draws come from
    ``numpy.random.default_rng(seed)``, i.e. ``valuegraph.seeding.rng`` on the same labels.
    ``per_value`` holds the arrays over values: expected, unexpected, n_changed (``|S_X|``) and
    n_descendants (None where undefined). A NaN delta is neither a change nor an observation
    (:func:`change_count`)."""
    changes = changed(delta, threshold)
    observed = np.isfinite(delta)
    exp_x, unexp_x = change_count(changes, desc, observed=observed)
    expected, unexpected = nanmean(exp_x), nanmean(unexp_x)
    diff = expected - unexpected
    out: dict[str, Any] = {
        "n_interventions": int(delta.shape[0]),
        "n_values_moved": int((changes.sum(0) > 0).sum()),
        "mean_values_changed": float(changes.sum(1).mean()) if changes.size else float("nan"),
        "expected": expected,
        "unexpected": unexpected,
        "expected_std": nanstd(exp_x),
        "unexpected_std": nanstd(unexp_x),
        "difference": diff,
        "per_value": {
            "expected": _listed(exp_x),
            "unexpected": _listed(unexp_x),
            "n_changed": changes.sum(0).astype(int).tolist(),
            "n_descendants": desc.sum(1).astype(int).tolist(),
        },
    }
    rng = np.random.default_rng(seed)
    k = delta.shape[0]
    boots = np.full((n_bootstrap, 3), np.nan)
    for b in range(n_bootstrap if k else 0):
        w = np.bincount(rng.integers(0, k, k), minlength=k)
        e, u = change_count(changes, desc, w, observed)
        boots[b] = (nanmean(e), nanmean(u), nanmean(e) - nanmean(u))
    for col, name in enumerate(("expected", "unexpected", "difference")):
        finite = boots[:, col][np.isfinite(boots[:, col])]
        lo, hi = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
    null = np.full(n_permutations, np.nan)
    for p in range(n_permutations if k and math.isfinite(diff) else 0):
        e, u = change_count(changes, random_descendants(desc.shape[0], arcs, rng), None, observed)
        null[p] = nanmean(e) - nanmean(u)
    finite = null[np.isfinite(null)]
    out["n_permutations"] = int(finite.size)
    out["null_mean"] = float(finite.mean()) if finite.size else float("nan")
    out["p_value"] = (
        float((1 + (finite >= diff - 1e-12).sum()) / (1 + finite.size))
        if finite.size
        else float("nan")
    )
    return out
