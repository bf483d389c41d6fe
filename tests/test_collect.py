"""Collect shards: a real SIGKILL mid-run, a restart, output identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from valuegraph.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shard_inputs(tmp_path_factory, tiny_model, items_csv) -> Path:
    """Model record, 96 items (24 batches of 4 per role: time to kill mid-run) and 2 roles."""
    root = tmp_path_factory.mktemp("collect")
    spec = {
        "name": "tiny",
        "source": "local",
        "id": str(tiny_model),
        "template": "chat",
        "dtype": "float32",
    }
    (root / "model.json").write_text(json.dumps({"spec": spec, "materialised": None}))
    items = (
        pl.read_csv(items_csv)
        .with_row_index("row")
        .select(
            pl.format("vb{}", pl.col("row").cast(pl.String).str.zfill(4)).alias("item_id"),
            "value",
            pl.col("agreement").cast(pl.Int8),
            "question",
        )
        .head(96)
    )
    items.write_parquet(root / "items.parquet")
    roles = [
        {"role_id": "none", "mini_trait": "", "name": "", "gender": "", "job": "", "mbti": ""},
        {
            "role_id": "test-000",
            "mini_trait": "Gender: female; Job: Merchant navy officer, MBTI: INFJ",
            "name": "Olivia Carr",
            "gender": "female",
            "job": "Merchant navy officer",
            "mbti": "INFJ",
        },
    ]
    (root / "roles.json").write_text(json.dumps(roles))
    return root


def collect_args(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "collect",
        "--model-record", str(root / "model.json"),
        "--items", str(root / "items.parquet"),
        "--roles", str(root / "roles.json"),
        "--split", "test",
        "--condition", "none",
        "--group", "0",
        "--roles-per-shard", "2",
        "--batch-size", "4",
        "--device", "cpu",
        "--out", str(out),
        *extra,
    ]  # fmt: skip


def start(root: Path, out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "valuegraph", "-v", *collect_args(root, out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)


def checkpoints(log_text: str) -> list[str]:
    return re.findall(r"checkpoint (\S+__b\d+\.parquet)", log_text)


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_output(shard_inputs, tmp_path):
    root = shard_inputs
    n_items = pl.read_parquet(root / "items.parquet").height
    n_batches = 2 * -(-n_items // 4)

    # the reference: one uninterrupted run
    reference = tmp_path / "reference" / "group000.parquet"
    proc = start(root, reference, tmp_path / "reference.log")
    assert proc.wait(timeout=600) == 0, (tmp_path / "reference.log").read_text()[-3000:]
    ref_log = (tmp_path / "reference.log").read_text()
    assert len(checkpoints(ref_log)) == n_batches

    # the same shard, killed with SIGKILL once some checkpoints exist
    out = tmp_path / "killed" / "group000.parquet"
    partial = out.with_name(out.name + ".partial")
    proc = start(root, out, tmp_path / "first.log")
    deadline = time.monotonic() + 300
    while len(list(partial.glob("*.parquet"))) < 10:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not out.exists()
    kept = {p.name: p.stat().st_mtime_ns for p in partial.glob("*.parquet")}
    assert 10 <= len(kept) < n_batches

    # restart: resumes, never redoes a finished batch, ends identical to the uninterrupted run
    proc = start(root, out, tmp_path / "second.log")
    assert proc.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-3000:]
    second = (tmp_path / "second.log").read_text()
    assert f"resuming {out}: {len(kept)} finished batches" in second
    redone = checkpoints(second)
    assert not set(redone) & set(kept), "a finished batch was computed again"
    assert len(redone) == len(set(redone)) == n_batches - len(kept)
    assert len(re.findall(r"engine: batch \d+/\d+", second)) == len(redone)
    assert sorted(set(redone) | set(kept)) == sorted(checkpoints(ref_log))
    assert out.read_bytes() == reference.read_bytes()
    result = pl.read_parquet(out)
    assert result.equals(pl.read_parquet(reference))
    assert (
        result.height == 2 * n_items
        and not result.select("role_id", "item_id").is_duplicated().any()
    )
    assert not partial.exists()
    # the progress bar reaches the log: items done, items per second, ETA
    assert re.search(rf"{2 * n_items}/{2 * n_items} \[[\d:]+<[\d:]+, +[\d.]+ ?item/s\]", second)


def test_stale_checkpoints_are_set_aside(shard_inputs, tmp_path, capsys):
    """Checkpoints from another configuration are never mixed into a shard."""
    root = shard_inputs
    small = tmp_path / "items.parquet"
    pl.read_parquet(root / "items.parquet").head(6).write_parquet(small)
    (tmp_path / "model.json").write_text((root / "model.json").read_text())
    (tmp_path / "roles.json").write_text((root / "roles.json").read_text())
    out = tmp_path / "group000.parquet"
    partial = out.with_name(out.name + ".partial")
    partial.mkdir()
    (partial / "manifest.json").write_text(json.dumps({"mode": "generate"}))
    junk = pl.read_parquet(small).head(2)
    junk.write_parquet(partial / "none__b00000.parquet")
    assert main(collect_args(tmp_path, out)) == 0
    result = pl.read_parquet(out)
    assert result.height == 12 and set(result["mode"]) == {"logprob"}
    stale = out.with_name(out.name + ".partial.stale")
    assert (stale / "none__b00000.parquet").exists()
    assert "different configuration" in capsys.readouterr().err


def test_batch_size_auto_and_bad_value(shard_inputs, tmp_path, capsys):
    root = shard_inputs
    small = tmp_path / "items.parquet"
    pl.read_parquet(root / "items.parquet").head(3).write_parquet(small)
    for name in ("model.json", "roles.json"):
        (tmp_path / name).write_text((root / name).read_text())
    out = tmp_path / "auto.parquet"
    assert main(collect_args(tmp_path, out)[:-4] + ["--batch-size", "auto", "--out", str(out)]) == 0
    assert pl.read_parquet(out).height == 6
    with pytest.raises(SystemExit):
        main(collect_args(tmp_path, out)[:-4] + ["--batch-size", "0", "--out", str(out)])
    assert "expected an integer >= 1 or 'auto'" in capsys.readouterr().err


def test_item_sampling_shared_gives_every_role_the_same_items(items_csv):
    from valuegraph.collect import items_for

    items = pl.read_csv(items_csv).with_row_index("item_id").head(200)
    roles = [{"role_id": f"r{i}"} for i in range(4)]

    def ids(role, sampling, split="train", rate=0.3, test_rate=1.0):
        chosen = items_for(role, items, split, rate, 7, test_rate, sampling)
        return chosen["item_id"].to_list()

    shared = [ids(r, "shared") for r in roles]
    per_role = [ids(r, "per_role") for r in roles]
    assert all(s == shared[0] for s in shared) and len(set(map(tuple, per_role))) > 1
    counts = items.group_by("value").len()
    expected = sum(-(-3 * n // 10) for n in counts["len"])  # ceil(0.3 n) per value
    assert len(shared[0]) == len(per_role[0]) == expected
    # the test split samples with test_rate (all items at 1), paired across conditions
    assert ids(roles[0], "shared", "test", rate=0.1) == items["item_id"].to_list()
    half = ids(roles[1], "per_role", "test", test_rate=0.5)
    assert len(half) < items.height and half == ids(roles[1], "per_role", "test", test_rate=0.5)
    with pytest.raises(ValueError, match="item sampling"):
        ids(roles[0], "random")


def test_n_roles_and_test_sample_rate_shape_the_shard(shard_inputs, tmp_path):
    """--n-roles keeps the first roles (baseline first); --test-sample-rate samples test items;
    --item-sampling shared gives both roles the same items."""
    out = tmp_path / "shard.parquet"
    extra = ["--n-roles", "1", "--test-sample-rate", "0.1", "--item-sampling", "shared"]
    main([*collect_args(shard_inputs, out, *extra)])
    shard = pl.read_parquet(out)
    assert shard["role_id"].unique().to_list() == ["none"]
    assert 0 < shard.height < 96 / 5
    both = tmp_path / "both.parquet"
    main([*collect_args(shard_inputs, both, "--test-sample-rate", "0.1", "--item-sampling",
                        "shared")])  # fmt: skip
    by_role = pl.read_parquet(both).group_by("role_id").agg(pl.col("item_id").sort())
    first, second = (by_role["item_id"][i].to_list() for i in range(2))
    assert by_role.height == 2 and first == second
