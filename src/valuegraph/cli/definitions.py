"""``valuegraph definitions``: ValueBench's value2def sheet (+ fallback) -> definitions TSV;
``valuegraph fetch-definitions``: download the pinned value_data.xlsx."""

from __future__ import annotations

import argparse
import logging

from valuegraph import items

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "definitions", help="value definitions TSV from ValueBench's value_data.xlsx (value2def)"
    )
    p.add_argument("--xlsx", required=True, help="ValueBench data/value_data.xlsx")
    p.add_argument("--sha256", help="expected sha256 of the xlsx")
    p.add_argument("--fallback", required=True, help="TSV value<TAB>definition for missing values")
    p.add_argument("--require", nargs="*", default=[], help="values that must get a definition")
    p.add_argument("--out", required=True, help="TSV value, definition, source")
    p.set_defaults(func=run)

    f = sub.add_parser("fetch-definitions", help="download the pinned value_data.xlsx")
    f.add_argument("--url", required=True)
    f.add_argument("--sha256", required=True)
    f.add_argument("--local-copy", action="append", default=[], help="checked before downloading")
    f.add_argument("--out", required=True)
    f.set_defaults(
        func=lambda a: items.fetch(a.url, a.sha256, a.out, a.local_copy, section="definitions")
    )


def run(args: argparse.Namespace) -> None:
    from valuegraph.definitions import make_definitions

    rows = make_definitions(args.xlsx, args.fallback, args.out, args.sha256, args.require)
    sources = [r[2] for r in rows]
    log.info(
        "%s: %d values (%d from ValueBench, %d fallback)",
        args.out,
        len(rows),
        sources.count("valuebench"),
        sources.count("fallback"),
    )
