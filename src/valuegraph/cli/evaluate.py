"""``valuegraph table1``, ``side-effects`` and ``targeted``: the steering evaluation as contract
commands on score matrices in the input format of ``discover``. They call the functions
``valuegraph steering-eval`` calls (valuegraph.evaluation). Analysis side: no torch."""

from __future__ import annotations

import argparse
import logging
import math
import re
import textwrap
from pathlib import Path
from typing import Any

from valuegraph.errors import ConfigError, DataError
from valuegraph.evaluation.deltas import (
    NONE,
    SIGNS,
    ScoreMatrix,
    canonical_condition,
    sae_feature,
)
from valuegraph.evaluation.side_effects import (
    graph_side_effects,
    load_graph_file,
    prompt_interventions,
    sae_interventions,
)
from valuegraph.evaluation.table1 import count_table
from valuegraph.evaluation.table1 import summary as table1_summary
from valuegraph.evaluation.targeted import pie_table
from valuegraph.io import write_csv, write_json
from valuegraph.matrix import read_matrix

log = logging.getLogger(__name__)

MATRIX_FORMAT = (
    "Input matrices (as for discover): CSV or Parquet, one row per (role, condition): a string "
    "column 'role' ('none' = the no-persona baseline; the workflow's 'role_id' is read as an "
    "alias, 'role' wins when both exist), a string column 'condition' ('none', "
    "'sae:<feature id>', 'value_prompt:<value>:<+|->'; the workflow's ids such as 'sae_1975' and "
    "'value_prompt_empathy_pos' name the same conditions) and one numeric column per value, in "
    "column order (the workflow's bookkeeping columns n_answered and n_unparsed are ignored). "
    "Roles are matched by name between conditions; rows may come in any order; a role has at "
    "most one row per condition, and every role compared needs a row under each condition used "
    "and under 'none' (else an error names the role, the condition and the file)."
)
DELTA_RULE = (
    "delta = V(role, condition) - V(role, none). With threshold t a value goes up when "
    "delta > t, down when delta < -t and stays the same when |delta| <= t (t = 0: exactly "
    "equal); a missing (NaN) delta is neither counted nor in N."
)
TABLE1_COLUMNS = [
    "feature",
    "value",
    "train_up",
    "train_down",
    "train_same",
    "test_up",
    "test_down",
    "test_same",
    "similarity",
]
CI_KEYS = [f"{k}_ci_{e}" for k in ("expected", "unexpected", "difference") for e in ("low", "high")]


TABLE1_TEXT = (
    "TABLE.csv: one row per (feature, value): feature (the id after 'sae:'), value, train_up, "
    "train_down, train_same, test_up, test_down, test_same (roles, the no-persona role "
    "included, against the same role unsteered) and similarity (the cosine between the train "
    "and test (up, down, same) proportion vectors; empty when a split counts no role).",
    "SUMMARY.json: feature_similarity {feature: mean similarity over the shown values}, "
    "mean_similarity (the mean of those), noise_ratio {value: mean over features of its "
    "smallest train proportion}, n_train and n_test (roles with an unsteered row), features, "
    "values, threshold, train, test. Means skip undefined (null) similarities.",
)
SIDE_EFFECTS_TEXT = (
    "Arm 'prompt': the unsteered rows of every persona except 'none' minus the unsteered row "
    "of --baseline-role (default: the first persona in file order); one intervention per "
    "persona. Arm 'sae': the rows of --role (default: the first persona) under each sae: "
    "condition (--features, default: all) minus its unsteered row.",
    "A value changes when |delta| > threshold; a NaN delta is neither a change nor an "
    "observation. Per value X: S_X = the interventions that change X; f_X(Y) = the share of "
    "the interventions of S_X observing Y that change Y; expected_X = mean of f_X over the "
    "descendants of X (reachability, a non-directed edge counts both ways, X excluded); "
    "unexpected_X = mean over every other value (ancestors included).",
    "OUT.json: expected, unexpected (NaN-ignoring means over values), expected_sd, "
    "unexpected_sd (their std), difference, per_value {expected, unexpected, n_changed, "
    "n_descendants} aligned with values, n_arcs, n_interventions, interventions, settings; "
    "with --n-bootstrap B > 0 the 95% bootstrap CIs (expected_ci_low, expected_ci_high, "
    "unexpected_ci_*, difference_ci_*); with --n-permutations P > 0 p_value (one-sided: "
    "expected - unexpected against P random graphs with as many arcs), null_mean and n_null. "
    "With several graphs, 'graphs' lists each graph's numbers side by side and the top-level "
    "numbers are the first graph's. null = undefined.",
)
TARGETED_TEXT = (
    "PICKS.tsv: tab-separated with a header naming the columns value, direction (+ or -) and "
    "condition (an SAE condition: sae:1975, or just 1975); '#' lines are comments; one pick "
    "per (value, direction).",
    "OUT.csv: per pick a row with arm 'sae' and, where TEST has rows of "
    "value_prompt:<value>:<direction>, a row with arm 'value_prompt'; then per direction and "
    "arm a '(pooled)' row over the picks that have a value-prompt row (over every pick when "
    "none has one). Columns: value, direction, arm, condition, up, same, down (roles, the "
    "no-persona role included, by the change of the target value), n, up_pct, same_pct, "
    "down_pct (percent of n), n_values (values pooled), mean_delta (of the target value), "
    "off_target_mean_abs (mean |delta| on the other values).",
)


def _text(*paragraphs: str) -> str:
    return "\n\n".join(textwrap.fill(p, width=90) for p in paragraphs)


def register(sub: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    t = sub.add_parser(
        "table1",
        help="Table 1: up / down / same role counts per SAE feature and value, train vs test",
        formatter_class=raw,
        description=_text(MATRIX_FORMAT, DELTA_RULE, *TABLE1_TEXT),
    )
    t.add_argument("train", metavar="TRAIN", help="train matrix (.csv or .parquet)")
    t.add_argument("test", metavar="TEST", help="test matrix (the same value columns)")
    t.add_argument("--out", required=True, metavar="TABLE.csv")
    t.add_argument("--summary", metavar="SUMMARY.json", help="mean similarity and noise ratio")
    t.add_argument(
        "--features",
        nargs="+",
        metavar="ID",
        help="SAE feature ids (1975 or sae:1975; default: every sae: condition present)",
    )
    t.add_argument(
        "--values",
        nargs="+",
        metavar="V",
        help="value columns shown (default: all); every summary number covers these only",
    )
    t.add_argument("--threshold", type=float, default=0.0, help="change threshold (default 0)")
    t.add_argument("--png", metavar="FIG", help="also draw the table as a heatmap (PNG)")
    t.add_argument("--title", help="title of the PNG")
    t.set_defaults(func=run_table1)

    s = sub.add_parser(
        "side-effects",
        help="the paper's side-effect metric (expected vs unexpected changes) for causal graphs",
        formatter_class=raw,
        description=_text(MATRIX_FORMAT, *SIDE_EFFECTS_TEXT),
    )
    s.add_argument("test", metavar="TEST", help="test matrix (.csv or .parquet)")
    s.add_argument(
        "--graph",
        action="append",
        default=[],
        metavar="[NAME=]GRAPH",
        help="GRAPH.json from discover or a reference TSV (source<TAB>target); repeatable; "
        "NAME defaults to the file name without extension",
    )
    s.add_argument(
        "--references", nargs="+", default=[], metavar="TSV", help="more graphs, side by side"
    )
    s.add_argument("--arm", choices=("prompt", "sae"), required=True)
    s.add_argument("--baseline-role", metavar="NAME", help="prompt arm: the role subtracted")
    s.add_argument("--role", metavar="NAME", help="sae arm: the steered role")
    s.add_argument("--features", nargs="+", metavar="ID", help="sae arm: the SAE features")
    s.add_argument("--threshold", type=float, default=0.0, help="change threshold (default 0)")
    s.add_argument("--n-bootstrap", type=int, default=0, metavar="B", help="resamples for CIs")
    s.add_argument("--n-permutations", type=int, default=0, metavar="P", help="random graphs")
    s.add_argument("--seed", type=int, default=0, metavar="S")
    s.add_argument("--out", required=True, metavar="OUT.json")
    s.set_defaults(func=run_side_effects)

    g = sub.add_parser(
        "targeted",
        help="targeted steering: the paper's pie statistic, picked SAE features vs the "
        "explicit value prompt",
        formatter_class=raw,
        description=_text(MATRIX_FORMAT, DELTA_RULE, *TARGETED_TEXT),
    )
    g.add_argument("test", metavar="TEST", help="test matrix (.csv or .parquet)")
    g.add_argument("--picks", required=True, metavar="PICKS.tsv")
    g.add_argument("--threshold", type=float, default=0.0, help="change threshold (default 0)")
    g.add_argument("--out", required=True, metavar="OUT.csv")
    g.set_defaults(func=run_targeted)


# --------------------------------------------------------------------------- helpers


def _threshold(args: argparse.Namespace) -> float:
    if not math.isfinite(args.threshold) or args.threshold < 0:
        raise ConfigError(f"--threshold must be a number >= 0, got {args.threshold}")
    return args.threshold


def feature_condition(spec: str) -> str:
    """``1975`` / ``sae:1975`` / ``sae_1975`` -> ``sae:1975`` (an error for anything else)."""
    spec = spec.strip()
    cond = canonical_condition(spec if spec.startswith("sae") else f"sae:{spec}")
    if not re.fullmatch(r"sae:(\d+|c\d+)", cond):
        raise ConfigError(f"{spec!r} is not an SAE feature id (e.g. 1975 or sae:1975)")
    return cond


def _present(matrix: ScoreMatrix, conditions: list[str]) -> None:
    for cond in conditions:
        if not matrix.has(cond):
            shown = ", ".join(matrix.sae_conditions()) or "none"
            raise DataError(
                f"{matrix.source}: no rows of condition {cond!r} (sae: conditions: {shown})"
            )


def finite(obj: Any) -> Any:
    """``obj`` with NaN / inf floats as None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- table1


def run_table1(args: argparse.Namespace) -> None:
    threshold = _threshold(args)
    train = ScoreMatrix(read_matrix(args.train), args.values, args.train)
    test = ScoreMatrix(read_matrix(args.test), train.values, args.test)
    if args.values is None:
        extra = [v for v in test.all_values if v not in train.values]
        if extra:
            raise DataError(
                f"{args.test}: value column {extra[0]!r} is not in {args.train}; "
                "pass --values to choose the shared columns"
            )
    if args.features:
        conditions = list(dict.fromkeys(feature_condition(f) for f in args.features))
    else:
        conditions = list(dict.fromkeys([*train.sae_conditions(), *test.sae_conditions()]))
        if not conditions:
            raise DataError(f"{args.train}: no sae:<feature id> conditions")
    for matrix in (train, test):
        _present(matrix, conditions)
        matrix.require(conditions)
    table = count_table(train, test, {c: sae_feature(c) for c in conditions}, threshold)
    write_csv(table.select(TABLE1_COLUMNS), args.out)
    summary = table1_summary(table)
    log.info(
        "Table 1: %d features x %d values; mean similarity %.3f",
        len(conditions),
        len(train.values),
        summary["mean_similarity"],
    )
    if args.summary:
        summary.update(
            n_train=len(train.scores(NONE)),
            n_test=len(test.scores(NONE)),
            features=[sae_feature(c) for c in conditions],
            values=train.values,
            threshold=threshold,
            train=str(args.train),
            test=str(args.test),
        )
        write_json(finite(summary), args.summary)
    if args.png:
        from valuegraph.figures.steering import plot_table1

        figure = table.with_columns(kept=False).rename({"similarity": "cosine"})
        title = args.title if args.title is not None else "Value steering using SAE features"
        plot_table1(figure, train.values, args.png, "", title=title)


# --------------------------------------------------------------------------- side effects


def named_graphs(specs: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """{name: (path, graph)} from ``[NAME=]PATH`` arguments (name: the file's stem)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for spec in specs:
        if "=" in spec and not Path(spec).exists():
            name, path = spec.split("=", 1)
        else:
            name, path = Path(spec).stem, spec
        if name in out:
            raise ConfigError(
                f"two graphs named {name!r} ({out[name][0]}, {path}); name them: --graph NAME=PATH"
            )
        out[name] = (path, load_graph_file(path))
    return out


def _graph_entry(stats: dict[str, Any], path: str, args: argparse.Namespace) -> dict[str, Any]:
    entry = {
        "graph": stats["graph"],
        "path": path,
        "n_arcs": stats["n_arcs"],
        "expected": stats["expected"],
        "unexpected": stats["unexpected"],
        "expected_sd": stats["expected_std"],
        "unexpected_sd": stats["unexpected_std"],
        "difference": stats["difference"],
        "per_value": stats["per_value"],
    }
    if args.n_bootstrap > 0:
        entry.update({k: stats[k] for k in CI_KEYS})
    if args.n_permutations > 0:
        entry.update(
            p_value=stats["p_value"], null_mean=stats["null_mean"], n_null=stats["n_permutations"]
        )
    return entry


def run_side_effects(args: argparse.Namespace) -> None:
    threshold = _threshold(args)
    if args.n_bootstrap < 0 or args.n_permutations < 0:
        raise ConfigError("--n-bootstrap and --n-permutations must be >= 0")
    if not args.graph and not args.references:
        raise ConfigError("give at least one graph: --graph GRAPH (repeatable) or --references")
    test = ScoreMatrix(read_matrix(args.test), None, args.test)
    graphs = named_graphs([*args.graph, *args.references])
    for name, (path, graph) in graphs.items():
        if not set(graph["nodes"]) & set(test.values):
            raise DataError(
                f"{path}: graph {name!r} names none of the value columns of {args.test}"
            )
    settings: dict[str, Any] = {
        "arm": args.arm,
        "threshold": threshold,
        "n_bootstrap": args.n_bootstrap,
        "n_permutations": args.n_permutations,
        "seed": args.seed,
    }
    if args.arm == "prompt":
        if args.role or args.features:
            raise ConfigError("--role and --features belong to --arm sae")
        labels, delta, baseline = prompt_interventions(test, args.baseline_role)
        if not labels:
            raise DataError(
                f"{args.test}: the prompt arm needs two personas (roles other than 'none' with "
                f"an unsteered row); found {test.personas()}"
            )
        settings["baseline_role"] = baseline
        setting = "role_prompt"  # the workflow's name: the same seeds as steering-eval
    else:
        if args.baseline_role:
            raise ConfigError("--baseline-role belongs to --arm prompt")
        if args.features:
            conditions = list(dict.fromkeys(feature_condition(f) for f in args.features))
            _present(test, conditions)
        else:
            conditions = test.sae_conditions()
            if not conditions:
                raise DataError(f"{args.test}: no sae:<feature id> conditions")
        personas = test.personas()
        role = args.role or (personas[0] if personas else "none")
        if role not in test.roles:
            raise DataError(f"{args.test}: role {role!r} not found (roles: {test.roles[:5]}...)")
        test.require(conditions, roles=[role])
        labels, delta, role = sae_interventions(test, conditions, role)
        settings.update(role=role, conditions=labels)
        setting = "sae"
    results = graph_side_effects(
        delta,
        {name: graph for name, (_, graph) in graphs.items()},
        test.values,
        setting,
        threshold,
        args.n_bootstrap,
        args.n_permutations,
        args.seed,
    )
    entries = [_graph_entry(stats, graphs[stats["graph"]][0], args) for stats in results]
    out = {
        "test": str(args.test),
        "values": test.values,
        "n_interventions": int(delta.shape[0]),
        "interventions": labels,
        "settings": settings,
        **entries[0],
        "graphs": entries,
    }
    write_json(finite(out), args.out)


# --------------------------------------------------------------------------- targeted


def read_picks(path: str, test: ScoreMatrix) -> list[tuple[str, str, str]]:
    """(value, direction, condition) rows of PICKS.tsv, checked against ``test``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: picks file not found")
    lines = [
        (n, line.rstrip("\r"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    need = ["value", "direction", "condition"]
    header = [h.strip() for h in lines[0][1].split("\t")] if lines else []
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(
            f"{path}: the header needs tab-separated columns {need}; {missing[0]!r} is missing"
        )
    col = {c: header.index(c) for c in need}
    picks = []
    for n, line in lines[1:]:
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < len(header):
            raise DataError(f"{path}: line {n} has {len(fields)} fields, the header {len(header)}")
        value, sign, spec = (fields[col[c]] for c in need)
        if value not in test.values:
            raise DataError(
                f"{path}: line {n}: value {value!r} is not a value column of {test.source}"
            )
        if sign not in SIGNS:
            raise DataError(f"{path}: line {n}: direction {sign!r} must be '+' or '-'")
        try:
            cond = feature_condition(spec)
        except ConfigError:
            raise DataError(
                f"{path}: line {n}: condition {spec!r} is not an SAE condition (e.g. sae:1975)"
            ) from None
        if not test.has(cond):
            raise DataError(f"{path}: line {n}: {test.source} has no rows of condition {cond!r}")
        if any((value, sign) == (v, s) for v, s, _ in picks):
            raise DataError(f"{path}: line {n}: a second pick for ({value}, {sign}); one only")
        picks.append((value, sign, cond))
    if not picks:
        raise DataError(f"{path}: no picks (a header and no rows)")
    return picks


def run_targeted(args: argparse.Namespace) -> None:
    threshold = _threshold(args)
    test = ScoreMatrix(read_matrix(args.test), None, args.test)
    picks = read_picks(args.picks, test)
    available = test.prompt_conditions()
    prompts = {(v, s): available[(v, s)] for v, s, _ in picks if (v, s) in available}
    test.require([*dict.fromkeys(c for _, _, c in picks), *prompts.values()])
    table = pie_table(test, picks, prompts, threshold)
    write_csv(table, args.out)
    for r in table.filter(table["value"] == "(pooled)").iter_rows(named=True):
        log.info(
            "%s %s: up %.1f%% same %.1f%% down %.1f%% (n %d)",
            r["arm"],
            r["direction"],
            r["up_pct"],
            r["same_pct"],
            r["down_pct"],
            r["n"],
        )
