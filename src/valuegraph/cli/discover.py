"""``valuegraph discover MATRIX --out GRAPH.json``: causal discovery on a wide score table."""

from __future__ import annotations

import argparse
import logging

from valuegraph.causal import discovery
from valuegraph.errors import DataError
from valuegraph.io import read_json, write_json
from valuegraph.matrix import read_matrix

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "discover",
        help="learn a causal graph from a wide score matrix (CSV or Parquet)",
        description="Numeric columns are the variables, in column order; string columns are "
        "identifiers. Defaults reproduce the paper: PC, Fisher-z, alpha 0.05, stable, "
        "uc_rule 0, uc_priority 2, pooled rows.",
    )
    p.add_argument("matrix", metavar="MATRIX", help="wide table, .csv or .parquet")
    p.add_argument("--out", required=True, metavar="GRAPH.json", help="output graph")
    add_discovery_arguments(p)
    p.set_defaults(func=run)


def add_discovery_arguments(p: argparse.ArgumentParser) -> None:
    """The discovery settings and row selection (shared with the commands that rerun discovery
    on transformed data: ``stability``, ``centring-graph``)."""
    p.add_argument("--method", choices=discovery.METHODS, default="pc")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (PC, FCI)")
    p.add_argument(
        "--indep-test", choices=discovery.INDEP_TESTS, default="fisherz", help="CI test (PC, FCI)"
    )
    p.add_argument("--score-func", default=None, help="causal-learn score (GES, BOSS, GRaSP)")
    p.add_argument(
        "--postprocess",
        choices=discovery.POSTPROCESS,
        default="none",
        help="'paper': split undirected edges, then the greedy transitive reduction",
    )
    p.add_argument(
        "--interventions",
        choices=discovery.INTERVENTIONS,
        default="pool",
        help="'pool' (paper) or 'jci': condition indicators as exogenous context nodes",
    )
    p.add_argument("--condition-column", default="condition", help="for --interventions jci")
    p.add_argument("--reference-level", default="none", help="dropped condition level (jci)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B", help="row resamples")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap / search seed")
    p.add_argument(
        "--threshold", type=float, default=0.5, help="bootstrap frequency of a stable edge"
    )
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="processes (default: all)")
    p.add_argument(
        "--exclude", nargs="*", default=[], metavar="COLUMN", help="numeric columns to ignore"
    )
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop rows with missing values (count recorded in GRAPH.json handling)",
    )
    p.add_argument(
        "--conditions",
        nargs="*",
        default=None,
        metavar="ID",
        help="use only rows of these conditions (default: every row)",
    )
    p.add_argument(
        "--selection",
        help="steering selection.json: use the rows of 'none' plus the kept features (the paper)",
    )


def row_conditions(args: argparse.Namespace) -> list[str] | None:
    """The conditions whose rows enter discovery, from --conditions and --selection."""
    if args.conditions is None and args.selection is None:
        return None
    keep = list(args.conditions or [])
    if args.selection:
        keep += ["none", *read_json(args.selection)["kept"]]
    return list(dict.fromkeys(keep))


def select_rows(frame, args: argparse.Namespace, source: str):
    """The rows of ``frame`` that enter discovery (--conditions, --selection)."""
    keep = row_conditions(args)
    if keep is not None:
        if args.condition_column not in frame.columns:
            raise DataError(f"{source}: no '{args.condition_column}' column to select rows by")
        frame = frame.filter(frame[args.condition_column].is_in(keep))
        if frame.height == 0:
            raise DataError(f"{source}: no rows of conditions {keep}")
    return frame


def discover_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`valuegraph.causal.discovery.discover` from the options."""
    return {
        "method": args.method,
        "alpha": args.alpha,
        "indep_test": args.indep_test,
        "postprocess": args.postprocess,
        "interventions": args.interventions,
        "condition_column": args.condition_column,
        "bootstrap": args.bootstrap,
        "seed": args.seed,
        "threshold": args.threshold,
        "n_jobs": args.jobs,
        "score_func": args.score_func,
        "reference_level": args.reference_level,
        "exclude": args.exclude,
        "drop_missing": args.drop_missing,
    }


def run(args: argparse.Namespace) -> None:
    frame = select_rows(read_matrix(args.matrix), args, args.matrix)
    keep = row_conditions(args)
    graph = discovery.discover(frame, **discover_kwargs(args))
    graph["params"]["matrix"] = str(args.matrix)
    if keep is not None:
        graph["params"]["conditions"] = keep
        graph["handling"].append(f"rows restricted to conditions {keep} ({frame.height} rows)")
    write_json(graph, args.out)
    log.info("wrote %s: %d nodes, %d edges", args.out, len(graph["nodes"]), len(graph["edges"]))
