"""``valuegraph items``: read, check, select and split the ValueBench items."""

from __future__ import annotations

import argparse
import logging

from valuegraph import items
from valuegraph.errors import DataError
from valuegraph.io import write_json, write_parquet

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("items", help="select values and split items into train/test")
    p.add_argument("--path", required=True, help="value_orientation.csv (local or fetched)")
    p.add_argument("--sha256", help="expected sha256 of the file")
    p.add_argument("--min-items", type=int, default=20)
    p.add_argument("--values", nargs="*", default=None, help="explicit value names (column order)")
    p.add_argument(
        "--questionnaire", default=None, help="keep only this questionnaire's items (e.g. PVQ40)"
    )
    p.add_argument("--train-fraction", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-train", required=True)
    p.add_argument("--out-test", required=True)
    p.add_argument("--out-values", required=True, help="JSON list of values in column order")
    p.set_defaults(func=run)
    register_fetch(sub)


def run(args: argparse.Namespace) -> None:
    path = args.path
    table = items.read_items(path, args.sha256)
    if args.questionnaire:
        table = table.filter(table["questionnaire"] == args.questionnaire)
        if table.height == 0:
            raise DataError(f"{path}: no items of questionnaire {args.questionnaire!r}")
    values = items.select_values(table, args.values, args.min_items, source=str(path))
    table = items.split(table, values, args.train_fraction, args.seed)
    for split, out in (("train", args.out_train), ("test", args.out_test)):
        part = table.filter(table["split"] == split)
        write_parquet(part, out)
        log.info("%s: %d items over %d values", out, part.height, len(values))
    write_json(values, args.out_values)


def register_fetch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch-items", help="download the pinned items file and check its sha256")
    p.add_argument("--url", required=True)
    p.add_argument("--sha256", required=True)
    p.add_argument("--local-copy", action="append", default=[], help="checked before downloading")
    p.add_argument("--out", required=True)
    p.set_defaults(func=lambda a: items.fetch(a.url, a.sha256, a.out, a.local_copy))
