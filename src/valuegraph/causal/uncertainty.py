"""Nulls for the structural claims: how many stable edges data without structure gives, how
well random graphs match a reference, and how often shuffled value labels fit the circumplex.

* :func:`structure_null` -- the stable-edge count of the bootstrap on data of the same shape
  with every value column permuted independently (so every dependence between values is
  destroyed while each value's distribution is kept), with the real graph's settings;
* :func:`stability_table` -- each bootstrapped edge with its frequency and stable flag, and
  one summary row (n stable, the null's mean and 95% quantile, the permutation p);
* :func:`random_graph`, :func:`graph_null` -- random DAGs with the same number of adjacencies
  on the same nodes, and the null distribution of skeleton F1 / SHD against a graph;
* :func:`circumplex_null` -- the circumplex statistic under random relabelling of the values.

Every draw comes from :func:`valuegraph.seeding.rng` on labels naming the stream.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.causal import graphs as vg_graphs
from valuegraph.seeding import derive_seed, rng

log = logging.getLogger(__name__)


def upper_p(observed: float, null: Sequence[float]) -> float:
    """One-sided permutation p that ``observed`` is this large: (1 + #null ≥ obs) / (1 + n)."""
    null = np.asarray([x for x in null if x is not None and math.isfinite(x)], dtype=float)
    if not null.size or not math.isfinite(observed):
        return math.nan
    return float((1 + (null >= observed - 1e-12).sum()) / (1 + null.size))


def lower_p(observed: float, null: Sequence[float]) -> float:
    """One-sided permutation p that ``observed`` is this small: (1 + #null ≤ obs) / (1 + n)."""
    return upper_p(-observed, [-x for x in null if x is not None])


# --------------------------------------------------------------------------- structure null


def permute_columns(frame: pl.DataFrame, columns: Sequence[str], seed: int) -> pl.DataFrame:
    """``frame`` with each of ``columns`` shuffled independently (other columns untouched); the
    order of column c comes from ``rng(seed, c)``."""
    out = []
    for name in frame.columns:
        series = frame[name]
        if name in columns:
            order = rng(seed, name).permutation(frame.height)
            series = series.gather(order)
        out.append(series)
    return pl.DataFrame(out)


def structure_null(
    frame: pl.DataFrame,
    columns: Sequence[str],
    n_permutations: int,
    seed: int,
    discover_kwargs: dict[str, Any],
) -> list[int]:
    """Stable-edge counts of :func:`~valuegraph.causal.discovery.discover` (with
    ``discover_kwargs``: the real graph's method, alpha, bootstrap, threshold, ...) on
    ``n_permutations`` copies of ``frame`` whose value ``columns`` are each permuted
    independently. Permutation k is seeded by ``derive_seed(seed, "structure-null", k)``; its
    bootstrap keeps ``discover_kwargs['seed']``. A permutation whose discovery fails on
    degenerate data is skipped (logged)."""
    from valuegraph.causal.discovery import discover
    from valuegraph.errors import ConfigError, DataError

    if not discover_kwargs.get("bootstrap"):
        raise ConfigError("the structure null needs bootstrap resamples (discovery.bootstrap > 0)")
    counts = []
    for k in range(n_permutations):
        shuffled = permute_columns(frame, columns, derive_seed(seed, "structure-null", str(k)))
        try:
            graph = discover(shuffled, **discover_kwargs)
        except DataError as exc:
            log.warning("structure null: permutation %d skipped (%s)", k, exc)
            continue
        stable = vg_graphs.system_graph({**graph, "edges": graph["stable_edges"]})
        counts.append(len(stable["edges"]))
        log.info("structure null: permutation %d: %d stable edges", k, counts[-1])
    return counts


STABILITY_SCHEMA = {
    "row": pl.Utf8,
    "source": pl.Utf8,
    "target": pl.Utf8,
    "type": pl.Utf8,
    "frequency": pl.Float64,
    "adjacency_frequency": pl.Float64,
    "in_graph": pl.Boolean,
    "stable": pl.Boolean,
    "n_stable": pl.Int64,
    "n_edges": pl.Int64,
    "null_mean": pl.Float64,
    "null_q95": pl.Float64,
    "null_max": pl.Float64,
    "n_null": pl.Int64,
    "p_value": pl.Float64,
    "n_bootstrap": pl.Int64,
    "threshold": pl.Float64,
    "n_rows": pl.Int64,
}


def stability_summary(graph: dict[str, Any], null_counts: Sequence[int]) -> dict[str, Any]:
    """The summary numbers: stable edges (JCI context edges left out), the null's mean, 95%
    quantile and max, and p = (1 + #null ≥ n_stable) / (1 + n_null)."""
    system = vg_graphs.system_graph(graph)
    stable = vg_graphs.system_graph({**graph, "edges": graph.get("stable_edges", [])})["edges"]
    counts = np.asarray(null_counts, dtype=float)
    n_stable = len(stable) if "stable_edges" in graph else None
    return {
        "n_stable": n_stable,
        "n_edges": len(system["edges"]),
        "null_mean": float(counts.mean()) if counts.size else math.nan,
        "null_q95": float(np.quantile(counts, 0.95)) if counts.size else math.nan,
        "null_max": float(counts.max()) if counts.size else math.nan,
        "n_null": int(counts.size),
        "p_value": upper_p(float(n_stable), counts) if n_stable is not None else math.nan,
        "n_bootstrap": graph["params"].get("bootstrap_ok", graph["params"].get("bootstrap")),
        "threshold": graph["params"].get("threshold"),
        "n_rows": graph["params"].get("n_rows"),
    }


def stability_table(graph: dict[str, Any], null_counts: Sequence[int]) -> pl.DataFrame:
    """One ``row = edge`` line per bootstrapped edge (its frequency, adjacency frequency, whether
    it is in the learned graph and whether it is stable, i.e. frequency ≥ threshold; JCI context
    edges left out), after one ``row = summary`` line (:func:`stability_summary`) first."""
    context = set(graph.get("context_nodes") or ())
    learned = {
        (e["source"], e["target"], e["type"]) for e in vg_graphs.system_graph(graph)["edges"]
    }
    threshold = graph["params"].get("threshold", 0.5)
    rows = []
    for f in graph.get("edge_frequencies", []):
        if f["source"] in context or f["target"] in context:
            continue
        rows.append(
            {
                "row": "edge",
                "source": f["source"],
                "target": f["target"],
                "type": f["type"],
                "frequency": f["frequency"],
                "adjacency_frequency": f["adjacency_frequency"],
                "in_graph": (f["source"], f["target"], f["type"]) in learned,
                "stable": f["frequency"] >= threshold,
            }
        )
    rows.sort(key=lambda r: (-r["frequency"], r["source"], r["target"], r["type"]))
    rows.insert(0, {"row": "summary", **stability_summary(graph, null_counts)})
    return pl.DataFrame(rows, schema=STABILITY_SCHEMA, orient="row")


# --------------------------------------------------------------------------- random graphs


def random_graph(nodes: Sequence[str], n_adjacencies: int, generator: np.random.Generator) -> dict:
    """A uniformly random DAG on ``nodes`` with ``n_adjacencies`` adjacent pairs: the pairs drawn
    without replacement, each oriented along a random order of the nodes."""
    nodes = list(nodes)
    pairs = list(itertools.combinations(range(len(nodes)), 2))
    k = min(n_adjacencies, len(pairs))
    pick = generator.choice(len(pairs), size=k, replace=False) if k else []
    rank = generator.permutation(len(nodes))
    edges = []
    for idx in sorted(int(i) for i in pick):
        i, j = pairs[idx]
        s, t = (i, j) if rank[i] < rank[j] else (j, i)
        edges.append({"source": nodes[s], "target": nodes[t], "type": "directed"})
    return {"nodes": nodes, "edges": edges}


def graph_null(
    graph: dict[str, Any],
    against: dict[str, Any],
    n: int,
    seed: int,
    randomise_against: bool = False,
) -> dict[str, float]:
    """Skeleton F1 and SHD of ``graph`` vs ``against`` beside their null: ``n`` random DAGs with
    as many adjacencies as ``graph`` on its nodes (and, with ``randomise_against``, a random
    DAG in place of ``against`` too, with its adjacency count: two unrelated graphs, for
    model-vs-model). Returns ``skeleton_f1_null_mean``, ``skeleton_f1_p`` (share of random
    graphs scoring at least as high), ``shd_null_mean`` and ``shd_p`` (at most as low)."""
    nan = {
        "skeleton_f1_null_mean": math.nan,
        "skeleton_f1_p": math.nan,
        "shd_null_mean": math.nan,
        "shd_p": math.nan,
        "n_null_graphs": 0,
    }
    if n <= 0:
        return nan
    nodes = list(dict.fromkeys([*graph["nodes"], *against["nodes"]]))
    k, k_against = len(vg_graphs.adjacencies(graph)), len(vg_graphs.adjacencies(against))
    f1_obs = vg_graphs.skeleton_scores(graph, against)["skeleton_f1"]
    shd_obs = vg_graphs.shd(graph, against)
    generator = rng(seed, "graph-null")
    f1s, shds = [], []
    for _ in range(n):
        g = random_graph(nodes, k, generator)
        a = random_graph(nodes, k_against, generator) if randomise_against else against
        f1s.append(vg_graphs.skeleton_scores(g, a)["skeleton_f1"])
        shds.append(vg_graphs.shd(g, a))
    f1_finite = [x for x in f1s if math.isfinite(x)]
    return {
        "skeleton_f1_null_mean": float(np.mean(f1_finite)) if f1_finite else math.nan,
        "skeleton_f1_p": upper_p(f1_obs, f1_finite),
        "shd_null_mean": float(np.mean(shds)),
        "shd_p": lower_p(float(shd_obs), shds),
        "n_null_graphs": n,
    }


# --------------------------------------------------------------------------- circumplex


def mean_pairwise_r(data: np.ndarray) -> float:
    """Mean of the off-diagonal Pearson correlations of the columns of ``data``."""
    corr = np.corrcoef(np.asarray(data, dtype=float), rowvar=False)
    iu = np.triu_indices(corr.shape[0], k=1)
    return float(np.nanmean(corr[iu])) if iu[0].size else math.nan


def circumplex_null(corr: np.ndarray, n: int, seed: int) -> tuple[float, list[float], float]:
    """The circumplex statistic of a 10×10 correlation matrix in :data:`SCHWARTZ_ORDER` order
    (the Spearman correlation of the 45 pair correlations with cos of their circle distance),
    its value under ``n`` random relabellings of the values (positions on the circle shuffled),
    and the permutation p = (1 + #null ≥ observed) / (1 + n)."""
    from scipy.stats import spearmanr

    size = corr.shape[0]
    iu = np.triu_indices(size, k=1)
    steps = np.minimum(iu[1] - iu[0], size - (iu[1] - iu[0]))
    expected = np.cos(steps * 2 * np.pi / size)

    def stat(r: np.ndarray) -> float:
        return float(spearmanr(r[iu], expected)[0])

    observed = stat(corr)
    generator = rng(seed, "circumplex-null")
    null = []
    for _ in range(n):
        order = generator.permutation(size)
        null.append(stat(corr[np.ix_(order, order)]))
    return observed, null, upper_p(observed, null)
