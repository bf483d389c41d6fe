"""Table 1: per SAE condition and value, the up / down / same role counts on train and test and
the cosine between the two splits' proportion vectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from valuegraph.evaluation.deltas import directions, paired_deltas


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
