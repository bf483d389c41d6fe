"""``valuegraph check-config`` and ``valuegraph config-docs``."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from valuegraph import config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate a config file against the schema")
    p.add_argument("path")
    p.set_defaults(func=lambda a: print(yaml.safe_dump(config.load(a.path), sort_keys=False)))

    d = sub.add_parser("config-docs", help="render config/README.md from the schema")
    d.add_argument("--header", default="config/README.md.in")
    d.add_argument("--out", default="config/README.md")
    d.set_defaults(func=render_docs)


def render_docs(args: argparse.Namespace) -> None:
    Path(args.out).write_text(Path(args.header).read_text() + config.schema_markdown())
