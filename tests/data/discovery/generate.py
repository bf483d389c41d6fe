"""Regenerate the regression fixtures of tests/test_discovery.py (run from the repository root).

    .venv/bin/python tests/data/discovery/generate.py          # data + expected graphs
    .venv/bin/python tests/data/discovery/generate.py --graphs # expected graphs only
    .venv/bin/python tests/data/discovery/generate.py --margins # how safe each one is

The data are seeded linear-Gaussian SEMs; scores are rounded to steps of 1/12 inside [-3, 3]
so that, like the paper's item means, they are coarse. The expected graphs were produced once by
valuegraph.causal.discovery with causal-learn 0.1.4.8; regenerate them only on purpose.

A stored graph must not hinge on floating-point rounding, which differs between CPUs and BLAS
kernels (by about 1e-14 in a Fisher-z p-value). ``check_margin`` measures how far each stored
search is from flipping a decision, and ``make_graphs`` refuses to store one that is too close:

* PC and FCI decide ``p > alpha``: every p-value computed keeps at least ``MIN_P_MARGIN`` from
  alpha (the paper post-processing and JCI add no floating-point decisions);
* GES takes the best-scoring operator while it improves the score: the chosen operator beats
  zero and every operator that leads to another equivalence class by ``MIN_SCORE_GAP``;
* BOSS breaks exact ties (orders of one equivalence class score the same) by rounding, so no gap
  can be bounded: its graph must instead come out the same from ``BOSS_SEEDS`` shuffle seeds and
  from ``BOSS_PERTURBATIONS`` copies of the data perturbed by relative 1e-12 .. 1e-8. On
  linear17 BOSS ends in several local optima (which one depends on the seed and on the BLAS
  kernel), so its fixture uses linear12, where it finds the planted equivalence class.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from valuegraph.causal.discovery import discover
from valuegraph.io import write_csv, write_json

HERE = Path(__file__).parent
MIN_P_MARGIN = 1e-6  # p-values differ by ~3e-14 between BLAS kernels
MIN_SCORE_GAP = 1e-6  # BIC, about -3000 here, in the same units
BOSS_SEEDS = 6
BOSS_PERTURBATIONS = 6
VALUES = [
    "Achievement",
    "Aesthetic",
    "Anxiety Disorder",
    "Breadth of Interest",
    "Economic",
    "Empathy",
    "Organization",
    "Political",
    "Positive coping",
    "Religious",
    "Resilience",
    "Social",
    "Social Complexity",
    "Social Cynicism",
    "Theoretical",
    "Uncertainty Avoidance",
    "Understanding",
]


def planted_dag(p: int, n_edges: int, rng: np.random.Generator) -> dict[tuple[int, int], float]:
    """A random DAG over 0..p-1 (edges go from a lower to a higher index of a random order)."""
    order = rng.permutation(p)
    pairs = [(order[i], order[j]) for i in range(p) for j in range(i + 1, p)]
    chosen = rng.choice(len(pairs), n_edges, replace=False)
    return {
        (int(pairs[k][0]), int(pairs[k][1])): float(rng.choice([-1, 1]) * rng.uniform(0.4, 0.9))
        for k in sorted(chosen)
    }


def simulate(weights, p, n, rng, shift=None):
    """Sample the SEM in topological order; ``shift`` adds per-row intercepts (n × p)."""
    graph_parents: dict[int, list[tuple[int, float]]] = {j: [] for j in range(p)}
    for (a, b), w in weights.items():
        graph_parents[b].append((a, w))
    x = np.zeros((n, p))
    done: set[int] = set()
    while len(done) < p:
        for j in range(p):
            if j in done or any(a not in done for a, _ in graph_parents[j]):
                continue
            x[:, j] = rng.normal(size=n) + sum(w * x[:, a] for a, w in graph_parents[j])
            if shift is not None:
                x[:, j] += shift[:, j]
            done.add(j)
    return np.clip(np.round(x / x.std(axis=0) * 12) / 12, -3, 3)


def make_data() -> None:
    rng = np.random.default_rng(20250101)
    weights = planted_dag(17, 22, rng)
    x = simulate(weights, 17, 600, rng)
    write_csv(pl.DataFrame({v: x[:, j] for j, v in enumerate(VALUES)}), HERE / "linear17.csv")
    truth = pl.DataFrame(
        {"source": [VALUES[a] for a, _ in weights], "target": [VALUES[b] for _, b in weights]}
    )
    truth.write_csv(HERE / "linear17_truth.tsv", separator="\t")

    # 8 nodes, 3 conditions that shift two nodes: the JCI fixture.
    rng = np.random.default_rng(7)
    weights = planted_dag(8, 9, rng)
    n = 450
    condition = np.array(["none", "f1", "f2"])[np.arange(n) % 3]
    shift = np.zeros((n, 8))
    shift[condition == "f1", 0] = 1.5
    shift[condition == "f2", 5] = -1.5
    x = simulate(weights, 8, n, rng, shift)
    frame = pl.DataFrame(
        {"role": [f"r{i // 3:03d}" for i in range(n)], "condition": condition.tolist()}
        | {f"V{j}": x[:, j] for j in range(8)}
    )
    write_csv(frame, HERE / "jci8.csv")

    # 12 nodes, 1000 rows: the BOSS fixture (BOSS is stable on it; see the module docstring).
    rng = np.random.default_rng(4)
    weights = planted_dag(12, 15, rng)
    x = simulate(weights, 12, 1000, rng)
    write_csv(pl.DataFrame({v: x[:, j] for j, v in enumerate(VALUES[:12])}), HERE / "linear12.csv")
    truth = pl.DataFrame(
        {"source": [VALUES[a] for a, _ in weights], "target": [VALUES[b] for _, b in weights]}
    )
    truth.write_csv(HERE / "linear12_truth.tsv", separator="\t")


SETTINGS = {
    "linear17_pc_fisherz_0.05_stable_0_2_none.json": ("linear17", {}),
    "linear17_pc_fisherz_0.05_stable_0_2_paper.json": ("linear17", {"postprocess": "paper"}),
    "linear17_pc_fisherz_0.01_stable_0_2_paper.json": (
        "linear17",
        {"alpha": 0.01, "postprocess": "paper"},
    ),
    "linear17_fci_fisherz_0.05_none.json": ("linear17", {"method": "fci"}),
    "linear17_ges_bic_none.json": ("linear17", {"method": "ges"}),
    "linear12_boss_bic_none.json": ("linear12", {"method": "boss"}),
    "jci8_pc_fisherz_0.05_stable_0_2_pool.json": ("jci8", {}),
    "jci8_pc_fisherz_0.05_stable_0_2_jci.json": ("jci8", {"interventions": "jci"}),
}


# --------------------------------------------------------------------------- margins


@contextlib.contextmanager
def recorded_pvalues() -> Iterator[list[float]]:
    """Record every Fisher-z p-value causal-learn computes inside the block."""
    from causallearn.utils import cit

    original = cit.FisherZ.__call__
    seen: list[float] = []

    def call(self, X, Y, condition_set=None):
        p = original(self, X, Y, condition_set)
        seen.append(float(p))
        return p

    cit.FisherZ.__call__ = call
    try:
        yield seen
    finally:
        cit.FisherZ.__call__ = original


@contextlib.contextmanager
def recorded_ges_steps() -> Iterator[list[dict]]:
    """Record each GES step: the graph it starts from and every operator it scored."""
    from causallearn.search.ScoreBased import GES

    names = ("precompute_graph_info", "insert_changed_score_fast", "delete_changed_score_fast")
    original = {n: getattr(GES, n) for n in names}
    steps: list[dict] = []

    def start(G, N):
        steps.append({"graph": copy.deepcopy(G), "operators": []})
        return original["precompute_graph_info"](G, N)

    def scorer(kind):
        def score(*args, **kwargs):
            change, desc, cache = original[f"{kind}_changed_score_fast"](*args, **kwargs)
            steps[-1]["operators"].append((float(change), kind, [desc[0], desc[1], list(desc[2])]))
            return change, desc, cache

        return score

    GES.precompute_graph_info = start
    GES.insert_changed_score_fast = scorer("insert")
    GES.delete_changed_score_fast = scorer("delete")
    try:
        yield steps
    finally:
        for n, f in original.items():
            setattr(GES, n, f)


def _ges_result(graph, kind: str, desc: list) -> np.ndarray:
    """The equivalence class (CPDAG endpoint matrix) GES reaches by applying one operator."""
    from causallearn.search.ScoreBased import GES

    g = copy.deepcopy(graph)
    g = GES.insert(g, *desc) if kind == "insert" else GES.delete(g, *desc)
    return GES.dag2cpdag(GES.pdag2dag(g)).graph


def ges_gap(steps: list[dict]) -> float:
    """The smallest score gap behind any GES decision (to go on or stop, and which class)."""
    gaps = []
    for step in steps:
        ranked = sorted(step["operators"], key=lambda op: -op[0])
        if not ranked:
            continue
        best, kind, desc = ranked[0]
        gaps.append(abs(best))  # an operator is applied only when it improves the score
        if best <= 0:
            continue
        chosen = _ges_result(step["graph"], kind, desc)
        for change, other_kind, other_desc in ranked[1:]:
            if not np.array_equal(_ges_result(step["graph"], other_kind, other_desc), chosen):
                gaps.append(best - change)
                break
    return min(gaps)


def boss_disagreements(frame: pl.DataFrame, kwargs: dict, graph: dict) -> list[str]:
    """The seeds and data perturbations under which BOSS finds a graph other than ``graph``."""
    x = frame.to_numpy()
    rng = np.random.default_rng(0)
    runs = {f"seed {s}": (frame, s) for s in range(1, BOSS_SEEDS + 1)}
    for k in range(BOSS_PERTURBATIONS):
        eps = (1e-12, 1e-10, 1e-8)[k % 3]
        noisy = pl.DataFrame(x * (1 + eps * rng.standard_normal(x.shape)), schema=frame.columns)
        runs[f"perturbation {k} ({eps:g})"] = (noisy, k % 2)
    return [
        label
        for label, (data, seed) in runs.items()
        if discover(data, **{**kwargs, "seed": seed})["edges"] != graph["edges"]
    ]


def check_margin(name: str) -> tuple[bool, str, dict]:
    """(whether the search behind fixture ``name`` is safe from rounding, why, its graph)."""
    data, kwargs = SETTINGS[name]
    frame = pl.read_csv(HERE / f"{data}.csv")
    method = kwargs.get("method", "pc")
    if method in ("pc", "fci"):
        alpha = kwargs.get("alpha", 0.05)
        with recorded_pvalues() as pvalues:
            graph = discover(frame, **kwargs)
        gaps = np.abs(np.asarray(pvalues) - alpha)
        closest = pvalues[int(np.argmin(gaps))]
        ok = len(pvalues) > 0 and gaps.min() >= MIN_P_MARGIN
        why = (
            f"{len(pvalues)} tests, min |p - alpha| = {gaps.min():.3g} (p = {closest:.6g}, "
            f"alpha = {alpha}; needs >= {MIN_P_MARGIN:g})"
        )
    elif method == "ges":
        with recorded_ges_steps() as steps:
            graph = discover(frame, **kwargs)
        gap = ges_gap(steps)
        ok = gap >= MIN_SCORE_GAP
        why = f"{len(steps)} steps, min score gap = {gap:.3g} (needs >= {MIN_SCORE_GAP:g})"
    elif method == "boss":
        graph = discover(frame, **kwargs)
        off = boss_disagreements(frame, kwargs, graph)
        ok = not off
        runs = BOSS_SEEDS + BOSS_PERTURBATIONS
        why = f"{runs - len(off)} of {runs} seeds and perturbations give the same graph" + (
            f" (not: {', '.join(off)})" if off else ""
        )
    else:  # pragma: no cover - add a margin rule with a new method
        raise ValueError(f"no margin rule for {method}")
    return ok, why, graph


def make_graphs() -> None:
    for name in SETTINGS:
        ok, why, graph = check_margin(name)
        print(name, len(graph["edges"]), "edges;", why)
        if not ok:
            raise SystemExit(f"{name}: too close to a rounding flip to store ({why})")
        graph["params"].pop("causal_learn", None)
        write_json(graph, HERE / name)


def print_margins() -> None:
    for name in SETTINGS:
        ok, why, _ = check_margin(name)
        print(json.dumps({"fixture": name, "ok": ok, "margin": why}))


if __name__ == "__main__":
    if "--margins" in sys.argv:
        print_margins()
        raise SystemExit(0)
    if "--graphs" not in sys.argv:
        make_data()
    make_graphs()
