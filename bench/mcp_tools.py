"""Per-call latency of MCP tools as envtorch callables, against the raw `mcp` SDK client.

Usage: python bench/mcp_tools.py [--calls N]
Both sides call `add(a, b)` on the test suite's MCP server (tests/tools/mcp_server.py), over stdio
and over streamable HTTP on loopback. The peer is the official SDK's async `mcp.Client` awaited
directly in its own event loop (the floor for any wrapper); envtorch adds a thread hop to its
loop thread and argument checks. The last rows are calls/s with 32 threads sharing one toolset.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from envtorch.tools import MCPServer, MCPToolset

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "tools" / "mcp_server.py"


def start_http_server() -> tuple[subprocess.Popen, str]:
    """The test MCP server on a free loopback port, and its URL."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "http"], stdout=subprocess.PIPE, text=True
    )
    port = int(process.stdout.readline().split()[1])
    return process, f"http://127.0.0.1:{port}/mcp"


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(len(ordered) * 0.9)] * 1e3


def time_calls(call: Callable[[int], object], calls: int) -> list[float]:
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return samples


async def sdk_samples(target: object, calls: int) -> tuple[float, list[float]]:
    """Connect time and per-call times of the raw SDK client."""
    import mcp

    start = time.perf_counter()
    async with mcp.Client(target) as client:
        connected = time.perf_counter() - start
        await client.call_tool("add", {"a": 0, "b": 0})
        samples = []
        for i in range(calls):
            begin = time.perf_counter()
            await client.call_tool("add", {"a": i, "b": 1})
            samples.append(time.perf_counter() - begin)
    return connected, samples


def envtorch_samples(server: MCPServer, calls: int) -> tuple[float, list[float], float]:
    """Connect time, per-call times, and calls/s from 32 threads, through an MCPToolset."""
    with MCPToolset([server]) as toolset:
        start = time.perf_counter()
        add = toolset.tools()["add"]
        connected = time.perf_counter() - start
        add(0, 0)
        samples = time_calls(lambda i: add(i, 1), calls)
        start = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda i: add(i, 1), range(calls)))
        throughput = calls / (time.perf_counter() - start)
    return connected, samples, throughput


def main() -> None:
    import mcp

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    http_process, url = start_http_server()
    try:
        stdio = MCPServer("bench", command=sys.executable, args=[str(SERVER_SCRIPT)])
        params = mcp.StdioServerParameters(command=sys.executable, args=[str(SERVER_SCRIPT)])
        rows = []
        for transport, server, target in [
            ("stdio", stdio, params),
            ("http", MCPServer("bench", url=url), url),
        ]:
            sdk_connect, sdk = asyncio.run(sdk_samples(target, args.calls))
            ours_connect, ours, throughput = envtorch_samples(server, args.calls)
            rows.append((transport, sdk_connect, sdk, ours_connect, ours, throughput))
    finally:
        http_process.kill()
        http_process.wait()
    print(f"{args.calls} sequential calls of add(a, b); connect = first tools() / Client enter")
    print(
        f"{'transport':<10}{'client':<18}{'connect s':>10}{'p50 ms':>9}{'p90 ms':>9}"
        f"{'p50 vs sdk':>12}{'32 threads/s':>14}"
    )
    for transport, sdk_connect, sdk, ours_connect, ours, throughput in rows:
        sdk_p50, sdk_p90 = percentiles_ms(sdk)
        ours_p50, ours_p90 = percentiles_ms(ours)
        print(
            f"{transport:<10}{'mcp.Client (async)':<18}{sdk_connect:>10.2f}{sdk_p50:>9.2f}"
            f"{sdk_p90:>9.2f}{1.0:>11.2f}x{'-':>14}"
        )
        print(
            f"{transport:<10}{'envtorch (sync)':<18}{ours_connect:>10.2f}{ours_p50:>9.2f}"
            f"{ours_p90:>9.2f}{ours_p50 / sdk_p50:>11.2f}x{throughput:>14.0f}"
        )


if __name__ == "__main__":
    main()
