"""Stage 6, effects: DoWhy estimates of role-prompt, steering and graph-implied effects.

Three tidy polars tables, one row per (treatment, outcome):

* :func:`role_effects` -- persona prompt (treatment 1) versus the no-role baseline (``role_id``
  ``"none"``, treatment 0) on each value. Only the unsteered condition by default; when the matrix
  holds several conditions, every condition's baseline row is used, with the condition as a common
  cause (fixed effects). **Limitation:** a matrix has one baseline row per (split, condition), so
  the control arm is a single row per condition: the CI rests on the spread across personas
  (homoskedastic OLS) and says nothing about how noisy the baseline row itself is.
* :func:`steering_effects` -- each steering condition versus ``"none"``, paired within role: rows
  of roles with both conditions, the role as a categorical common cause (role fixed effects; the
  estimate equals the mean within-role difference and its OLS CI the paired-t CI).
* :func:`graph_effects` -- total effect of value X on value Y for every ordered pair with a
  (possible) directed path X -> ... -> Y in the learned graph, by IDA: enumerate the DAGs of the
  equivalence class (:func:`enumerate_dags`), adjust for the parents of X in each, report the
  range over DAGs.

Columns of the role and steering tables:

``treatment``, ``control`` (the contrast; ``role_prompt`` vs ``no_role``, or a condition id vs
``none``), ``outcome`` (a value), ``estimate`` (difference in value score, treated - control),
``ci_low``, ``ci_high`` (OLS CI, default 95 %), ``p_value`` (estimate's t-test), ``n`` (rows in
the regression), ``n_treated``, ``n_control``, ``adjustment`` (common causes: ``role``,
``condition`` or empty), then for each refuter R: ``refute_R_effect`` (mean re-estimated effect
over the simulations) and ``refute_R_p`` (DoWhy's p-value of the original estimate under the
simulated distribution). Refuters: ``placebo`` (permuted treatment; the new effect should be
near 0 and, for a real effect, p small), ``random_common_cause`` (an added N(0, 1) confounder)
and ``data_subset`` (80 % row subsets): these two should leave the estimate unchanged (p large).
Refuters run ``refute_simulations`` times each (default 20; DoWhy's default is 100): one
regression per simulation, so cost grows as conditions x values x refuters x simulations.
Contrasts with fewer than two paired roles get NaN CI and refutations.

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

All randomness comes from ``seed``; DoWhy's logging and warnings go to the log at DEBUG level.
pandas is used only at the DoWhy boundary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import polars as pl

from valuegraph.errors import DataError
from valuegraph.io import read_json
from valuegraph.matrix import value_columns

log = logging.getLogger(__name__)

BASELINE = "none"
REFUTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "placebo": ("placebo_treatment_refuter", {"placebo_type": "permute"}),
    "random_common_cause": ("random_common_cause", {}),
    "data_subset": ("data_subset_refuter", {"subset_fraction": 0.8}),
}
ROLE_REFUTERS = ("placebo", "random_common_cause")
STEERING_REFUTERS = ("placebo", "random_common_cause", "data_subset")
UNDIRECTED_TYPES = {"undirected", "nondirected", "partially_undirected"}
DIRECTED_TYPES = {"directed", "partially_directed"}
EDGE_TYPES = UNDIRECTED_TYPES | DIRECTED_TYPES | {"bidirected"}


def effect_schema(refuters: Sequence[str]) -> dict[str, pl.DataType]:
    """Column schema of the role and steering tables for the given refuters."""
    schema: dict[str, pl.DataType] = {
        "treatment": pl.String(),
        "control": pl.String(),
        "outcome": pl.String(),
        "estimate": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "p_value": pl.Float64(),
        "n": pl.Int64(),
        "n_treated": pl.Int64(),
        "n_control": pl.Int64(),
        "adjustment": pl.String(),
    }
    for name in refuters:
        schema[f"refute_{name}_effect"] = pl.Float64()
        schema[f"refute_{name}_p"] = pl.Float64()
    return schema


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


# --------------------------------------------------------------------------- input checks


def check_matrix(matrix: pl.DataFrame, values: Sequence[str] | None = None) -> list[str]:
    """Validate a score matrix and return the value columns to analyse."""
    if matrix.height == 0:
        raise DataError(f"the matrix has no rows (columns {matrix.columns})")
    missing = [c for c in ("role_id", "condition") if c not in matrix.columns]
    if missing:
        raise DataError(f"matrix lacks identifier column(s) {missing}; columns: {matrix.columns}")
    available = value_columns(matrix)
    values = list(values) if values is not None else available
    unknown = [v for v in values if v not in available]
    if unknown:
        raise DataError(f"value(s) {unknown} are not columns of the matrix (has {available})")
    if not values:
        raise DataError("matrix has no value columns")
    for v in values:
        col = matrix.get_column(v)
        if not col.dtype.is_numeric():
            raise DataError(f"value column {v!r} is {col.dtype}, not numeric")
        bad = col.null_count() + int(col.cast(pl.Float64).is_nan().sum() or 0)
        if bad:
            raise DataError(
                f"value column {v!r} has {bad} missing (null/NaN) score(s); every (role, "
                "condition) needs at least one answered item per value -- drop those rows or "
                "collect more items"
            )
    return values


# --------------------------------------------------------------------------- DoWhy boundary


class _Collect(logging.Handler):
    """Collects log messages (deduplicated) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.add(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def quiet_dowhy() -> Iterator[None]:
    """Send DoWhy's log warnings and Python warnings to this module's DEBUG log, not the console.

    Also limits BLAS to one thread: on a small shared machine, OpenBLAS threads oversubscribe
    the cores and make the many small regressions of the refuters ~30 times slower.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency, as DoWhy needs

    dlog = logging.getLogger("dowhy")
    saved = (dlog.level, dlog.propagate)
    collect = _Collect()
    dlog.addHandler(collect)
    dlog.setLevel(logging.WARNING)
    dlog.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
            warnings.simplefilter("always")
            yield
    finally:
        dlog.removeHandler(collect)
        dlog.setLevel(saved[0])
        dlog.propagate = saved[1]
    found = collect.messages | {f"{w.category.__name__}: {w.message}" for w in caught}
    for message in sorted(found):
        log.debug("suppressed: %s", message)


def _rng(seed: int, *key: str) -> np.random.RandomState:
    """A RandomState that depends on the seed and a stable key, not on call order."""
    words = [seed % 2**32, *(zlib.crc32(k.encode()) for k in key)]
    return np.random.RandomState(np.random.SeedSequence(words).generate_state(1)[0])


def _dowhy_estimate(
    frame: pd.DataFrame,
    *,
    refuters: Sequence[str] = (),
    simulations: int = 20,
    seed: int = 0,
    key: Sequence[str] = (),
    confidence_level: float = 0.95,
) -> dict[str, float]:
    """Linear-regression backdoor estimate of ``t`` on ``y`` adjusting for the other columns.

    ``frame`` has columns ``t`` (treatment), ``y`` (outcome) and common causes (any other
    column; categorical ones are one-hot encoded by DoWhy). Returns estimate, CI, p-value and,
    per refuter, ``refute_<name>_effect`` / ``refute_<name>_p``.
    """
    from dowhy import CausalModel  # imported lazily: slow, pulls scikit-learn

    common = [c for c in frame.columns if c not in ("t", "y")]
    graph = nx.DiGraph([("t", "y")])
    graph.add_edges_from((c, node) for c in common for node in ("t", "y"))
    out: dict[str, float] = {}
    with quiet_dowhy():
        model = CausalModel(data=frame, treatment="t", outcome="y", graph=graph)
        estimand = model.identify_effect(proceed_when_unidentifiable=True)
        est = model.estimate_effect(
            estimand,
            method_name="backdoor.linear_regression",
            confidence_intervals=True,
            test_significance=True,
        )
        ci = est.get_confidence_intervals(confidence_level=confidence_level)
        ci = np.asarray(ci, dtype=float).ravel()
        p = np.asarray(est.test_stat_significance()["p_value"], dtype=float).ravel()
        out.update(
            estimate=float(est.value),
            ci_low=float(ci[0]),
            ci_high=float(ci[-1]),
            p_value=float(p[0]),
        )
        for name in refuters:
            method, kwargs = REFUTERS[name]
            ref = model.refute_estimate(
                estimand,
                est,
                method_name=method,
                num_simulations=simulations,
                random_state=_rng(seed, *key, name),
                **kwargs,
            )
            result = ref.refutation_result or {}
            out[f"refute_{name}_effect"] = float(np.asarray(ref.new_effect, dtype=float).ravel()[0])
            out[f"refute_{name}_p"] = float(np.asarray(result.get("p_value", np.nan)).ravel()[0])
    return out


def _nan_result(estimate: float, refuters: Sequence[str]) -> dict[str, float]:
    out = {"estimate": estimate, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    for name in refuters:
        out[f"refute_{name}_effect"] = np.nan
        out[f"refute_{name}_p"] = np.nan
    return out


def _check_refuters(refuters: Sequence[str]) -> list[str]:
    unknown = [r for r in refuters if r not in REFUTERS]
    if unknown:
        raise ValueError(f"unknown refuter(s) {unknown}; choose from {sorted(REFUTERS)}")
    return list(refuters)


# --------------------------------------------------------------------------- role prompt


def role_effects(
    matrix: pl.DataFrame,
    values: Sequence[str] | None = None,
    *,
    seed: int = 0,
    refute_simulations: int = 20,
    refuters: Sequence[str] = ROLE_REFUTERS,
    pool_conditions: bool = True,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """Effect of a persona prompt versus no role on each value (see module docstring).

    :param pool_conditions: use every condition that has a baseline row and persona rows, with
        the condition as a common cause; ``False`` uses the unsteered condition only.
    """
    values = check_matrix(matrix, values)
    refuters = _check_refuters(refuters)
    is_base = pl.col("role_id") == BASELINE
    usable = (
        matrix.group_by("condition")
        .agg(is_base.any().alias("base"), (~is_base).any().alias("persona"))
        .filter(pl.col("base") & pl.col("persona"))
        .get_column("condition")
        .sort()
        .to_list()
    )
    if not matrix.filter(is_base).height:
        raise DataError(
            f"matrix has no baseline rows (role_id {BASELINE!r}); the role effect needs the "
            "no-role baseline -- build the matrix with the baseline role included"
        )
    conditions = usable if pool_conditions else [c for c in usable if c == BASELINE]
    if not conditions:
        raise DataError(
            f"no condition has both a baseline row (role_id {BASELINE!r}) and persona rows"
            + ("" if pool_conditions else f" in condition {BASELINE!r}")
        )
    rows = matrix.filter(pl.col("condition").is_in(conditions))
    treated = (rows.get_column("role_id") != BASELINE).to_numpy()
    adjust = len(conditions) > 1
    log.info(
        "role effects: %d persona rows vs %d baseline rows over condition(s) %s",
        int(treated.sum()),
        int((~treated).sum()),
        conditions,
    )
    records = []
    for v in values:
        frame = pd.DataFrame({"t": treated, "y": rows.get_column(v).to_numpy()})
        if adjust:
            frame["c0"] = pd.Categorical(rows.get_column("condition").to_list())
        result = _dowhy_estimate(
            frame,
            refuters=refuters,
            simulations=refute_simulations,
            seed=seed,
            key=("role", v),
            confidence_level=confidence_level,
        )
        records.append(
            {
                "treatment": "role_prompt",
                "control": "no_role",
                "outcome": v,
                **result,
                "n": rows.height,
                "n_treated": int(treated.sum()),
                "n_control": int((~treated).sum()),
                "adjustment": "condition" if adjust else "",
            }
        )
    return pl.DataFrame(records, schema=effect_schema(refuters), orient="row")


# --------------------------------------------------------------------------- steering


def steering_effects(
    matrix: pl.DataFrame,
    values: Sequence[str] | None = None,
    *,
    seed: int = 0,
    refute_simulations: int = 20,
    refuters: Sequence[str] = STEERING_REFUTERS,
    confidence_level: float = 0.95,
) -> pl.DataFrame:
    """Effect of each steering condition versus ``none`` on each value, paired within role.

    Roles lacking either row of a contrast are dropped from it; with fewer than two pairs the
    estimate is the single difference and CI and refutations are NaN.
    """
    values = check_matrix(matrix, values)
    refuters = _check_refuters(refuters)
    schema = effect_schema(refuters)
    conditions = sorted(set(matrix.get_column("condition").to_list()) - {BASELINE})
    if not conditions:
        log.info("steering effects: no steering conditions in the matrix; empty table")
        return pl.DataFrame(schema=schema)
    if BASELINE not in matrix.get_column("condition").to_list():
        raise DataError(
            f"matrix has steering conditions {conditions} but no unsteered rows "
            f"(condition {BASELINE!r}) to compare them with"
        )
    dup = matrix.group_by("role_id", "condition").len().filter(pl.col("len") > 1)
    if dup.height:
        first = dup.row(0, named=True)
        raise DataError(
            f"matrix has {dup.height} repeated (role_id, condition) pair(s), e.g. "
            f"({first['role_id']!r}, {first['condition']!r}); one row per pair is expected"
        )
    base = matrix.filter(pl.col("condition") == BASELINE)
    records = []
    for cond in conditions:
        steered = matrix.filter(pl.col("condition") == cond)
        roles = sorted(set(steered.get_column("role_id")) & set(base.get_column("role_id")))
        if not roles:
            log.warning("steering effects: condition %r shares no role with %r", cond, BASELINE)
            continue
        pair = (
            pl.concat([base, steered])
            .filter(pl.col("role_id").is_in(roles))
            .sort("role_id", "condition")
        )
        treated = (pair.get_column("condition") == cond).to_numpy()
        role = pd.Categorical(pair.get_column("role_id").to_list())
        log.info("steering effects: %r vs %r on %d paired roles", cond, BASELINE, len(roles))
        for v in values:
            y = pair.get_column(v).to_numpy()
            if len(roles) < 2:
                result = _nan_result(float(y[treated].mean() - y[~treated].mean()), refuters)
            else:
                frame = pd.DataFrame({"t": treated, "y": y, "c0": role})
                result = _dowhy_estimate(
                    frame,
                    refuters=refuters,
                    simulations=refute_simulations,
                    seed=seed,
                    key=("steering", cond, v),
                    confidence_level=confidence_level,
                )
            records.append(
                {
                    "treatment": cond,
                    "control": BASELINE,
                    "outcome": v,
                    **result,
                    "n": pair.height,
                    "n_treated": int(treated.sum()),
                    "n_control": int((~treated).sum()),
                    "adjustment": "role",
                }
            )
    return pl.DataFrame(records, schema=schema, orient="row")


# --------------------------------------------------------------------------- graphs


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
                    cache[key] = _dowhy_estimate(frame, confidence_level=confidence_level)
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
