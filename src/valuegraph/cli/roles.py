"""``valuegraph roles``: seeded Faker personas, or the authors' persona files, for the train and
test splits; ``valuegraph fetch-roles``: download a pinned persona file."""

from __future__ import annotations

import argparse
import logging

from valuegraph import items
from valuegraph.errors import ConfigError
from valuegraph.io import write_json
from valuegraph.roles import make_roles, roles_from_files

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="draw seeded personas (plus the no-role baseline)")
    p.add_argument("--n-train", type=int, required=True)
    p.add_argument("--n-test", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--locale", default="en_US")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument(
        "--train-file", help="authors' persona JSON of the train split (roles.source file)"
    )
    p.add_argument("--test-file", help="authors' persona JSON of the test split")
    p.add_argument("--train-sha256", help="expected sha256 of --train-file")
    p.add_argument("--test-sha256", help="expected sha256 of --test-file")
    p.add_argument("--out-train", required=True)
    p.add_argument("--out-test", required=True)
    p.set_defaults(func=run)

    f = sub.add_parser("fetch-roles", help="download a pinned persona file and check its sha256")
    f.add_argument("--url", required=True)
    f.add_argument("--sha256", required=True)
    f.add_argument("--split", required=True, choices=["train", "test"])
    f.add_argument("--local-copy", action="append", default=[], help="checked before downloading")
    f.add_argument("--out", required=True)
    f.set_defaults(
        func=lambda a: items.fetch(
            a.url,
            a.sha256,
            a.out,
            a.local_copy,
            section=f"roles.files.{a.split}",
            copies_key="roles.local_copies",
        )
    )


def run(args: argparse.Namespace) -> None:
    if (args.train_file is None) != (args.test_file is None):
        raise ConfigError("--train-file and --test-file go together (roles.source file)")
    if args.train_file is not None:
        roles = roles_from_files(
            args.train_file,
            args.test_file,
            args.n_train,
            args.n_test,
            not args.no_baseline,
            {"train": args.train_sha256, "test": args.test_sha256},
        )
    else:
        roles = make_roles(args.n_train, args.n_test, args.seed, args.locale, not args.no_baseline)
    write_json(roles["train"], args.out_train)
    write_json(roles["test"], args.out_test)
    log.info("%d train and %d test roles", len(roles["train"]), len(roles["test"]))
