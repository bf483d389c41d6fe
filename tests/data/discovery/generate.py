"""Regenerate the regression fixtures of tests/test_discovery.py (run from the repository root).

    .venv/bin/python tests/data/discovery/generate.py          # data + expected graphs
    .venv/bin/python tests/data/discovery/generate.py --graphs # expected graphs only

The data are seeded linear-Gaussian SEMs; scores are rounded to steps of 1/12 inside [-3, 3]
so that, like the paper's item means, they are coarse. The expected graphs were produced once by
valuegraph.discovery with causal-learn 0.1.4.8; regenerate them only on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

from valuegraph.discovery import discover
from valuegraph.io import write_csv, write_json

HERE = Path(__file__).parent
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


SETTINGS = {
    "linear17_pc_fisherz_0.05_stable_0_2_none.json": ("linear17", {}),
    "linear17_pc_fisherz_0.05_stable_0_2_paper.json": ("linear17", {"postprocess": "paper"}),
    "linear17_pc_fisherz_0.01_stable_0_2_paper.json": (
        "linear17",
        {"alpha": 0.01, "postprocess": "paper"},
    ),
    "linear17_fci_fisherz_0.05_none.json": ("linear17", {"method": "fci"}),
    "linear17_ges_bic_none.json": ("linear17", {"method": "ges"}),
    "linear17_boss_bic_none.json": ("linear17", {"method": "boss"}),
    "jci8_pc_fisherz_0.05_stable_0_2_pool.json": ("jci8", {}),
    "jci8_pc_fisherz_0.05_stable_0_2_jci.json": ("jci8", {"interventions": "jci"}),
}


def make_graphs() -> None:
    for name, (data, kwargs) in SETTINGS.items():
        frame = pl.read_csv(HERE / f"{data}.csv")
        graph = discover(frame, **kwargs)
        graph["params"].pop("causal_learn", None)
        write_json(graph, HERE / name)
        print(name, len(graph["edges"]), "edges")


if __name__ == "__main__":
    if "--graphs" not in sys.argv:
        make_data()
    make_graphs()
