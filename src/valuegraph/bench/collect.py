"""The collect benchmark: the same roles x items in every scoring mode, on one machine and run.

Modes: ``generate`` (the paper: greedy, up to 100 new tokens, batch 8, each row stopped once its
parsed answer is final), ``logprob_unbatched`` (batch 1, no cache), ``logprob_batched``
(length-sorted batches, left padding) and ``logprob_cached`` (batched + the shared
persona-prefix KV cache). Reports items/s and tokens/s per mode, model FLOPs per item and their
utilisation of the device's peak (MFU), peak memory, the agreement of log-prob answers with
parsed generated answers, and ``max_abs_logp_diff`` / ``answers_equal`` of the cached path
against the uncached batched one (the exactness check; fp32 makes it meaningful).

Each persona answers its own item list (a collect shard's shape: the train split samples items
per role). The modes run interleaved, persona by persona, so a shared machine's changing load
slows them alike and their ratio stays meaningful. ``generate`` and ``logprob_unbatched`` run
on the first items of each list only (they are 5-50x slower); the modes are compared by items
per second, which does not depend on the count.

Model FLOPs (attention ignored): 2 x non-embedding parameters per token run through the model
(the persona prefix once per persona in the cached mode; prompt and generated tokens in
generate; pads never) + 2 x d_model x vocabulary per LM-head row computed (the engine computes
logits only where they are read). ``valuegraph.bench.records`` turns a result into the record
committed under ``benchmarks/``.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from valuegraph.io import write_json
from valuegraph.model.engine import Engine, EngineSettings

log = logging.getLogger(__name__)

MODES = ("generate", "logprob_unbatched", "logprob_batched", "logprob_cached")

# gemma-2b's architecture (google/gemma-2b config.json), for randomly initialised speed runs
RANDOM_ARCHS: dict[str, dict[str, Any]] = {
    "gemma-2b": {
        "model_type": "gemma",
        "hidden_size": 2048,
        "num_hidden_layers": 18,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "intermediate_size": 16384,
        "vocab_size": 256000,
        "max_position_embeddings": 8192,
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
    },
    # Meta-Llama-3-8B(-Instruct)'s architecture (config.json), for randomly initialised speed runs
    "llama-3-8b": {
        "model_type": "llama",
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "max_position_embeddings": 8192,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
    },
    # the same family at toy size, for tests on CPU
    "gemma-tiny": {
        "model_type": "gemma",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "intermediate_size": 128,
        "vocab_size": 1024,
        "max_position_embeddings": 2048,
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
    },
}

# peak FLOP/s of known cards (SXM datasheets): dense bf16/fp16 tensor cores, and plain fp32
# (no TF32), for model-FLOP utilisation; the first key found in the device name wins
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H200": {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12},
    "H100": {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12},
    "A100": {"bfloat16": 312e12, "float16": 312e12, "float32": 19.5e12},
    "L40S": {"bfloat16": 362e12, "float16": 362e12, "float32": 91.6e12},
    "A10G": {"bfloat16": 125e12, "float16": 125e12, "float32": 31.2e12},
}
CPU_FLOPS_PER_CYCLE = 32  # fp32, per core: AVX2 + FMA on two 256-bit FMA units


def random_arch_model(name: str, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    """A randomly initialised (seeded) model with the named architecture, built on ``device``."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if name not in RANDOM_ARCHS:
        raise ValueError(f"unknown --random-arch {name!r}; known: {', '.join(RANDOM_ARCHS)}")
    params = dict(RANDOM_ARCHS[name])
    config = AutoConfig.for_model(params.pop("model_type"), **params)
    torch.manual_seed(0)
    with device:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


def save_random_checkpoint(
    name: str, tokenizer_dir: str | Path, dest: str | Path, dtype: torch.dtype, device: torch.device
) -> Path:
    """A loadable checkpoint folder (``source: local``) with random weights of the named
    architecture and the tokenizer of ``tokenizer_dir``: a test fixture for timing a whole
    collection (e.g. config/paper.yaml's) without the real weights."""
    dest = Path(dest)
    model = random_arch_model(name, dtype, device)
    model.save_pretrained(dest)
    load_tokenizer(tokenizer_dir).save_pretrained(dest)
    return dest


def load_tokenizer(path: str | Path) -> Any:
    """A tokenizer alone (left padding, a pad token), e.g. for a randomly initialised model."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class PeakMemory:
    """Peak resident memory (sampled) and, on CUDA, peak allocated memory of one block."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.rss_peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.rss_peak = max(self.rss_peak, self.rss())

    @contextmanager
    def measure(self) -> Iterator[PeakMemory]:
        self.rss_peak = self.rss()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        thread = threading.Thread(target=self._sample, daemon=True)
        self._stop.clear()
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.rss_peak = max(self.rss_peak, self.rss())

    def cuda_peak(self) -> int | None:
        if self.device.type != "cuda":
            return None
        return int(torch.cuda.max_memory_allocated(self.device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_modes(
    model: torch.nn.Module,
    tokenizer: Any,
    settings: dict[str, EngineSettings],
    personas: Sequence[str],
    questions: dict[str, Sequence[Sequence[str]]],
) -> tuple[dict[str, list[list[dict[str, Any]]]], dict[str, dict[str, Any]]]:
    """Answer ``questions[mode][k]`` as ``personas[k]`` in every mode, interleaved (persona 1 in
    every mode, then persona 2, ...), so that a machine whose load changes during the run
    slows every mode alike; records per mode and persona, and timing per mode."""
    engines = {mode: Engine(model, tokenizer, s) for mode, s in settings.items()}
    device = next(iter(engines.values())).device
    records: dict[str, list[list[dict[str, Any]]]] = {mode: [] for mode in settings}
    spent = {mode: {"wall": 0.0, "cpu": 0.0, "rss": 0, "cuda": None} for mode in settings}
    for k, persona in enumerate(personas):
        for mode, engine in engines.items():
            memory = PeakMemory(device)
            with memory.measure():
                _sync(device)
                wall, cpu = time.perf_counter(), time.process_time()
                records[mode].append(engine.answer(persona, questions[mode][k]))  # type: ignore[arg-type]
                _sync(device)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            acc = spent[mode]
            acc["wall"] += wall
            acc["cpu"] += cpu
            acc["rss"] = max(acc["rss"], memory.rss_peak)
            if memory.cuda_peak() is not None:
                acc["cuda"] = max(acc["cuda"] or 0, memory.cuda_peak())
        log.info(
            "persona %d/%d done (%s)",
            k + 1,
            len(personas),
            ", ".join(f"{mode} {spent[mode]['wall']:.0f} s" for mode in engines),
        )
    return records, {
        mode: _stats(engines[mode], settings[mode], records[mode], spent[mode]) for mode in settings
    }


def _stats(
    engine: Engine,
    settings: EngineSettings,
    records: list[list[dict[str, Any]]],
    spent: dict[str, Any],
) -> dict[str, Any]:
    flat = [r for rs in records for r in rs]
    prompt_tokens = sum(r["n_tokens"] for r in flat)
    new_tokens = sum(r["n_new_tokens"] for r in flat)
    wall = max(spent["wall"], 1e-9)
    stats = {
        "n_items": len(flat),
        "batch_size": engine.plan_size,
        "prefix_cache": settings.prefix_cache if settings.mode == "logprob" else False,
        "seconds": wall,
        "cpu_seconds": spent["cpu"],
        "items_per_s": len(flat) / wall,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "tokens_per_s": (prompt_tokens + new_tokens) / wall,
        "peak_rss_mb": spent["rss"] / 2**20,
        "peak_cuda_mb": None if spent["cuda"] is None else spent["cuda"] / 2**20,
        "model_tokens": engine.counters["tokens"],
        "head_rows": engine.counters["head_rows"],
    }
    if settings.mode == "generate":
        stats["stop_when_parsed"] = settings.stop_when_parsed
        stats["unparsed"] = sum(r["answer"] == "unparsed" for r in flat)
        stats["mean_new_tokens"] = new_tokens / max(1, len(flat))
    return stats


def _pairs(
    a: Sequence[Sequence[dict[str, Any]]], b: Sequence[Sequence[dict[str, Any]]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(a, b) record pairs of the same persona and item (the shorter list of each persona)."""
    return [(x, y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=False)]


def _max_diff(pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> float:
    return max(
        max(abs(x["logp_yes"] - y["logp_yes"]), abs(x["logp_no"] - y["logp_no"])) for x, y in pairs
    )


def run_bench(
    model: torch.nn.Module,
    tokenizer: Any,
    personas: Sequence[str],
    questions: Sequence[str] | Sequence[Sequence[str]],
    *,
    template: str = "chat",
    gen_items: int = 8,
    unbatched_items: int | None = None,
    max_new_tokens: int = 100,
    gen_batch_size: int = 8,
    batch_size: int = 16,
    modes: Sequence[str] = MODES,
    stop_when_parsed: bool = True,
) -> dict[str, Any]:
    """Run every mode on ``personas`` x their questions: one list shared by every persona, or
    one list per persona. Generation runs on the first ``gen_items`` of each list, the
    unbatched log-prob mode on the first ``unbatched_items`` (default: all)."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown bench modes {sorted(unknown)}; choose from {MODES}")
    if questions and isinstance(questions[0], str):
        per_persona: list[list[str]] = [list(questions)] * len(personas)  # type: ignore[arg-type]
    else:
        per_persona = [list(q) for q in questions]
    if len(per_persona) != len(personas):
        raise ValueError(f"{len(per_persona)} question lists for {len(personas)} personas")
    settings = {
        "generate": EngineSettings(
            template, "generate", gen_batch_size, max_new_tokens, False, "strict", stop_when_parsed
        ),
        "logprob_unbatched": EngineSettings(template, "logprob", 1, max_new_tokens, False),
        "logprob_batched": EngineSettings(template, "logprob", batch_size, max_new_tokens, False),
        "logprob_cached": EngineSettings(template, "logprob", batch_size, max_new_tokens, True),
    }
    # warm-up: first calls pay for lazy initialisation, not for the mode being measured
    Engine(model, tokenizer, settings["logprob_batched"]).answer(personas[0], per_persona[0][:2])
    limits = {"generate": gen_items, "logprob_unbatched": unbatched_items}
    qs = {mode: [q[: limits.get(mode)] for q in per_persona] for mode in modes}
    for mode in modes:
        log.info("bench %s: %d personas x %d items", mode, len(personas), sum(map(len, qs[mode])))
    records, stats = time_modes(
        model, tokenizer, {mode: settings[mode] for mode in modes}, personas, qs
    )
    result: dict[str, Any] = {"modes": stats}
    for mode in modes:
        log.info("bench %s: %.3f items/s", mode, stats[mode]["items_per_s"])
    if "logprob_unbatched" in records:
        for mode in ("logprob_batched", "logprob_cached"):
            if mode in records:
                result["modes"][mode]["max_abs_logp_diff_vs_unbatched"] = _max_diff(
                    _pairs(records["logprob_unbatched"], records[mode])
                )
    uncached = records.get("logprob_batched") or records.get("logprob_unbatched")
    if "logprob_cached" in records and uncached is not None:
        pairs = _pairs(records["logprob_cached"], uncached)
        result["exactness_reference"] = (
            "logprob_batched" if "logprob_batched" in records else "logprob_unbatched"
        )
        result["max_abs_logp_diff"] = _max_diff(pairs)
        result["answers_equal"] = all(x["answer"] == y["answer"] for x, y in pairs)
        result["exactness_pairs"] = len(pairs)
        if "logprob_batched" in records:
            result["cached_over_uncached"] = (
                result["modes"]["logprob_cached"]["items_per_s"]
                / result["modes"]["logprob_batched"]["items_per_s"]
            )
    if "generate" in records:
        gen_rate = result["modes"]["generate"]["items_per_s"]
        for stats in result["modes"].values():
            stats["speedup_vs_generate"] = stats["items_per_s"] / gen_rate
        if "logprob_cached" in records:
            result["speedup"] = result["modes"]["logprob_cached"]["items_per_s"] / gen_rate
            result["agreement"] = _agreement(_pairs(records["generate"], records["logprob_cached"]))
    return result


def _agreement(records: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """How often the log-prob answer equals the parsed generated answer (same persona, item)."""
    pairs = [(gen["answer"], lp["answer"]) for gen, lp in records]
    parsed = [(g, lp) for g, lp in pairs if g != "unparsed"]
    return {
        "n_pairs": len(pairs),
        "n_parsed": len(parsed),
        "agree": sum(g == lp for g, lp in parsed),
        "rate": sum(g == lp for g, lp in parsed) / len(parsed) if parsed else None,
        "generated_yes": sum(g == "yes" for g, _ in pairs),
        "logprob_yes": sum(lp == "yes" for _, lp in pairs),
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def cpu_peak_flops(threads: int) -> float | None:
    """fp32 peak of ``threads`` cores: clock (/proc/cpuinfo) x CPU_FLOPS_PER_CYCLE, when the CPU
    has AVX2 and FMA (an estimate; pass the real figure with --peak-gflops)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    mhz = [float(ln.split(":", 1)[1]) for ln in text.splitlines() if ln.startswith("cpu MHz")]
    if not mhz or "avx2" not in flags or "fma" not in flags:
        return None
    return threads * max(mhz) * 1e6 * CPU_FLOPS_PER_CYCLE


def device_peak(
    device: torch.device, dtype: torch.dtype, threads: int, given_gflops: float | None = None
) -> tuple[float | None, str]:
    """(peak FLOP/s, where it came from) for MFU: --peak-gflops, the card table, or the CPU's
    clock x AVX2/FMA width."""
    if given_gflops:
        return given_gflops * 1e9, "given (--peak-gflops)"
    name = str(dtype).removeprefix("torch.")
    if device.type == "cuda":
        card = torch.cuda.get_device_name(device)
        table = next((v for k, v in PEAK_FLOPS.items() if k in card), None)
        if table is None or name not in table:
            return None, f"unknown card {card!r}"
        return table[name], f"datasheet ({card}, dense {name})"
    if device.type == "cpu" and dtype == torch.float32:
        peak = cpu_peak_flops(threads)
        if peak is not None:
            return peak, f"estimate: {threads} cores x clock x {CPU_FLOPS_PER_CYCLE} fp32/cycle"
    return None, "unknown"


def machine_info(
    device: torch.device,
    model: torch.nn.Module,
    dtype: torch.dtype,
    peak_gflops: float | None = None,
) -> dict[str, Any]:
    import transformers

    n_params = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    head_weight = head.weight if head is not None else embed
    tied = head_weight is embed or head_weight.data_ptr() == embed.data_ptr()
    info: dict[str, Any] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_start": os.getloadavg(),
        "model_class": type(model).__name__,
        "n_params": n_params,
        "embedding_params": int(embed.numel()) + (0 if tied else int(head_weight.numel())),
        "tied_embeddings": bool(tied),
        "n_layers": int(model.config.num_hidden_layers),
        "d_model": int(model.config.hidden_size),
        "vocab_size": int(embed.shape[0]),
    }
    if device.type == "cuda":
        info["gpu"] = info["device_name"]
    peak, source = device_peak(device, dtype, torch.get_num_threads(), peak_gflops)
    info["peak_flops"], info["peak_flops_source"] = peak, source
    return info


def add_utilisation(result: dict[str, Any]) -> None:
    """Model FLOPs per item and FLOP/s (2 x non-embedding parameters x tokens run through the
    model + 2 x d_model x vocabulary per LM-head row; attention ignored), and their share of
    the device's peak (MFU)."""
    machine = result["machine"]
    dense = machine["n_params"] - machine["embedding_params"]
    head = 2 * machine["d_model"] * machine["vocab_size"]
    for stats in result["modes"].values():
        flops = 2 * dense * stats["model_tokens"] + head * stats["head_rows"]
        stats["model_flops_per_item"] = flops / stats["n_items"]
        stats["model_tflops"] = flops / stats["seconds"] / 1e12
        stats["mfu"] = (
            flops / stats["seconds"] / machine["peak_flops"] if machine.get("peak_flops") else None
        )
        if machine["device"] == "cpu" and machine.get("peak_flops"):
            # against the CPU time the process got: on a shared machine, the cores' own speed
            per_thread = machine["peak_flops"] / machine["threads"]
            stats["mfu_cpu_time"] = flops / max(stats["cpu_seconds"], 1e-9) / per_thread


def table(result: dict[str, Any]) -> str:
    """The benchmark as a Markdown table plus the headline numbers."""
    header = (
        "| mode | items | batch | s | items/s | x generate | tokens/s | peak RSS MB "
        "| peak CUDA MB | max abs dlogp |"
    )
    lines = [header, "|" + "---|" * 10]
    for mode, s in result["modes"].items():
        cuda = f"{s['peak_cuda_mb']:.0f}" if s.get("peak_cuda_mb") is not None else "-"
        diff = s.get("max_abs_logp_diff_vs_unbatched")
        lines.append(
            f"| {mode} | {s['n_items']} | {s['batch_size']} | {s['seconds']:.1f} "
            f"| {s['items_per_s']:.3f} | {s.get('speedup_vs_generate', float('nan')):.1f} "
            f"| {s['tokens_per_s']:.0f} | {s['peak_rss_mb']:.0f} | {cuda} "
            f"| {'-' if diff is None else f'{diff:.1e}'} |"
        )
    m = result["machine"]
    lines.append("")
    lines.append(
        f"{m['model']} on {m.get('gpu', m['device'])} ({m['dtype']}, {m['threads']} threads); "
        f"load average at start {m['load_avg_start'][0]:.1f}"
    )
    if "speedup" in result:
        lines.append(f"speedup (cached log-prob over generate): {result['speedup']:.1f}x")
    if "max_abs_logp_diff" in result:
        lines.append(
            f"max |d log p| cached vs uncached ({result['exactness_reference']}, "
            f"{result['exactness_pairs']} items): {result['max_abs_logp_diff']:.2e}; "
            f"answers equal: {result['answers_equal']}"
        )
    if "agreement" in result and result["agreement"]["rate"] is not None:
        a = result["agreement"]
        lines.append(
            f"agreement of log-prob and parsed generated answers: {a['agree']}/{a['n_parsed']} "
            f"({a['n_pairs'] - a['n_parsed']} unparsed; yes: generated {a['generated_yes']}, "
            f"log-prob {a['logprob_yes']})"
        )
    if "cached_over_uncached" in result:
        lines.append(f"cached over uncached batched: {result['cached_over_uncached']:.2f}x")
    if any(s.get("mfu") is not None for s in result["modes"].values()):
        lines.append(
            f"MFU (model FLOPs over the peak, {m['peak_flops'] / 1e12:.3g} TFLOP/s: "
            f"{m['peak_flops_source']}): "
            + ", ".join(
                f"{k} {s['mfu']:.1%}"
                for k, s in result["modes"].items()
                if s.get("mfu") is not None
            )
        )
    return "\n".join(lines)


def write(result: dict[str, Any], out: str | Path) -> None:
    write_json(result, out)
