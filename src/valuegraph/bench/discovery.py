"""Discovery benchmark against a planted truth: each method × roles × mode, scored vs the SEM.

The simulated respondent (:mod:`valuegraph.causal.simulated`) answers the workflow's own train items
(same split, same per-role item sample) and :func:`valuegraph.matrix.build_matrix` turns the
answers into the coarse role × value scores an LLM run produces. Every role answers under every
condition (the workflow's paired design): ``none`` plus one condition per shifted value.

Modes: ``observational`` (only the ``none`` rows), ``pool`` (all rows, condition ignored: the
paper) and ``jci`` (all rows, condition indicators as exogenous context nodes). Scores compare the
learned graph without its context nodes to the planted DAG over the values: skeleton
precision / recall / F1, SHD and orientation accuracy (:func:`valuegraph.causal.graphs.compare`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from valuegraph.causal import discovery, graphs
from valuegraph.causal.simulated import (
    SimulatedRespondent,
    Simulation,
    read_sem,
    shift_condition,
    simulate_responses,
    train_items,
)
from valuegraph.config import Condition
from valuegraph.errors import ConfigError, DataError
from valuegraph.io import write_json
from valuegraph.matrix import build_matrix

log = logging.getLogger(__name__)

N_ROLES = (100, 300, 1000, 3000)
METHODS = ("pc", "fci", "ges", "boss")
MODES = ("observational", "pool", "jci")
SHIFTED = ("Achievement", "Empathy")
METRICS = (
    "skeleton_precision",
    "skeleton_recall",
    "skeleton_f1",
    "shd",
    "orientation_accuracy",
)


def simulated_matrix(
    respondent: SimulatedRespondent,
    items: pl.DataFrame,
    values: Sequence[str],
    n_roles: int,
    conditions: Sequence[Condition],
    train_sample_rate: float,
    seed: int,
    score: str,
) -> pl.DataFrame:
    """The role × condition × value matrix of ``n_roles`` simulated roles (``sim-00000``...)."""
    role_ids = [f"sim-{i:05d}" for i in range(n_roles)]
    with tqdm(total=n_roles, desc="simulate", unit="role") as bar:
        responses = simulate_responses(
            respondent,
            role_ids,
            items,
            conditions,
            "train",
            train_sample_rate,
            seed,
            progress=lambda _: bar.update(1),
        )
    return build_matrix(responses, list(values), score)


def _subset(matrix: pl.DataFrame, n_roles: int, mode: str) -> pl.DataFrame:
    rows = matrix.filter(pl.col("role_id").str.slice(4).cast(pl.Int64) < n_roles)
    return rows.filter(pl.col("condition") == "none") if mode == "observational" else rows


def _one(
    matrix: pl.DataFrame,
    truth: dict[str, Any],
    method: str,
    n_roles: int,
    mode: str,
    alpha: float,
    seed: int,
) -> dict[str, Any]:
    frame = _subset(matrix, n_roles, mode)
    start = time.perf_counter()
    record: dict[str, Any] = {
        "method": method,
        "n_roles": n_roles,
        "mode": mode,
        "n_rows": frame.height,
    }
    try:
        graph = discovery.discover(
            frame,
            method=method,
            alpha=alpha,
            interventions="jci" if mode == "jci" else "pool",
            seed=seed,
            exclude=list(discovery.BOOKKEEPING_COLUMNS),
        )
    except DataError as exc:
        record.update({m: None for m in METRICS}, skipped=True, note=f"failed: {exc}")
        return record
    scores = {
        k: None if isinstance(v, float) and math.isnan(v) else v
        for k, v in graphs.compare(graphs.system_graph(graph), truth).items()
    }
    record.update({m: scores[m] for m in METRICS})
    record.update(
        orientation_agreement=scores["orientation_agreement"],
        n_edges=scores["n_adjacencies"],
        n_truth_edges=scores["n_adjacencies_against"],
        context_edges=sum(
            1 for e in graph["edges"] if {e["source"], e["target"]} & set(graph["context_nodes"])
        ),
        seconds=round(time.perf_counter() - start, 3),
        skipped=False,
        note="",
    )
    return record


def run_bench(
    items_csv: str | Path,
    graph: str | Path,
    n_roles: Sequence[int] = N_ROLES,
    methods: Sequence[str] = METHODS,
    modes: Sequence[str] = MODES,
    score: str = "soft",
    seed: int = 0,
    alpha: float = 0.05,
    train_sample_rate: float = 0.4,
    shifted: Sequence[str] = SHIFTED,
    simulation: Mapping[str, Any] | None = None,
    max_rows: Mapping[str, int] | None = None,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Run the benchmark; return ``{"truth", "settings", "records", "notes"}``.

    :param max_rows: per method, skip runs with more rows (recorded with a note).
    :param n_jobs: discovery runs in parallel (joblib, loky).
    """
    bad = sorted(set(modes) - set(MODES))
    if bad:
        raise ConfigError(f"bench modes {bad} are not among {list(MODES)}")
    bad = sorted(set(methods) - set(discovery.METHODS))
    if bad:
        raise ConfigError(f"bench methods {bad} are not among {list(discovery.METHODS)}")
    sim = Simulation.from_dict({**(simulation or {}), "graph": str(graph)})
    sem = read_sem(sim.graph)
    items, values = train_items(items_csv, sorted(sem.nodes), seed)
    respondent = SimulatedRespondent.from_spec(
        {**(simulation or {}), "graph": str(graph)}, values, seed
    )
    missing = [v for v in shifted if v not in values]
    if missing:
        raise ConfigError(f"bench: shifted values {missing} are not nodes of {graph}")
    conditions = [Condition("none", "none"), *[shift_condition(v, 1) for v in shifted]]
    matrix = simulated_matrix(
        respondent, items, values, max(n_roles), conditions, train_sample_rate, seed, score
    )
    truth = sem.truth(values)
    tasks, records, notes = [], [], []
    caps = dict(max_rows or {})
    for method in methods:
        for n in sorted(n_roles):
            for mode in modes:
                rows = _subset(matrix, n, mode).height
                if method in caps and rows > caps[method]:
                    note = f"skipped: {rows} rows > max_rows[{method}] = {caps[method]}"
                    records.append(
                        {"method": method, "n_roles": n, "mode": mode, "n_rows": rows}
                        | {m: None for m in METRICS}
                        | {"skipped": True, "note": note}
                    )
                    continue
                tasks.append((matrix, truth, method, n, mode, alpha, seed))
    log.info("bench: %d discovery runs on %d processes", len(tasks), n_jobs)
    if n_jobs > 1:
        from joblib import Parallel, delayed

        records += Parallel(n_jobs=n_jobs, backend="loky")(delayed(_one)(*t) for t in tasks)
    else:
        records += [_one(*t) for t in tqdm(tasks, desc="discover", unit="run")]
    order = {m: k for k, m in enumerate(methods)}
    records.sort(key=lambda r: (order[r["method"]], r["n_roles"], MODES.index(r["mode"])))
    notes += [
        f"{r['method']} n={r['n_roles']} {r['mode']}: {r['note']}" for r in records if r["skipped"]
    ]
    return {
        "truth": {
            "graph": str(graph),
            "n_nodes": len(values),
            "n_edges": len(truth["edges"]),
            "edges": [[e["source"], e["target"], e["weight"]] for e in truth["edges"]],
        },
        "settings": {
            "seed": seed,
            "score": score,
            "alpha": alpha,
            "train_sample_rate": train_sample_rate,
            "items_per_value": _items_per_value(items, train_sample_rate),
            "conditions": [c.spec for c in conditions],
            "simulation": {**vars(respondent.settings), "graph": str(graph)},
            "postprocess": "none",
            "design": "every role answers under every condition (paired); observational = the "
            "'none' rows only",
        },
        "records": records,
        "notes": notes,
    }


def _items_per_value(items: pl.DataFrame, rate: float) -> dict[str, int]:
    counts = items.group_by("value").len().sort("value")
    return {v: math.ceil(rate * n) if rate < 1 else n for v, n in counts.iter_rows()}


def table(result: Mapping[str, Any]) -> pl.DataFrame:
    """The records as a tidy table (one row per method × n_roles × mode)."""
    cols = ["method", "n_roles", "mode", "n_rows", *METRICS, "n_edges", "seconds", "note"]
    rows = [{c: r.get(c) for c in cols} for r in result["records"]]
    schema = {
        "method": pl.Utf8,
        "n_roles": pl.Int64,
        "mode": pl.Utf8,
        "n_rows": pl.Int64,
        **{m: pl.Float64 for m in METRICS},
        "n_edges": pl.Int64,
        "seconds": pl.Float64,
        "note": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def format_table(result: Mapping[str, Any]) -> str:
    """A fixed-width text table for the log and the terminal."""
    frame = table(result)
    header = (
        f"{'method':<6} {'roles':>5} {'mode':<13} {'rows':>5} {'prec':>5} {'rec':>5} "
        f"{'F1':>5} {'SHD':>4} {'orient':>6} {'sec':>6}"
    )
    lines = [header, "-" * len(header)]

    def fmt(x: float | None, spec: str = ".2f") -> str:
        return "  -  " if x is None else format(x, spec)

    for r in frame.iter_rows(named=True):
        shd = "-" if r["shd"] is None else f"{int(r['shd'])}"
        lines.append(
            f"{r['method']:<6} {r['n_roles']:>5} {r['mode']:<13} {r['n_rows']:>5} "
            f"{fmt(r['skeleton_precision']):>5} {fmt(r['skeleton_recall']):>5} "
            f"{fmt(r['skeleton_f1']):>5} {shd:>4} {fmt(r['orientation_accuracy']):>6} "
            f"{fmt(r['seconds'], '.1f'):>6}" + (f"  {r['note']}" if r["note"] else "")
        )
    return "\n".join(lines)


def write(result: Mapping[str, Any], out: str | Path) -> None:
    write_json(dict(result), out)
