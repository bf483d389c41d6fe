"""``valuegraph plot-graph`` and ``valuegraph summary``: report figures and tables."""

from __future__ import annotations

import argparse

from valuegraph.io import read_json, read_parquet, read_table, write_csv
from valuegraph.report import plot_graph, summary_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-graph", help="draw a value graph as PNG")
    p.add_argument("graph")
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True)
    p.set_defaults(func=lambda a: plot_graph(read_json(a.graph), a.out, a.title))

    s = sub.add_parser("summary", help="per-value summary table")
    s.add_argument("--train", required=True)
    s.add_argument("--test", required=True)
    s.add_argument("--graph", required=True)
    s.add_argument("--effects", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=run_summary)


def run_summary(args: argparse.Namespace) -> None:
    table = summary_table(
        read_parquet(args.train), read_parquet(args.test), read_json(args.graph), read_table(args.effects)
    )
    write_csv(table, args.out)
