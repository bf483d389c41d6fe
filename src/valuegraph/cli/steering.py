"""``valuegraph steering-select`` (train-only feature selection) and ``steering-eval`` (Table 1,
side effects, targeted steering on the test split). Analysis side: no torch."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import polars as pl

from valuegraph.causal.graphs import load_graph, read_reference_graph
from valuegraph.errors import DataError
from valuegraph.evaluation import selection as sel
from valuegraph.evaluation.deltas import ScoreMatrix, role_column
from valuegraph.evaluation.side_effects import side_effects
from valuegraph.evaluation.table1 import summary as table1_summary
from valuegraph.evaluation.table1 import table1
from valuegraph.evaluation.targeted import targeted
from valuegraph.figures import steering as figures
from valuegraph.io import read_json, write_csv, write_json
from valuegraph.matrix import read_matrix
from valuegraph.roles import read_roles

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("steering-select", help="select SAE features by the declared rule (train)")
    s.add_argument("--train", required=True, help="TRAIN matrix parquet (the only matrix read)")
    s.add_argument("--values", required=True, help="values.json")
    s.add_argument("--candidates", default=None, help="candidates JSON (sae:c<rank> conditions)")
    s.add_argument("--conditions", nargs="+", required=True, help="condition strings (expanded)")
    s.add_argument("--threshold", type=float, default=0.0)
    s.add_argument("--min-role-share", type=float, required=True)
    s.add_argument("--min-sign-consistency", type=float, required=True)
    s.add_argument("--max-features", type=int, required=True)
    s.add_argument("--out", required=True, help="selection JSON")
    s.set_defaults(func=run_select)

    e = sub.add_parser("steering-eval", help="Table 1, side effects and targeted steering (test)")
    e.add_argument("--train", required=True)
    e.add_argument("--test", required=True)
    e.add_argument("--values", required=True)
    e.add_argument("--candidates", default=None)
    e.add_argument(
        "--selection",
        default=None,
        help="selection.json (kept features); without it every SAE condition is kept (pinned "
        "features, models[].sae.features)",
    )
    e.add_argument("--conditions", nargs="+", required=True)
    e.add_argument("--graph", required=True, help="learned GRAPH.json")
    e.add_argument("--references", nargs="*", default=[], metavar="TSV")
    e.add_argument("--threshold", type=float, default=0.0)
    e.add_argument("--n-bootstrap", type=int, default=1000)
    e.add_argument("--n-permutations", type=int, default=1000)
    e.add_argument("--baseline-role", default=None, help="a test persona's name or role id")
    e.add_argument(
        "--sae-role", default=None, help="the SAE arm's test persona: its name or role id"
    )
    e.add_argument(
        "--roles", default=None, help="test roles JSON (resolves persona names to role ids)"
    )
    e.add_argument(
        "--table1-values",
        nargs="+",
        default=None,
        metavar="VALUE",
        help="the value columns Table 1 shows, in order (default: every value)",
    )
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--model-name", default="")
    e.add_argument("--table1", required=True)
    e.add_argument("--side-effects", required=True)
    e.add_argument("--targeted", required=True)
    e.add_argument("--table1-png", required=True)
    e.add_argument("--side-effects-png", required=True)
    e.add_argument("--targeted-png", required=True)
    e.set_defaults(func=run_eval)


def _candidates(path: str | None) -> dict | None:
    return read_json(path) if path else None


def run_select(args: argparse.Namespace) -> None:
    train = read_matrix(args.train)
    role = role_column(train, args.train)
    splits = set(train[role].cast(pl.String).str.split("-").list.first().unique()) - {"none"}
    if splits - {"train"}:
        raise DataError(
            f"{args.train}: holds roles of splits {sorted(splits)}; selection is train-only"
        )
    values = read_json(args.values)
    features = sel.sae_condition_features(args.conditions, _candidates(args.candidates))
    result = sel.select_features(
        train,
        values,
        features,
        args.threshold,
        args.min_role_share,
        args.min_sign_consistency,
        args.max_features,
    )
    result["inputs"] = {"train": str(args.train), "candidates": args.candidates}
    for row in result["features"]:
        best = row["best"]
        log.info(
            "%s (feature %d): %s; best value %s share %.2f consistency %.2f",
            row["condition"],
            row["feature"],
            "KEPT" if row["kept"] else "dropped",
            best["value"],
            best["share"],
            best["consistency"],
        )
    log.info(
        "kept %d of %d features: %s", len(result["kept"]), len(features), result["kept_features"]
    )
    write_json(result, args.out)


def _graphs(args: argparse.Namespace) -> dict:
    graphs = {"learned": load_graph(args.graph)}
    for path in args.references:
        graphs[Path(path).stem] = read_reference_graph(path)
    return graphs


def resolve_role(
    role: str | None, test: ScoreMatrix, roles: list[dict] | None, what: str
) -> str | None:
    """A role given by role id (a row of the test matrix) or by persona name (the roles JSON's
    ``name``) as the matrix's role id; an unknown one is an error naming the test personas."""
    if role is None or role in test.roles:
        return role
    by_name = {r.get("name", ""): r["role_id"] for r in roles or [] if r.get("name")}
    if role in by_name:
        return by_name[role]
    names = ", ".join(repr(n) for n in by_name) or "(no roles JSON given: pass --roles)"
    raise DataError(
        f"{what} {role!r} is neither a test persona's name nor a role id; test personas: {names}"
    )


def run_eval(args: argparse.Namespace) -> None:
    """Table 1, side effects and targeted steering through the functions the contract commands
    (``table1``, ``side-effects``, ``targeted``) call."""
    train_frame, test_frame = read_matrix(args.train), read_matrix(args.test)
    values = read_json(args.values)
    train = ScoreMatrix(train_frame, values, args.train)
    test = ScoreMatrix(test_frame, values, args.test)
    features = sel.sae_condition_features(args.conditions, _candidates(args.candidates))
    kept = read_json(args.selection)["kept"] if args.selection else list(features)
    prompts = sel.value_prompt_conditions(args.conditions)
    # train: the steered conditions may cover only the first roles.n_train_steered roles
    train.require(features, every_role=False)
    test.require([*features, *prompts.values()])
    roles = read_roles(args.roles) if args.roles else None
    sae_role = resolve_role(args.sae_role, test, roles, "sae_role")
    baseline_role = resolve_role(args.baseline_role, test, roles, "baseline_role")
    shown = list(args.table1_values or values)
    unknown = [v for v in shown if v not in values]
    if unknown:
        raise DataError(f"table1 values {unknown} are not among the values {list(values)}")
    table = table1(train, test, shown, features, kept, args.threshold)
    write_csv(table, args.table1)
    figures.plot_table1(table, shown, args.table1_png, args.model_name)
    if table.height:
        summary = table1_summary(table, similarity="cosine")
        log.info(
            "Table 1: mean train-test similarity %.3f over %d features",
            summary["mean_similarity"],
            len(summary["feature_similarity"]),
        )
    effects = side_effects(
        test,
        values,
        _graphs(args),
        kept,
        list(prompts.values()),
        args.threshold,
        args.n_bootstrap,
        args.n_permutations,
        args.seed,
        baseline_role,
        sae_role,
    )
    write_csv(effects, args.side_effects)
    figures.plot_side_effects(effects, args.side_effects_png, args.model_name)
    target = targeted(train, test, values, features, kept, prompts, args.threshold)
    write_csv(target, args.targeted)
    figures.plot_targeted(target, args.targeted_png, args.model_name)
    log.info("targeted steering (pooled):\n%s", target.filter(target["value"] == "(pooled)"))
