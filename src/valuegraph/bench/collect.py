"""The collect benchmark: the same roles x items in every scoring mode, on one machine and run.

Modes: ``generate`` (the paper: greedy, up to 100 new tokens, batch 8), ``logprob_unbatched``
(batch 1, no cache), ``logprob_batched`` (length-sorted batches, left padding) and
``logprob_cached`` (batched + the shared persona-prefix KV cache). Reports items/s and tokens/s
per mode, peak memory, the agreement of log-prob answers with parsed generated answers, and
``max_abs_logp_diff`` of the cached path against the unbatched, uncached one.

Generation may run on fewer items per role than the log-prob modes (it is ~50x slower); the
modes are compared by items per second, which does not depend on the count.
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

# dense bf16/fp16 tensor-core peaks (FLOP/s), for model-FLOP utilisation on known cards
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}


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


def time_mode(
    model: torch.nn.Module,
    tokenizer: Any,
    settings: EngineSettings,
    personas: Sequence[str],
    questions: Sequence[str],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Answer ``questions`` as every persona; records (persona-major) and timing."""
    engine = Engine(model, tokenizer, settings)
    device = engine.device
    memory = PeakMemory(device)
    records: list[dict[str, Any]] = []
    with memory.measure():
        _sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        for persona in personas:
            records.extend(engine.answer(persona, questions))  # type: ignore[arg-type]
        _sync(device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    prompt_tokens = sum(r["n_tokens"] for r in records)
    new_tokens = sum(r["n_new_tokens"] for r in records)
    stats = {
        "n_items": len(records),
        "batch_size": engine.plan_size,
        "prefix_cache": settings.prefix_cache if settings.mode == "logprob" else False,
        "seconds": wall,
        "cpu_seconds": cpu,
        "items_per_s": len(records) / wall,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "tokens_per_s": (prompt_tokens + new_tokens) / wall,
        "peak_rss_mb": memory.rss_peak / 2**20,
        "peak_cuda_mb": None if memory.cuda_peak() is None else memory.cuda_peak() / 2**20,
    }
    if settings.mode == "generate":
        stats["unparsed"] = sum(r["answer"] == "unparsed" for r in records)
        stats["mean_new_tokens"] = new_tokens / max(1, len(records))
    return records, stats


def _max_diff(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> float:
    return max(
        max(abs(x["logp_yes"] - y["logp_yes"]), abs(x["logp_no"] - y["logp_no"]))
        for x, y in zip(a, b, strict=True)
    )


def run_bench(
    model: torch.nn.Module,
    tokenizer: Any,
    personas: Sequence[str],
    questions: Sequence[str],
    *,
    template: str = "chat",
    gen_items: int = 8,
    max_new_tokens: int = 100,
    gen_batch_size: int = 8,
    batch_size: int = 16,
    modes: Sequence[str] = MODES,
) -> dict[str, Any]:
    """Run every mode on ``personas`` x ``questions`` (generation on the first ``gen_items``)."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown bench modes {sorted(unknown)}; choose from {MODES}")
    settings = {
        "generate": EngineSettings(template, "generate", gen_batch_size, max_new_tokens, False),
        "logprob_unbatched": EngineSettings(template, "logprob", 1, max_new_tokens, False),
        "logprob_batched": EngineSettings(template, "logprob", batch_size, max_new_tokens, False),
        "logprob_cached": EngineSettings(template, "logprob", batch_size, max_new_tokens, True),
    }
    # warm-up: first calls pay for lazy initialisation, not for the mode being measured
    Engine(model, tokenizer, settings["logprob_batched"]).answer(personas[0], questions[:2])
    records: dict[str, list[dict[str, Any]]] = {}
    result: dict[str, Any] = {"modes": {}}
    for mode in modes:
        qs = questions[:gen_items] if mode == "generate" else questions
        log.info("bench %s: %d personas x %d items", mode, len(personas), len(qs))
        records[mode], result["modes"][mode] = time_mode(
            model, tokenizer, settings[mode], personas, qs
        )
        log.info("bench %s: %.3f items/s", mode, result["modes"][mode]["items_per_s"])
    reference = records.get("logprob_unbatched") or records.get("logprob_batched")
    for mode in ("logprob_batched", "logprob_cached"):
        if mode in records and reference is not None and records[mode] is not reference:
            result["modes"][mode]["max_abs_logp_diff_vs_unbatched"] = _max_diff(
                reference, records[mode]
            )
    if "logprob_cached" in records and "logprob_batched" in records:
        cached, uncached = records["logprob_cached"], records["logprob_batched"]
        if "logprob_unbatched" in records:
            uncached = records["logprob_unbatched"]
        result["max_abs_logp_diff"] = _max_diff(cached, uncached)
        result["answers_equal"] = [r["answer"] for r in cached] == [r["answer"] for r in uncached]
    if "generate" in records:
        gen_rate = result["modes"]["generate"]["items_per_s"]
        for stats in result["modes"].values():
            stats["speedup_vs_generate"] = stats["items_per_s"] / gen_rate
        if "logprob_cached" in records:
            result["speedup"] = result["modes"]["logprob_cached"]["items_per_s"] / gen_rate
            result["agreement"] = _agreement(
                records["generate"], records["logprob_cached"], len(questions), gen_items
            )
    return result


def _agreement(
    generated: list[dict[str, Any]], logprob: list[dict[str, Any]], n_items: int, gen_items: int
) -> dict[str, Any]:
    """How often the log-prob answer equals the parsed generated answer (same persona, item)."""
    pairs = []
    for k, gen in enumerate(generated):
        persona, item = divmod(k, gen_items)
        pairs.append((gen["answer"], logprob[persona * n_items + item]["answer"]))
    parsed = [(g, lp) for g, lp in pairs if g != "unparsed"]
    return {
        "n_pairs": len(pairs),
        "n_parsed": len(parsed),
        "agree": sum(g == lp for g, lp in parsed),
        "rate": sum(g == lp for g, lp in parsed) / len(parsed) if parsed else None,
        "generated_yes": sum(g == "yes" for g, _ in pairs),
        "logprob_yes": sum(lp == "yes" for _, lp in pairs),
    }


def machine_info(
    device: torch.device, model: torch.nn.Module, dtype: torch.dtype
) -> dict[str, Any]:
    n_params = sum(p.numel() for p in model.parameters())
    info: dict[str, Any] = {
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_avg_start": os.getloadavg(),
        "model_class": type(model).__name__,
        "n_params": n_params,
        "n_layers": int(model.config.num_hidden_layers),
        "d_model": int(model.config.hidden_size),
    }
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        info["gpu"] = name
        peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
        if peak is not None and dtype in (torch.bfloat16, torch.float16):
            info["peak_flops"] = peak
    return info


def add_utilisation(result: dict[str, Any]) -> None:
    """Model FLOP/s (2 x parameters x tokens, attention ignored) against the card's peak."""
    machine = result["machine"]
    dense = machine["n_params"] - machine.get("embedding_params", 0)
    for stats in result["modes"].values():
        flops = 2 * dense * stats["tokens_per_s"]
        stats["model_tflops"] = flops / 1e12
        if "peak_flops" in machine:
            stats["mfu"] = flops / machine["peak_flops"]


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
        lines.append(
            f"speedup (cached log-prob over generate): {result['speedup']:.1f}x; "
            f"max |d log p| cached vs uncached: {result['max_abs_logp_diff']:.2e}; "
            f"answers equal: {result['answers_equal']}"
        )
    if "agreement" in result and result["agreement"]["rate"] is not None:
        a = result["agreement"]
        lines.append(
            f"agreement of log-prob and parsed generated answers: {a['agree']}/{a['n_parsed']} "
            f"({a['n_pairs'] - a['n_parsed']} unparsed; yes: generated {a['generated_yes']}, "
            f"log-prob {a['logprob_yes']})"
        )
    if any("mfu" in s for s in result["modes"].values()):
        lines.append(
            "MFU (2 x params x tokens/s over the card's dense bf16 peak): "
            + ", ".join(f"{k} {s['mfu']:.1%}" for k, s in result["modes"].items() if "mfu" in s)
        )
    return "\n".join(lines)


def write(result: dict[str, Any], out: str | Path) -> None:
    write_json(result, out)
