"""``valuegraph plot-graph`` and ``valuegraph summary``: report figures and tables."""

from __future__ import annotations

import argparse

from valuegraph.figures.effects import plot_effects
from valuegraph.figures.graphs import plot_graph
from valuegraph.io import read_json, read_table, write_csv
from valuegraph.matrix import read_matrix, value_columns
from valuegraph.report import summary_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-graph", help="draw a value graph as PNG")
    p.add_argument("graph")
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True)
    p.set_defaults(func=lambda a: plot_graph(read_json(a.graph), a.out, a.title))

    e = sub.add_parser("plot-effects", help="heatmap of the DoWhy effect estimates")
    e.add_argument("--role", required=True)
    e.add_argument("--steering", required=True)
    e.add_argument("--title", default="")
    e.add_argument("--out", required=True)
    e.set_defaults(
        func=lambda a: plot_effects(read_table(a.role), read_table(a.steering), a.out, a.title)
    )

    s = sub.add_parser("summary", help="per-value summary table")
    s.add_argument("--train", required=True)
    s.add_argument("--test", required=True)
    s.add_argument("--graph", required=True)
    s.add_argument("--effects", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=run_summary)


def run_summary(args: argparse.Namespace) -> None:
    table = summary_table(
        read_matrix(args.train),
        read_matrix(args.test),
        read_json(args.graph),
        read_table(args.effects),
    )
    write_csv(table, args.out)


def register_discovery(sub: argparse._SubParsersAction) -> None:
    """Report commands of the discovery comparisons (see ``valuegraph.cli.simulate``)."""
    m = sub.add_parser("method-table", help="compare discovery methods of one model")
    m.add_argument("graphs", nargs="+", help="GRAPH.json per method (file stem = method)")
    m.add_argument("--compare", required=True, help="the model's compare.csv")
    m.add_argument("--out", required=True)
    m.set_defaults(func=_run_method_table)

    h = sub.add_parser("compare-heatmap", help="skeleton F1 heatmap: models x references")
    h.add_argument("tables", nargs="+", help="compare.csv of each model")
    h.add_argument("--method", default="pc")
    h.add_argument("--out", required=True)
    h.set_defaults(func=lambda a: _heatmap(a))

    f = sub.add_parser("plot-edge-frequencies", help="bootstrap edge frequencies of a graph")
    f.add_argument("graph")
    f.add_argument("--title", default="")
    f.add_argument("--out", required=True)
    f.set_defaults(func=lambda a: _edge_freq(a))

    c = sub.add_parser("circumplex", help="Schwartz circumplex fit table and MDS figure")
    c.add_argument("matrix")
    c.add_argument("--title", default="")
    c.add_argument("--out-table", required=True)
    c.add_argument("--out-figure", required=True)
    c.add_argument(
        "--responses",
        help="the matrix's responses: also fit the scores centred on each respondent's mean "
        "answer (valuegraph.centring)",
    )
    c.add_argument("--score", choices=["hard", "soft"], default="hard", help="matrix score")
    c.add_argument(
        "--permutations", type=int, default=0, metavar="N", help="value relabellings for p"
    )
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=lambda a: _circumplex(a))


def _run_method_table(args: argparse.Namespace) -> None:
    from pathlib import Path

    from valuegraph.report import method_table

    graphs = {Path(p).stem: read_json(p) for p in args.graphs}
    write_csv(method_table(graphs, read_table(args.compare)), args.out)


def _heatmap(args: argparse.Namespace) -> None:
    from valuegraph.figures.graphs import plot_compare_heatmap

    plot_compare_heatmap([read_table(p) for p in args.tables], args.out, args.method)


def _edge_freq(args: argparse.Namespace) -> None:
    from valuegraph.figures.graphs import plot_edge_frequencies

    plot_edge_frequencies(read_json(args.graph), args.out, args.title)


def _circumplex(args: argparse.Namespace) -> None:
    from valuegraph.report import circumplex_outputs

    centred = None
    if args.responses:
        from valuegraph.centring import centred_matrix
        from valuegraph.io import read_parquet

        matrix = read_matrix(args.matrix)
        centred = centred_matrix(read_parquet(args.responses), value_columns(matrix), args.score)
    circumplex_outputs(
        read_matrix(args.matrix),
        args.out_table,
        args.out_figure,
        args.title,
        centred=centred,
        n_permutations=args.permutations,
        seed=args.seed,
    )
