"""`envtorch check TARGET`: verify an environment's contract with safe, scripted actions."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser(
        "check", help="verify that an environment keeps the envtorch contract"
    )
    parser.add_argument(
        "target",
        help="what envtorch.make takes: a registered id (echo), module:Class, or task.yaml",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the determinism check")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return its exit code."""
    from envtorch.core import EnvtorchError
    from envtorch.env_checker import CheckFailed, check_env
    from envtorch.registry import resolve

    try:
        report = check_env(resolve(args.target), seed=args.seed)
    except CheckFailed as failure:
        print(f"FAILED {failure}")
        return 1
    except EnvtorchError as error:
        print(f"error: {error}")
        return 2
    for name in report.passed:
        print(f"ok  {name}")
    print(f"{report.env_name} passed {len(report.passed)} checks")
    return 0
