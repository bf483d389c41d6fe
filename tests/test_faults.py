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
    from valuegraph.causal.graphs import read_reference_graph
    from valuegraph.errors import DataError

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


# --------------------------------------------------------------------------- header-only files

MATRIX_SCHEMA = {
    "role_id": pl.String,
    "condition": pl.String,
    "Achievement": pl.Float64,
    "Empathy": pl.Float64,
    "n_answered": pl.Int64,
    "n_unparsed": pl.Int64,
}


def header_only_matrix(tmp_path, suffix: str):
    path = tmp_path / f"matrix{suffix}"
    empty = pl.DataFrame(schema=MATRIX_SCHEMA)
    if suffix == ".csv":
        empty.write_csv(path)
        assert path.read_text().strip() == ",".join(MATRIX_SCHEMA)  # a header, nothing else
    else:
        empty.write_parquet(path)
    return path


def matrix_command(command: str, matrix, out) -> list[str]:
    """argv of each command that reads a score matrix (the matrix is its first input read)."""
    m, o = str(matrix), lambda name: str(out / name)
    steering = ["--values", o("values.json"), "--conditions", "none"]
    argv = {
        "discover": ["discover", m, "--out", o("graph.json")],
        "effects": [
            "effects",
            "--matrix",
            m,
            "--out-role",
            o("r.csv"),
            "--out-steering",
            o("s.csv"),
        ],
        "steering-select": ["steering-select", "--train", m, *steering, "--min-role-share", "0.5"]
        + ["--min-sign-consistency", "0.5", "--max-features", "2", "--out", o("sel.json")],
        "steering-eval": ["steering-eval", "--train", m, "--test", m, *steering]
        + ["--selection", o("sel.json"), "--graph", o("graph.json")]
        + ["--table1", o("t1.csv"), "--side-effects", o("se.csv"), "--targeted", o("tg.csv")]
        + ["--table1-png", o("t1.png"), "--side-effects-png", o("se.png")]
        + ["--targeted-png", o("tg.png")],
        "summary": ["summary", "--train", m, "--test", m, "--graph", o("graph.json")]
        + ["--effects", o("e.csv"), "--out", o("summary.csv")],
        "circumplex": ["circumplex", m, "--out-table", o("c.csv"), "--out-figure", o("c.png")],
    }
    return argv[command]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    "command",
    ["discover", "effects", "steering-select", "steering-eval", "summary", "circumplex"],
)
def test_header_only_matrix_says_it_has_no_rows(tmp_path, capsys, command, suffix):
    """Every reader of a score matrix names the file and the cause, not 'no numeric columns'."""
    matrix = header_only_matrix(tmp_path, suffix)
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_cli(capsys, *matrix_command(command, matrix, out))
    assert code == 2
    line = error_line(err)
    assert f"valuegraph {command}: error: {matrix}: the matrix has a header but no rows" in line
    assert "numeric" not in line
    assert not list(out.iterdir()), "nothing is written"


def test_empty_matrix_file_is_named(tmp_path, capsys):
    matrix = tmp_path / "m.csv"
    matrix.write_text("")
    code, err = run_cli(capsys, "discover", str(matrix), "--out", str(tmp_path / "g.json"))
    assert code == 2
    assert f"{matrix}: the matrix is empty (no header, no rows)" in error_line(err)


def test_effects_library_refuses_a_matrix_without_rows():
    from valuegraph.causal.estimation import check_matrix
    from valuegraph.errors import DataError

    with pytest.raises(DataError, match=r"the matrix has no rows \(columns \['role_id'"):
        check_matrix(pl.DataFrame(schema=MATRIX_SCHEMA))


def items_argv(path, tmp_path) -> list[str]:
    outs = [("--out-train", "a.parquet"), ("--out-test", "b.parquet"), ("--out-values", "v.json")]
    return ["items", "--path", str(path)] + [x for k, f in outs for x in (k, str(tmp_path / f))]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "the items file has a header but no rows"),
        ("Q,i1,V,1,Should I a?\nQ,i2,V, ,Should I b?\n", "row 3, column 'agreement': empty value"),
        ("Q,i1,V,1,\n", "row 2, column 'question': empty value"),
        ("Q,i1,,1,Should I?\n", "row 2, column 'value': empty value"),
        ("Q,i1,V,1,Should I a?\nQ,i2,V,1,Should I, b?\n", "row 3 has 6 fields but the header"),
    ],
    ids=["header-only", "blank-agreement", "blank-question", "blank-value", "ragged"],
)
def test_items_cli_header_only_and_blank_cells(tmp_path, capsys, body, message):
    path = tmp_path / "items.csv"
    path.write_text("questionnaire,item,value,agreement,question\n" + body)
    code, err = run_cli(capsys, *items_argv(path, tmp_path))
    assert code == 2
    assert f"valuegraph items: error: {path}: {message}" in error_line(err)
    assert not (tmp_path / "a.parquet").exists()


# --------------------------------------------------------------------------- roles, model record

GOOD_RECORD = {"spec": {"name": "planted", "source": "simulated"}, "materialised": None}
GOOD_ROLES = [{"role_id": "none", "mini_trait": ""}]


def collect_argv(tmp_path, record, roles) -> list[str]:
    """A collect call whose model record and roles are written from ``record`` / ``roles``
    (text is written as it is, anything else as JSON)."""
    files = {"model.json": record, "roles.json": roles}
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text)
    return [
        "collect", "--model-record", str(tmp_path / "model.json"),
        "--items", str(tmp_path / "items.parquet"), "--roles", str(tmp_path / "roles.json"),
        "--split", "test", "--condition", "none", "--group", "0", "--roles-per-shard", "1",
        "--out", str(tmp_path / "shard.parquet"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{'spec': {}}", "not valid JSON (line 1: Expecting property name enclosed in double"),
        ("", "the file is empty, not JSON"),
        ([GOOD_RECORD], "the model record must be a JSON object, got a list"),
        ({"materialised": None}, "key 'spec' missing; the model record needs keys ['spec']"),
        ({"spec": "planted"}, "key 'spec': expected an object, got a string"),
        (
            {"spec": {"source": "local"}},
            "key 'spec.name': expected a non-empty string, got missing",
        ),
        (
            {"spec": {"name": "m", "source": 3}},
            "key 'spec.source': expected a non-empty string, got 3; rerun prepare-model",
        ),
    ],
    ids=["not-json", "empty", "list", "no-spec", "spec-string", "no-name", "source-number"],
)
def test_bad_model_record_is_one_line(tmp_path, capsys, record, message):
    code, err = run_cli(capsys, *collect_argv(tmp_path, record, GOOD_ROLES))
    assert code == 2
    line = error_line(err)
    assert f"valuegraph collect: error: {tmp_path / 'model.json'}: {message}" in line
    assert not (tmp_path / "shard.parquet").exists()


def test_model_record_needs_the_keys_its_reader_uses(tmp_path):
    from valuegraph.collect import read_model_record
    from valuegraph.errors import DataError

    path = tmp_path / "model.json"
    path.write_text(json.dumps(GOOD_RECORD))
    record, spec = read_model_record(path)
    assert (spec.name, spec.source, record["materialised"]) == ("planted", "simulated", None)
    with pytest.raises(DataError, match=r"model.json: key 'd_model' missing.*rerun prepare-model"):
        read_model_record(path, ["d_model"])


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ("not json", "not valid JSON (line 1: Expecting value)"),
        ([], "the roles file has no rows (an empty list)"),
        ({"train": GOOD_ROLES}, "the roles file must be a JSON list of records, got an object"),
        ([["none", ""]], "record 1 of 1 is a list, not an object with keys ['role_id', 'mini"),
        ([{"role_id": "none"}], "record 1 of 1, key 'mini_trait': missing; each record needs"),
    ],
    ids=["not-json", "empty-list", "not-a-list", "header-less-rows", "missing-key"],
)
def test_bad_roles_file_is_one_line(tmp_path, capsys, roles, message):
    code, err = run_cli(capsys, *collect_argv(tmp_path, GOOD_RECORD, roles))
    assert code == 2
    assert f"valuegraph collect: error: {tmp_path / 'roles.json'}: {message}" in error_line(err)
    assert not (tmp_path / "shard.parquet").exists()


def test_header_only_items_table_is_refused_by_collect(tmp_path, capsys):
    argv = collect_argv(tmp_path, GOOD_RECORD, GOOD_ROLES)
    items = tmp_path / "items.parquet"
    pl.DataFrame(schema={"item_id": pl.String, "value": pl.String}).write_parquet(items)
    code, err = run_cli(capsys, *argv)
    assert code == 2
    assert f"{items}: the items table has a header but no rows" in error_line(err)


def test_collect_group_out_of_range_is_one_line(tmp_path, capsys):
    argv = collect_argv(tmp_path, GOOD_RECORD, GOOD_ROLES + [{"role_id": "r1", "mini_trait": ""}])
    argv[argv.index("--group") + 1] = "2"
    code, err = run_cli(capsys, *argv)
    assert code == 2
    line = error_line(err)
    assert "--group 2 is out of range" in line and "makes 2 groups of 1 roles (groups 0-1)" in line
    assert not (tmp_path / "shard.parquet").exists()
