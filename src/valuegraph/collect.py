"""Stage 3, collect: every role answers every item of its split under one steering condition.

One shard per (model, split, condition, role group). Inside a shard, each finished batch is
checkpointed to ``<shard>.partial/``; a killed job resumes at its first unfinished batch, never
asks an item twice and ends with the same rows as an uninterrupted run.

Response columns (one row per model, split, condition, role, item): model, split, condition,
role_id, item_id, value, agreement, prompt_hash, answer (yes/no/unparsed), p_yes, logp_yes,
logp_no, score (agreement x +1/-1, 0 when unparsed), soft_score (agreement x (2 p_yes - 1)),
raw_text (generate mode), mode.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from tqdm import tqdm

from valuegraph import items as items_mod
from valuegraph.config import Condition
from valuegraph.io import read_parquet, write_parquet

log = logging.getLogger(__name__)

RESPONSE_SCHEMA: dict[str, Any] = {
    "model": pl.String,
    "split": pl.String,
    "condition": pl.String,
    "role_id": pl.String,
    "item_id": pl.String,
    "value": pl.String,
    "agreement": pl.Int8,
    "prompt_hash": pl.String,
    "answer": pl.String,
    "p_yes": pl.Float64,
    "logp_yes": pl.Float64,
    "logp_no": pl.Float64,
    "score": pl.Float64,
    "soft_score": pl.Float64,
    "raw_text": pl.String,
    "mode": pl.String,
}

BatchCallback = Callable[[int, list[int], list[dict[str, Any]]], None]


class Respondent(Protocol):
    """Anything that answers items as a role under a condition (an LLM or a simulated SEM)."""

    mode: str

    def answer(
        self,
        role: dict[str, Any],
        items: pl.DataFrame,
        condition: Condition,
        skip: set[int],
        on_batch: BatchCallback,
    ) -> None: ...


def role_groups(roles: list[dict[str, Any]], per_shard: int) -> list[list[dict[str, Any]]]:
    return [roles[i : i + per_shard] for i in range(0, len(roles), per_shard)]


def items_for(role: dict[str, Any], items: pl.DataFrame, split: str, rate: float, seed: int) -> pl.DataFrame:
    """The items a role answers: all test items, or its seeded train sample."""
    if split == "train":
        return items_mod.sample_for_role(items, role["role_id"], rate, seed)
    return items


def _rows(
    meta: dict[str, str], role_id: str, items: pl.DataFrame, idx: list[int], records: list[dict[str, Any]]
) -> pl.DataFrame:
    sub = items[idx]
    frame = pl.DataFrame(
        {
            "role_id": [role_id] * len(idx),
            "item_id": sub["item_id"],
            "value": sub["value"],
            "agreement": sub["agreement"],
            "prompt_hash": [r["prompt_hash"] for r in records],
            "answer": [r["answer"] for r in records],
            "p_yes": [r["p_yes"] for r in records],
            "logp_yes": [r["logp_yes"] for r in records],
            "logp_no": [r["logp_no"] for r in records],
            "raw_text": [r["raw_text"] for r in records],
        },
        schema_overrides={"p_yes": pl.Float64, "logp_yes": pl.Float64, "logp_no": pl.Float64, "raw_text": pl.String},
    )
    sign = pl.when(pl.col("answer") == "yes").then(1.0).when(pl.col("answer") == "no").then(-1.0).otherwise(0.0)
    frame = frame.with_columns(
        *[pl.lit(v).alias(k) for k, v in meta.items()],
        (pl.col("agreement").cast(pl.Float64) * sign).alias("score"),
        (pl.col("agreement").cast(pl.Float64) * (2 * pl.col("p_yes") - 1)).alias("soft_score"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()])


def collect_shard(
    respondent: Respondent,
    model: str,
    split: str,
    condition: Condition,
    roles: list[dict[str, Any]],
    items: pl.DataFrame,
    out: str | Path,
    train_sample_rate: float = 1.0,
    seed: int = 0,
) -> pl.DataFrame:
    """Collect one shard with per-batch checkpoints; resumes from ``<out>.partial/``."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    meta = {"model": model, "split": split, "condition": condition.id, "mode": respondent.mode}
    plan = [(role, items_for(role, items, split, train_sample_rate, seed)) for role in roles]
    done: dict[str, set[int]] = {}
    for path in sorted(partial.glob("*.parquet")):
        role_id, batch = path.stem.rsplit("__b", 1)
        done.setdefault(role_id, set()).add(int(batch))
    resumed = sum(len(v) for v in done.values())
    if resumed:
        log.info("resuming %s: %d finished batches found in %s", out, resumed, partial)
    total = sum(r.height for _, r in plan)
    already = sum(read_parquet(p).height for p in partial.glob("*.parquet")) if resumed else 0
    with tqdm(total=total, initial=already, desc=f"{model}/{split}/{condition.id}", unit="item") as bar:
        for role, role_items in plan:
            role_id = role["role_id"]

            def checkpoint(b: int, idx: list[int], records: list[dict[str, Any]], role_id=role_id, role_items=role_items) -> None:
                write_parquet(_rows(meta, role_id, role_items, idx, records), partial / f"{role_id}__b{b:05d}.parquet")
                bar.update(len(idx))

            respondent.answer(role, role_items, condition, done.get(role_id, set()), checkpoint)
    frames = [read_parquet(p) for p in sorted(partial.glob("*.parquet"))]
    role_order = {r["role_id"]: i for i, r in enumerate(roles)}
    result = (
        pl.concat(frames)
        .with_columns(pl.col("role_id").replace_strict(role_order, return_dtype=pl.Int32).alias("_r"))
        .sort("_r", "item_id")
        .drop("_r")
    )
    expected = sum(r.height for _, r in plan)
    if result.height != expected or result.select("role_id", "item_id").is_duplicated().any():
        raise RuntimeError(f"{out}: {result.height} rows after merge, expected {expected} unique")
    write_parquet(result, out)
    shutil.rmtree(partial)
    counts = dict(result.group_by("answer").len().iter_rows())
    log.info("%s: %d answers %s", out, result.height, counts)
    return result


def merge_shards(paths: list[str | Path], out: str | Path) -> pl.DataFrame:
    """Concatenate shards into one responses table (sorted, deterministic)."""
    frame = pl.concat([read_parquet(p) for p in paths]).sort("condition", "role_id", "item_id")
    write_parquet(frame, out)
    return frame
