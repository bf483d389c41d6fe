"""``valuegraph bench-design``: collection designs of equal cost, scored on planted graphs."""

from __future__ import annotations

import argparse
import json
import logging

from valuegraph.errors import ConfigError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "bench-design",
        help="designs of equal answer budget (roles x items x conditions x test roles), "
        "scored by planted-graph recovery of the simulated respondent",
    )
    b.add_argument("--items", required=True, help="value_orientation.csv")
    b.add_argument("--values", nargs="*", default=None, help="value set (default: >= 20 items)")
    b.add_argument("--train-fraction", type=float, default=0.7)
    b.add_argument("--min-items", type=int, default=20)
    b.add_argument("--budget", type=float, default=6000, help="answers per model (train + test)")
    b.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2, 0.4, 1.0])
    b.add_argument("--k-train", type=int, nargs="+", default=[0, 1, 3])
    b.add_argument("--n-test", type=int, nargs="+", default=[1, 2, 4])
    b.add_argument("--samplings", nargs="+", default=["per_role", "shared"])
    b.add_argument("--test-conditions", type=int, default=6)
    b.add_argument("--prefix-cost", type=float, default=5.0)
    b.add_argument(
        "--train-role-extra",
        type=float,
        default=0.0,
        help="answers each train role costs outside the main collection (the Schwartz track: "
        "40 PVQ40 items + 2 prefix passes = 50)",
    )
    b.add_argument(
        "--reference",
        nargs="*",
        default=[],
        metavar="SAMPLING:RATE:K:NTEST:NTRAIN",
        help="also score these designs at their own cost (e.g. the current config)",
    )
    b.add_argument("--replicates", type=int, default=15)
    b.add_argument("--scenarios", nargs="+", default=["calibrated", "strong"])
    b.add_argument("--n-edges", type=int, default=22, help="edges of each random planted DAG")
    b.add_argument("--min-rows", type=int, default=100, help="discovery rows a design must reach")
    b.add_argument("--simulation", default="{}", help="JSON overrides of every scenario")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--alpha", type=float, default=0.05)
    b.add_argument("--indep-test", default="fisherz")
    b.add_argument("--postprocess", choices=["none", "paper"], default="paper")
    b.add_argument("--score", choices=["hard", "soft"], default="soft")
    b.add_argument("--calibration-replicates", type=int, default=20)
    b.add_argument("--jobs", type=int, default=1)
    b.add_argument("--out", required=True, help="the table (CSV)")
    b.add_argument("--metadata", help="also write settings, calibration and records (JSON)")
    b.add_argument("--figure", help="also plot skeleton F1 against discovery rows (PNG)")
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import time

    from valuegraph.bench import design
    from valuegraph.io import write_csv, write_json

    try:
        overrides = json.loads(args.simulation)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--simulation is not JSON ({exc})") from None
    start = time.perf_counter()
    result = design.run_bench(
        args.items,
        budget=args.budget,
        rates=args.rates,
        k_trains=args.k_train,
        n_tests=args.n_test,
        samplings=args.samplings,
        test_conditions=args.test_conditions,
        prefix_cost=args.prefix_cost,
        train_role_extra=args.train_role_extra,
        reference=[design.parse_design(t) for t in args.reference],
        replicates=args.replicates,
        scenarios=args.scenarios,
        simulation=overrides,
        n_edges=args.n_edges,
        values=args.values,
        train_fraction=args.train_fraction,
        min_items=args.min_items,
        min_rows=args.min_rows,
        seed=args.seed,
        alpha=args.alpha,
        indep_test=args.indep_test,
        postprocess=args.postprocess,
        score=args.score,
        n_jobs=args.jobs,
    )
    frame = design.table(result)
    write_csv(frame, args.out)
    if args.metadata:
        calibration = {}
        if args.calibration_replicates:
            calibration = {
                sc: design.calibration_check(
                    args.items,
                    result["settings"]["scenarios"][sc],
                    args.calibration_replicates,
                    args.seed,
                )
                for sc in args.scenarios
            }
        result["settings"]["calibration_simulated"] = calibration
        result["settings"]["seconds"] = round(time.perf_counter() - start, 1)
        write_json(result, args.metadata)
    if args.figure:
        from valuegraph.bench.design import plot

        plot(frame, args.figure)
    print(design.format_table(frame))
