"""``valuegraph sae-*``: capture residual activations, train an SAE, record an SAE, rank the
candidate steering features at the marker tokens (model side; torch is imported lazily)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import polars as pl

from valuegraph.collect import read_model_record
from valuegraph.errors import ConfigError
from valuegraph.io import read_json, read_parquet, write_csv, write_json, write_with
from valuegraph.roles import first_roles, read_roles

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("sae-activations", help="capture resid_post activations from train prompts")
    a.add_argument("--model-record", required=True)
    a.add_argument("--items", required=True, help="train items parquet")
    a.add_argument("--roles", required=True, help="train roles JSON")
    a.add_argument("--hook", required=True, help="blocks.L.hook_resid_post")
    a.add_argument("--mode", default="logprob", choices=["logprob", "generate"])
    a.add_argument("--max-tokens", type=int, required=True)
    a.add_argument("--train-sample-rate", type=float, default=1.0)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", required=True, help="activations (.safetensors)")
    a.set_defaults(func=run_activations)

    t = sub.add_parser("sae-train", help="train a standard SAE with sae-lens on activations")
    t.add_argument("--activations", required=True)
    t.add_argument("--hook", required=True)
    t.add_argument("--model-name", required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--expansion", type=int, default=8)
    t.add_argument("--l1-coefficient", type=float, default=5.0)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--batch-size", type=int, default=1024)
    t.add_argument("--epochs", type=float, default=10.0)
    t.add_argument("--out-dir", required=True, help="SAE folder (sae-lens format)")
    t.add_argument("--metrics", required=True, help="metrics JSON")
    t.set_defaults(func=run_train)

    r = sub.add_parser("sae-record", help="resolve a model's SAE (release, local or trained)")
    r.add_argument("--model-record", required=True)
    r.add_argument("--sae", required=True, help="the models[].sae block as JSON")
    r.add_argument("--trained", default=None, help="trained SAE folder (source train)")
    r.add_argument("--metrics", default=None, help="training metrics JSON (source train)")
    r.add_argument("--out", required=True, help="SAE record JSON")
    r.add_argument("--table", required=True, help="one-row metrics CSV for the report")
    r.set_defaults(func=run_record)

    c = sub.add_parser("sae-candidates", help="top-k SAE features at the marker (train roles)")
    c.add_argument("--model-record", required=True)
    c.add_argument("--sae-record", required=True)
    c.add_argument("--roles", required=True, help="train roles JSON (never the test split)")
    c.add_argument("--mode", default="logprob", choices=["logprob", "generate"])
    c.add_argument("--k", type=int, required=True)
    c.add_argument(
        "--ranking",
        choices=["mean", "max"],
        default="mean",
        help="activation over the marker tokens of each role's prompt: mean, or max (the paper's)",
    )
    c.add_argument(
        "--n-roles",
        type=int,
        default=None,
        help="rank on the first N roles of the file only (default: every role)",
    )
    c.add_argument("--out", required=True)
    c.set_defaults(func=run_candidates)


def _model(record_path: str):
    from valuegraph.model.loading import load_model

    record, spec = read_model_record(record_path)
    model, tokenizer = load_model(spec, record.get("materialised"))
    return spec, model, tokenizer


def run_activations(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import save_file

    from valuegraph.collect import items_for
    from valuegraph.model.sae import capture_activations
    from valuegraph.model.steering import hook_layer

    torch.manual_seed(args.seed)
    spec, model, tokenizer = _model(args.model_record)
    layer = hook_layer(args.hook, model)
    roles = read_roles(args.roles)
    items = read_parquet(args.items, what="items table")
    questions = [
        items_for(r, items, "train", args.train_sample_rate, args.seed)["question"].to_list()
        for r in roles
    ]
    acts = capture_activations(
        model,
        tokenizer,
        spec.template,
        args.mode,
        roles,
        questions,
        layer,
        args.max_tokens,
        args.seed,
    )
    norms = acts.norm(dim=-1)
    log.info(
        "%s: %d activations of width %d at %s (layer %d); residual norm mean %.1f median %.1f",
        spec.name,
        acts.shape[0],
        acts.shape[1],
        args.hook,
        layer,
        norms.mean(),
        norms.median(),
    )
    meta = {"hook": args.hook, "layer": str(layer), "model": spec.name}
    write_with(lambda tmp: save_file({"activations": acts.contiguous()}, str(tmp), meta), args.out)


def run_train(args: argparse.Namespace) -> None:
    from safetensors.torch import load_file

    from valuegraph.model.sae import save_sae, train_sae

    acts = load_file(args.activations)["activations"]
    sae, metrics = train_sae(
        acts,
        args.hook,
        args.model_name,
        args.seed,
        expansion=args.expansion,
        l1_coefficient=args.l1_coefficient,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
    )
    metrics["hook"] = args.hook
    log.info(
        "SAE %s: explained variance %.3f, L0 %.1f, dead fraction %.3f (%d features, %d tokens)",
        args.model_name,
        metrics["explained_variance"],
        metrics["l0"],
        metrics["dead_fraction"],
        metrics["d_sae"],
        metrics["n_tokens"],
    )
    save_sae(sae, args.out_dir)
    write_json(metrics, args.metrics)


def run_record(args: argparse.Namespace) -> None:
    from valuegraph.model.sae import check_width, load_sae, sae_hook

    model_record, model_spec = read_model_record(args.model_record, ["d_model"])
    name = model_spec.name
    block = json.loads(args.sae)
    where = f"model '{name}' sae"
    record: dict = {"source": block["source"], "model": name}
    metrics: dict = {}
    if block["source"] == "release":
        record.update({"release": block["release"], "id": block["id"]})
    elif block["source"] == "local":
        record["path"] = str(Path(block["path"]).resolve())
    else:
        if not args.trained or not args.metrics:
            raise ConfigError(f"{where}: source train needs --trained and --metrics")
        record["path"] = str(Path(args.trained).resolve())
        metrics = read_json(args.metrics)
    sae = load_sae(record)
    check_width(sae, int(model_record["d_model"]), where)
    record["hook"] = sae_hook(sae, block.get("hook"), where)
    record.update({"d_in": int(sae.cfg.d_in), "d_sae": int(sae.cfg.d_sae), "metrics": metrics})
    norms = sae.W_dec.detach().float().norm(dim=1)
    record["decoder_norm"] = {
        "mean": float(norms.mean()),
        "min": float(norms.min()),
        "max": float(norms.max()),
    }
    log.info("%s: %s", where, {k: v for k, v in record.items() if k != "metrics"})
    write_json(record, args.out)
    row = {
        "model": name,
        "source": record["source"],
        "sae": record.get("release", "")
        + (f" / {record['id']}" if "id" in record else record.get("path", "")),
        "hook": record["hook"],
        "d_in": record["d_in"],
        "d_sae": record["d_sae"],
        **{k: metrics.get(k) for k in ("n_tokens", "explained_variance", "l0", "dead_fraction")},
        "decoder_norm_mean": record["decoder_norm"]["mean"],
    }
    write_csv(pl.DataFrame([row], strict=False), args.table)


def run_candidates(args: argparse.Namespace) -> None:
    from valuegraph.model.sae import load_sae, marker_feature_activations, rank_candidates
    from valuegraph.model.steering import hook_layer
    from valuegraph.prompts import MARKER

    spec, model, tokenizer = _model(args.model_record)
    record = read_json(args.sae_record)
    sae = load_sae(record)
    layer = hook_layer(record["hook"], model)
    roles = read_roles(args.roles)
    if any(r["role_id"].startswith("test") for r in roles):
        raise ConfigError(f"{args.roles}: candidates are ranked on train roles only")
    roles = first_roles(roles, args.n_roles)
    acts, resid_norms = marker_feature_activations(
        model, tokenizer, spec.template, args.mode, sae, layer, roles, reduce=args.ranking
    )
    decoder_norms = sae.W_dec.detach().float().norm(dim=1).numpy()
    ranked = rank_candidates(acts, args.k, decoder_norms)
    log.info("candidates of %s:\n%s", spec.name, ranked)
    write_json(
        {
            "model": spec.name,
            "rule": f"top k features by SAE activation at the marker tokens: the {args.ranking} "
            "over the marker tokens of each train role's prompt prefix, then the mean over train "
            "roles (ties: lower feature index first)",
            "ranking": args.ranking,
            "marker": MARKER,
            "hook": record["hook"],
            "layer": layer,
            "k": args.k,
            "n_roles": len(roles),
            "residual_norm_at_marker": float(resid_norms.mean()),
            "candidates": ranked.to_dicts(),
        },
        args.out,
    )
