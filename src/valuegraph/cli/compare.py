"""``valuegraph compare-graphs``: learned graphs against reference graphs and each other."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from valuegraph.causal import graphs
from valuegraph.errors import ConfigError, DataError
from valuegraph.io import write_csv

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare-graphs",
        help="SHD, skeleton P/R/F1, orientation and Jaccard of graphs vs references and each other",
    )
    p.add_argument("graphs", nargs="+", metavar="GRAPH.json", help="learned graphs")
    p.add_argument("--names", nargs="+", help="one name per graph (default: file stems)")
    p.add_argument(
        "--references", nargs="*", default=[], metavar="TSV", help="reference edge lists"
    )
    p.add_argument("--stable", action="store_true", help="use the bootstrap stable_edges")
    p.add_argument(
        "--focus", nargs="*", default=None, metavar="NAME", help="keep only rows of these graphs"
    )
    p.add_argument(
        "--restrict",
        action="store_true",
        help="drop reference edges naming values outside the graphs' nodes (logged) "
        "instead of failing",
    )
    p.add_argument(
        "--null-graphs",
        type=int,
        default=0,
        metavar="N",
        help="random DAGs per comparison for the skeleton F1 / SHD null (0: none)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random-graph null")
    p.add_argument("--out", required=True, metavar="TABLE.csv", help="tidy output table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    names = args.names or [Path(g).stem for g in args.graphs]
    if len(names) != len(args.graphs):
        raise ConfigError(f"--names gives {len(names)} names for {len(args.graphs)} graphs")
    if len(set(names)) != len(names):
        raise ConfigError(f"graph names must be unique, got {names}; pass --names")
    learned = {}
    for name, path in zip(names, args.graphs, strict=True):
        graph = graphs.load_graph(path)
        if args.stable:
            if "stable_edges" not in graph:
                raise DataError(f"{path}: no stable_edges (rerun discover with --bootstrap B)")
            graph = {**graph, "edges": graph["stable_edges"]}
        learned[name] = graph
    nodes: list[str] = []
    for graph in learned.values():
        nodes += [n for n in graph["nodes"] if n not in nodes]
    refs = {}
    for path in args.references:
        stem = Path(path).stem
        if stem in refs or stem in learned:
            raise ConfigError(f"reference name {stem!r} is used twice; rename the file")
        refs[stem] = (
            _restricted(path, nodes) if args.restrict else graphs.read_reference_graph(path, nodes)
        )
    table = graphs.compare_graphs(learned, refs, args.null_graphs, args.seed)
    if args.focus is not None:
        table = table.filter(table["graph"].is_in(args.focus))
    write_csv(table, args.out)
    log.info("wrote %s: %d comparisons", args.out, table.height)


def _restricted(path: str, nodes: list[str]) -> dict:
    """A reference graph limited to ``nodes``: edges naming other values are dropped (logged)."""
    full = graphs.read_reference_graph(path)
    keep = [e for e in full["edges"] if e["source"] in nodes and e["target"] in nodes]
    dropped = len(full["edges"]) - len(keep)
    if dropped:
        log.warning(
            "%s: %d of %d edges name values outside the value set; dropped",
            path,
            dropped,
            len(full["edges"]),
        )
    handling = [f"{dropped} edges outside the value set dropped"] if dropped else []
    return {**full, "nodes": list(nodes), "edges": keep, "handling": handling}
