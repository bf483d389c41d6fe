"""``valuegraph effects``: DoWhy role-prompt, steering and graph-implied effect tables."""

from __future__ import annotations

import argparse
import logging

from valuegraph.causal import effects, estimation, ida
from valuegraph.errors import ValuegraphError
from valuegraph.io import write_csv
from valuegraph.matrix import read_matrix

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "effects",
        help="estimate role-prompt, steering and graph-implied effects with DoWhy",
        description="Tidy CSV tables, one row per (treatment, outcome); columns are documented "
        "in valuegraph.causal.effects and valuegraph.causal.ida. Role and steering effects use "
        "backdoor linear regression with refuters; graph effects use IDA over the possible "
        "parent sets of each treatment in the graph's equivalence class.",
    )
    p.add_argument("--matrix", required=True, metavar="M.parquet", help="score matrix")
    p.add_argument("--graph", metavar="G.json", help="learned graph (enables --out-graph)")
    p.add_argument("--out-role", required=True, metavar="CSV", help="role-prompt effects")
    p.add_argument("--out-steering", required=True, metavar="CSV", help="steering effects")
    p.add_argument("--out-graph", metavar="CSV", help="graph-implied total effects")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="refuter seed")
    p.add_argument(
        "--refute-simulations",
        type=int,
        default=20,
        metavar="N",
        help="simulations per refuter (DoWhy's default is 100)",
    )
    p.add_argument(
        "--role-unsteered-only",
        action="store_true",
        help="role effect from condition 'none' only (default: every condition's baseline row, "
        "condition as a common cause)",
    )
    p.add_argument(
        "--ida",
        choices=ida.METHODS,
        default="local",
        help="graph effects over the possible parent sets of each treatment (local: exact, no "
        "cap; default) or over enumerated DAGs (global: capped by --max-dags, for DAG counts)",
    )
    p.add_argument("--max-dags", type=int, default=64, help="cap on enumerated DAGs (--ida global)")
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        help="graph effects in raw score units instead of standard deviations",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    if args.out_graph and not args.graph:
        raise ValuegraphError("--out-graph needs --graph")
    if args.refute_simulations < 1:
        raise ValuegraphError("--refute-simulations must be at least 1")
    matrix = read_matrix(args.matrix)
    values = estimation.check_matrix(matrix)
    sims = args.refute_simulations
    role = effects.role_effects(
        matrix,
        values,
        seed=args.seed,
        refute_simulations=sims,
        pool_conditions=not args.role_unsteered_only,
    )
    steering = effects.steering_effects(matrix, values, seed=args.seed, refute_simulations=sims)
    graph = None
    if args.graph:
        graph = ida.graph_effects(
            matrix,
            args.graph,
            values,
            standardize=args.standardize,
            method=args.ida,
            max_dags=args.max_dags,
        )
    write_csv(role, args.out_role)
    write_csv(steering, args.out_steering)
    log.info(
        "wrote %s (%d rows), %s (%d rows)",
        args.out_role,
        role.height,
        args.out_steering,
        steering.height,
    )
    if graph is not None and args.out_graph:
        write_csv(graph, args.out_graph)
        log.info("wrote %s (%d rows)", args.out_graph, graph.height)
