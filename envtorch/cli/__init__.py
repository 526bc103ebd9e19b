"""The `envtorch` command. Each subcommand lives in its own module, imported only when run."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

SUBCOMMANDS = {
    "build": "envtorch.cli.build",
    "check": "envtorch.cli.check",
    "demo": "envtorch.cli.demo",
    "eval": "envtorch.cli.eval",
    "init": "envtorch.cli.init",
    "list": "envtorch.cli.list_envs",
    "serve": "envtorch.cli.serve",
    "view": "envtorch.cli.view",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `envtorch` and all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="envtorch", description="Agentic execution environments: serve, check and run them."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS.values():
        import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `envtorch` command line and return its exit code.

    A missing optional package is one line on stderr naming the extra to install, and status 2.
    """
    from envtorch.core.errors import MissingDependency

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except MissingDependency as missing:
        print(f"envtorch {args.command}: error: {missing}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
