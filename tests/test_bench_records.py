"""Benchmark records (benchmarks/) and the README table generated from them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from valuegraph.bench import records
from valuegraph.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def fake_result() -> dict:
    mode = {
        "batch_size": 16,
        "n_items": 1375,
        "seconds": 100.0,
        "items_per_s": 13.75,
        "tokens_per_s": 1800.0,
        "model_flops_per_item": 6.1e9,
        "mfu": 0.53,
        "mfu_cpu_time": 0.6,
        "cpu_seconds": 190.0,
        "peak_rss_mb": 1200.0,
        "peak_cuda_mb": None,
        "model_tokens": 1,  # not kept in the record
    }
    return {
        "modes": {"logprob_batched": dict(mode, items_per_s=3.0), "logprob_cached": mode},
        "max_abs_logp_diff": 1.3e-5,
        "answers_equal": True,
        "exactness_reference": "logprob_batched",
        "cached_over_uncached": 4.58,
        "machine": {
            "device": "cpu",
            "device_name": "AMD EPYC",
            "threads": 2,
            "torch": "2.13.0",
            "transformers": "5.24.0",
            "model": "smollm2",
            "model_class": "LlamaForCausalLM",
            "random_arch": None,
            "n_params": 134515008,
            "embedding_params": 28311552,
            "dtype": "float32",
            "peak_flops": 157e9,
            "peak_flops_source": "given (--peak-gflops)",
            "load_avg_start": [1.0, 1.0, 1.0],
            "load_avg_end": [2.0, 1.0, 1.0],
        },
        "settings": {"n_roles": 25, "n_items": 1375, "items_per_role": 55.0, "gen_items": 8,
                     "max_new_tokens": 100, "unbatched_items": 8, "sampling": "train-like"},
    }  # fmt: skip


def test_record_round_trip_and_table(tmp_path):
    when = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.UTC)
    record = records.make_record(fake_result(), commit="abc123456789", dirty=False, date=when)
    path = records.write_record(record, tmp_path)
    assert path.name == "20261202T023000Z-amd-epyc-smollm2-float32.json"
    (loaded,) = records.load_records(tmp_path)
    assert loaded == json.loads(json.dumps(record))
    assert "model_tokens" not in loaded["modes"]["logprob_cached"]
    assert loaded["non_embedding_params"] == 134515008 - 28311552
    text = records.table([loaded])
    row = next(line for line in text.splitlines() if "prefix cache" in line)
    assert "| 2026-12-02 | abc12345 | AMD EPYC, 2 thr | smollm2 | float32 | 25 x 55 |" in row
    assert "| 13.8 | 1,800 | 53.0 % (60.0 % of CPU time) |" in row
    assert "| 4.58x | 1.3e-05 | yes |" in row


def test_sync_readme_rewrites_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n{records.TABLE_START}\nstale\n{records.TABLE_END}\nafter\n")
    records.write_record(
        records.make_record(fake_result(), commit="abc", dirty=True), tmp_path / "b"
    )
    assert records.sync_readme(readme, tmp_path / "b", check=True) is False
    assert "stale" in readme.read_text()  # check only
    assert records.sync_readme(readme, tmp_path / "b") is False
    text = readme.read_text()
    assert text.startswith("# T\n\nbefore\n") and text.endswith(f"{records.TABLE_END}\nafter\n")
    assert "stale" not in text and "abc+" in text
    assert records.sync_readme(readme, tmp_path / "b", check=True) is True
    readme.write_text("no markers")
    with pytest.raises(DataError, match="markers"):
        records.sync_readme(readme, tmp_path / "b")


def test_a_broken_record_is_named(tmp_path):
    (tmp_path / "collect").mkdir()
    (tmp_path / "collect" / "x.json").write_text("{")
    with pytest.raises(DataError, match="x.json"):
        records.load_records(tmp_path)


def test_readme_table_is_in_step_with_the_committed_records():
    text = (REPO / "README.md").read_text()
    expected = records.replace_block(text, records.table(records.load_records(REPO / "benchmarks")))
    assert text == expected, (
        "README's benchmark table differs from benchmarks/: run "
        "`valuegraph bench table --records benchmarks --readme README.md`"
    )
