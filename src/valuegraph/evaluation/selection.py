"""The pre-declared, train-only selection rule for SAE steering features, and the condition lists
it reads (SAE features, explicit value prompts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from valuegraph.config import parse_condition
from valuegraph.errors import DataError
from valuegraph.evaluation.deltas import directions, paired_deltas

SAE_KINDS = ("sae", "sae_candidate")


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
