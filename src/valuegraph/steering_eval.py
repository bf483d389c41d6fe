"""Steering evaluation (analysis side, no torch): train-only feature selection, Table 1, the
paper's side-effect metric with bootstrap CIs and permutation p-values, and targeted steering
(SAE feature vs explicit value prompt).

All inputs are role x value matrices (:mod:`valuegraph.matrix`); a condition's effect on a role
is ``delta = V(role, condition) - V(role, none)``, and a score *changes* when
``|delta| > threshold`` (the paper's threshold is 0, i.e. ``delta != 0``). Missing scores never
count as changes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from valuegraph.config import parse_condition
from valuegraph.errors import DataError
from valuegraph.graphs import descendants, system_graph

log = logging.getLogger(__name__)

NONE = "none"
SAE_KINDS = ("sae", "sae_candidate")
NO_ROLE = "none"


# --------------------------------------------------------------------------- deltas


def _rows(matrix: pl.DataFrame, condition: str, values: Sequence[str]) -> dict[str, np.ndarray]:
    sub = matrix.filter(pl.col("condition") == condition)
    return {
        r: np.array(v, dtype=float)
        for r, v in zip(
            sub["role_id"].to_list(),
            sub.select(values).fill_null(float("nan")).to_numpy().tolist(),
            strict=True,
        )
    }


def paired_deltas(
    matrix: pl.DataFrame,
    values: Sequence[str],
    condition: str,
    reference: str = NONE,
    roles: Sequence[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Role ids and ``V(role, condition) - V(role, reference)`` ([n_roles, n_values]) for the
    roles that have both rows (in ``roles`` order when given, else sorted)."""
    a, b = _rows(matrix, condition, values), _rows(matrix, reference, values)
    ids = [r for r in (roles if roles is not None else sorted(a)) if r in a and r in b]
    if not ids:
        return [], np.zeros((0, len(values)))
    return ids, np.stack([a[r] - b[r] for r in ids])


def directions(delta: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean up / down / same arrays (NaN deltas are none of them)."""
    finite = np.isfinite(delta)
    d = np.where(finite, delta, 0.0)
    up, down = finite & (d > threshold), finite & (d < -threshold)
    return up, down, finite & ~up & ~down


def changed(delta: np.ndarray, threshold: float) -> np.ndarray:
    """``|delta| > threshold`` with NaN = not changed."""
    return np.isfinite(delta) & (np.abs(np.nan_to_num(delta)) > threshold)


# --------------------------------------------------------------------------- conditions


def sae_condition_features(
    conditions: Sequence[str], candidates: Mapping[str, Any] | None
) -> dict[str, int]:
    """{condition id: SAE feature} for the sae conditions among ``conditions`` (strings)."""
    ranked = [int(c["feature"]) for c in (candidates or {}).get("candidates", [])]
    out: dict[str, int] = {}
    for spec in conditions:
        c = parse_condition(spec)
        if c.kind == "sae":
            out[c.id] = c.feature
        elif c.kind == "sae_candidate":
            if c.rank > len(ranked):
                raise DataError(f"condition {spec!r}: only {len(ranked)} candidates were ranked")
            out[c.id] = ranked[c.rank - 1]
    return out


def value_prompt_conditions(conditions: Sequence[str]) -> dict[tuple[str, str], str]:
    """{(value, sign): condition id} of the value_prompt conditions."""
    parsed = [parse_condition(s) for s in conditions]
    return {(c.args[0], c.args[1]): c.id for c in parsed if c.kind == "value_prompt"}


# --------------------------------------------------------------------------- selection


def select_features(
    train: pl.DataFrame,
    values: Sequence[str],
    features: Mapping[str, int],
    threshold: float,
    min_role_share: float,
    min_sign_consistency: float,
    max_features: int,
) -> dict[str, Any]:
    """The pre-declared selection rule, on the TRAIN matrix only (the only matrix it receives).

    A feature condition passes if, for at least one value, the share of train roles whose score
    changes is >= ``min_role_share`` and ``max(up, down) / (up + down)`` is
    >= ``min_sign_consistency``; passing features are ranked by ``max(up, down) / n`` over their
    passing values and at most ``max_features`` are kept.
    """
    rows = []
    for cond, feature in features.items():
        roles, delta = paired_deltas(train, values, cond)
        n = len(roles)
        up, down, _ = directions(delta, threshold)
        per_value = []
        best: dict[str, Any] = {
            "value": None,
            "share": 0.0,
            "consistency": float("nan"),
            "score": 0.0,
        }
        passes = False
        for j, value in enumerate(values):
            u, d = int(up[:, j].sum()), int(down[:, j].sum())
            share = (u + d) / n if n else 0.0
            consistency = max(u, d) / (u + d) if u + d else float("nan")
            ok = bool(n and share >= min_role_share and consistency >= min_sign_consistency)
            score = max(u, d) / n if n else 0.0
            per_value.append(
                {
                    "value": value,
                    "up": u,
                    "down": d,
                    "n": n,
                    "share": share,
                    "consistency": consistency,
                    "passes": ok,
                }
            )
            if ok and (not passes or score > best["score"]):
                best = {"value": value, "share": share, "consistency": consistency, "score": score}
                passes = True
        rows.append(
            {
                "condition": cond,
                "feature": feature,
                "n_roles": n,
                "passes": passes,
                "best": best,
                "values": per_value,
            }
        )
    ranked = sorted(
        (r for r in rows if r["passes"]), key=lambda r: (-r["best"]["score"], r["condition"])
    )
    kept = [r["condition"] for r in ranked[:max_features]]
    for r in rows:
        r["kept"] = r["condition"] in kept
    return {
        "rule": (
            "keep a feature if, for at least one value, at least min_role_share of the train roles "
            "change (|delta| > threshold vs the same role unsteered) with sign consistency "
            "max(up, down) / (up + down) >= min_sign_consistency; rank passing features by "
            "max(up, down) / n on their best passing value; keep at most max_features"
        ),
        "split": "train",
        "parameters": {
            "threshold": threshold,
            "min_role_share": min_role_share,
            "min_sign_consistency": min_sign_consistency,
            "max_features": max_features,
        },
        "kept": kept,
        "kept_features": [features[c] for c in kept],
        "features": rows,
    }


# --------------------------------------------------------------------------- Table 1


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else float("nan")


def table1(
    train: pl.DataFrame,
    test: pl.DataFrame,
    values: Sequence[str],
    features: Mapping[str, int],
    kept: Sequence[str],
    threshold: float,
) -> pl.DataFrame:
    """Per SAE condition x value: up / down / same role counts on train and test (no-role
    included) and the cosine between the train and test proportion vectors (up, down, same)."""
    rows = []
    for cond, feature in features.items():
        counts = {}
        for split, matrix in (("train", train), ("test", test)):
            roles, delta = paired_deltas(matrix, values, cond)
            up, down, same = directions(delta, threshold)
            counts[split] = (up.sum(0), down.sum(0), same.sum(0), len(roles))
        for j, value in enumerate(values):
            props = {}
            row: dict[str, Any] = {
                "condition": cond,
                "feature": feature,
                "kept": cond in kept,
                "value": value,
            }
            for split, (u, d, s, n) in counts.items():
                row.update(
                    {
                        f"{split}_up": int(u[j]),
                        f"{split}_down": int(d[j]),
                        f"{split}_same": int(s[j]),
                        f"{split}_n": n,
                    }
                )
                props[split] = np.array([u[j], d[j], s[j]], dtype=float) / n if n else np.zeros(3)
            row["cosine"] = _cosine(props["train"], props["test"])
            rows.append(row)
    schema = {"condition": pl.String, "feature": pl.Int64, "kept": pl.Boolean, "value": pl.String}
    if not rows:
        return pl.DataFrame(schema={**schema, "cosine": pl.Float64})
    return pl.DataFrame(rows, infer_schema_length=None)


# --------------------------------------------------------------------------- side effects


def descendant_matrix(graph: Mapping[str, Any], values: Sequence[str]) -> np.ndarray:
    """D[x, y] = y is a descendant of x (reachability, undirected edges both ways, x excluded)."""
    desc = descendants(dict(graph))
    index = {v: i for i, v in enumerate(values)}
    out = np.zeros((len(values), len(values)), dtype=bool)
    for x, ys in desc.items():
        if x in index:
            for y in ys:
                if y in index and y != x:
                    out[index[x], index[y]] = True
    return out


def restrict_graph(graph: Mapping[str, Any], values: Sequence[str], name: str) -> dict[str, Any]:
    """The graph on ``values`` only (JCI context nodes and edges naming other values dropped)."""
    g = system_graph(dict(graph))
    keep = set(values)
    edges = [e for e in g["edges"] if e["source"] in keep and e["target"] in keep]
    if len(edges) < len(g["edges"]):
        log.info(
            "%s: %d edge(s) name values outside the value set; dropped",
            name,
            len(g["edges"]) - len(edges),
        )
    return {**g, "nodes": list(values), "edges": edges}


def n_arcs(graph: Mapping[str, Any]) -> int:
    """Arcs of the graph read as the metric reads it (a non-directed edge = two arcs)."""
    arcs = set()
    for e in graph["edges"]:
        arcs.add((e["source"], e["target"]))
        if e["type"] != "directed":
            arcs.add((e["target"], e["source"]))
    return len(arcs)


def change_count(
    changes: np.ndarray, desc: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's ``change_count`` per value X (spec section 11), as arrays over X.

    ``changes[k, y]``: intervention k changed value y. ``S_X`` = interventions changing X;
    ``f_X(Y)`` = share of ``S_X`` also changing Y; Expected_X = mean of f_X over the descendants
    of X, Unexpected_X = mean over all other values except X (ancestors included). NaN when
    ``S_X`` or the value set is empty. ``weights`` (bootstrap counts) weight the interventions.
    """
    c = changes.astype(float)
    w = np.ones(c.shape[0]) if weights is None else weights.astype(float)
    n_x = w @ c  # |S_X|
    co = c.T @ (c * w[:, None])  # co[x, y] = sum_k w_k c_kx c_ky
    with np.errstate(invalid="ignore", divide="ignore"):
        f = co / n_x[:, None]
        eye = np.eye(len(n_x), dtype=bool)
        unexp_mask = ~desc & ~eye
        expected = np.where(desc, f, 0).sum(1) / desc.sum(1)
        unexpected = np.where(unexp_mask, f, 0).sum(1) / unexp_mask.sum(1)
    skip = n_x == 0
    expected[skip | (desc.sum(1) == 0)] = np.nan
    unexpected[skip | (unexp_mask.sum(1) == 0)] = np.nan
    return expected, unexpected


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _nanstd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.std()) if x.size else float("nan")


def transitive_closure(adj: np.ndarray) -> np.ndarray:
    """Reachability (paths of length >= 1) of a boolean adjacency matrix, diagonal cleared."""
    reach = adj.copy()
    while True:
        nxt = reach | ((reach.astype(np.int64) @ adj.astype(np.int64)) > 0)
        if (nxt == reach).all():
            break
        reach = nxt
    np.fill_diagonal(reach, False)
    return reach


def random_descendants(n_values: int, arcs: int, rng: np.random.Generator) -> np.ndarray:
    """Descendant matrix of a uniformly random digraph with ``arcs`` distinct arcs, no loops."""
    pairs = np.array([(i, j) for i in range(n_values) for j in range(n_values) if i != j])
    pick = pairs[rng.choice(len(pairs), size=min(arcs, len(pairs)), replace=False)]
    adj = np.zeros((n_values, n_values), dtype=bool)
    adj[pick[:, 0], pick[:, 1]] = True
    return transitive_closure(adj)


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
    better; p = (1 + #null >= observed) / (1 + n))."""
    changes = changed(delta, threshold)
    exp_x, unexp_x = change_count(changes, desc)
    expected, unexpected = _nanmean(exp_x), _nanmean(unexp_x)
    diff = expected - unexpected
    out: dict[str, Any] = {
        "n_interventions": int(delta.shape[0]),
        "n_values_moved": int((changes.sum(0) > 0).sum()),
        "mean_values_changed": float(changes.sum(1).mean()) if changes.size else float("nan"),
        "expected": expected,
        "unexpected": unexpected,
        "expected_std": _nanstd(exp_x),
        "unexpected_std": _nanstd(unexp_x),
        "difference": diff,
    }
    rng = np.random.default_rng(seed)
    k = delta.shape[0]
    boots = np.full((n_bootstrap, 3), np.nan)
    for b in range(n_bootstrap if k else 0):
        w = np.bincount(rng.integers(0, k, k), minlength=k)
        e, u = change_count(changes, desc, w)
        boots[b] = (_nanmean(e), _nanmean(u), _nanmean(e) - _nanmean(u))
    for col, name in enumerate(("expected", "unexpected", "difference")):
        finite = boots[:, col][np.isfinite(boots[:, col])]
        lo, hi = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(lo), float(hi)
    null = np.full(n_permutations, np.nan)
    for p in range(n_permutations if k and math.isfinite(diff) else 0):
        e, u = change_count(changes, random_descendants(desc.shape[0], arcs, rng))
        null[p] = _nanmean(e) - _nanmean(u)
    finite = null[np.isfinite(null)]
    out["n_permutations"] = int(finite.size)
    out["null_mean"] = float(finite.mean()) if finite.size else float("nan")
    out["p_value"] = (
        float((1 + (finite >= diff - 1e-12).sum()) / (1 + finite.size))
        if finite.size
        else float("nan")
    )
    return out


def interventions(
    test: pl.DataFrame,
    values: Sequence[str],
    sae_conditions: Sequence[str],
    prompt_conditions: Sequence[str],
    baseline_role: str | None = None,
    sae_role: str | None = None,
) -> dict[str, np.ndarray]:
    """The intervention sets (rows = interventions, columns = values) on the test matrix.

    - ``role_prompt``: each test persona minus the baseline persona (the paper: the first one);
    - ``role_prompt_pairs``: every unordered pair of test personas (every role a baseline);
    - ``sae``: the kept features on one role (the paper: one test persona), vs unsteered;
    - ``sae_all_roles``: the kept features on every test role (no-role included);
    - ``value_prompt``: every explicit value prompt on every test role, vs unsteered.
    """
    base = _rows(test, NONE, values)
    personas = sorted(r for r in base if r != NO_ROLE)
    out: dict[str, np.ndarray] = {}
    empty = np.zeros((0, len(values)))
    if personas:
        b = baseline_role or personas[0]
        if b not in base:
            raise DataError(
                f"steering.evaluation.baseline_role {b!r} is not a test role ({personas[:3]}...)"
            )
        out["role_prompt"] = (
            np.stack([base[r] - base[b] for r in personas if r != b])
            if len(personas) > 1
            else empty
        )
        pairs = list(combinations(personas, 2))
        out["role_prompt_pairs"] = (
            np.stack([base[i] - base[j] for i, j in pairs]) if pairs else empty
        )
    role = sae_role or (personas[0] if personas else NO_ROLE)
    one, every = [], []
    for cond in sae_conditions:
        ids, d = paired_deltas(test, values, cond)
        every += list(d)
        one += [row for r, row in zip(ids, d, strict=True) if r == role]
    out["sae"] = np.stack(one) if one else empty
    out["sae_all_roles"] = np.stack(every) if every else empty
    prompted = [row for cond in prompt_conditions for row in paired_deltas(test, values, cond)[1]]
    if prompted:
        out["value_prompt"] = np.stack(prompted)
    return out


def side_effects(
    test: pl.DataFrame,
    values: Sequence[str],
    graphs: Mapping[str, Mapping[str, Any]],
    sae_conditions: Sequence[str],
    prompt_conditions: Sequence[str],
    threshold: float,
    n_bootstrap: int,
    n_permutations: int,
    seed: int,
    baseline_role: str | None = None,
    sae_role: str | None = None,
) -> pl.DataFrame:
    """One row per (intervention setting, graph): the paper's metric plus CIs and p-values."""
    from valuegraph.seeding import derive_seed

    sets = interventions(test, values, sae_conditions, prompt_conditions, baseline_role, sae_role)
    rows = []
    for gname, graph in graphs.items():
        g = restrict_graph(graph, values, gname)
        desc, arcs = descendant_matrix(g, values), n_arcs(g)
        for setting, delta in sets.items():
            stats = side_effect_stats(
                delta,
                desc,
                arcs,
                threshold,
                n_bootstrap,
                n_permutations,
                derive_seed(seed, "side-effects", setting, gname),
            )
            rows.append({"setting": setting, "graph": gname, "n_arcs": arcs, **stats})
            log.info(
                "%s / %s: expected %.3f unexpected %.3f (p %.3g, %d interventions)",
                setting,
                gname,
                stats["expected"],
                stats["unexpected"],
                stats["p_value"],
                stats["n_interventions"],
            )
    return pl.DataFrame(rows, infer_schema_length=None)


# --------------------------------------------------------------------------- targeted steering


def _target_stats(delta: np.ndarray, j: int, threshold: float) -> dict[str, float]:
    up, down, same = directions(delta[:, [j]], threshold)
    n = int(np.isfinite(delta[:, j]).sum())
    others = np.delete(delta, j, axis=1)
    return {
        "n": n,
        "up": float(up.sum() / n) if n else float("nan"),
        "same": float(same.sum() / n) if n else float("nan"),
        "down": float(down.sum() / n) if n else float("nan"),
        "mean_delta": _nanmean(delta[:, j]),
        "off_target_mean_abs": _nanmean(np.abs(others).ravel()),
    }


def _train_score(delta: np.ndarray, j: int, sign: str, threshold: float) -> float:
    """(up - down) / n on value j (negated for sign '-'): the train criterion of the pick."""
    up, down, _ = directions(delta[:, [j]], threshold)
    n = max(1, delta.shape[0])
    return float((up.sum() - down.sum()) / n) * (1 if sign == "+" else -1)


def targeted(
    train: pl.DataFrame,
    test: pl.DataFrame,
    values: Sequence[str],
    features: Mapping[str, int],
    kept: Sequence[str],
    prompts: Mapping[tuple[str, str], str],
    threshold: float,
) -> pl.DataFrame:
    """Per value and direction: the train-best SAE feature (among the kept ones, all candidates
    when none was kept) vs the explicit value prompt, on test: shares of roles up / same / down on
    the target value, its mean delta, and the mean |delta| on the other values (off-target cost).
    Rows with value ``(pooled)`` pool the values that have both arms (the paper's pies)."""
    pool = list(kept) or list(features)
    train_delta = {c: paired_deltas(train, values, c)[1] for c in pool}
    test_delta = {c: paired_deltas(test, values, c)[1] for c in pool}
    prompt_delta = {key: paired_deltas(test, values, c)[1] for key, c in prompts.items()}
    rows: list[dict[str, Any]] = []
    pooled: dict[tuple[str, str], list[tuple[np.ndarray, int]]] = {}
    for j, value in enumerate(values):
        for sign in ("+", "-"):
            both = (value, sign) in prompts
            if pool:
                scores = {c: _train_score(train_delta[c], j, sign, threshold) for c in pool}
                best = max(pool, key=lambda c: (scores[c], -pool.index(c)))
                stats = _target_stats(test_delta[best], j, threshold)
                rows.append(
                    {
                        "value": value,
                        "direction": sign,
                        "method": "sae_feature",
                        "condition": best,
                        "feature": features[best],
                        "train_score": scores[best],
                        "pool": "kept" if kept else "all candidates",
                        **stats,
                    }
                )
                if both or not prompts:
                    pooled.setdefault(("sae_feature", sign), []).append((test_delta[best], j))
            if both:
                stats = _target_stats(prompt_delta[(value, sign)], j, threshold)
                rows.append(
                    {
                        "value": value,
                        "direction": sign,
                        "method": "value_prompt",
                        "condition": prompts[(value, sign)],
                        "feature": None,
                        "train_score": None,
                        "pool": None,
                        **stats,
                    }
                )
                pooled.setdefault(("value_prompt", sign), []).append(
                    (prompt_delta[(value, sign)], j)
                )
    for (method, sign), parts in pooled.items():
        n = sum(int(np.isfinite(d[:, j]).sum()) for d, j in parts)
        agg = {"up": 0.0, "same": 0.0, "down": 0.0}
        offs, means = [], []
        for d, j in parts:
            up, down, same = directions(d[:, [j]], threshold)
            agg["up"] += up.sum()
            agg["down"] += down.sum()
            agg["same"] += same.sum()
            offs.append(np.abs(np.delete(d, j, axis=1)).ravel())
            means.append(d[:, j])
        rows.append(
            {
                "value": "(pooled)",
                "direction": sign,
                "method": method,
                "condition": None,
                "feature": None,
                "train_score": None,
                "pool": f"{len(parts)} values",
                "n": n,
                **{k: v / n if n else float("nan") for k, v in agg.items()},
                "mean_delta": _nanmean(np.concatenate(means)),
                "off_target_mean_abs": _nanmean(np.concatenate(offs)),
            }
        )
    schema = {
        "value": pl.String,
        "direction": pl.String,
        "method": pl.String,
        "condition": pl.String,
        "feature": pl.Int64,
        "train_score": pl.Float64,
        "pool": pl.String,
        "n": pl.Int64,
        "up": pl.Float64,
        "same": pl.Float64,
        "down": pl.Float64,
        "mean_delta": pl.Float64,
        "off_target_mean_abs": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


# --------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_table1(table: pl.DataFrame, values: Sequence[str], out: str, model: str) -> None:
    """Heatmap: colour = train (up - down) / n per feature x value; number = train-test cosine;
    kept features are starred; the last column is the feature's mean similarity."""
    from valuegraph.io import write_with

    plt = _plt()
    conds = list(dict.fromkeys(table["condition"].to_list())) if table.height else []
    fig, ax = plt.subplots(
        figsize=(1.0 + 0.75 * (len(values) + 1), 1.4 + 0.42 * max(1, len(conds)))
    )
    if not conds:
        ax.text(0.5, 0.5, "no SAE conditions", ha="center", va="center")
        ax.set_axis_off()
    else:
        grid = np.full((len(conds), len(values)), np.nan)
        cos = np.full((len(conds), len(values)), np.nan)
        labels = []
        for i, c in enumerate(conds):
            sub = table.filter(pl.col("condition") == c)
            lookup = {r["value"]: r for r in sub.iter_rows(named=True)}
            first = sub.row(0, named=True)
            labels.append(f"{'* ' if first['kept'] else ''}{first['feature']} ({c})")
            for j, v in enumerate(values):
                r = lookup[v]
                if r["train_n"]:
                    grid[i, j] = (r["train_up"] - r["train_down"]) / r["train_n"]
                cos[i, j] = r["cosine"]
        im = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
        for i in range(len(conds)):
            for j in range(len(values)):
                if np.isfinite(cos[i, j]):
                    ax.text(j, i, f"{cos[i, j]:.2f}", ha="center", va="center", fontsize=7)
            ax.text(
                len(values),
                i,
                f"{_nanmean(cos[i]):.2f}",
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold",
            )
        ax.set_xticks(
            range(len(values) + 1), [*values, "mean sim."], rotation=60, ha="right", fontsize=8
        )
        ax.set_yticks(range(len(conds)), labels, fontsize=8)
        ax.set_xlim(-0.5, len(values) + 0.5)
        fig.colorbar(im, ax=ax, label="train (up - down) / n", shrink=0.8)
    ax.set_title(f"Value steering using SAE features for the {model} model.", fontsize=10)
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def plot_side_effects(table: pl.DataFrame, out: str, model: str) -> None:
    """Expected (descendants) vs unexpected (non-descendants) change frequency per intervention
    setting, one panel per graph, with bootstrap 95% CIs and the permutation p-value."""
    from valuegraph.io import write_with

    plt = _plt()
    graphs = list(dict.fromkeys(table["graph"].to_list())) if table.height else ["(none)"]
    settings = list(dict.fromkeys(table["setting"].to_list())) if table.height else []
    fig, axes = plt.subplots(
        1, len(graphs), figsize=(3.2 + 2.6 * len(graphs), 4.2), squeeze=False, sharey=True
    )
    for ax, g in zip(axes[0], graphs, strict=True):
        sub = (
            {r["setting"]: r for r in table.filter(pl.col("graph") == g).iter_rows(named=True)}
            if table.height
            else {}
        )
        x = np.arange(len(settings))
        for off, key, colour in ((-0.2, "expected", "#2c7fb8"), (0.2, "unexpected", "#f0a830")):
            mid = np.array([sub[s][key] for s in settings], dtype=float)
            lo = np.array([sub[s][f"{key}_ci_low"] for s in settings], dtype=float)
            hi = np.array([sub[s][f"{key}_ci_high"] for s in settings], dtype=float)
            err = np.vstack([np.clip(mid - lo, 0, None), np.clip(hi - mid, 0, None)])
            ax.bar(
                x + off,
                np.nan_to_num(mid),
                0.38,
                yerr=np.nan_to_num(err),
                color=colour,
                label=key,
                capsize=3,
            )
        for i, s in enumerate(settings):
            p = sub[s]["p_value"]
            ax.text(
                i, 1.02, "p=n/a" if not np.isfinite(p) else f"p={p:.3f}", ha="center", fontsize=7
            )
        ax.set_xticks(x, settings, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(f"graph: {g}", fontsize=9)
    axes[0][0].set_ylabel("share of interventions moving X that also move Y")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{model}: Frequency of changes in other value dimensions", fontsize=10)
    fig.tight_layout()
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)


def plot_targeted(table: pl.DataFrame, out: str, model: str) -> None:
    """Stacked shares (up / same / down on the target value) of SAE feature vs value prompt,
    per value and pooled, for + and - steering; off-target mean |delta| printed at each bar."""
    from valuegraph.io import write_with

    plt = _plt()
    fig, axes = plt.subplots(
        1, 2, figsize=(12, 1.5 + 0.3 * max(1, table.height // 2)), squeeze=False
    )
    for ax, sign in zip(axes[0], ("+", "-"), strict=True):
        sub = table.filter(pl.col("direction") == sign)
        labels = [
            f"{r['value']} | {r['method']}"
            + (f" {r['feature']}" if r["feature"] is not None else "")
            for r in sub.iter_rows(named=True)
        ]
        y = np.arange(sub.height)
        left = np.zeros(sub.height)
        for key, colour in (("up", "#2c7fb8"), ("same", "#dddddd"), ("down", "#f0a830")):
            width = sub[key].fill_null(float("nan")).fill_nan(0).to_numpy()
            ax.barh(y, width, left=left, color=colour, label=key)
            left += width
        for i, r in enumerate(sub.iter_rows(named=True)):
            ax.text(1.01, i, f"off {r['off_target_mean_abs']:.3f}", va="center", fontsize=7)
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.18)
        ax.set_title(f"steering {sign}: target value up / same / down", fontsize=9)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"{model}: SAE feature vs explicit value prompt (test roles)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    write_with(lambda tmp: fig.savefig(tmp, format="png", dpi=110), out)
    plt.close(fig)
