"""Causal discovery over a wide score matrix, producing the GRAPH.json dict.

Defaults reproduce the paper (spec §9): causal-learn ``pc`` with Fisher-z, alpha 0.05,
``stable=True, uc_rule=0, uc_priority=2`` and no background knowledge, on pooled rows.
Beyond the paper: FCI, GES, BOSS and GRaSP; JCI-style condition context nodes; seeded,
parallel bootstrap edge frequencies; and checks that turn degenerate data into one-line errors.

GRAPH.json edge types: ``directed`` (source → target), ``undirected`` (—), ``bidirected`` (↔),
and, from FCI only, ``partially_directed`` (source o→ target), ``nondirected`` (o–o) and
``partially_undirected`` (source o— target). For symmetric types ``source`` is the node that
comes first in column order.

Data handling (recorded in GRAPH.json ``handling``):

* missing or non-finite values, fewer rows than variables + 3 → :class:`DataError`;
* with ``drop_missing`` (the workflow's discover rule), rows with a missing value are dropped
  instead and the count is recorded;
* a perfectly collinear column (an exact linear combination of earlier columns) → ``DataError``
  naming it and the columns it depends on;
* a constant column is kept as an isolated node, left out of the search, and logged;
* the count columns of :mod:`valuegraph.matrix` (``n_answered``, ``n_unparsed``) are not nodes;
* a bootstrap resample that is degenerate (a column constant in the resample, a singular
  correlation matrix) is skipped and counted; frequencies use the successful resamples.

The checks live in :mod:`valuegraph.causal.checks`, one search and the paper's post-processing in
:mod:`valuegraph.causal.search`; this module is the entry point and the bootstrap.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.causal.checks import (
    check_collinear,
    check_matrix,
    context_indicators,
    describe,
    node_columns,
    resample_ok,
)
from valuegraph.causal.graphs import SYMMETRIC_TYPES
from valuegraph.causal.search import (
    CONSTRAINT_METHODS,
    DEFAULT_SCORE,
    INDEP_TESTS,
    METHODS,
    paper_postprocess,
    run_search,
)
from valuegraph.errors import ConfigError, DataError
from valuegraph.seeding import derive_seed, rng

log = logging.getLogger(__name__)

POSTPROCESS = ("none", "paper")
# Seconds a bootstrap's worker processes take to start: resamples run in parallel only when
# the rest of them would take longer than this in one process.
POOL_START_S = 2.0
INTERVENTIONS = ("pool", "jci")
# Bookkeeping columns of valuegraph.matrix: numeric, but counts, not values.
BOOKKEEPING_COLUMNS = ("n_answered", "n_unparsed")


# --------------------------------------------------------------------------- bootstrap


def edge_key(edge: dict[str, Any], index: dict[str, int]) -> tuple[str, str, str]:
    """(source, target, type), with symmetric types ordered by column position."""
    s, t, kind = edge["source"], edge["target"], edge["type"]
    if kind in SYMMETRIC_TYPES and index[s] > index[t]:
        s, t = t, s
    return s, t, kind


def _bootstrap_task(
    data: np.ndarray,
    rows: np.ndarray,
    names: list[str],
    context: list[str],
    search_kwargs: dict,
    postprocess: str,
) -> list[tuple[str, str, str]] | None:
    """One resample: its edge keys, or None when the resample is degenerate."""
    sample = data[rows]
    if not resample_ok(sample):
        return None
    try:
        edges = run_search(sample, names, context, **search_kwargs)
    except DataError:
        return None
    if postprocess == "paper":
        edges = paper_postprocess(edges, names)
    index = {n: k for k, n in enumerate(names)}
    return [edge_key(e, index) for e in edges]


def resample_seed(seed: int, b: int) -> int:
    """The seed of bootstrap resample ``b``: its rows and its search's random draws derive from
    it, so a resample depends only on (seed, b), whatever process runs it."""
    return derive_seed(seed, "bootstrap", str(b))


def bootstrap_rows(n_rows: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of each resample; resample b depends only on (seed, b)."""
    return [
        rng(resample_seed(seed, b), "rows").integers(0, n_rows, n_rows) for b in range(resamples)
    ]


def _run_bootstrap(
    data: np.ndarray,
    names: list[str],
    context: list[str],
    search_kwargs: dict,
    postprocess: str,
    resamples: int,
    seed: int,
    n_jobs: int,
) -> list[list[tuple[str, str, str]] | None]:
    """Edge keys of each resample (None where degenerate), in resample order."""
    rows = bootstrap_rows(data.shape[0], resamples, seed)
    seeds = [resample_seed(seed, b) for b in range(resamples)]
    jobs = [
        (data, r, names, context, {**search_kwargs, "seed": s}, postprocess)
        for r, s in zip(rows, seeds, strict=True)
    ]
    if n_jobs <= 1:  # (discover caps n_jobs at the resample count)
        return [_bootstrap_task(*job) for job in jobs]
    # worker processes pay ~2 s each to start (imports): for a few fast resamples, one process
    # is quicker and costs less CPU; the first resample tells which (same results either way)
    start = time.perf_counter()
    first = _bootstrap_task(*jobs[0])
    rest = (time.perf_counter() - start) * (len(jobs) - 1)
    if rest * (1 - 1 / n_jobs) < POOL_START_S:
        log.info("bootstrap: %d resamples in this process (~%.1f s)", len(jobs), rest)
        return [first] + [_bootstrap_task(*job) for job in jobs[1:]]
    from joblib import Parallel, delayed

    log.info("bootstrap: %d resamples on %d processes", len(jobs), n_jobs)
    results = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_bootstrap_task)(*job) for job in jobs[1:]
    )
    return [first, *results]


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- entry point


def _validate(method, alpha, indep_test, postprocess, interventions, bootstrap, threshold):
    if method not in METHODS:
        raise ConfigError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    if method in CONSTRAINT_METHODS and indep_test not in INDEP_TESTS:
        raise ConfigError(f"indep_test {indep_test!r} is not one of {', '.join(INDEP_TESTS)}")
    if postprocess not in POSTPROCESS:
        raise ConfigError(f"postprocess {postprocess!r} is not one of {', '.join(POSTPROCESS)}")
    if interventions not in INTERVENTIONS:
        raise ConfigError(
            f"interventions {interventions!r} is not one of {', '.join(INTERVENTIONS)}"
        )
    if bootstrap < 0:
        raise ConfigError(f"bootstrap must be ≥ 0 resamples, got {bootstrap}")
    if not 0 <= threshold <= 1:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}")


def discover(
    frame: pl.DataFrame,
    method: str = "pc",
    alpha: float = 0.05,
    indep_test: str = "fisherz",
    postprocess: str = "none",
    interventions: str = "pool",
    condition_column: str = "condition",
    bootstrap: int = 0,
    seed: int = 0,
    threshold: float = 0.5,
    n_jobs: int | None = None,
    score_func: str | None = None,
    reference_level: str = "none",
    exclude: Sequence[str] = (),
    drop_missing: bool = False,
) -> dict[str, Any]:
    """Learn a graph from a wide matrix; return the GRAPH.json dict.

    :param frame: one row per sample; numeric columns are the nodes, in column order.
    :param method: ``pc`` (default, the paper), ``fci``, ``ges``, ``boss`` or ``grasp``.
    :param postprocess: ``paper`` applies the spec §9 split + greedy transitive reduction.
    :param interventions: ``pool`` (the paper) or ``jci`` (condition indicators as context nodes).
    :param bootstrap: number of row resamples (0 = none); seeded by ``seed``, run on ``n_jobs``.
    :param threshold: an edge is stable when its bootstrap frequency is ≥ this.
    :param drop_missing: drop rows with a missing or non-finite node value (e.g. a role whose
        answers to one value were all unparsed) instead of raising; the count is in ``handling``.
    :return: ``{"nodes", "edges", "params", "handling"}`` plus ``context_nodes`` and, when
        bootstrapped, ``edge_frequencies`` and ``stable_edges``.
    """
    _validate(method, alpha, indep_test, postprocess, interventions, bootstrap, threshold)
    if method not in CONSTRAINT_METHODS:
        score_func = score_func or DEFAULT_SCORE[method]
    # In JCI mode the condition column is never a system node, even when numeric.
    cond = condition_column if interventions == "jci" else None
    bookkeeping = [c for c in BOOKKEEPING_COLUMNS if c in frame.columns and c not in exclude]
    if frame.height == 0:
        raise DataError(
            f"the matrix has no rows (columns {describe(frame.columns)}); discovery needs one "
            "row per role and condition"
        )
    names = node_columns(frame, [*exclude, *bookkeeping], cond)
    if not names:
        raise DataError(
            f"no numeric columns among {describe(frame.columns)}; the matrix needs one numeric "
            "column per value"
        )
    data = frame.select(names).cast(pl.Float64).to_numpy()
    dropped_note = None
    if drop_missing:
        finite = np.all(np.isfinite(data), axis=1)
        if not finite.all():
            bad_cols = [n for j, n in enumerate(names) if not np.all(np.isfinite(data[:, j]))]
            dropped_note = (
                f"dropped {int((~finite).sum())} of {len(finite)} rows with missing or non-finite "
                f"values (in {describe(bad_cols)}); discovery used the remaining rows"
            )
            log.warning("%s", dropped_note)
            frame = frame.filter(pl.Series(finite))
            data = data[finite]
    keep, handling = check_matrix(data, names)
    if dropped_note:
        handling.insert(0, dropped_note)
    if bookkeeping:
        handling.insert(0, f"bookkeeping columns {describe(bookkeeping)} are not nodes")
    search_names = [names[j] for j in keep]
    search_data = data[:, keep]
    context: list[str] = []
    reference = None
    if interventions == "jci":
        ind, context, reference = context_indicators(frame, condition_column, reference_level)
        if not context:
            handling.append(
                f"interventions=jci: column {condition_column!r} has one level only; "
                "no context nodes added"
            )
        clash = set(context) & set(names)
        if clash:
            raise DataError(f"context node names {describe(sorted(clash))} clash with columns")
        search_data = np.column_stack([search_data, ind])
        search_names = search_names + context
        check_collinear(search_data, search_names)
        handling.append(
            f"interventions=jci: {len(context)} condition indicators from {condition_column!r} "
            f"(reference level {reference!r}) added as exogenous context nodes; edges into them "
            "are forbidden"
        )
        if method not in CONSTRAINT_METHODS:
            handling.append(
                f"{method} takes no background knowledge: edges among context nodes were "
                "dropped and edges touching one oriented out of it after the search"
            )
    all_nodes = names + context
    search_kwargs = {
        "method": method,
        "alpha": alpha,
        "indep_test": indep_test,
        "score_func": score_func,
    }
    log.info(
        "discover: %s on %d rows × %d variables (%d context)",
        method,
        frame.height,
        len(search_names),
        len(context),
    )
    edges = run_search(search_data, search_names, context, seed=seed, **search_kwargs)
    if postprocess == "paper":
        edges = paper_postprocess(edges, all_nodes)
    params: dict[str, Any] = {
        "method": method,
        "alpha": alpha,
        "indep_test": indep_test if method in CONSTRAINT_METHODS else None,
        "score_func": score_func,
        "postprocess": postprocess,
        "interventions": interventions,
        "condition_column": condition_column if interventions == "jci" else None,
        "reference_level": reference,
        "bootstrap": bootstrap,
        "seed": seed,
        "threshold": threshold,
        "n_rows": frame.height,
        "causal_learn": _causallearn_version(),
    }
    if method == "pc":
        params.update(stable=True, uc_rule=0, uc_priority=2)
    result: dict[str, Any] = {
        "nodes": all_nodes,
        "edges": edges,
        "context_nodes": context,
        "params": params,
        "handling": handling,
    }
    if bootstrap:
        jobs = n_jobs if n_jobs is not None else default_jobs()
        jobs = max(1, min(jobs, bootstrap))
        runs = _run_bootstrap(
            search_data, search_names, context, search_kwargs, postprocess, bootstrap, seed, jobs
        )
        _attach_frequencies(result, runs, threshold)
    return result


def _attach_frequencies(
    result: dict[str, Any], runs: list[list[tuple[str, str, str]] | None], threshold: float
) -> None:
    ok = [r for r in runs if r is not None]
    failed = len(runs) - len(ok)
    if failed:
        result["handling"].append(
            f"bootstrap: {failed} of {len(runs)} resamples were degenerate (a constant or "
            "collinear column in the resample) and skipped"
        )
    if not ok:
        raise DataError(
            f"all {len(runs)} bootstrap resamples were degenerate; use more rows or fewer columns"
        )
    index = {n: k for k, n in enumerate(result["nodes"])}
    counts: dict[tuple[str, str, str], int] = {}
    pair_counts: dict[frozenset[str], int] = {}
    for run in ok:
        for key in set(run):
            counts[key] = counts.get(key, 0) + 1
        for pair in {frozenset(k[:2]) for k in run}:
            pair_counts[pair] = pair_counts.get(pair, 0) + 1
    n = len(ok)

    def order(key: tuple[str, str, str]) -> tuple[int, int, str]:
        return index[key[0]], index[key[1]], key[2]

    freqs = [
        {
            "source": s,
            "target": t,
            "type": k,
            "frequency": counts[(s, t, k)] / n,
            "adjacency_frequency": pair_counts[frozenset((s, t))] / n,
        }
        for s, t, k in sorted(counts, key=order)
    ]
    for e in result["edges"]:
        e["frequency"] = counts.get(edge_key(e, index), 0) / n
    result["edge_frequencies"] = freqs
    result["stable_edges"] = [f for f in freqs if f["frequency"] >= threshold]
    result["params"]["bootstrap_ok"] = n


def _causallearn_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("causal-learn")
    except PackageNotFoundError:  # pragma: no cover
        return None
