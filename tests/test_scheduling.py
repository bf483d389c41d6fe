"""Local GPU scheduling: model rules hold the GPU token, CPU rules run beside them; device and
dtype choice on the model side."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO, make_workdir, run_snakemake, tiny_config

from valuegraph.config import ModelSpec
from valuegraph.model.loading import load_model, resolve_device, resolve_dtype

# ----------------------------------------------------------------------------- device and dtype


def test_resolve_dtype_auto_is_bf16_on_cuda_and_fp32_on_cpu():
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) is torch.bfloat16
    assert resolve_dtype("auto", torch.device("cuda", 1)) is torch.bfloat16
    for name, dtype in [
        ("float32", torch.float32),
        ("bfloat16", torch.bfloat16),
        ("float16", torch.float16),
    ]:
        # an explicit dtype in the config wins on either device
        assert resolve_dtype(name, torch.device("cpu")) is dtype
        assert resolve_dtype(name, torch.device("cuda")) is dtype


def test_resolve_device_prefers_cuda_and_honours_an_explicit_choice():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device().type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_resolve_device_respects_cuda_visible_devices():
    # Hiding every GPU must give the CPU, on any machine (a GPU box included).
    code = "from valuegraph.model.loading import resolve_device; print(resolve_device())"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "cpu"


@pytest.mark.parametrize(
    ("dtype", "expected"), [("auto", torch.float32), ("bfloat16", torch.bfloat16)]
)
def test_load_model_uses_the_configured_dtype_on_cpu(tiny_model, dtype, expected):
    spec = ModelSpec(name="tiny", source="local", id=str(tiny_model), dtype=dtype)
    model, _ = load_model(spec, device=torch.device("cpu"))
    assert {p.dtype for p in model.parameters()} == {expected}
    assert {p.device.type for p in model.parameters()} == {"cpu"}


# ----------------------------------------------------------------------------- rule resources

_BLOCK_RE = re.compile(r"^(?:local)?rule (\w+):\n((?:[ \t]+\S.*\n?)*)", re.M)


def _dry_run_jobs(stdout: str) -> list[tuple[str, dict[str, str]]]:
    jobs = []
    for m in _BLOCK_RE.finditer(stdout):
        fields = dict(
            line.strip().split(": ", 1) for line in m[2].splitlines() if ": " in line.strip()
        )
        jobs.append((m[1], fields))
    return jobs


def _resources(fields: dict[str, str]) -> dict[str, str]:
    return dict(r.split("=", 1) for r in fields.get("resources", "").split(", ") if "=" in r)


def _rule_envs() -> dict[str, str]:
    """rule name -> the env file of its conda: directive, read from the rule files."""
    envs = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule \w+:)", path.read_text(), flags=re.M):
            name = re.match(r"rule (\w+):", block)
            env = re.search(r'conda:\s*\n\s*"[./]*envs/(\w+)\.yaml"', block)
            if name and env:
                envs[name[1]] = env[1]
    return envs


def test_model_rules_hold_the_gpu_and_analysis_rules_do_not(tmp_path, tiny_model, items_csv):
    config = tiny_config(tiny_model, items_csv)
    config["models"].append({**config["models"][0], "name": "twin"})
    workdir = make_workdir(tmp_path, config)
    result = run_snakemake(workdir, "-n", "--cores", "8", "--resources", "gpu=1", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = _dry_run_jobs(result.stdout)
    envs = _rule_envs()
    assert {rule for rule, _ in jobs} >= {"collect", "matrix", "discover", "compare_models"}

    gpu_rules = set()
    for rule, fields in jobs:
        res = _resources(fields)
        if rule == "all":
            continue
        assert rule in envs, f"rule {rule} has no conda env file"
        if "gpu" in res:
            gpu_rules.add(rule)
            assert res["gpu"] == "1", (rule, res)
            assert envs[rule] == "model", f"GPU rule {rule} runs in envs/{envs[rule]}.yaml"
            assert int(res.get("mem_mb", 0)) >= 1000, f"GPU rule {rule} declares no mem_mb"
            assert int(fields.get("threads", "1")) >= 1
        else:
            assert envs[rule] in {"model", "analysis", "report"}, (rule, envs[rule])
        if envs[rule] in {"analysis", "report"}:
            assert "gpu" not in res, f"CPU rule {rule} asks for a GPU: {res}"
    # the response collection is the model's heavy step: one GPU, several threads, memory
    assert "collect" in gpu_rules
    collect = [f for rule, f in jobs if rule == "collect"]
    assert len(collect) == 2 * 3  # two models, 2 train groups + 1 test group each
    assert all(int(f["threads"]) == 2 for f in collect)


# The real-run check (one GPU job at a time, CPU jobs beside it) is in tests/test_reruns.py:
# it reads the log of the two-model run that file makes anyway.
