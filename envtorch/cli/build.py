"""`envtorch build TARGET`: a container image serving an environment, from this envtorch."""

from __future__ import annotations

import argparse

from envtorch.providers.image import DEFAULT_BASE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser(
        "build",
        help="build a container image serving an environment",
        description="Build an image that runs `envtorch serve TARGET` on port 8000, with a "
        "health check, through the engine DOCKER_HOST names (Docker, or podman's socket). "
        "envtorch comes from this checkout or --envtorch, never from PyPI.",
    )
    parser.add_argument(
        "target",
        help="a registered id (echo), module:Class, or the folder of an `envtorch init` package",
    )
    parser.add_argument("--tag", help="the image's name (default: envtorch-NAME)")
    parser.add_argument(
        "--base",
        default=DEFAULT_BASE,
        help=f"an image with this Python's minor version (default: {DEFAULT_BASE})",
    )
    parser.add_argument(
        "--envtorch",
        metavar="PATH",
        help="a checkout or wheel of envtorch to install (default: this envtorch's checkout)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return its exit code."""
    from envtorch.providers import ProviderError
    from envtorch.providers.image import build_image

    try:
        tag = build_image(args.target, tag=args.tag, base=args.base, envtorch_source=args.envtorch)
    except ProviderError as error:
        print(f"envtorch build: error: {error}")
        return 1
    print(f"built {tag}; run it with EnvClient.from_docker_image({tag!r})")
    return 0
