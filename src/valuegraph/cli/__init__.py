"""The ``valuegraph`` command line: one subcommand per workflow rule.

Each subcommand lives in its own module under ``valuegraph.cli`` and exposes
``register(subparsers)``; library code never imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from valuegraph.errors import ValuegraphError

# Subcommand modules, in workflow order. Each defines register(subparsers).
COMMAND_MODULES = [
    "valuegraph.cli.items",
    "valuegraph.cli.roles",
    "valuegraph.cli.prepare_model",
    "valuegraph.cli.collect",
    "valuegraph.cli.matrix",
    "valuegraph.cli.discover",
    "valuegraph.cli.effects",
    "valuegraph.cli.compare",
    "valuegraph.cli.sae",
    "valuegraph.cli.steering",
    "valuegraph.cli.aggregate",
    "valuegraph.cli.simulate",
    "valuegraph.cli.report",
    "valuegraph.cli.config",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="valuegraph", description="Causal structure of a language model's values."
    )
    parser.add_argument("--log", help="append log lines to this file as well as stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def setup_logging(log_file: str | None, verbose: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log, args.verbose)
    try:
        args.func(args)
    except ValuegraphError as exc:
        logging.getLogger("valuegraph").error("%s", exc)
        print(f"valuegraph {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
