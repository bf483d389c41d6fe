"""Uncertainty and nulls: ``valuegraph stability`` (bootstrap stable edges vs a structure null),
``valuegraph centring-graph`` (the value graph on acquiescence-centred scores),
``valuegraph persona-effects`` (persona effect sizes with CIs) and ``valuegraph summary-text``
(the report's opening summary, written from those numbers)."""

from __future__ import annotations

import argparse
import logging

from valuegraph.cli.discover import add_discovery_arguments, discover_kwargs, select_rows
from valuegraph.io import read_parquet, read_table, write_csv, write_text
from valuegraph.matrix import read_matrix, value_columns

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "stability",
        help="bootstrap edge frequencies with stable flags, and the stable-edge count of the same "
        "discovery on data with every value column permuted (the structure null)",
    )
    s.add_argument("matrix", metavar="MATRIX")
    s.add_argument("--graph", required=True, help="the bootstrapped GRAPH.json of MATRIX")
    s.add_argument("--permutations", type=int, default=20, metavar="N", help="null data sets")
    s.add_argument("--out", required=True, metavar="TABLE.csv")
    add_discovery_arguments(s)
    s.set_defaults(func=run_stability)

    c = sub.add_parser(
        "centring-graph",
        help="discovery on the scores centred on each respondent's mean answer, compared with "
        "the raw graph",
    )
    c.add_argument("matrix", metavar="MATRIX", help="the raw matrix")
    c.add_argument("--responses", required=True, help="the responses MATRIX was built from")
    c.add_argument("--score", choices=["hard", "soft"], default="hard")
    c.add_argument("--graph", required=True, help="the raw GRAPH.json")
    c.add_argument("--out", required=True, metavar="TABLE.csv")
    add_discovery_arguments(c)
    c.set_defaults(func=run_centring_graph)

    p = sub.add_parser("persona-effects", help="persona effect sizes per value, with CIs")
    p.add_argument("matrix", metavar="MATRIX")
    p.add_argument("--responses", help="the responses MATRIX was built from (item noise)")
    p.add_argument("--score", choices=["hard", "soft"], default="hard")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="B")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="TABLE.csv")
    p.set_defaults(func=run_persona)

    t = sub.add_parser("summary-text", help="the report's opening summary (reStructuredText)")
    t.add_argument("--models", nargs="+", required=True, help="model names, in config order")
    for option, what in (
        ("graphs", "pc GRAPH.json"),
        ("stability", "stability.csv"),
        ("compare", "compare.csv"),
        ("side-effects", "steering/side_effects.csv"),
        ("circumplex", "circumplex.csv (main or Schwartz track)"),
        ("centring", "centring.csv"),
        ("persona", "persona.csv"),
    ):
        t.add_argument(
            f"--{option}", nargs="*", default=[], metavar="NAME=PATH", help=f"each model's {what}"
        )
    t.add_argument("--models-table", help="compare/models.csv")
    t.add_argument("--out", required=True, metavar="SUMMARY.rst")
    t.set_defaults(func=run_summary_text)


def run_stability(args: argparse.Namespace) -> None:
    from valuegraph.causal.graphs import load_graph
    from valuegraph.causal.uncertainty import stability_table, structure_null

    graph = load_graph(args.graph)
    frame = select_rows(read_matrix(args.matrix), args, args.matrix)
    context = set(graph.get("context_nodes") or ())
    columns = [n for n in graph["nodes"] if n not in context]
    if args.drop_missing:  # the rows discovery used, before shuffling
        frame = frame.drop_nulls(columns).drop_nans(columns)
    counts = structure_null(frame, columns, args.permutations, args.seed, discover_kwargs(args))
    table = stability_table(graph, counts)
    write_csv(table, args.out)
    summary = table.filter(table["row"] == "summary").row(0, named=True)
    log.info(
        "%s: %s stable edges; null mean %.2f (95%% %.1f) over %d permutations, p = %.3g",
        args.out,
        summary["n_stable"],
        summary["null_mean"],
        summary["null_q95"],
        summary["n_null"],
        summary["p_value"],
    )


def run_centring_graph(args: argparse.Namespace) -> None:
    from valuegraph.causal.centring_graph import centring_comparison
    from valuegraph.causal.graphs import load_graph
    from valuegraph.centring import acquiescence, centred_matrix

    responses = read_parquet(args.responses)
    raw = select_rows(read_matrix(args.matrix), args, args.matrix)
    values = value_columns(raw)
    centred = select_rows(centred_matrix(responses, values, args.score), args, args.responses)
    acq = acquiescence(responses, args.score).join(
        raw.select("role_id", "condition"), on=["role_id", "condition"], how="semi"
    )
    table = centring_comparison(
        raw, centred, values, load_graph(args.graph), discover_kwargs(args), acq
    )
    write_csv(table, args.out)
    log.info("wrote %s: %s", args.out, table.row(0, named=True))


def run_persona(args: argparse.Namespace) -> None:
    from valuegraph.evaluation.persona import persona_effects

    matrix = read_matrix(args.matrix)
    responses = read_parquet(args.responses) if args.responses else None
    table = persona_effects(
        matrix, value_columns(matrix), responses, args.score, args.bootstrap, args.seed
    )
    write_csv(table, args.out)


def _named(items: list[str], models: list[str], option: str) -> dict[str, str]:
    from valuegraph.errors import ConfigError

    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or name not in models:
            raise ConfigError(f"--{option} {item!r}: expected NAME=PATH with NAME in --models")
        out[name] = path
    return out


def run_summary_text(args: argparse.Namespace) -> None:
    from valuegraph.causal.graphs import load_graph
    from valuegraph.summary_text import ModelNumbers, summary_rst

    models = args.models
    tables = {
        option: _named(getattr(args, option.replace("-", "_")), models, option)
        for option in ("stability", "compare", "side-effects", "circumplex", "centring", "persona")
    }
    graphs = _named(args.graphs, models, "graphs")
    numbers = []
    for m in models:
        numbers.append(
            ModelNumbers(
                name=m,
                graph=load_graph(graphs[m]) if m in graphs else None,
                **{
                    option.replace("-", "_"): read_table(paths[m]) if m in paths else None
                    for option, paths in tables.items()
                },
            )
        )
    pairs = read_table(args.models_table) if args.models_table else None
    write_text(summary_rst(numbers, pairs), args.out)
    log.info("wrote %s", args.out)
