"""`envtorch serve TARGET`: serve an environment over WebSocket and HTTP."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import Any

from envtorch.cli.listen import add_listen_arguments
from envtorch.server.limits import ServerLimits

CALL_TIMEOUT_MARGIN = 30.0
"""Seconds a call may take beyond a task file's longest step: the sandbox's kill grace, a reset."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    defaults = ServerLimits()
    parser = subparsers.add_parser(
        "serve",
        help="serve an environment over WebSocket and HTTP",
        description="Serve an environment: WebSocket /ws for episodes, HTTP for everything else. "
        "Set ENVTORCH_TOKEN to require 'Authorization: Bearer <token>' on every endpoint.",
    )
    parser.add_argument(
        "target",
        help="what envtorch.make takes: a registered id (echo), module:Class, or task.yaml",
    )
    parser.add_argument(
        "--kwarg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a keyword argument for the env's constructor, repeatable; VALUE is read as JSON, "
        "else as a string (--kwarg seat=0 --kwarg max_steps=200)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=defaults.max_sessions,
        help=f"concurrent sessions (default: {defaults.max_sessions})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.idle_timeout,
        help=f"seconds before an idle session is reaped, 0 to never reap "
        f"(default: {defaults.idle_timeout:g})",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        help=f"seconds one env call may take (default: {defaults.call_timeout:g}, or a task "
        f"file's longest step timeout plus {CALL_TIMEOUT_MARGIN:g} if that is more)",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=defaults.max_message_bytes,
        help=f"largest request accepted (default: {defaults.max_message_bytes})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help=f"open connections, at most a quarter of the fd limit "
        f"(default: {defaults.max_connections})",
    )
    parser.add_argument(
        "--handshake-timeout",
        type=float,
        default=defaults.handshake_timeout,
        help=f"seconds a connection may take to send its request headers "
        f"(default: {defaults.handshake_timeout:g})",
    )
    parser.add_argument(
        "--render-mode",
        help="the render mode of every session (e.g. ansi, rgb_array) unless a client asks for "
        "another with render_mode=; default: none, so render() returns None",
    )
    add_listen_arguments(parser, default_port=8000)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; a bad target or limit is one line on stderr and exit status 2."""
    from envtorch.core import EnvtorchError
    from envtorch.server.background import serve_forever

    try:
        app = app_of(args)
    except (EnvtorchError, ValueError) as error:
        print(f"envtorch serve: error: {error}", file=sys.stderr)
        return 2
    serve_forever(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def app_of(args: argparse.Namespace) -> Any:
    """The app `envtorch serve` serves for these arguments; a bad target or limit raises
    `EnvtorchError` or `ValueError`."""
    from envtorch.registry import resolve, task_file_of
    from envtorch.server import create_app

    limits = ServerLimits(
        max_sessions=args.max_sessions,
        idle_timeout=args.idle_timeout or None,
        call_timeout=args.call_timeout or _call_timeout(task_file_of(args.target)),
        max_message_bytes=args.max_message_bytes,
        max_connections=args.max_connections,
        handshake_timeout=args.handshake_timeout,
    )
    kwargs = keyword_arguments(args.kwarg)
    if args.render_mode is not None:
        kwargs["render_mode"] = args.render_mode
    factory = partial(resolve(args.target), **kwargs)
    try:
        return create_app(factory, limits=limits)
    except TypeError as error:
        if not kwargs:
            raise
        given = " ".join(f"--kwarg {pair}" for pair in args.kwarg)
        raise ValueError(f"{args.target} cannot be built with {given}: {error}") from error


def _call_timeout(task_file: Any) -> float:
    """The default call timeout, raised to let a task file's longest step run to its end."""
    longest = task_file.longest_step() if task_file is not None else None
    default = ServerLimits().call_timeout
    return default if longest is None else max(default, longest + CALL_TIMEOUT_MARGIN)


def keyword_arguments(pairs: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs as keyword arguments, each VALUE parsed as JSON, else kept a string."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.isidentifier():
            raise ValueError(f"--kwarg takes NAME=VALUE, got {pair!r}")
        try:
            kwargs[name] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[name] = value
    return kwargs
