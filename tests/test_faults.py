"""Nothing lost, nothing silent: bad input gets one clear line, exit 2, and nothing is removed."""

from __future__ import annotations

import json

import polars as pl
import pytest

from valuegraph.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_items_cli_names_file_row_and_column(tmp_path, capsys):
    bad = tmp_path / "items.csv"
    bad.write_text("questionnaire,item,value,agreement,question\nQ,i,V,0,Should I?\n")
    code, err = run_cli(
        capsys,
        "items",
        "--path",
        str(bad),
        "--out-train",
        str(tmp_path / "a.parquet"),
        "--out-test",
        str(tmp_path / "b.parquet"),
        "--out-values",
        str(tmp_path / "v.json"),
    )
    assert code == 2
    assert f"{bad}: row 2, column 'agreement'" in error_line(err)
    assert not (tmp_path / "a.parquet").exists()


def test_corrupted_parquet_shard_is_named(tmp_path, capsys):
    shard = tmp_path / "group000.parquet"
    shard.write_bytes(b"PAR1 this is not parquet")
    code, err = run_cli(
        capsys, "merge-responses", str(shard), "--out", str(tmp_path / "all.parquet")
    )
    assert code == 2
    line = error_line(err)
    assert str(shard) in line and "not a readable Parquet file" in line and "rerun" in line
    assert shard.exists(), "the bad shard is reported, not deleted"


def test_matrix_with_nan_and_few_rows_is_refused(tmp_path, capsys):
    frame = pl.DataFrame({"role_id": ["a", "b", "c"], "A": [0.1, None, 0.3], "B": [0.2, 0.1, 0.0]})
    path = tmp_path / "m.parquet"
    frame.write_parquet(path)
    code, err = run_cli(capsys, "discover", str(path), "--out", str(tmp_path / "g.json"))
    assert code == 2 and "'A'" in error_line(err)
    assert not (tmp_path / "g.json").exists()


def test_reference_graph_with_unknown_value(tmp_path, capsys):
    from valuegraph.errors import DataError
    from valuegraph.graphs import read_reference_graph

    ref = tmp_path / "ref.tsv"
    ref.write_text("source\ttarget\nAchievement\tKindness\n")
    with pytest.raises(DataError, match=r"ref.tsv.*Kindness"):
        read_reference_graph(ref, ["Achievement", "Empathy"])


def test_hub_model_unavailable_offline_names_model_and_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = {
        "name": "ghost",
        "source": "hub",
        "id": "nobody/no-such-model-xyz",
        "revision": "abc123",
    }
    code, err = run_cli(
        capsys, "prepare-model", "--model", json.dumps(model), "--out", str(tmp_path / "m.json")
    )
    assert code == 2
    line = error_line(err)
    assert "ghost" in line and "nobody/no-such-model-xyz" in line and "abc123" in line
    assert "huggingface-cli download" in line


def test_missing_revision_of_a_local_model(tiny_model, tmp_path, capsys):
    model = {"name": "tiny", "source": "local", "id": str(tmp_path / "nowhere")}
    code, err = run_cli(
        capsys, "prepare-model", "--model", json.dumps(model), "--out", str(tmp_path / "m.json")
    )
    assert code == 2 and "does not exist; fix models[].id" in error_line(err)


def test_hook_layer_beyond_depth(tiny_model):
    from valuegraph.config import ModelSpec
    from valuegraph.errors import ConfigError
    from valuegraph.model.loading import load_model
    from valuegraph.model.steering import hook_layer

    model, _ = load_model(ModelSpec(name="tiny", source="local", id=str(tiny_model)))
    assert hook_layer("blocks.1.hook_resid_post", model) == 1
    with pytest.raises(ConfigError, match=r"layer 7 is beyond the model's depth \(2 layers"):
        hook_layer("blocks.7.hook_resid_post", model)


@pytest.mark.slow
def test_concurrent_runs_are_refused_by_the_lock(tmp_path, tiny_model, items_csv):
    import subprocess
    import time

    from conftest import make_workdir, run_snakemake, snakemake_command, snakemake_env, tiny_config

    workdir = make_workdir(tmp_path / "run", tiny_config(tiny_model, items_csv))
    first = subprocess.Popen(
        snakemake_command(workdir, "--cores", "1"),
        cwd=workdir,
        env=snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        locks = workdir / ".snakemake" / "locks"
        deadline = time.time() + 120
        while not (locks.exists() and any(locks.iterdir())) and time.time() < deadline:
            if first.poll() is not None:
                break
            time.sleep(0.2)
        assert first.poll() is None, "the first run ended before the second could start"
        second = run_snakemake(workdir, "--cores", "1")
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stderr + second.stdout
    finally:
        first.terminate()
        first.wait(timeout=60)


def test_downloaded_file_with_wrong_checksum_is_refused(items_csv, tmp_path):
    from valuegraph.errors import DataError
    from valuegraph.items import fetch

    dest = tmp_path / "value_orientation.csv"
    with pytest.raises(DataError, match="does not match the pinned"):
        fetch(items_csv.resolve().as_uri(), "0" * 64, dest)
    assert not dest.exists(), "a file with the wrong checksum must not land under its final name"
    good = "cb81699e9ed621477d120246b3facd4d2943e880a93e19a68bdb4deaed9f6f11"
    assert fetch(items_csv.resolve().as_uri(), good, dest) == dest and dest.exists()
