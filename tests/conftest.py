"""Shared fixtures: offline mode, the ValueBench copy, a tiny random Llama model, a workflow dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
ITEMS_CSV = Path(
    os.environ.get("VALUEGRAPH_ITEMS", REPO.parent / "shared/data/valuebench/value_orientation.csv")
)
# The paper's 17 values (ValueBench values with at least 20 items), alphabetical.
PAPER_VALUES = [
    "Achievement",
    "Aesthetic",
    "Anxiety Disorder",
    "Breadth of Interest",
    "Economic",
    "Empathy",
    "Organization",
    "Political",
    "Positive coping",
    "Religious",
    "Resilience",
    "Social",
    "Social Complexity",
    "Social Cynicism",
    "Theoretical",
    "Uncertainty Avoidance",
    "Understanding",
]
# The rules that load a model (torch side): GPU resources, the model conda env.
MODEL_RULES = [
    "prepare_model",
    "collect",
    "sae_activations",
    "sae_train",
    "sae_record",
    "sae_candidates",
    "schwartz_collect",
    "bench_collect",
]
TINY_VALUES = ["Achievement", "Empathy", "Resilience", "Social", "Theoretical"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The SLURM tests last. They install the SLURM client, and once it is installed every
    `snakemake` start pays the slurm executor plugin's import-time `scontrol show config`
    probe: up to 10 s while no controller runs (the cluster stops when its tests end)."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)


@pytest.fixture(scope="session")
def items_csv() -> Path:
    if not ITEMS_CSV.exists():
        pytest.fail(f"ValueBench copy not found at {ITEMS_CSV}; set VALUEGRAPH_ITEMS")
    return ITEMS_CSV


def build_tiny_model(dest: Path, items_csv: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer Llama with a byte-level BPE tokenizer trained here."""
    import polars as pl
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from valuegraph.prompts import system_text

    questions = pl.read_csv(items_csv)["question"].to_list()
    corpus = questions + [
        system_text("(FYI, here is your trait. Gender: male)\n\n", m)
        for m in ("logprob", "generate")
    ]
    corpus += ["yes no Yes No YES NO Answer: yes Answer: no Thought:"] * 200
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=800,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(dest)
    fast.save_pretrained(dest)
    return dest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, items_csv: Path) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", items_csv)


@pytest.fixture(scope="session")
def default_checkpoint(tmp_path_factory):
    """The default model as a checkpoint, materialised here from the packaged GGUF (about 25 s;
    never a copy an earlier workflow run left in the checkout's results/)."""
    from valuegraph.config import ModelSpec
    from valuegraph.errors import ModelUnavailableError
    from valuegraph.model.loading import gguf_location, materialise_gguf

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    spec = ModelSpec.from_dict(config["models"][0])
    try:
        gguf_location(spec)
    except ModelUnavailableError as exc:
        pytest.fail(f"{exc} (scripts/setup installs it)")
    return materialise_gguf(spec, tmp_path_factory.mktemp("smollm2") / "checkpoint")


@pytest.fixture(scope="session")
def tiny(tiny_model: Path):
    """The tiny model loaded in fp32 eval mode, with its left-padding tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    return model, tokenizer


def tiny_config(tiny_model: Path, items_csv: Path, **overrides) -> dict:
    """A small, fast config on the tiny model (5 values, 14 + 4 roles)."""
    config = {
        "seed": 0,
        "items": {"path": str(items_csv), "values": TINY_VALUES, "train_sample_rate": 0.4},
        "roles": {"n_train": 14, "n_test": 4},
        "models": [{"name": "tiny", "source": "local", "id": str(tiny_model), "template": "chat"}],
        "collect": {"mode": "logprob", "batch_size": 8, "roles_per_shard": 8},
        "conditions": ["none"],
        "matrix": {"score": "soft"},
        "discovery": {"alpha": 0.05},
        "uncertainty": {"structure_null": 5, "refute_simulations": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def make_workdir(path: Path, config: dict) -> Path:
    """A working directory that runs the repository's Snakefile with ``config``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command that runs the repo's workflow in ``workdir`` with its config.yaml."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]


# The system's folders only: a workflow must not rely on an activated venv (no PATH lookups).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def snakemake_env() -> dict[str, str]:
    """The environment for workflow runs: PATH holds only the system's folders, as for a user
    who runs ``.venv/bin/snakemake`` without activating the venv."""
    return {**os.environ, "PATH": SYSTEM_PATH}


def run_snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the repo's workflow in ``workdir`` with its config.yaml (local executor)."""
    return subprocess.run(
        snakemake_command(workdir, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=snakemake_env(),
        cwd=workdir,
    )


@pytest.fixture(scope="session")
def tiny_workflow(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, items_csv: Path
) -> Path:
    """The full workflow run once on the tiny model; tests read its results."""
    workdir = make_workdir(
        tmp_path_factory.mktemp("wf") / "run", tiny_config(tiny_model, items_csv)
    )
    result = run_snakemake(workdir)
    if result.returncode != 0:
        log_dir = workdir / "results" / "logs"
        logs = (
            "\n".join(f"== {p}\n{p.read_text()[-2000:]}" for p in log_dir.rglob("*.log"))
            if log_dir.exists()
            else ""
        )
        pytest.fail(f"workflow failed:\n{result.stderr[-4000:]}\n{logs}")
    return workdir


@pytest.fixture
def copy_tree():
    return shutil.copytree


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder first on sys.path (this process) and on PYTHONPATH (workflow runs)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", str(root))
    return root
