"""``valuegraph bench collect``: items/s of every scoring mode on the same roles x items;
``valuegraph bench table``: the README's benchmark table from the committed records.

The defaults measure what one collect shard does: 25 personas (the baseline first) of the train
split, each answering its own seeded ~55-item sample (``--rate`` 0.2, as ``items.*`` samples
the train split); ``--n-items N`` gives every persona the same N evenly spread items instead."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valuegraph.errors import ConfigError

if TYPE_CHECKING:
    import polars as pl

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
        choices=["gemma-2b", "llama-3-8b", "gemma-tiny"],
        help="a randomly initialised model of this architecture (GPU speed runs); the "
        "tokenizer comes from --model-path / --model-record",
    )
    c.add_argument("--items", default="results/items/train.parquet", help="items (parquet or CSV)")
    c.add_argument("--roles", default="results/roles/train.json", help="roles JSON")
    c.add_argument(
        "--n-roles", type=int, default=25, help="roles (the first N, baseline first; a shard: 25)"
    )
    c.add_argument(
        "--n-items",
        type=int,
        default=None,
        help="N evenly spread items, the same for every role (default: each role's own seeded "
        "sample at --rate, as the train split)",
    )
    c.add_argument(
        "--rate", type=float, default=0.2, help="train-split sample rate (config default 0.2)"
    )
    c.add_argument("--seed", type=int, default=0, help="the sample's seed (config seed)")
    c.add_argument("--gen-items", type=int, default=8, help="items per role in generate mode")
    c.add_argument(
        "--unbatched-items",
        type=int,
        default=8,
        help="items per role in logprob_unbatched mode (0: all)",
    )
    c.add_argument(
        "--no-early-stop",
        action="store_true",
        help="generate up to EOS / --max-new-tokens (default: stop a row once its answer is final)",
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
    c.add_argument(
        "--peak-gflops",
        type=float,
        default=None,
        help="the device's peak GFLOP/s for MFU (default: a table of cards; on CPU the clock x "
        "AVX2/FMA width; e.g. 157 for 2 cores here)",
    )
    c.add_argument("--out", default="results/bench/collect.json")
    c.add_argument(
        "--record-dir",
        default=None,
        help="also write the run's record to <DIR>/collect/ (the repo's benchmarks/ folder)",
    )
    c.set_defaults(func=run_collect)

    r = bench_sub.add_parser(
        "random-checkpoint",
        help="a checkpoint folder with random weights of an architecture (timing fixture)",
    )
    r.add_argument("--arch", required=True, choices=["gemma-2b", "llama-3-8b", "gemma-tiny"])
    r.add_argument(
        "--tokenizer", required=True, help="a checkpoint folder to take the tokenizer of"
    )
    r.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    r.add_argument("--device", default=None, help="where to initialise (default: cuda if present)")
    r.add_argument("--out", required=True)
    r.set_defaults(func=run_random_checkpoint)

    t = bench_sub.add_parser("table", help="the README's benchmark table from the records")
    t.add_argument("--records", default="benchmarks", help="records folder (benchmarks/)")
    t.add_argument("--readme", default=None, help="rewrite this README's table block")
    t.add_argument("--check", action="store_true", help="exit 1 when the README is out of step")
    t.set_defaults(func=run_table)


def _items(path: str) -> pl.DataFrame:
    from valuegraph.io import read_table

    frame = read_table(path, what="items table")
    if "item_id" in frame.columns:
        frame = frame.sort("item_id")
    return frame


def _questions(path: str, n: int) -> list[str]:
    questions = _items(path)["question"].to_list()
    if n >= len(questions):
        return questions
    step = len(questions) / n
    return [questions[int(i * step)] for i in range(n)]


def _sampled_questions(
    path: str, roles: list[dict[str, Any]], rate: float, seed: int
) -> list[list[str]]:
    """Each role's own sample, as the train split draws it (valuegraph.items.sample_for_role)."""
    from valuegraph.items import sample_for_role

    frame = _items(path)
    if "value" not in frame.columns:
        raise ConfigError(f"{path}: no 'value' column to sample by; pass --n-items")
    return [sample_for_role(frame, r["role_id"], rate, seed)["question"].to_list() for r in roles]


def run_collect(args: argparse.Namespace) -> None:
    from valuegraph.bench import collect as bench
    from valuegraph.collect import read_model_record
    from valuegraph.config import ModelSpec
    from valuegraph.model.loading import load_model, resolve_device, resolve_dtype
    from valuegraph.prompts import persona_line
    from valuegraph.roles import read_roles

    if args.n_items is not None and args.gen_items > args.n_items:
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
    roles = read_roles(args.roles)[: args.n_roles]
    personas = [persona_line(r["mini_trait"]) for r in roles]
    if args.n_items is None:
        questions = _sampled_questions(args.items, roles, args.rate, args.seed)
        sampling = f"each role's train-like sample (rate {args.rate}, seed {args.seed})"
    else:
        questions = [_questions(args.items, args.n_items)] * len(roles)
        sampling = f"{args.n_items} evenly spread items, the same for every role"
    n_items = sum(map(len, questions))
    from valuegraph.bench.records import git_commit

    commit, dirty = git_commit(Path(__file__).resolve().parent)  # the code that runs
    load_start = os.getloadavg()
    result = bench.run_bench(
        model,
        tokenizer,
        personas,
        questions,
        template=spec.template,
        gen_items=args.gen_items,
        unbatched_items=args.unbatched_items or None,
        max_new_tokens=args.max_new_tokens,
        gen_batch_size=args.gen_batch_size,
        batch_size=args.batch_size,
        modes=args.modes,
        stop_when_parsed=not args.no_early_stop,
    )
    machine = bench.machine_info(device, model, dtype, args.peak_gflops)
    machine["model"] = name
    machine["random_arch"] = args.random_arch
    machine["load_avg_start"], machine["load_avg_end"] = load_start, os.getloadavg()
    result["machine"] = machine
    result["settings"] = {
        "n_roles": len(personas),
        "n_items": n_items,
        "items_per_role": n_items / max(1, len(personas)),
        "sampling": sampling,
        "gen_items": args.gen_items,
        "unbatched_items": args.unbatched_items or None,
        "batch_size": args.batch_size,
        "gen_batch_size": args.gen_batch_size,
        "max_new_tokens": args.max_new_tokens,
        "stop_when_parsed": not args.no_early_stop,
    }
    bench.add_utilisation(result)
    bench.write(result, args.out)
    print(bench.table(result))
    if args.record_dir:
        from valuegraph.bench.records import make_record, write_record

        path = write_record(make_record(result, commit=commit, dirty=dirty), args.record_dir)
        print(f"record: {path}")


def run_table(args: argparse.Namespace) -> None:
    from valuegraph.bench.records import load_records, sync_readme, table
    from valuegraph.errors import DataError

    if args.readme is None:
        print(table(load_records(args.records)))
        return
    in_step = sync_readme(args.readme, args.records, check=args.check)
    if args.check and not in_step:
        raise DataError(
            f"{args.readme}: the benchmark table is out of step with {args.records}/; run "
            f"`valuegraph bench table --records {args.records} --readme {args.readme}`"
        )
    print(f"{args.readme}: benchmark table {'in step' if in_step else 'rewritten'}")


def run_random_checkpoint(args: argparse.Namespace) -> None:
    from valuegraph.bench.collect import save_random_checkpoint
    from valuegraph.model.loading import resolve_device, resolve_dtype

    device = resolve_device(args.device)
    dest = save_random_checkpoint(
        args.arch, args.tokenizer, args.out, resolve_dtype(args.dtype, device), device
    )
    print(f"random {args.arch} checkpoint: {dest}")
