"""The collection design benchmark: which design of equal cost lets discovery recover most?

A fixed answer budget per model (train + test collection, every condition, a (role, condition)
prefix pass counted as ``prefix_cost`` answers) can buy many roles with few items each, fewer roles
with all items, steered copies of the same roles, or a larger test split. Each design is scored on
planted graphs: the simulated respondent (:mod:`valuegraph.causal.simulated`) answers the
workflow's own train items (same split, same per-role sample, ``items_for``), its records go through
:func:`valuegraph.matrix.build_matrix`, and PC runs with the workflow's discovery settings (alpha,
independence test, ``postprocess``, rows pooled over conditions). Scores against the planted DAG:
skeleton precision / recall / F1, SHD and orientation accuracy, mean and 95% CI over replicates.

Design dimensions:

* ``item_sampling``: ``per_role`` (the workflow and the paper: each role answers its own seeded
  sample of ceil(rate · n) train items per value) or ``shared`` (every role answers the same
  sample; the workflow has no switch for it yet);
* ``train_sample_rate``: the share of each value's train items a role answers (1 = all);
* ``train_conditions``: ``none`` plus k steering conditions on the train split, each a soft
  intervention on one value (a random value per replicate), pooled into discovery as
  ``discovery.rows: paper`` pools the kept SAE features;
* ``n_test``: test roles; the test split answers every test item under ``test_conditions``
  conditions (steering evaluation only: it costs budget but never enters discovery);
* ``n_train``: the train roles the rest of the budget buys (the no-role baseline comes on top in
  both splits, as ``roles.baseline``).

Replicates: each draws a random planted DAG over the values (``n_edges`` edges, |weight| in
[0.4, 0.8], random sign; the density of config/graphs/planted17.tsv) and a fresh respondent seed,
all from ``derive_seed(seed, ...)``.

Calibration (``SCENARIOS["calibrated"]``): fitted to the real SmolLM2-135M-Instruct answers of the
.test run (log-prob mode, soft scores; 5 SOV values; test split: 3 roles x 30 items, every role the
same items, so a two-way decomposition of logit(p_yes) = item + role + role x value + ε is clean):
mean logit -2.1 (p_yes ~0.11: the model says no to nearly everything), item offsets sd 0.38-0.54,
per-role general yes-shift sd 0.08-0.09, role x value sd 0.022-0.032 of which the answer noise
(sd 0.04-0.05 per answer, over 6-7 items) explains most: a value-specific persona signal of
sd ~0.02 logits. So: discrimination 0.02, item_sd 0.45, acquiescence_sd 0.09, noise_sd 0.04,
yes_bias -2.1, paired noise (log-prob answers are deterministic: a condition that moves p_yes by
0.001-0.01, as SmolLM2's SAE steering does, leaves the rest of the answer unchanged). In the real
train matrix (each role its own 2 items per value) the between-role SD of value scores is 3x the
test matrix's (same items for all): item sampling, not personas, makes most of the train
matrix's variance. :func:`matrix_stats` computes the comparison statistics (between-role SD,
mean pairwise r, split-half reliability) for real and simulated answers alike; the ``strong``
scenario is a persona-sensitive model (discrimination 0.3, 15x the calibrated signal) on which
designs separate more clearly.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from valuegraph import items as items_mod
from valuegraph.causal import discovery, graphs
from valuegraph.causal.simulated import (
    SEM,
    SimulatedRespondent,
    Simulation,
    shift_condition,
    simulate_responses,
)
from valuegraph.config import Condition
from valuegraph.errors import ConfigError, DataError
from valuegraph.io import write_json
from valuegraph.items import sample_for_role
from valuegraph.matrix import build_matrix
from valuegraph.seeding import derive_seed

log = logging.getLogger(__name__)

# Respondent settings (the simulated block minus graph and seed), see the module docstring.
SCENARIOS: dict[str, dict[str, Any]] = {
    "calibrated": {
        "discrimination": 0.02,
        "item_sd": 0.45,
        "acquiescence_sd": 0.09,
        "noise_sd": 0.04,
        "yes_bias": -2.1,
        "shift": 1.5,
        "paired_noise": True,
    },
    "strong": {
        "discrimination": 0.3,
        "item_sd": 0.45,
        "acquiescence_sd": 0.09,
        "noise_sd": 0.04,
        "yes_bias": -2.1,
        "shift": 1.5,
        "paired_noise": True,
    },
}
# The statistics of the real SmolLM2 .test run (tests/results of 2026-12-02, soft scores,
# 'none' condition) that the calibrated scenario was fitted to; see matrix_stats.
REAL_STATS = {
    "source": "SmolLM2-135M-Instruct, .test config (5 SOV values, log-prob, soft scores)",
    "train (9 roles, own 2 items per value)": {
        "between_role_sd": 0.058,
        "mean_pairwise_r": 0.285,
        "split_half_r": 0.17,
        "mean_p_yes": 0.110,
    },
    "test (3 roles, the same 6 items per value)": {
        "between_role_sd": 0.018,
        "mean_pairwise_r": 0.974,
        "split_half_r": 0.97,
        "mean_p_yes": 0.121,
    },
}
SAMPLINGS = ("per_role", "shared")
METRICS = ("skeleton_f1", "skeleton_precision", "skeleton_recall", "shd", "orientation_accuracy")


@dataclasses.dataclass(frozen=True)
class Design:
    """One collection design; ``n_train`` / ``n_test`` count personas (plus the baseline)."""

    item_sampling: str
    train_sample_rate: float
    k_train: int
    n_test: int
    n_train: int

    @property
    def id(self) -> str:
        return (
            f"{self.item_sampling}-r{self.train_sample_rate:g}-k{self.k_train}"
            f"-test{self.n_test}-train{self.n_train}"
        )

    def discovery_rows(self, baseline: bool = True) -> int:
        return (self.n_train + int(baseline)) * (self.k_train + 1)


@dataclasses.dataclass(frozen=True)
class Costs:
    """What a design's collection costs in answers (the budget's unit)."""

    train_items_per_role: Mapping[float, int]  # rate -> items one train role answers
    test_items: int
    test_conditions: int
    prefix_cost: float
    baseline: bool = True
    train_role_extra: float = 0.0  # answers each train role costs besides its main collection

    def train(self, d: Design) -> float:
        per_pass = self.train_items_per_role[d.train_sample_rate] + self.prefix_cost
        per_role = (d.k_train + 1) * per_pass + self.train_role_extra
        return (d.n_train + int(self.baseline)) * per_role

    def test(self, d: Design) -> float:
        per_pass = self.test_items + self.prefix_cost
        return (d.n_test + int(self.baseline)) * self.test_conditions * per_pass

    def total(self, d: Design) -> float:
        return self.train(d) + self.test(d)


def items_per_role(items: pl.DataFrame, rate: float) -> int:
    """Train items one role answers at ``rate`` (ceil(rate · n) per value, all at rate >= 1)."""
    counts = items.group_by("value").len()["len"].to_list()
    return sum(n if rate >= 1 else math.ceil(rate * n) for n in counts)


def enumerate_designs(
    budget: float,
    costs: Costs,
    rates: Sequence[float],
    k_trains: Sequence[int],
    n_tests: Sequence[int],
    samplings: Sequence[str] = SAMPLINGS,
    min_train: int = 4,
) -> list[Design]:
    """Every combination with the most train roles the budget leaves (designs whose test split
    alone leaves fewer than ``min_train`` train roles are dropped)."""
    out = []
    for sampling, rate, k, n_test in itertools.product(samplings, rates, k_trains, n_tests):
        probe = Design(sampling, rate, k, n_test, 0)
        per_role = costs.train(dataclasses.replace(probe, n_train=1)) - costs.train(probe)
        left = budget - costs.test(probe) - costs.train(probe)  # the baseline's cost included
        n_train = int(left // per_role)
        if n_train >= min_train:
            out.append(dataclasses.replace(probe, n_train=n_train))
    return out


def random_sem(values: Sequence[str], n_edges: int, seed: int, lo: float = 0.4, hi: float = 0.8):
    """A random DAG over ``values``: a seeded order, ``n_edges`` forward edges, |w| in [lo, hi]."""
    rng = np.random.default_rng(seed)
    order = [values[i] for i in rng.permutation(len(values))]
    n = len(order)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if n_edges > len(pairs):
        raise ConfigError(f"n_edges {n_edges} exceeds the {len(pairs)} possible edges")
    weights = np.zeros((n, n))
    for k in rng.choice(len(pairs), size=n_edges, replace=False):
        i, j = pairs[k]
        weights[i, j] = rng.uniform(lo, hi) * rng.choice([-1.0, 1.0])
    return SEM(tuple(order), weights, f"random(seed={seed}, edges={n_edges})")


def simulate_split(
    respondent: SimulatedRespondent,
    items: pl.DataFrame,
    values: Sequence[str],
    role_ids: Sequence[str],
    conditions: Sequence[Condition],
    rate: float,
    sampling: str,
    seed: int,
    score: str = "soft",
    split: str = "train",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(responses, matrix) of ``role_ids`` on the train split under ``conditions``.

    ``per_role``: the workflow's own per-role sample (``items_for``); ``shared``: the sample of
    one pseudo-role, answered by every role."""
    if sampling not in SAMPLINGS:
        raise ConfigError(f"item_sampling {sampling!r} is not one of {list(SAMPLINGS)}")
    if split == "train" and sampling == "shared" and rate < 1:
        items, rate = sample_for_role(items, "shared", rate, seed), 1.0
    responses = simulate_responses(respondent, role_ids, items, conditions, split, rate, seed)
    return responses, build_matrix(responses, list(values), score)


def _score(matrix: pl.DataFrame, truth: dict[str, Any], settings: Mapping[str, Any]) -> dict:
    try:
        graph = discovery.discover(
            matrix,
            method="pc",
            alpha=settings["alpha"],
            indep_test=settings["indep_test"],
            postprocess=settings["postprocess"],
            interventions="pool",
            seed=settings["seed"],
            exclude=list(discovery.BOOKKEEPING_COLUMNS),
            drop_missing=True,
        )
    except DataError as exc:  # too few rows: no graph, scored as the empty graph
        log.info("discovery failed (scored as the empty graph): %s", exc)
        return {
            "skeleton_f1": 0.0,
            "skeleton_precision": None,
            "skeleton_recall": 0.0,
            "shd": len(truth["edges"]),
            "orientation_accuracy": None,
            "n_edges": 0,
            "failed": True,
        }
    scores = graphs.compare(graphs.system_graph(graph), truth)
    out = {m: scores[m] for m in METRICS}
    out = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in out.items()}
    return out | {"n_edges": scores["n_adjacencies"], "failed": False}


def _task(
    items: pl.DataFrame,
    values: Sequence[str],
    scenario: str,
    simulation: Mapping[str, Any],
    replicate: int,
    sampling: str,
    rate: float,
    designs: Sequence[Design],
    settings: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One replicate x scenario x (sampling, rate): simulate the most roles and conditions any
    design of the group needs once, then score each design on its rows (roles and conditions
    are nested: the paired design)."""
    seed = settings["seed"]
    sem = random_sem(
        values, settings["n_edges"], derive_seed(seed, "design", "graph", str(replicate))
    )
    sim = Simulation(
        graph=sem.source,
        seed=derive_seed(seed, "design", "respondent", str(replicate)),
        **dict(simulation),
    )
    respondent = SimulatedRespondent(sem, sim, values)
    rng = np.random.default_rng(derive_seed(seed, "design", "shifted", str(replicate)))
    k_max = max(d.k_train for d in designs)
    shifted = [values[i] for i in rng.choice(len(values), size=k_max, replace=False)]
    conditions = [Condition("none", "none"), *[shift_condition(v, 1) for v in shifted]]
    n_max = max(d.n_train for d in designs) + 1
    role_ids = [f"sim-{i:05d}" for i in range(n_max)]
    start = time.perf_counter()
    _, matrix = simulate_split(
        respondent, items, values, role_ids, conditions, rate, sampling, seed, settings["score"]
    )
    sim_seconds = time.perf_counter() - start
    truth = sem.truth(values)
    records = []
    for d in designs:
        start = time.perf_counter()
        keep_roles = role_ids[: d.n_train + 1]
        keep_conditions = [c.id for c in conditions[: d.k_train + 1]]
        rows = matrix.filter(
            pl.col("role_id").is_in(keep_roles) & pl.col("condition").is_in(keep_conditions)
        )
        records.append(
            {"scenario": scenario, "design": d.id, "replicate": replicate, "n_rows": rows.height}
            | _score(rows, truth, settings)
            | {"seconds": round(time.perf_counter() - start + sim_seconds / len(designs), 3)}
        )
    return records


def run_bench(
    items_csv: str | Path,
    budget: float = 6000,
    rates: Sequence[float] = (0.1, 0.2, 0.4, 1.0),
    k_trains: Sequence[int] = (0, 1, 3),
    n_tests: Sequence[int] = (2, 6),
    samplings: Sequence[str] = SAMPLINGS,
    test_conditions: int = 6,
    prefix_cost: float = 5.0,
    train_role_extra: float = 0.0,
    reference: Sequence[Design] = (),
    replicates: int = 10,
    scenarios: Sequence[str] = ("calibrated", "strong"),
    simulation: Mapping[str, Any] | None = None,
    n_edges: int = 22,
    values: Sequence[str] | None = None,
    train_fraction: float = 0.7,
    min_items: int = 20,
    min_rows: int = 100,
    seed: int = 0,
    alpha: float = 0.05,
    indep_test: str = "fisherz",
    postprocess: str = "paper",
    score: str = "soft",
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Enumerate the designs of ``budget`` answers, score each on ``replicates`` planted graphs
    per scenario; return ``{"settings", "designs", "records"}`` (:func:`table` summarises)."""
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ConfigError(f"design scenarios {unknown} are not among {list(SCENARIOS)}")
    bad = sorted(set(samplings) - set(SAMPLINGS))
    if bad:
        raise ConfigError(f"item samplings {bad} are not among {list(SAMPLINGS)}")
    table_ = items_mod.read_items(items_csv)
    chosen = items_mod.select_values(
        table_, list(values) if values else None, min_items, str(items_csv)
    )
    split = items_mod.split(table_, chosen, train_fraction, seed)
    train = split.filter(pl.col("split") == "train")
    n_test_items = split.height - train.height
    all_rates = sorted({*rates, *(d.train_sample_rate for d in reference)})
    costs = Costs(
        {r: items_per_role(train, r) for r in all_rates},
        n_test_items,
        test_conditions,
        prefix_cost,
        train_role_extra=train_role_extra,
    )
    designs = enumerate_designs(budget, costs, rates, k_trains, n_tests, samplings)
    if not designs:
        raise ConfigError(f"no design fits a budget of {budget} answers")
    known = {d.id for d in designs}
    designs += [d for d in reference if d.id not in known]
    reference_ids = {d.id for d in reference}
    settings = {
        "seed": seed,
        "alpha": alpha,
        "indep_test": indep_test,
        "postprocess": postprocess,
        "score": score,
        "n_edges": n_edges,
    }
    groups: dict[tuple[str, float], list[Design]] = {}
    for d in designs:
        groups.setdefault((d.item_sampling, d.train_sample_rate), []).append(d)
    tasks = [
        (train, chosen, sc, {**SCENARIOS[sc], **(simulation or {})}, rep, s, r, ds, settings)
        for sc in scenarios
        for rep in range(replicates)
        for (s, r), ds in groups.items()
    ]
    log.info("design bench: %d designs, %d simulate+discover tasks", len(designs), len(tasks))
    if n_jobs > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky")(delayed(_task)(*t) for t in tasks)
    else:
        results = [_task(*t) for t in tasks]
    records = [r for group in results for r in group]
    return {
        "settings": settings
        | {
            "budget": budget,
            "budget_covers": "answers per model: train + test collection, every condition, "
            f"each (role, condition) prefix pass counted as {prefix_cost:g} answers, plus "
            f"{train_role_extra:g} answers per train role outside it (the Schwartz track)",
            "test_conditions": test_conditions,
            "prefix_cost": prefix_cost,
            "train_role_extra": train_role_extra,
            "test_items": n_test_items,
            "train_items_per_role": {str(r): n for r, n in costs.train_items_per_role.items()},
            "values": list(chosen),
            "replicates": replicates,
            "min_rows": min_rows,
            "scenarios": {sc: {**SCENARIOS[sc], **(simulation or {})} for sc in scenarios},
            "real_stats": REAL_STATS,
        },
        "designs": [
            dataclasses.asdict(d)
            | {
                "design": d.id,
                "discovery_rows": d.discovery_rows(),
                "answers_train": costs.train(d),
                "answers_test": costs.test(d),
                "answers_total": costs.total(d),
                "reference": d.id in reference_ids,
            }
            for d in designs
        ],
        "records": records,
    }


def _ci(
    x: np.ndarray, lo: float = 0.0, hi: float = math.inf
) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% CI (normal approximation), clipped to the metric's range [lo, hi]."""
    x = x[np.isfinite(x)]
    if not x.size:
        return None, None, None
    mean = float(x.mean())
    half = 1.96 * float(x.std(ddof=1)) / math.sqrt(x.size) if x.size > 1 else 0.0
    return mean, max(lo, mean - half), min(hi, mean + half)


TABLE_SCHEMA = {
    "scenario": pl.Utf8,
    "design": pl.Utf8,
    "item_sampling": pl.Utf8,
    "train_sample_rate": pl.Float64,
    "train_items_per_role": pl.Int64,
    "k_train": pl.Int64,
    "n_train": pl.Int64,
    "n_test": pl.Int64,
    "discovery_rows": pl.Int64,
    "answers_train": pl.Float64,
    "answers_test": pl.Float64,
    "answers_total": pl.Float64,
    "meets_min_rows": pl.Boolean,
    "reference": pl.Boolean,
    "replicates": pl.Int64,
    **{
        f"{m}_{s}": pl.Float64
        for m in (
            "skeleton_f1",
            "skeleton_precision",
            "skeleton_recall",
            "shd",
            "orientation_accuracy",
        )
        for s in ("mean", "lo", "hi")
    },
    "n_edges_mean": pl.Float64,
    "rank": pl.Int64,
}


def table(result: Mapping[str, Any]) -> pl.DataFrame:
    """One row per scenario x design: costs, rows and each score's mean with a 95% CI (normal
    approximation over replicates); ``rank`` by skeleton F1 within the scenario among the designs
    of equal cost with at least ``min_rows`` discovery rows (others, and the reference designs
    at their own cost, unranked)."""
    settings = result["settings"]
    designs = {d["design"]: d for d in result["designs"]}
    records = pl.DataFrame(result["records"], infer_schema_length=None)
    rows = []
    for (scenario, design), group in records.group_by(["scenario", "design"], maintain_order=True):
        d = designs[design]
        row = {
            "scenario": scenario,
            "design": design,
            "item_sampling": d["item_sampling"],
            "train_sample_rate": d["train_sample_rate"],
            "train_items_per_role": settings["train_items_per_role"][str(d["train_sample_rate"])],
            "k_train": d["k_train"],
            "n_train": d["n_train"],
            "n_test": d["n_test"],
            "discovery_rows": d["discovery_rows"],
            "answers_train": d["answers_train"],
            "answers_test": d["answers_test"],
            "answers_total": d["answers_total"],
            "meets_min_rows": d["discovery_rows"] >= settings["min_rows"],
            "reference": d["reference"],
            "replicates": group.height,
        }
        for m in METRICS:
            x = group[m].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            top = math.inf if m == "shd" else 1.0
            row[f"{m}_mean"], row[f"{m}_lo"], row[f"{m}_hi"] = _ci(x, 0.0, top)
        row["n_edges_mean"] = float(group["n_edges"].cast(pl.Float64).mean())
        rows.append(row)
    frame = pl.DataFrame(rows, schema={k: v for k, v in TABLE_SCHEMA.items() if k != "rank"})
    ranked = (
        frame.filter(pl.col("meets_min_rows") & ~pl.col("reference"))
        .with_columns(
            pl.col("skeleton_f1_mean")
            .rank("ordinal", descending=True)
            .over("scenario")
            .cast(pl.Int64)
            .alias("rank")
        )
        .select("scenario", "design", "rank")
    )
    frame = frame.join(ranked, on=["scenario", "design"], how="left")
    return frame.sort(
        "scenario", "rank", "skeleton_f1_mean", descending=[False, False, True], nulls_last=True
    )


def matrix_stats(responses: pl.DataFrame, condition: str = "none") -> dict[str, float]:
    """Statistics a simulated matrix should share with a real one (``condition`` rows, soft
    scores): the mean between-role SD of value scores, the mean pairwise r between values
    across roles, the mean split-half reliability (each role's items of a value split in two by
    item order, the halves correlated across roles; no Spearman-Brown) and the mean p_yes."""
    r = responses.filter(pl.col("condition") == condition)
    wide = (
        r.group_by("role_id", "value", maintain_order=True)
        .agg(pl.col("soft_score").mean())
        .pivot(on="value", index="role_id", values="soft_score")
    )
    x = wide.drop("role_id").to_numpy()
    corr = np.corrcoef(x.T)
    upper = corr[np.triu_indices_from(corr, 1)]
    halves = (
        r.with_columns(
            (pl.col("item_id").rank("ordinal").over("role_id", "value") % 2).alias("half")
        )
        .group_by("role_id", "value", "half", maintain_order=True)
        .agg(pl.col("soft_score").mean())
    )
    pair = halves.filter(pl.col("half") == 0).join(
        halves.filter(pl.col("half") == 1), on=["role_id", "value"]
    )
    split_half = []
    for _, g in pair.group_by("value", maintain_order=True):
        if g.height > 2 and g["soft_score"].std() > 0 and g["soft_score_right"].std() > 0:
            split_half.append(np.corrcoef(g["soft_score"], g["soft_score_right"])[0, 1])
    return {
        "between_role_sd": float(np.nanmean(x.std(axis=0, ddof=1))),
        "mean_pairwise_r": float(np.nanmean(upper)),
        "split_half_r": float(np.nanmean(split_half)) if split_half else float("nan"),
        "mean_p_yes": float(r["p_yes"].mean()),
    }


def write(result: Mapping[str, Any], out: str | Path) -> None:
    write_json(dict(result), out)


def parse_design(text: str) -> Design:
    """``SAMPLING:RATE:K_TRAIN:N_TEST:N_TRAIN`` (e.g. the current config, per_role:0.2:3:6:12)."""
    parts = text.split(":")
    try:
        sampling, rate, k, n_test, n_train = parts
        design = Design(sampling, float(rate), int(k), int(n_test), int(n_train))
    except ValueError:
        raise ConfigError(
            f"a design is SAMPLING:RATE:K_TRAIN:N_TEST:N_TRAIN (per_role:0.2:3:6:12), got {text!r}"
        ) from None
    if sampling not in SAMPLINGS:
        raise ConfigError(f"design {text!r}: sampling must be one of {list(SAMPLINGS)}")
    return design


def format_table(frame: pl.DataFrame) -> str:
    """A fixed-width text table (log and terminal)."""
    header = (
        f"{'scenario':<10} {'rank':>4} {'design':<34} {'rows':>5} {'answers':>7} "
        f"{'F1':>5} {'95% CI':>11} {'prec':>5} {'rec':>5} {'SHD':>5} {'orient':>6}"
    )
    lines = [header, "-" * len(header)]

    def f(x: float | None, spec: str = ".2f") -> str:
        return "-" if x is None else format(x, spec)

    for r in frame.iter_rows(named=True):
        lines.append(
            f"{r['scenario']:<10} {'ref' if r['reference'] else f(r['rank'], 'd'):>4} "
            f"{r['design']:<34} "
            f"{r['discovery_rows']:>5} {r['answers_total']:>7.0f} {f(r['skeleton_f1_mean']):>5} "
            f"{f(r['skeleton_f1_lo']) + '-' + f(r['skeleton_f1_hi']):>11} "
            f"{f(r['skeleton_precision_mean']):>5} {f(r['skeleton_recall_mean']):>5} "
            f"{f(r['shd_mean'], '.1f'):>5} {f(r['orientation_accuracy_mean']):>6}"
        )
    return "\n".join(lines)


def plot(frame: pl.DataFrame, out: str | Path) -> None:
    from valuegraph.figures.bench import plot_design

    plot_design(frame, out)


# The real design the calibration statistics come from (.test/config/config.yaml).
CALIBRATION_DESIGN = {
    "values": ["Aesthetic", "Economic", "Religious", "Social", "Theoretical"],
    "train_sample_rate": 0.1,
    "n_train": 9,  # 8 personas + the no-role baseline
    "n_test": 3,  # 2 personas + the baseline
}


def calibration_check(
    items_csv: str | Path,
    scenario: Mapping[str, Any],
    replicates: int = 20,
    seed: int = 0,
    design: Mapping[str, Any] = CALIBRATION_DESIGN,
) -> dict[str, dict[str, float]]:
    """:func:`matrix_stats` of the simulated respondent on the real run's design (same values,
    items per role and role counts), averaged over ``replicates`` planted graphs, to set beside
    :data:`REAL_STATS`."""
    values = list(design["values"])
    table_ = items_mod.read_items(items_csv)
    split = items_mod.split(table_, values, 0.7, seed)
    out: dict[str, list[dict[str, float]]] = {"train": [], "test": []}
    n_edges = max(1, round(22 / 136 * len(values) * (len(values) - 1) / 2))
    for rep in range(replicates):
        sem = random_sem(values, n_edges, derive_seed(seed, "calibration", "graph", str(rep)))
        sim = Simulation(
            graph=sem.source,
            seed=derive_seed(seed, "calibration", "respondent", str(rep)),
            **dict(scenario),
        )
        respondent = SimulatedRespondent(sem, sim, values)
        for name, n, rate in (
            ("train", design["n_train"], design["train_sample_rate"]),
            ("test", design["n_test"], 1.0),
        ):
            responses = simulate_responses(
                respondent,
                [f"{name}-{i:03d}" for i in range(n)],
                split.filter(pl.col("split") == name),
                [Condition("none", "none")],
                name,
                rate,
                seed,
            )
            out[name].append(matrix_stats(responses))
    return {
        name: {k: float(np.nanmean([s[k] for s in stats])) for k in stats[0]}
        for name, stats in out.items()
    }
