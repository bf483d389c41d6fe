"""``valuegraph simulate`` and ``valuegraph bench-discovery``: the planted-structure respondent.

The workflow's ``collect`` rule already dispatches a model with ``source: simulated`` to
:class:`valuegraph.causal.simulated.SimulatedRespondent`; ``simulate`` writes a responses table (and
optionally its matrix) for N simulated roles directly, ``bench-discovery`` scores every
discovery method against the planted truth.
"""

from __future__ import annotations

import argparse
import json
import logging

from valuegraph.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_ITEMS = "results/items/value_orientation.csv"


def _pairs(values: list[str], flag: str) -> dict[str, int]:
    out = {}
    for v in values:
        key, _, num = v.partition("=")
        if not num.isdigit():
            raise ConfigError(f"{flag} takes METHOD=ROWS pairs, got {v!r}")
        out[key] = int(num)
    return out


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("simulate", help="answers (and matrix) of N roles from a planted SEM")
    s.add_argument("--graph", required=True, help="weighted edge list TSV (source, target, weight)")
    s.add_argument("--items", required=True, help="value_orientation.csv")
    s.add_argument("--values", nargs="*", default=None, help="value set (default: the SEM's nodes)")
    s.add_argument("--n-roles", type=int, required=True)
    s.add_argument("--train-sample-rate", type=float, default=0.4)
    s.add_argument("--score", choices=["hard", "soft"], default="soft")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--simulation", default="{}", help="JSON overrides of the simulated block")
    s.add_argument("--out", required=True, help="responses parquet")
    s.add_argument("--out-matrix", help="matrix parquet")
    s.set_defaults(func=run_simulate)

    b = sub.add_parser("bench-discovery", help="score discovery methods against a planted SEM")
    b.add_argument("--graph", default="config/graphs/planted17.tsv")
    b.add_argument("--items", default=DEFAULT_ITEMS, help="value_orientation.csv")
    b.add_argument("--n-roles", type=int, nargs="+", default=[100, 300, 1000, 3000])
    b.add_argument("--methods", nargs="+", default=["pc", "fci", "ges", "boss"])
    b.add_argument("--modes", nargs="+", default=["observational", "pool", "jci"])
    b.add_argument("--score", choices=["hard", "soft"], default="soft")
    b.add_argument("--alpha", type=float, default=0.05)
    b.add_argument("--train-sample-rate", type=float, default=0.4)
    b.add_argument("--shifted", nargs="*", default=["Achievement", "Empathy"])
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--simulation", default="{}", help="JSON overrides of the simulated block")
    b.add_argument(
        "--max-rows", nargs="*", default=[], metavar="METHOD=ROWS", help="skip larger runs"
    )
    b.add_argument("--jobs", type=int, default=1)
    b.add_argument("--out", required=True, help="results JSON")
    b.add_argument("--table", help="also write the table as CSV")
    b.set_defaults(func=run_bench)

    t = sub.add_parser("bench-table", help="the discovery benchmark JSON as a CSV table")
    t.add_argument("result", help="bench-discovery JSON")
    t.add_argument("--out", required=True)
    t.set_defaults(func=run_table)

    from valuegraph.cli.report import register_discovery

    register_discovery(sub)


def _simulation(text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--simulation is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError("--simulation must be a JSON object")
    return data


def run_simulate(args: argparse.Namespace) -> None:
    from valuegraph.causal.simulated import (
        SimulatedRespondent,
        read_sem,
        simulate_responses,
        train_items,
    )
    from valuegraph.config import Condition
    from valuegraph.io import write_parquet
    from valuegraph.matrix import build_matrix

    sim = {**_simulation(args.simulation), "graph": args.graph}
    values = args.values or sorted(read_sem(args.graph).nodes)
    items, values = train_items(args.items, values, args.seed)
    respondent = SimulatedRespondent.from_spec(sim, values, args.seed)
    roles = [f"sim-{i:05d}" for i in range(args.n_roles)]
    responses = simulate_responses(
        respondent,
        roles,
        items,
        [Condition("none", "none")],
        "train",
        args.train_sample_rate,
        args.seed,
    )
    write_parquet(responses, args.out)
    if args.out_matrix:
        write_parquet(build_matrix(responses, values, args.score), args.out_matrix)
    log.info("wrote %s: %d answers of %d roles", args.out, responses.height, args.n_roles)


def run_bench(args: argparse.Namespace) -> None:
    from valuegraph.bench import discovery as bench
    from valuegraph.io import write_csv

    result = bench.run_bench(
        args.items,
        args.graph,
        n_roles=args.n_roles,
        methods=args.methods,
        modes=args.modes,
        score=args.score,
        seed=args.seed,
        alpha=args.alpha,
        train_sample_rate=args.train_sample_rate,
        shifted=args.shifted,
        simulation=_simulation(args.simulation),
        max_rows=_pairs(args.max_rows, "--max-rows"),
        n_jobs=args.jobs,
    )
    bench.write(result, args.out)
    if args.table:
        write_csv(bench.table(result), args.table)
    text = bench.format_table(result)
    print(text)
    log.info("discovery benchmark (%s scores):\n%s", args.score, text)


def run_table(args: argparse.Namespace) -> None:
    from valuegraph.bench import discovery as bench
    from valuegraph.io import read_json, write_csv

    result = read_json(args.result)
    write_csv(bench.table(result), args.out)
    print(bench.format_table(result))
