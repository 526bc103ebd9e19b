"""A small real MCP server for the tests and the benchmark.

Run `python mcp_server.py` to serve over stdin/stdout, or `python mcp_server.py http [PORT]` to
serve streamable HTTP on a loopback port (a free one by default), announced as `PORT <n>` on
stdout once it listens.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("envtorch-test", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def greet(name: str, punctuation: str = "!") -> str:
    """Greet someone by name."""
    return f"Hello, {name}{punctuation}"


@server.tool()
def fail(message: str = "boom") -> str:
    """Always fails with the given message."""
    raise ToolError(message)


@server.tool()
def stats(values: list[float]) -> dict[str, float]:
    """Mean and maximum of some numbers."""
    return {"mean": sum(values) / len(values), "max": max(values)}


@server.tool(name="shout-text", structured_output=False)
def shout_text(text: str) -> str:
    """Upper-case some text."""
    return text.upper()


@server.tool()
async def nap(seconds: float) -> float:
    """Sleep, then return how long."""
    await asyncio.sleep(seconds)
    return seconds


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def header(name: str, ctx: Context) -> str:
    """An HTTP request header the client sent, or an empty string."""
    return (ctx.headers or {}).get(name.lower(), "")


def serve_http(port: int) -> None:
    """Serve streamable HTTP on a loopback port (0: chosen by the kernel), announced on stdout.

    The socket names IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections; without
    it every reply waits ~40 ms for a delayed ACK.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        serve_http(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    else:
        server.run("stdio")
