"""``valuegraph roles``: seeded Faker personas for the train and test splits."""

from __future__ import annotations

import argparse
import logging

from valuegraph.io import write_json
from valuegraph.roles import make_roles

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="draw seeded personas (plus the no-role baseline)")
    p.add_argument("--n-train", type=int, required=True)
    p.add_argument("--n-test", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--locale", default="en_US")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--out-train", required=True)
    p.add_argument("--out-test", required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    roles = make_roles(args.n_train, args.n_test, args.seed, args.locale, not args.no_baseline)
    write_json(roles["train"], args.out_train)
    write_json(roles["test"], args.out_test)
    log.info("%d train and %d test roles", len(roles["train"]), len(roles["test"]))
