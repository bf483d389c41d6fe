"""A planted-structure respondent: value scores from a known linear-Gaussian SEM (ground truth).

Each role draws latent value scores from a linear SEM over the value nodes,
``x = Wᵀx + e``, ``e ~ N(0, latent_sd²)`` per value (seeded by ``derive_seed(seed, "latent",
role_id)``, so a role has the same latents under every condition: the paired design), standardised
to unit observational variance. A condition may shift one value's equation (a soft intervention
that propagates to its descendants). Each item is then answered yes with probability

    p_yes = sigmoid(k · agreement · latent[value] + yes_bias + b_item + acquiescence_role + ε),

with ``b_item ~ N(0, item_sd²)`` fixed per item, ``ε ~ N(0, noise_sd²)`` per answer, and the
answer a Bernoulli(p_yes) draw seeded by (seed, role, condition). With ``paired_noise`` the answer
noise ε and the draw are seeded by (seed, role) only, so a role's answer to an item differs between
conditions only through the shift (a deterministic log-prob model whose steering moves little).
Values the SEM does not name are independent N(0, 1) latents. Everything is deterministic given
the seed; no torch.

The records go through the same collect → matrix path as an LLM's answers (``mode`` = simulated).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import polars as pl

from valuegraph import items as items_mod
from valuegraph.collect import RESPONSE_SCHEMA, BatchCallback, items_for
from valuegraph.config import Condition
from valuegraph.errors import ConfigError, DataError
from valuegraph.io import sha256_file, short_hash
from valuegraph.seeding import derive_seed

MODE = "simulated"


# --------------------------------------------------------------------------- the SEM


@dataclasses.dataclass(frozen=True)
class SEM:
    """A linear SEM: ``nodes`` in topological order, ``weights[i, j]`` the coefficient of i in j."""

    nodes: tuple[str, ...]
    weights: np.ndarray
    source: str = ""

    @property
    def edges(self) -> list[tuple[str, str, float]]:
        idx = np.argwhere(self.weights != 0)
        return [(self.nodes[i], self.nodes[j], float(self.weights[i, j])) for i, j in idx]

    def truth(self, nodes: Sequence[str] | None = None) -> dict[str, Any]:
        """The planted DAG as a GRAPH.json dict (over ``nodes`` when given, else the SEM's)."""
        order = list(nodes) if nodes is not None else list(self.nodes)
        edges = [
            {"source": s, "target": t, "type": "directed", "weight": w}
            for s, t, w in self.edges
            if s in order and t in order
        ]
        return {"nodes": order, "edges": edges, "params": {"truth": self.source}, "handling": []}

    def total_effects(self) -> np.ndarray:
        """``A = (I - Wᵀ)⁻¹``: x = A e."""
        n = len(self.nodes)
        return np.linalg.inv(np.eye(n) - self.weights.T)

    def marginal_sd(self, latent_sd: float = 1.0) -> np.ndarray:
        """Observational standard deviation of each node (noise sd ``latent_sd``)."""
        a = self.total_effects()
        return np.sqrt(np.sum(a**2, axis=1)) * latent_sd

    def correlation(self) -> np.ndarray:
        """The implied observational correlation matrix (nodes in SEM order)."""
        a = self.total_effects()
        cov = a @ a.T
        sd = np.sqrt(np.diag(cov))
        return cov / np.outer(sd, sd)


def read_sem(path: str | Path) -> SEM:
    """Read a weighted edge list (TSV header ``source<TAB>target<TAB>weight``; ``#`` comments).

    Errors name the file and line: missing header, bad weight, self-loop, duplicate, cycle.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: simulated graph file not found (models[].simulated.graph)")
    lines = [
        (n, line.rstrip("\r\n"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines or [f.strip() for f in lines[0][1].split("\t")][:3] != [
        "source",
        "target",
        "weight",
    ]:
        raise DataError(
            f"{path}: the first non-comment line must be 'source<TAB>target<TAB>weight'"
        )
    graph = nx.DiGraph()
    for lineno, line in lines[1:]:
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < 3 or not fields[0] or not fields[1]:
            raise DataError(
                f"{path}: line {lineno} needs 'source<TAB>target<TAB>weight', got {line!r}"
            )
        s, t = fields[0], fields[1]
        try:
            w = float(fields[2])
        except ValueError:
            raise DataError(
                f"{path}: line {lineno}: weight {fields[2]!r} is not a number"
            ) from None
        if not math.isfinite(w) or w == 0:
            raise DataError(f"{path}: line {lineno}: weight must be finite and non-zero, got {w}")
        if s == t:
            raise DataError(f"{path}: line {lineno}: self-loop {s!r}")
        if graph.has_edge(s, t):
            raise DataError(f"{path}: line {lineno}: duplicate edge {s!r} → {t!r}")
        graph.add_edge(s, t, weight=w)
    if graph.number_of_nodes() == 0:
        raise DataError(f"{path}: no edges")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = " → ".join(e[0] for e in nx.find_cycle(graph))
        raise DataError(f"{path}: the SEM must be acyclic; found the cycle {cycle}")
    first_seen = list(dict.fromkeys(n for e in graph.edges for n in e))
    order = list(nx.lexicographical_topological_sort(graph, key=first_seen.index))
    index = {n: k for k, n in enumerate(order)}
    weights = np.zeros((len(order), len(order)))
    for s, t, w in graph.edges(data="weight"):
        weights[index[s], index[t]] = w
    return SEM(tuple(order), weights, str(path))


# --------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class Simulation:
    """The ``simulated:`` block of a model: graph file, seed and noise levels."""

    graph: str
    seed: int = 0
    latent_sd: float = 1.0
    discrimination: float = 2.0
    item_sd: float = 0.5
    noise_sd: float = 0.5
    acquiescence_sd: float = 0.0
    shift: float = 1.5
    batch_size: int = 64
    yes_bias: float = 0.0
    paired_noise: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Simulation:
        if not data or not data.get("graph"):
            raise ConfigError(
                "a model with source 'simulated' needs 'simulated.graph' (an edge-list TSV)"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ConfigError(f"simulated: unknown key(s) {unknown}; allowed: {sorted(fields)}")
        return cls(**dict(data))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def shift_condition(value: str, strength: float) -> Condition:
    """A simulated intervention condition: shift ``value``'s equation by ``strength`` x shift sd."""
    return Condition(
        spec=f"shift:{value}:{strength:g}", kind="shift", args=(value, f"{strength:g}")
    )


# --------------------------------------------------------------------------- the respondent


class SimulatedRespondent:
    """Implements :class:`valuegraph.collect.Respondent` from a planted SEM."""

    mode = MODE

    def __init__(self, sem: SEM, settings: Simulation, values: Sequence[str] | None = None) -> None:
        self.sem = sem
        self.settings = settings
        extra = [v for v in (values or []) if v not in sem.nodes]
        self.nodes: list[str] = [*sem.nodes, *extra]  # extra values: independent latents
        self.index = {n: k for k, n in enumerate(self.nodes)}
        self._sd = sem.marginal_sd(settings.latent_sd)
        self._item_bias: dict[str, float] = {}

    @classmethod
    def from_spec(
        cls,
        simulated: Mapping[str, Any] | None,
        values: Sequence[str] | None = None,
        master_seed: int | None = None,
    ) -> SimulatedRespondent:
        """From a model's ``simulated`` block; ``master_seed`` (the config seed) is mixed in."""
        settings = Simulation.from_dict(simulated)
        if master_seed is not None:
            mixed = derive_seed(master_seed, "simulated", str(settings.seed))
            settings = dataclasses.replace(settings, seed=mixed)
        return cls(read_sem(settings.graph), settings, values)

    # -- latents

    def shifts(self, condition: Condition) -> dict[str, float]:
        """{value: shift in exogenous-noise sd units} for a condition (none: no shift)."""
        if condition.kind == "none":
            return {}
        targets = [a for a in condition.args if a in self.index]
        numbers = []
        for a in condition.args:
            if a in ("+", "-"):  # value_prompt:<value>:<+|->: inclined / disinclined
                numbers.append(1.0 if a == "+" else -1.0)
                continue
            with contextlib.suppress(ValueError):
                numbers.append(float(a))
        if not targets:
            raise DataError(
                f"simulated respondent: condition {condition.spec!r} names no value of the SEM; "
                "it can only simulate conditions that shift one value"
            )
        strength = numbers[0] if numbers else 1.0
        return {targets[0]: strength * self.settings.shift}

    def latents(self, role_id: str, condition: Condition | None = None) -> np.ndarray:
        """Standardised latent scores of one role (SEM nodes, then extra values)."""
        s = self.settings
        rng = np.random.default_rng(derive_seed(s.seed, "latent", role_id))
        e = rng.normal(0.0, s.latent_sd, len(self.nodes))
        n_sem = len(self.sem.nodes)
        for value, delta in self.shifts(condition or Condition("none", "none")).items():
            e[self.index[value]] += delta * s.latent_sd
        x = e.copy()
        w = self.sem.weights
        for j in range(n_sem):  # topological order
            x[j] = e[j] + x[:n_sem] @ w[:, j]
        x[:n_sem] /= self._sd
        x[n_sem:] /= s.latent_sd
        return x

    def acquiescence(self, role_id: str) -> float:
        rng = np.random.default_rng(derive_seed(self.settings.seed, "acquiescence", role_id))
        return (
            float(rng.normal(0.0, self.settings.acquiescence_sd))
            if self.settings.acquiescence_sd
            else 0.0
        )

    def item_bias(self, item_ids: Sequence[str]) -> np.ndarray:
        out = np.empty(len(item_ids))
        for k, item in enumerate(item_ids):
            if item not in self._item_bias:
                rng = np.random.default_rng(derive_seed(self.settings.seed, "item", item))
                self._item_bias[item] = float(rng.normal(0.0, self.settings.item_sd))
            out[k] = self._item_bias[item]
        return out

    # -- answers

    def p_and_answers(
        self, role_id: str, items: pl.DataFrame, condition: Condition
    ) -> tuple[np.ndarray, np.ndarray]:
        """(p_yes, yes?) for every item row of ``items``, in row order."""
        unknown = sorted(set(items["value"].unique()) - set(self.index))
        if unknown:
            raise DataError(f"simulated respondent: values {unknown} are not known to it")
        s = self.settings
        latent = self.latents(role_id, condition)
        z = latent[[self.index[v] for v in items["value"].to_list()]]
        agreement = items["agreement"].cast(pl.Float64).to_numpy()
        stream = ("answer", role_id) if s.paired_noise else ("answer", role_id, condition.id)
        rng = np.random.default_rng(derive_seed(s.seed, *stream))
        noise = rng.normal(0.0, s.noise_sd, items.height)
        draw = rng.random(items.height)
        logit = (
            s.discrimination * agreement * z
            + s.yes_bias
            + self.item_bias(items["item_id"].to_list())
        )
        p = sigmoid(logit + self.acquiescence(role_id) + noise)
        return p, draw < p

    def answer(
        self,
        role: dict[str, Any],
        items: pl.DataFrame,
        condition: Condition,
        skip: set[int],
        on_batch: BatchCallback,
    ) -> None:
        role_id = role["role_id"]
        p, yes = self.p_and_answers(role_id, items, condition)
        ids = items["item_id"].to_list()
        size = self.settings.batch_size
        for b, start in enumerate(range(0, items.height, size)):
            if b in skip:
                continue
            idx = list(range(start, min(start + size, items.height)))
            on_batch(b, idx, [self._record(role_id, condition, ids[i], p[i], yes[i]) for i in idx])

    @staticmethod
    def _record(
        role_id: str, condition: Condition, item_id: str, p: float, yes: bool
    ) -> dict[str, Any]:
        p = float(p)
        return {
            "prompt_hash": short_hash(f"{MODE}\x1f{role_id}\x1f{condition.spec}\x1f{item_id}"),
            "answer": "yes" if yes else "no",
            "p_yes": p,
            "logp_yes": math.log(p) if p > 0 else -math.inf,
            "logp_no": math.log1p(-p) if p < 1 else -math.inf,
            "raw_text": None,
        }


# --------------------------------------------------------------------------- bulk path


def simulate_responses(
    respondent: SimulatedRespondent,
    role_ids: Sequence[str],
    items: pl.DataFrame,
    conditions: Sequence[Condition],
    split: str = "train",
    train_sample_rate: float = 1.0,
    seed: int = 0,
    model: str = "simulated",
    progress: Callable[[int], None] | None = None,
) -> pl.DataFrame:
    """The responses table :func:`valuegraph.collect.collect_shard` would write, in one pass
    (no checkpoints): same items per role (``items_for``), same answers, same columns."""
    frames = []
    for k, role_id in enumerate(role_ids):
        role_items = items_for({"role_id": role_id}, items, split, train_sample_rate, seed)
        for condition in conditions:
            p, yes = respondent.p_and_answers(role_id, role_items, condition)
            frames.append(
                role_items.select("item_id", "value", "agreement").with_columns(
                    pl.lit(role_id).alias("role_id"),
                    pl.lit(condition.id).alias("condition"),
                    pl.Series("p_yes", p),
                    pl.Series("answer", np.where(yes, "yes", "no")),
                )
            )
        if progress:
            progress(k)
    frame = pl.concat(frames)
    sign = pl.when(pl.col("answer") == "yes").then(1.0).otherwise(-1.0)
    agree = pl.col("agreement").cast(pl.Float64)
    frame = frame.with_columns(
        pl.lit(model).alias("model"),
        pl.lit(split).alias("split"),
        pl.lit(None, dtype=pl.String).alias("prompt_hash"),
        pl.col("p_yes").log().alias("logp_yes"),
        (1 - pl.col("p_yes")).log().alias("logp_no"),
        (agree * sign).alias("score"),
        (agree * (2 * pl.col("p_yes") - 1)).alias("soft_score"),
        pl.lit(None, dtype=pl.String).alias("raw_text"),
        pl.lit(MODE).alias("mode"),
        pl.lit("strict").alias("parser"),  # always yes or no: the parser does not matter
    )
    return frame.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()])


def train_items(
    items_csv: str | Path,
    values: Sequence[str] | None,
    seed: int,
    min_items: int = 20,
    train_fraction: float = 0.7,
) -> tuple[pl.DataFrame, list[str]]:
    """The workflow's train items for a value set (the ``items`` stage, in memory)."""
    table = items_mod.read_items(items_csv)
    chosen = items_mod.select_values(
        table, list(values) if values else None, min_items, str(items_csv)
    )
    split = items_mod.split(table, chosen, train_fraction, seed)
    return split.filter(pl.col("split") == "train"), chosen


def record(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The prepare-model record of a simulated model: spec, the parsed SEM and its file hash."""
    settings = Simulation.from_dict(spec.get("simulated"))
    sem = read_sem(settings.graph)
    return {
        "spec": dict(spec),
        "materialised": None,
        "simulated": {
            "graph_sha256": sha256_file(settings.graph),
            "nodes": list(sem.nodes),
            "edges": [{"source": s, "target": t, "weight": w} for s, t, w in sem.edges],
        },
    }
