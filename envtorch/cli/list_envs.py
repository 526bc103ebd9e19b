"""`envtorch list`: the registered environments, then the `PREFIX:NAME` bridges."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser("list", help="list the registered environments")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return its exit code."""
    from envtorch.registry import PREFIXES, registered

    for env_id, spec in registered().items():
        target = spec.entry_point if isinstance(spec.entry_point, str) else repr(spec.entry_point)
        print(f"{env_id:<24} {target}")
    for prefix, factory in sorted(PREFIXES.items()):
        print(f"{prefix + ':NAME':<24} {factory}")
    return 0
