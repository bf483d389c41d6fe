"""The ``valuegraph`` command line: one subcommand per workflow rule.

Each subcommand lives in its own module under ``valuegraph.cli`` and exposes
``register(subparsers)``; library code never imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from valuegraph.errors import ValuegraphError

# OpenMP threads waiting for work sleep instead of spinning: on cores shared with other jobs
# (Snakemake runs CPU rules beside a model job) spinning threads take the cores the model needs;
# on 2 shared cores the cached log-prob path ran ~3x faster (README, Benchmarks). The OpenMP
# runtime reads this once, when torch loads it, so it is set before any command imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Subcommand -> the module that registers it (each module defines register(subparsers)).
# Only the module of the command being run is imported, so a command loads only what it needs
# (collect never imports causal-learn; discover never imports torch).
COMMANDS = {
    "fetch-items": "valuegraph.cli.items",
    "items": "valuegraph.cli.items",
    "roles": "valuegraph.cli.roles",
    "fetch-roles": "valuegraph.cli.roles",
    "fetch-definitions": "valuegraph.cli.definitions",
    "definitions": "valuegraph.cli.definitions",
    "prepare-model": "valuegraph.cli.prepare_model",
    "collect": "valuegraph.cli.collect",
    "merge-responses": "valuegraph.cli.collect",
    "simulate": "valuegraph.cli.simulate",
    "matrix": "valuegraph.cli.matrix",
    "discover": "valuegraph.cli.discover",
    "compare-graphs": "valuegraph.cli.compare",
    "effects": "valuegraph.cli.effects",
    "sae-activations": "valuegraph.cli.sae",
    "sae-train": "valuegraph.cli.sae",
    "sae-record": "valuegraph.cli.sae",
    "sae-candidates": "valuegraph.cli.sae",
    "steering-select": "valuegraph.cli.steering",
    "steering-eval": "valuegraph.cli.steering",
    "table1": "valuegraph.cli.evaluate",
    "side-effects": "valuegraph.cli.evaluate",
    "targeted": "valuegraph.cli.evaluate",
    "compare-models": "valuegraph.cli.aggregate",
    "stability": "valuegraph.cli.uncertainty",
    "centring-graph": "valuegraph.cli.uncertainty",
    "persona-effects": "valuegraph.cli.uncertainty",
    "summary-text": "valuegraph.cli.uncertainty",
    "plot-graph": "valuegraph.cli.report",
    "summary": "valuegraph.cli.report",
    "plot-effects": "valuegraph.cli.report",
    "method-table": "valuegraph.cli.simulate",
    "compare-heatmap": "valuegraph.cli.simulate",
    "plot-edge-frequencies": "valuegraph.cli.simulate",
    "circumplex": "valuegraph.cli.simulate",
    "bench": "valuegraph.cli.bench",
    "bench-discovery": "valuegraph.cli.simulate",
    "bench-table": "valuegraph.cli.simulate",
    "bench-design": "valuegraph.cli.design",
    "check-config": "valuegraph.cli.config",
    "config-docs": "valuegraph.cli.config",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))


def build_parser(modules: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="valuegraph", description="Causal structure of a language model's values."
    )
    parser.add_argument("--log", help="append log lines to this file as well as stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in modules if modules is not None else COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _modules_for(argv: list[str]) -> list[str] | None:
    """The one module to import when argv names a known command; None means all (for --help)."""
    args = iter(argv)
    for arg in args:
        if arg == "--log":
            next(args, None)
        elif not arg.startswith("-"):
            return [COMMANDS[arg]] if arg in COMMANDS else None
    return None


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
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_modules_for(argv))
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
