"""Stage 3, collect: every role answers every item of its split under one steering condition.

One shard per (model, split, condition, role group). Inside a shard, each finished batch is
checkpointed to ``<shard>.partial/``; a killed job resumes at its first unfinished batch, never
asks an item twice and ends with the same rows as an uninterrupted run.

Response columns (one row per model, split, condition, role, item): model, split, condition,
role_id, item_id, value, agreement, prompt_hash, answer (yes/no/unparsed), p_yes, logp_yes,
logp_no, score (agreement x +1/-1, 0 when unparsed), soft_score (agreement x (2 p_yes - 1)),
raw_text (generate mode), mode, parser (``collect.parser`` of generate mode: strict or paper,
see :mod:`valuegraph.parsing`; the matrix scores a non-yes/no answer by it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from tqdm import tqdm

from valuegraph import items as items_mod
from valuegraph.config import Condition, ModelSpec
from valuegraph.errors import DataError
from valuegraph.io import (
    json_type,
    read_json,
    read_json_object,
    read_parquet,
    short_hash,
    write_json,
    write_parquet,
)

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
    "parser": pl.String,
}

LOG_EVERY_S = 10.0  # progress lines in a (non-terminal) log

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


def read_model_record(
    path: str | os.PathLike[str], required: Sequence[str] = ()
) -> tuple[dict[str, Any], ModelSpec]:
    """Read a prepare-model record (``results/models/<m>/model.json``): (record, its spec).

    The record must hold a ``spec`` object with a string ``name`` and ``source``, plus any
    ``required`` keys (e.g. ``d_model`` for an SAE); errors name the file and the key.
    """
    fix = "rerun prepare-model for this model"
    record = read_json_object(path, ["spec", *required], "model record", fix)
    spec = record["spec"]
    if not isinstance(spec, dict):
        raise DataError(f"{path}: key 'spec': expected an object, got {json_type(spec)}; {fix}")
    for key in ("name", "source"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            got = "missing" if key not in spec else json.dumps(spec[key])
            raise DataError(
                f"{path}: key 'spec.{key}': expected a non-empty string, got {got}; {fix}"
            )
    return record, ModelSpec.from_dict(spec)


def role_groups(roles: list[dict[str, Any]], per_shard: int) -> list[list[dict[str, Any]]]:
    return [roles[i : i + per_shard] for i in range(0, len(roles), per_shard)]


SAMPLINGS = ("per_role", "shared")
SHARED_SAMPLE = "shared"  # the sample key every role shares under item sampling "shared"


def items_for(
    role: dict[str, Any],
    items: pl.DataFrame,
    split: str,
    rate: float,
    seed: int,
    test_rate: float = 1.0,
    sampling: str = "per_role",
) -> pl.DataFrame:
    """The items a role answers: a seeded sample of the split's items, ``rate`` of each value's
    train items or ``test_rate`` of its test items (1: all). ``per_role``: each role its own
    sample (the paper); ``shared``: every role the same sample, so differences between roles
    are not differences between items. A role gets the same items under every condition."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"item sampling must be one of {SAMPLINGS}, got {sampling!r}")
    share = rate if split == "train" else test_rate
    key = role["role_id"] if sampling == "per_role" else SHARED_SAMPLE
    return items_mod.sample_for_role(items, key, share, seed)


def _rows(
    meta: dict[str, str],
    role_id: str,
    items: pl.DataFrame,
    idx: list[int],
    records: list[dict[str, Any]],
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
        schema_overrides={
            "p_yes": pl.Float64,
            "logp_yes": pl.Float64,
            "logp_no": pl.Float64,
            "raw_text": pl.String,
        },
    )
    sign = (
        pl.when(pl.col("answer") == "yes")
        .then(1.0)
        .when(pl.col("answer") == "no")
        .then(-1.0)
        .otherwise(0.0)
    )
    frame = frame.with_columns(
        *[pl.lit(v).alias(k) for k, v in meta.items()],
        (pl.col("agreement").cast(pl.Float64) * sign).alias("score"),
        (pl.col("agreement").cast(pl.Float64) * (2 * pl.col("p_yes") - 1)).alias("soft_score"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in RESPONSE_SCHEMA.items()])


def _shard_identity(
    meta: dict[str, str],
    plan: list[tuple[dict[str, Any], pl.DataFrame]],
    identity: dict[str, Any] | None,
) -> dict[str, Any]:
    """What the checkpoints of a shard depend on: if any of it changes, they are stale."""
    roles_items = [[role["role_id"], *frame["item_id"].to_list()] for role, frame in plan]
    return {
        **meta,
        "engine": identity or {},
        "roles_items": short_hash(json.dumps(roles_items)),
    }


def _open_partial(partial: Path, fingerprint: dict[str, Any]) -> None:
    """Create the checkpoint folder, or set aside one whose checkpoints came from other inputs."""
    manifest = partial / "manifest.json"
    if partial.exists():
        previous = read_json(manifest) if manifest.exists() else None
        if previous == fingerprint:
            return
        stale = partial.with_name(partial.name + ".stale")
        shutil.rmtree(stale, ignore_errors=True)
        partial.rename(stale)
        log.warning(
            "%s holds checkpoints of a different configuration; moved to %s, starting afresh",
            partial,
            stale,
        )
    partial.mkdir(parents=True, exist_ok=True)
    write_json(fingerprint, manifest)


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
    identity: dict[str, Any] | None = None,
    parser: str = "strict",
    test_sample_rate: float = 1.0,
    sampling: str = "per_role",
) -> pl.DataFrame:
    """Collect one shard with per-batch checkpoints; resumes from ``<out>.partial/``.

    :param identity: what else the answers depend on (model record, engine settings); the
        checkpoints are reused only when it, the roles and their items are unchanged.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    meta = {
        "model": model,
        "split": split,
        "condition": condition.id,
        "mode": respondent.mode,
        "parser": parser,
    }
    plan = [
        (role, items_for(role, items, split, train_sample_rate, seed, test_sample_rate, sampling))
        for role in roles
    ]
    _open_partial(partial, _shard_identity(meta, plan, identity))
    done: dict[str, set[int]] = {}
    for path in sorted(partial.glob("*.parquet")):
        role_id, batch = path.stem.rsplit("__b", 1)
        done.setdefault(role_id, set()).add(int(batch))
    resumed = sum(len(v) for v in done.values())
    total = sum(r.height for _, r in plan)
    already = sum(read_parquet(p).height for p in partial.glob("*.parquet")) if resumed else 0
    if resumed:
        log.info(
            "resuming %s: %d finished batches (%d of %d items) found in %s",
            out,
            resumed,
            already,
            total,
            partial,
        )
    interactive = sys.stderr.isatty()
    last = [time.monotonic()]
    with tqdm(
        total=total,
        initial=already,
        desc=f"{model}/{split}/{condition.id}",
        unit="item",
        file=sys.stderr,
        mininterval=0.5 if interactive else float("inf"),
        dynamic_ncols=interactive,
        ascii=not interactive,
    ) as bar:
        for role, role_items in plan:
            role_id = role["role_id"]

            def checkpoint(
                b: int,
                idx: list[int],
                records: list[dict[str, Any]],
                role_id: str = role_id,
                role_items: pl.DataFrame = role_items,
            ) -> None:
                name = f"{role_id}__b{b:05d}.parquet"
                write_parquet(_rows(meta, role_id, role_items, idx, records), partial / name)
                log.debug("checkpoint %s: %d items", name, len(idx))
                bar.update(len(idx))
                if not interactive and time.monotonic() - last[0] >= LOG_EVERY_S:
                    bar.refresh()  # a log file gets a line every LOG_EVERY_S, not \r updates
                    sys.stderr.write("\n")
                    last[0] = time.monotonic()

            respondent.answer(role, role_items, condition, done.get(role_id, set()), checkpoint)
    frames = [read_parquet(p) for p in sorted(partial.glob("*.parquet"))]
    role_order = {r["role_id"]: i for i, r in enumerate(roles)}
    result = (
        pl.concat(frames)
        .with_columns(
            pl.col("role_id").replace_strict(role_order, return_dtype=pl.Int32).alias("_r")
        )
        .sort("_r", "item_id")
        .drop("_r")
    )
    if result.height != total or result.select("role_id", "item_id").is_duplicated().any():
        raise RuntimeError(f"{out}: {result.height} rows after merge, expected {total} unique")
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
