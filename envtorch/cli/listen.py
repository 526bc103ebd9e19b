"""The address and log level arguments of the subcommands that run a web server."""

from __future__ import annotations

import argparse


def add_listen_arguments(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """Add `--host`, `--port` and `--log-level` to a subcommand that serves HTTP."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=default_port,
        help=f"port to bind, 0 for any free port (default: {default_port}); the line "
        "'envtorch serving on http://HOST:PORT' on stdout tells the bound address",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: warning)",
    )


def _port(text: str) -> int:
    """A TCP port number for argparse: 0 to 65535, else its one-line error."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port
