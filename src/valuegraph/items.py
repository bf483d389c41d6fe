"""Stage 1, items: read and check ValueBench's value_orientation.csv, select values, split.

Output ``results/items/{train,test}.parquet`` columns: item_id (``vb`` + 0-based source row),
questionnaire, item, value, agreement (+1/-1, Int8), question, split.
"""

from __future__ import annotations

import logging
import math
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl

from valuegraph.errors import DataError
from valuegraph.io import atomic_path, check_pinned, csv_error, require_rows, sha256_file
from valuegraph.seeding import derive_seed

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("questionnaire", "item", "value", "agreement", "question")
ITEM_SCHEMA = {
    "item_id": pl.String,
    "questionnaire": pl.String,
    "item": pl.String,
    "value": pl.String,
    "agreement": pl.Int8,
    "question": pl.String,
    "split": pl.String,
}


def fetch(
    url: str,
    sha256: str,
    dest: str | Path,
    local_copies: list[str] = (),
    timeout: float = 60,
    section: str = "items",
    copies_key: str | None = None,
) -> Path:
    """Copy a checksum-valid local copy, else download ``url``, to ``dest`` (atomic, verified).

    ``section`` is the config section whose url and sha256 keys the errors name, ``copies_key``
    the local-copies key (default ``<section>.local_copies``).
    """
    dest = Path(dest)
    if dest.exists() and sha256_file(dest) == sha256:
        return dest
    for copy in map(Path, local_copies):
        if copy.is_file() and sha256_file(copy) == sha256:
            log.info("using local copy %s", copy)
            with atomic_path(dest) as tmp:
                tmp.write_bytes(copy.read_bytes())
            return dest
        log.info("local copy %s missing or with another sha256; skipped", copy)
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                tmp.write_bytes(response.read())
            actual = sha256_file(tmp)
            if actual != sha256:
                raise DataError(
                    f"{url}: sha256 {actual} does not match the pinned {sha256}; "
                    f"check {section}.url / {section}.sha256 in the config"
                )
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        copies = copies_key or f"{section}.local_copies"
        fix = (
            "set items.path in the config to a local copy of value_orientation.csv"
            if section == "items"
            else f"add a local copy of {Path(url).name} to {copies} in the config"
        )
        raise DataError(f"{url}: download failed ({exc}); {fix}") from None
    return dest


def read_items(path: str | Path, sha256: str | None = None) -> pl.DataFrame:
    """Read the items CSV, checking columns, agreement and duplicates (errors name file/row/col)."""
    path = Path(path)
    check_pinned(
        path, sha256, "items file not found; set items.path or items.url in the config",
        "items.sha256", "items.sha256",
    )  # fmt: skip
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the items file is empty")
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except Exception as exc:
        raise csv_error(path, exc) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
    require_rows(frame, path, "items file")
    frame = frame.select(REQUIRED_COLUMNS).with_row_index("row")
    _check_blank_cells(frame, path)
    bad = frame.filter(~pl.col("agreement").str.strip_chars().is_in(["1", "-1", "+1"]))
    if bad.height:
        row, value = bad["row"][0] + 2, bad["agreement"][0]
        raise DataError(f"{path}: row {row}, column 'agreement': {value!r} is not +1 or -1")
    dup = frame.filter(frame.select("questionnaire", "item", "value").is_duplicated())
    if dup.height:
        rows = [r + 2 for r in dup["row"].to_list()[:2]]
        raise DataError(
            f"{path}: rows {rows}, column 'item': duplicate item for value {dup['value'][0]!r}; "
            "remove the repeated row"
        )
    return frame.select(
        pl.format("vb{}", pl.col("row").cast(pl.String).str.zfill(4)).alias("item_id"),
        *[pl.col(c) for c in ("questionnaire", "item", "value")],
        pl.col("agreement").str.strip_chars().cast(pl.Int8),
        pl.col("question"),
    )


def _check_blank_cells(frame: pl.DataFrame, path: Path) -> None:
    """Raise for the first row (in file order) with a blank required cell, naming its column."""
    blank = pl.concat_list(
        [(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")) for c in REQUIRED_COLUMNS]
    )
    flagged = frame.select("row", blank.alias("blank")).filter(pl.col("blank").list.any())
    if not flagged.height:
        return
    row, cells = flagged.row(0)
    line = row + 2  # 1-based, after the header line
    if all(cells):
        raise DataError(f"{path}: row {line}: the row is blank; delete it")
    column = REQUIRED_COLUMNS[cells.index(True)]
    raise DataError(f"{path}: row {line}, column '{column}': empty value")


def select_values(
    items: pl.DataFrame, values: list[str] | None, min_items: int, source: str = "items"
) -> list[str]:
    """The value set: an explicit list (checked against the file) or all with >= min_items items."""
    counts = dict(items.group_by("value").len().iter_rows())
    if values is not None:
        unknown = [v for v in values if v not in counts]
        if unknown:
            raise DataError(
                f"{source}: unknown value name(s) {unknown} in items.values; not in the items file"
            )
        return list(values)
    chosen = sorted(v for v, n in counts.items() if n >= min_items)
    if not chosen:
        raise DataError(f"{source}: no value has at least items.min_items={min_items} items")
    return chosen


def split(items: pl.DataFrame, values: list[str], train_fraction: float, seed: int) -> pl.DataFrame:
    """Seeded per-value split stratified by polarity: train = int(fraction * n) items per value."""
    parts = []
    for value in values:
        group = items.filter(pl.col("value") == value).sort("item_id")
        rng = np.random.default_rng(derive_seed(seed, "split", value))
        keys = np.empty(group.height)
        for polarity in (-1, 1):
            idx = np.flatnonzero(group["agreement"].to_numpy() == polarity)
            if idx.size:
                order = rng.permutation(idx.size)
                keys[idx[order]] = (np.arange(idx.size) + rng.random()) / idx.size
        n_train = int(train_fraction * group.height)
        rank = np.argsort(keys, kind="stable")
        labels = np.full(group.height, "test", dtype=object)
        labels[rank[:n_train]] = "train"
        if n_train == 0 or n_train == group.height:
            side = "train" if n_train == 0 else "test"
            raise DataError(
                f"value {value!r} has {group.height} items, leaving no {side} items after the "
                f"split (train_fraction={train_fraction}); raise items.min_items or drop the value"
            )
        parts.append(group.with_columns(pl.Series("split", labels.tolist(), dtype=pl.String)))
    return pl.concat(parts).select(list(ITEM_SCHEMA))


def sample_for_role(train: pl.DataFrame, role_id: str, rate: float, seed: int) -> pl.DataFrame:
    """The items one role answers: ceil(rate * n) per value, seeded by (seed, role, value).

    The same role gets the same items under every condition (paired), as in the paper.
    """
    if rate >= 1:
        return train
    keep = []
    for value, group in train.group_by("value", maintain_order=True):
        n = math.ceil(rate * group.height)
        rng = np.random.default_rng(derive_seed(seed, "sample", role_id, str(value[0])))
        idx = np.sort(rng.choice(group.height, size=n, replace=False))
        keep.append(group[idx.tolist()])
    return pl.concat(keep)
