"""``valuegraph collect``: one shard of answers (model, split, condition, role group)."""

from __future__ import annotations

import argparse
import logging

import polars as pl

from valuegraph.collect import collect_shard, merge_shards, read_model_record, role_groups
from valuegraph.config import ModelSpec, parse_condition
from valuegraph.errors import ConfigError
from valuegraph.io import read_parquet
from valuegraph.roles import first_roles, read_roles

log = logging.getLogger(__name__)


def batch_size_arg(text: str) -> int | str:
    """An integer >= 1 or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'auto', got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="answer one shard of items (resumable)")
    p.add_argument("--model-record", required=True, help="prepare-model output (JSON)")
    p.add_argument("--items", required=True, help="items parquet of the split")
    p.add_argument("--roles", required=True, help="roles JSON of the split")
    p.add_argument("--split", required=True, choices=["train", "test"])
    p.add_argument("--condition", required=True, help="condition string, e.g. none")
    p.add_argument("--group", type=int, required=True, help="role group index")
    p.add_argument("--roles-per-shard", type=int, required=True)
    p.add_argument("--mode", default="logprob", choices=["logprob", "generate"])
    p.add_argument(
        "--batch-size",
        type=batch_size_arg,
        default=16,
        help="prompts per forward pass, or 'auto' (16 on CPU, 64 on CUDA; halved on OOM)",
    )
    p.add_argument("--max-new-tokens", type=int, default=100)
    p.add_argument(
        "--parser",
        default="strict",
        choices=["strict", "paper"],
        help="generate mode: strict first answer (unparsed = missing) or the paper's rules",
    )
    p.add_argument("--no-prefix-cache", action="store_true")
    p.add_argument(
        "--no-early-stop",
        action="store_true",
        help="generate mode: generate up to EOS / --max-new-tokens (default: stop a row once "
        "its parsed answer can no longer change)",
    )
    p.add_argument("--train-sample-rate", type=float, default=1.0)
    p.add_argument(
        "--test-sample-rate", type=float, default=1.0, help="share of each value's test items"
    )
    p.add_argument(
        "--item-sampling",
        default="per_role",
        choices=["per_role", "shared"],
        help="per_role: each role its own seeded item sample (paper); shared: one for all roles",
    )
    p.add_argument(
        "--n-roles",
        type=int,
        default=None,
        help="only the first N roles of the roles file (baseline included) before grouping",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    p.add_argument("--sae-record", default=None, help="SAE record JSON (sae conditions)")
    p.add_argument("--candidates", default=None, help="candidates JSON (sae:c<rank> conditions)")
    p.add_argument("--definitions", default=None, help="value definitions TSV (value_prompt)")
    p.add_argument("--coefficient", type=float, default=100.0, help="steering coefficient")
    p.add_argument("--positions", default="marker", choices=["marker", "all"])
    p.add_argument("--out", required=True)
    p.set_defaults(func=run)

    m = sub.add_parser("merge-responses", help="concatenate collect shards")
    m.add_argument("shards", nargs="+")
    m.add_argument("--out", required=True)
    m.set_defaults(func=lambda a: merge_shards(a.shards, a.out))


def run(args: argparse.Namespace) -> None:
    record, spec = read_model_record(args.model_record)
    listed = first_roles(read_roles(args.roles), args.n_roles)
    roles = role_groups(listed, args.roles_per_shard)
    if args.group >= len(roles):
        raise ConfigError(
            f"--group {args.group} is out of range: {args.roles} makes {len(roles)} groups of"
            f" {args.roles_per_shard} roles (groups 0-{len(roles) - 1})"
        )
    condition = parse_condition(args.condition)
    items: pl.DataFrame = read_parquet(args.items, what="items table")
    if spec.source == "simulated":  # planted-structure respondent: no torch, no model
        from valuegraph.causal.simulated import SimulatedRespondent

        values = list(dict.fromkeys(items["value"].to_list()))
        respondent = SimulatedRespondent.from_spec(spec.simulated, values, args.seed)
    else:
        respondent = _llm_respondent(spec, record, args)
    collect_shard(
        respondent,
        spec.name,
        args.split,
        condition,
        roles[args.group],
        items,
        args.out,
        args.train_sample_rate,
        args.seed,
        identity=_identity(spec, record, args, respondent),
        parser=args.parser,
        test_sample_rate=args.test_sample_rate,
        sampling=args.item_sampling,
    )


def _identity(spec: ModelSpec, record: dict, args: argparse.Namespace, respondent) -> dict:
    """What a shard's checkpoints depend on besides roles and items (see collect_shard)."""
    engine = getattr(respondent, "engine", None)
    return {
        "spec": spec.to_dict(),
        "materialised": record.get("materialised"),
        "fingerprint": record.get("fingerprint"),  # a packaged model's version and file hash
        "plan_batch_size": engine.plan_size if engine is not None else args.batch_size,
        "max_new_tokens": args.max_new_tokens if args.mode == "generate" else None,
        "prefix_cache": not args.no_prefix_cache,
    }


def _llm_respondent(spec: ModelSpec, record: dict, args: argparse.Namespace):
    from valuegraph.model.engine import EngineSettings
    from valuegraph.model.loading import resolve_device
    from valuegraph.model.respondent import LLMRespondent, SteeringSetup

    settings = EngineSettings(
        template=spec.template,
        mode=args.mode,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        prefix_cache=not args.no_prefix_cache,
        parser=args.parser,
        stop_when_parsed=not args.no_early_stop,
    )
    steering = SteeringSetup(
        sae_record=args.sae_record,
        candidates=args.candidates,
        coefficient=args.coefficient,
        positions=args.positions,
        definitions=args.definitions,
    )
    return LLMRespondent(
        spec, settings, record.get("materialised"), resolve_device(args.device), steering
    )
