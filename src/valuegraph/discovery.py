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
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import warnings
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import polars as pl

from valuegraph.errors import ConfigError, DataError

log = logging.getLogger(__name__)

METHODS = ("pc", "fci", "ges", "boss", "grasp")
CONSTRAINT_METHODS = ("pc", "fci")
INDEP_TESTS = ("fisherz", "chisq", "gsq", "kci", "mv_fisherz", "d_separation")
POSTPROCESS = ("none", "paper")
INTERVENTIONS = ("pool", "jci")
SYMMETRIC_TYPES = ("undirected", "bidirected", "nondirected")
EDGE_TYPES = (
    "directed",
    "undirected",
    "bidirected",
    "partially_directed",
    "nondirected",
    "partially_undirected",
)
# Bookkeeping columns of valuegraph.matrix: numeric, but counts, not values.
BOOKKEEPING_COLUMNS = ("n_answered", "n_unparsed")
DEFAULT_SCORE = {"ges": "local_score_BIC", "boss": "local_score_BIC_from_cov"}
DEFAULT_SCORE["grasp"] = DEFAULT_SCORE["boss"]

# causal-learn endpoint codes: graph[i, j] is the mark at i on the edge i–j.
_TAIL, _ARROW, _CIRCLE = -1, 1, 2


# --------------------------------------------------------------------------- data checks


def node_columns(
    frame: pl.DataFrame, exclude: Sequence[str] = (), condition_column: str | None = None
) -> list[str]:
    """Numeric columns in column order (the variables); strings and ``exclude`` are identifiers."""
    skip = set(exclude) | ({condition_column} if condition_column else set())
    return [
        name
        for name, dtype in frame.schema.items()
        if dtype.is_numeric() and dtype != pl.Boolean and name not in skip
    ]


def _describe(columns: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def check_matrix(data: np.ndarray, names: Sequence[str]) -> tuple[list[int], list[str]]:
    """Validate a rows × variables array; return (indices to search, handling notes).

    Raises :class:`DataError` for NaN/inf, too few rows and perfectly collinear columns.
    Constant columns are excluded from the search (kept as isolated nodes) and noted.
    """
    n_rows, n_cols = data.shape
    bad = [names[j] for j in range(n_cols) if not np.all(np.isfinite(data[:, j]))]
    if bad:
        counts = [int((~np.isfinite(data[:, names.index(c)])).sum()) for c in bad]
        detail = ", ".join(f"{c!r} ({k} rows)" for c, k in zip(bad, counts, strict=True))
        raise DataError(
            f"missing or non-finite values in {detail}; drop or impute those rows before discovery"
        )
    notes: list[str] = []
    constant = [j for j in range(n_cols) if n_rows > 0 and np.ptp(data[:, j]) == 0]
    if constant:
        cols = [names[j] for j in constant]
        notes.append(
            f"constant columns {_describe(cols)} have no variance: kept as isolated nodes, "
            "left out of the search"
        )
        log.warning("%s", notes[-1])
    keep = [j for j in range(n_cols) if j not in constant]
    if len(keep) < 2:
        raise DataError(
            f"only {len(keep)} non-constant numeric column(s) "
            f"({_describe([names[j] for j in keep])}); discovery needs at least 2 variables"
        )
    if n_rows < len(keep) + 3:
        raise DataError(
            f"{n_rows} rows for {len(keep)} variables: Fisher-z and the scores need at least "
            f"{len(keep) + 3} rows; add rows or drop columns"
        )
    _check_collinear(data[:, keep], [names[j] for j in keep])
    return keep, notes


def _check_collinear(data: np.ndarray, names: Sequence[str]) -> None:
    """Raise DataError naming the first column that is a linear combination of earlier ones."""
    centred = data - data.mean(axis=0)
    scaled = centred / np.linalg.norm(centred, axis=0)
    tol = 1e-9 * max(scaled.shape)
    for j in range(1, scaled.shape[1]):
        basis = scaled[:, :j]
        coef, *_ = np.linalg.lstsq(basis, scaled[:, j], rcond=None)
        if np.linalg.norm(scaled[:, j] - basis @ coef) < tol:
            used = [names[i] for i in range(j) if abs(coef[i]) > 1e-8]
            raise DataError(
                f"column {names[j]!r} is an exact linear combination of {_describe(used)} "
                "(perfectly collinear); drop one of these columns before discovery"
            )


def _resample_ok(data: np.ndarray) -> bool:
    if np.any(np.ptp(data, axis=0) == 0):
        return False
    corr = np.corrcoef(data, rowvar=False)
    return bool(np.all(np.isfinite(corr))) and np.linalg.cond(corr) < 1e12


# --------------------------------------------------------------------------- JCI context


def context_indicators(
    frame: pl.DataFrame, condition_column: str, reference_level: str | None = "none"
) -> tuple[np.ndarray, list[str], str]:
    """One-hot condition indicators (reference level dropped): (matrix, names, reference)."""
    if condition_column not in frame.columns:
        raise DataError(
            f"interventions=jci needs a condition column {condition_column!r}; the matrix has "
            f"{_describe(frame.columns)} (set condition_column / --condition-column)"
        )
    values = frame.get_column(condition_column).cast(pl.Utf8).fill_null("none")
    levels = sorted(set(values.to_list()))
    if reference_level not in levels:
        reference_level = levels[0]
    kept = [lev for lev in levels if lev != reference_level]
    arr = values.to_numpy()
    matrix = np.column_stack([(arr == lev).astype(float) for lev in kept]) if kept else None
    names = [f"{condition_column}={lev}" for lev in kept]
    if matrix is None:
        matrix = np.empty((frame.height, 0))
    return matrix, names, reference_level


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


# --------------------------------------------------------------------------- one search


def _marks_to_edges(graph: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
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
    """Silence causal-learn's prints and warnings; seed and restore Python/NumPy global RNGs."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _search(
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
    edges = _marks_to_edges(np.asarray(graph), names)
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
    if not _resample_ok(sample):
        return None
    try:
        edges = _search(sample, names, context, **search_kwargs)
    except DataError:
        return None
    if postprocess == "paper":
        edges = paper_postprocess(edges, names)
    index = {n: k for k, n in enumerate(names)}
    return [edge_key(e, index) for e in edges]


def bootstrap_rows(n_rows: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of each resample; resample b depends only on (seed, b)."""
    children = np.random.SeedSequence(seed).spawn(resamples)
    return [np.random.default_rng(c).integers(0, n_rows, n_rows) for c in children]


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
    seeds = [seed + b for b in range(resamples)]
    jobs = [
        (data, r, names, context, {**search_kwargs, "seed": s}, postprocess)
        for r, s in zip(rows, seeds, strict=True)
    ]
    if n_jobs <= 1:
        results = [_bootstrap_task(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(_bootstrap_task)(*job) for job in jobs
        )
    return list(results)


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
            f"the matrix has no rows (columns {_describe(frame.columns)}); discovery needs one "
            "row per role and condition"
        )
    names = node_columns(frame, [*exclude, *bookkeeping], cond)
    if not names:
        raise DataError(
            f"no numeric columns among {_describe(frame.columns)}; the matrix needs one numeric "
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
                f"values (in {_describe(bad_cols)}); discovery used the remaining rows"
            )
            log.warning("%s", dropped_note)
            frame = frame.filter(pl.Series(finite))
            data = data[finite]
    keep, handling = check_matrix(data, names)
    if dropped_note:
        handling.insert(0, dropped_note)
    if bookkeeping:
        handling.insert(0, f"bookkeeping columns {_describe(bookkeeping)} are not nodes")
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
            raise DataError(f"context node names {_describe(sorted(clash))} clash with columns")
        search_data = np.column_stack([search_data, ind])
        search_names = search_names + context
        _check_collinear(search_data, search_names)
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
    edges = _search(search_data, search_names, context, seed=seed, **search_kwargs)
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
        log.info("bootstrap: %d resamples on %d processes", bootstrap, jobs)
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


# --------------------------------------------------------------------------- helpers


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
