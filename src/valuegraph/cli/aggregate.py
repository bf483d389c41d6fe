"""``valuegraph compare-models``: the cross-model summary (graph similarity, side effects)."""

from __future__ import annotations

import argparse
import logging

from valuegraph import aggregate
from valuegraph.causal import graphs
from valuegraph.errors import ConfigError
from valuegraph.io import read_table, write_csv

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare-models",
        help="graph similarity (SHD, skeleton F1, Jaccard) of every pair of models and their "
        "side-effect metrics side by side",
        description="One tidy CSV: model_a, model_b, section, metric, value_a, value_b, value "
        "(columns documented in valuegraph.aggregate).",
    )
    p.add_argument("--names", nargs="+", required=True, help="model names, in config order")
    p.add_argument(
        "--graphs", nargs="+", required=True, metavar="GRAPH.json", help="one graph per name"
    )
    p.add_argument(
        "--side-effects",
        nargs="*",
        default=[],
        metavar="NAME=CSV",
        help="side-effect tables of the models that have one",
    )
    p.add_argument(
        "--stability",
        nargs="*",
        default=[],
        metavar="NAME=CSV",
        help="structure-null stability tables of the models that have one",
    )
    p.add_argument(
        "--persona",
        nargs="*",
        default=[],
        metavar="NAME=CSV",
        help="persona-effect tables of the models that have one",
    )
    p.add_argument(
        "--null-graphs", type=int, default=0, metavar="N", help="random graph pairs (0: no null)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random-graph null")
    p.add_argument("--out", required=True, metavar="TABLE.csv", help="output table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    if len(args.names) != len(args.graphs):
        raise ConfigError(f"--names gives {len(args.names)} names for {len(args.graphs)} graphs")
    if len(set(args.names)) != len(args.names):
        raise ConfigError(f"model names must be unique, got {args.names}")
    learned = {n: graphs.load_graph(p) for n, p in zip(args.names, args.graphs, strict=True)}
    tables = _named_tables(args.side_effects, learned, "--side-effects")
    table = aggregate.summarise(
        learned,
        tables,
        order=args.names,
        stability=_named_tables(args.stability, learned, "--stability"),
        persona=_named_tables(args.persona, learned, "--persona"),
        n_null=args.null_graphs,
        seed=args.seed,
    )
    write_csv(table, args.out)
    log.info("wrote %s: %d rows for %d models", args.out, table.height, len(learned))


def _named_tables(items: list[str], names, option: str) -> dict:
    tables = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or name not in names:
            raise ConfigError(f"{option} {item!r}: expected NAME=CSV with NAME in --names")
        tables[name] = read_table(path)
    return tables
