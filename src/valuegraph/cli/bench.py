"""``valuegraph bench collect``: items/s of every scoring mode on the same roles x items."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os

from valuegraph.errors import ConfigError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (collect)")
    bench_sub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    c = bench_sub.add_parser(
        "collect",
        help="items/s of generate vs log-prob (unbatched, batched, batched + prefix cache)",
    )
    c.add_argument(
        "--model-record",
        default="results/models/smollm2/model.json",
        help="prepare-model output (default: the default model's)",
    )
    c.add_argument("--model-path", help="a checkpoint folder instead of --model-record")
    c.add_argument(
        "--random-arch",
        choices=["gemma-2b", "gemma-tiny"],
        help="a randomly initialised model of this architecture (GPU speed runs); the "
        "tokenizer comes from --model-path / --model-record",
    )
    c.add_argument("--items", default="results/items/test.parquet", help="items (parquet or CSV)")
    c.add_argument("--roles", default="results/roles/test.json", help="roles JSON")
    c.add_argument("--n-roles", type=int, default=2, help="roles (the first N, baseline first)")
    c.add_argument("--n-items", type=int, default=16, help="items per role (evenly spread)")
    c.add_argument(
        "--gen-items", type=int, default=8, help="items per role in generate mode (<= --n-items)"
    )
    c.add_argument("--batch-size", type=int, default=16, help="log-prob batch size")
    c.add_argument("--gen-batch-size", type=int, default=8, help="generate batch size (paper 8)")
    c.add_argument("--max-new-tokens", type=int, default=100, help="paper 100")
    c.add_argument(
        "--modes",
        nargs="+",
        default=["generate", "logprob_unbatched", "logprob_batched", "logprob_cached"],
    )
    c.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    c.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="auto: bfloat16 on CUDA, float32 on CPU",
    )
    c.add_argument("--out", default="results/bench/collect.json")
    c.set_defaults(func=run_collect)


def _questions(path: str, n: int) -> list[str]:
    from valuegraph.io import read_table

    frame = read_table(path, what="items table")
    if "item_id" in frame.columns:
        frame = frame.sort("item_id")
    questions = frame["question"].to_list()
    if n >= len(questions):
        return questions
    step = len(questions) / n
    return [questions[int(i * step)] for i in range(n)]


def run_collect(args: argparse.Namespace) -> None:
    from valuegraph.bench import collect as bench
    from valuegraph.collect import read_model_record
    from valuegraph.config import ModelSpec
    from valuegraph.model.loading import load_model, resolve_device, resolve_dtype
    from valuegraph.prompts import persona_line
    from valuegraph.roles import read_roles

    if args.gen_items > args.n_items:
        raise ConfigError(
            f"--gen-items ({args.gen_items}) must not exceed --n-items ({args.n_items})"
        )
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.model_path:
        spec = ModelSpec(name=args.model_path, source="local", id=args.model_path)
        materialised = None
    else:
        record, spec = read_model_record(args.model_record)
        materialised = record.get("materialised")
    spec = dataclasses.replace(spec, dtype=str(dtype).removeprefix("torch."))
    if args.random_arch:  # only the tokenizer of the given model is loaded
        model = bench.random_arch_model(args.random_arch, dtype, device)
        tokenizer = bench.load_tokenizer(materialised or spec.id)
        name = f"random {args.random_arch} (tokenizer of {spec.name})"
    else:
        model, tokenizer = load_model(spec, materialised, device)
        name = spec.name
    personas = [persona_line(r["mini_trait"]) for r in read_roles(args.roles)[: args.n_roles]]
    questions = _questions(args.items, args.n_items)
    load_start = os.getloadavg()
    result = bench.run_bench(
        model,
        tokenizer,
        personas,
        questions,
        template=spec.template,
        gen_items=args.gen_items,
        max_new_tokens=args.max_new_tokens,
        gen_batch_size=args.gen_batch_size,
        batch_size=args.batch_size,
        modes=args.modes,
    )
    machine = bench.machine_info(device, model, dtype)
    machine["model"] = name
    machine["embedding_params"] = int(model.get_input_embeddings().weight.numel())
    machine["load_avg_start"], machine["load_avg_end"] = load_start, os.getloadavg()
    result["machine"] = machine
    result["settings"] = {
        "n_roles": len(personas),
        "n_items": len(questions),
        "gen_items": args.gen_items,
        "batch_size": args.batch_size,
        "gen_batch_size": args.gen_batch_size,
        "max_new_tokens": args.max_new_tokens,
    }
    bench.add_utilisation(result)
    bench.write(result, args.out)
    print(bench.table(result))
