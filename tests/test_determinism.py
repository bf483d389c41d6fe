"""Another seed changes only the sampling. (That one config and seed give byte-identical
outputs is shown by tests/test_interrupt.py: a killed-and-resumed run equals tiny_workflow's.)"""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import make_workdir, run_snakemake, tiny_config

pytestmark = pytest.mark.slow


def test_other_seed_changes_sampling_only(tmp_path, tiny_model, items_csv, tiny_workflow):
    workdir = make_workdir(tmp_path / "seed1", tiny_config(tiny_model, items_csv, seed=1))
    result = run_snakemake(workdir, "--until", "roles", "items")
    assert result.returncode == 0, result.stderr[-3000:]
    old = pl.read_parquet(tiny_workflow / "results/items/train.parquet")
    new = pl.read_parquet(workdir / "results/items/train.parquet")
    assert set(old["item_id"]) != set(new["item_id"])  # a different split
    assert old.height == new.height  # of the same size per value
    old_roles = json.loads((tiny_workflow / "results/roles/train.json").read_text())
    new_roles = json.loads((workdir / "results/roles/train.json").read_text())
    assert [r["name"] for r in old_roles[1:]] != [r["name"] for r in new_roles[1:]]
    assert len(old_roles) == len(new_roles)
