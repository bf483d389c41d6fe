"""``valuegraph matrix``: responses -> role x value score matrix."""

from __future__ import annotations

import argparse
import logging

from valuegraph.io import atomic_path, read_json, read_parquet
from valuegraph.matrix import PARSER_KEY, UNPARSED_KEY, build_matrix, responses_parser
from valuegraph.parsing import unparsed_scoring

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
    parser = responses_parser(responses)
    scoring = unparsed_scoring(parser)
    with atomic_path(args.out) as tmp:  # as io.write_parquet, plus how the answers were scored
        matrix.write_parquet(
            tmp,
            compression="zstd",
            statistics=False,
            metadata={PARSER_KEY: parser, UNPARSED_KEY: scoring},
        )
    unparsed = int(matrix["n_unparsed"].sum())
    total = unparsed + int(matrix["n_answered"].sum())
    log.info(
        "%s: %d rows; unparsed %d of %d answers (%.1f%%; parser %s, unparsed scored as %s)",
        args.out,
        matrix.height,
        unparsed,
        total,
        100 * unparsed / max(total, 1),
        parser,
        scoring,
    )
