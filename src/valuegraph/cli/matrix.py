"""``valuegraph matrix``: responses -> role x value score matrix."""

from __future__ import annotations

import argparse
import logging

from valuegraph.io import read_json, read_parquet, write_parquet
from valuegraph.matrix import build_matrix

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("matrix", help="aggregate responses into the role x value matrix")
    p.add_argument("responses")
    p.add_argument("--values", required=True, help="values.json from the items stage")
    p.add_argument("--score", choices=["hard", "soft"], default="hard")
    p.add_argument("--out", required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    responses = read_parquet(args.responses)
    matrix = build_matrix(responses, read_json(args.values), args.score)
    write_parquet(matrix, args.out)
    unparsed = int(matrix["n_unparsed"].sum())
    total = unparsed + int(matrix["n_answered"].sum())
    log.info(
        "%s: %d rows; unparsed %d of %d answers (%.1f%%)",
        args.out,
        matrix.height,
        unparsed,
        total,
        100 * unparsed / max(total, 1),
    )
