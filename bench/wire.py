"""Wire speed: echo steps over WebSocket, envtorch against OpenEnv and two floors, in one run.

For each stack, a server process serves an echo env and is stepped with 1 session (the sync
client: latency) and with 64 concurrent sessions spread over `--processes` client processes of
async clients (one Python process cannot keep a server busy), all started together. OpenEnv 0.10
is driven by its fastest own client, `GenericEnvClient` (sync for latency, async for the
sessions), ours by `EnvClient` and `AsyncEnvClient`. Two floors bound what any Python server
can cost, each a server process answered by one client round trip at a time with the bytes of
an echo step: a bare FastAPI WebSocket echo (uvicorn as envtorch configures it, our client's
framing) and a raw TCP asyncio echo (a blocking socket client). Prints p50/p99 per step,
steps/s, the ratios to OpenEnv, our p50 as a multiple of each floor, and the goals as met or
MISSED.

OpenEnv is never a project dependency: its interpreter is $ENVTORCH_OPENENV_PYTHON, by default
the openenv 0.10.0 venv the test suite makes in .venv/peers (made here when missing, ~10 s).

    ./dev bench bench/wire.py [--steps 5000] [--sessions 64] [--processes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envtorch.client import AsyncEnvClient, EnvClient
from envtorch.client.sync import _Connection
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.providers import LocalProcessProvider

ROOT = Path(__file__).resolve().parents[1]
STEP_MESSAGE = b'{"type":"step","data":{"message":"Hello, World!"},"id":1}'

OPENENV_ECHO_TYPES = """
from openenv.core.env_server.types import Action, Observation, State


class EchoAction(Action):
    message: str


class EchoObservation(Observation):
    echoed_message: str = ""
    message_length: int = 0
"""

OPENENV_SERVER = (
    OPENENV_ECHO_TYPES
    + """
import sys
import uvicorn
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment


class EchoEnvironment(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self):
        super().__init__()
        self._state = State(episode_id="e", step_count=0)

    def reset(self, seed=None, episode_id=None, **kwargs):
        self._state = State(episode_id="e", step_count=0)
        return EchoObservation(echoed_message="")

    def step(self, action, timeout_s=None, **kwargs):
        self._state.step_count += 1
        return EchoObservation(
            echoed_message=action.message,
            message_length=len(action.message),
            reward=len(action.message) * 0.1,
        )

    @property
    def state(self):
        return self._state


app = create_app(
    EchoEnvironment, EchoAction, EchoObservation, env_name="echo", max_concurrent_envs=128
)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
)

OPENENV_CLIENT = """
import asyncio, json, sys, time
from openenv.core.generic_client import GenericEnvClient

url, mode, steps, sessions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
action = {"message": "Hello, World!"}


def latency():
    with GenericEnvClient(base_url=url).sync() as env:
        env.reset()
        for _ in range(200):
            env.step(action)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            env.step(action)
            times.append(time.perf_counter() - start)
    return times, sum(times)


async def throughput():
    clients = [GenericEnvClient(base_url=url) for _ in range(sessions)]
    for client in clients:
        await client.connect()
        await client.reset()
    times = []

    async def run(client):
        for _ in range(steps):
            start = time.perf_counter()
            await client.step(action)
            times.append(time.perf_counter() - start)

    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    await asyncio.gather(*(run(client) for client in clients))
    end = time.monotonic()
    for client in clients:
        await client.close()
    return {"times": times, "start": start, "end": end}


if mode == "latency":
    times, wall = latency()
    print(json.dumps({"times": times, "wall": wall}))
else:
    print(json.dumps(asyncio.run(throughput())))
"""


def envtorch_latency(url: str, steps: int) -> tuple[list[float], float]:
    with EnvClient(url, EchoEnv) as env:
        env.reset()
        action = EchoAction(message="Hello, World!")
        for _ in range(200):
            env.step(action)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            env.step(action)
            times.append(time.perf_counter() - start)
    return times, sum(times)


async def envtorch_throughput(url: str, steps: int, sessions: int) -> dict[str, object]:
    """One client process's share of the concurrent sessions, started on a line from stdin."""
    clients = [AsyncEnvClient(url, EchoEnv) for _ in range(sessions)]
    action = EchoAction(message="Hello, World!")
    for client in clients:
        await client.reset()
    times: list[float] = []

    async def run(client: AsyncEnvClient) -> None:
        for _ in range(steps):
            start = time.perf_counter()
            await client.step(action)
            times.append(time.perf_counter() - start)

    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    await asyncio.gather(*(run(client) for client in clients))
    end = time.monotonic()
    await asyncio.gather(*(client.close() for client in clients))
    return {"times": times, "start": start, "end": end}


def concurrent(command: list[str], processes: int) -> dict[str, float]:
    """Run `processes` client processes, start them together, and merge their measurements."""
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a client process failed: {command}")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [json.loads(worker.communicate(timeout=600)[0]) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    times = [value for result in results for value in result["times"]]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return summary(times, wall)


def summary(times: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": ordered[len(ordered) // 2] * 1e3,
        "p99_ms": ordered[int(len(ordered) * 0.99)] * 1e3,
        "steps_per_s": len(ordered) / wall,
    }


def measure_envtorch(steps: int, sessions: int, processes: int) -> dict[str, dict[str, float]]:
    with LocalProcessProvider("echo", max_sessions=max(128, sessions)) as server:
        assert server.url is not None
        latency = summary(*envtorch_latency(server.url, steps))
        share, per_session = sessions // processes, max(20, 4 * steps // sessions)
        command = [sys.executable, __file__, "--client", server.url, str(share), str(per_session)]
        throughput = concurrent(command, processes)
    return {"1 session": latency, f"{sessions} sessions": throughput}


def openenv_python() -> Path:
    """OpenEnv 0.10's interpreter: $ENVTORCH_OPENENV_PYTHON, else the test suite's peer venv."""
    named = os.environ.get("ENVTORCH_OPENENV_PYTHON")
    if named:
        return Path(named)
    made = subprocess.run(
        [sys.executable, "-c", "from tests.openenv.peers import python; print(python('0.10.0'))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return Path(made.stdout.strip().splitlines()[-1])


def measure_openenv(steps: int, sessions: int, processes: int) -> dict[str, dict[str, float]]:
    python = openenv_python()
    with tempfile.TemporaryDirectory() as folder:
        server_script = Path(folder, "openenv_echo_server.py")
        client_script = Path(folder, "openenv_echo_client.py")
        server_script.write_text(textwrap.dedent(OPENENV_SERVER))
        client_script.write_text(textwrap.dedent(OPENENV_CLIENT))
        port = _free_port()
        server = subprocess.Popen(
            [str(python), str(server_script), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, server)
            url = f"http://127.0.0.1:{port}"
            output = subprocess.run(
                [str(python), str(client_script), url, "latency", str(steps), "1"],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            ).stdout
            measured = json.loads(output.strip().splitlines()[-1])
            share, per_session = sessions // processes, max(20, 4 * steps // sessions)
            command = [str(python), str(client_script), url, "throughput"]
            return {
                "1 session": summary(measured["times"], measured["wall"]),
                f"{sessions} sessions": concurrent(
                    [*command, str(per_session), str(share)], processes
                ),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)


def serve_floor(kind: str, port: int) -> None:
    """Run a floor server until killed: `fastapi` (a WebSocket echo) or `tcp` (an echo)."""
    if kind == "tcp":
        asyncio.run(_tcp_echo(port))
        return
    import uvicorn
    from fastapi import FastAPI

    async def echo(websocket: Any) -> None:
        await websocket.accept()
        while True:
            await websocket.send_text(await websocket.receive_text())

    app = FastAPI()
    app.router.add_websocket_route("/ws", echo)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _tcp_echo(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Echo, "127.0.0.1", port)
    await server.serve_forever()


def measure_floor(kind: str, steps: int) -> dict[str, float]:
    """Round trips of one echo step's bytes to a floor server in another process."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--floor-server", kind, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, server)
        round_trip = _websocket_round_trip(port) if kind == "fastapi" else _tcp_round_trip(port)
        for _ in range(200):
            round_trip()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            round_trip()
            times.append(time.perf_counter() - start)
        return summary(times, sum(times))
    finally:
        server.terminate()
        server.wait(timeout=30)


def _websocket_round_trip(port: int) -> Callable[[], bytes]:
    connection = _Connection(f"ws://127.0.0.1:{port}/ws", {}, 30.0)

    def round_trip() -> bytes:
        connection.send(STEP_MESSAGE)
        return connection.receive(time.monotonic() + 30.0)

    return round_trip


def _tcp_round_trip(port: int) -> Callable[[], bytes]:
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def round_trip() -> bytes:
        client.sendall(STEP_MESSAGE)
        received = b""
        while len(received) < len(STEP_MESSAGE):
            received += client.recv(1 << 16)
        return received

    return round_trip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the OpenEnv echo server exited early")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the OpenEnv echo server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=5000, help="steps per measurement")
    parser.add_argument("--sessions", type=int, default=64, help="concurrent sessions")
    parser.add_argument("--processes", type=int, default=4, help="client processes for them")
    parser.add_argument("--client", nargs=3, metavar=("URL", "SESSIONS", "STEPS"), help="internal")
    parser.add_argument("--floor-server", nargs=2, metavar=("KIND", "PORT"), help="internal")
    args = parser.parse_args()
    if args.client:
        url, sessions, steps = args.client
        print(json.dumps(asyncio.run(envtorch_throughput(url, int(steps), int(sessions)))))
        return
    if args.floor_server:
        serve_floor(args.floor_server[0], int(args.floor_server[1]))
        return
    if args.sessions % args.processes:
        parser.error("--sessions must be a multiple of --processes")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    ours = measure_envtorch(args.steps, args.sessions, args.processes)
    peer = measure_openenv(args.steps, args.sessions, args.processes)
    floors = {
        "FastAPI WebSocket echo": measure_floor("fastapi", args.steps),
        "raw TCP asyncio echo": measure_floor("tcp", args.steps),
    }
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"{'stack':<24} {'sessions':<12} {'p50 ms':>8} {'p99 ms':>8} {'steps/s':>9}")
    rows = [("envtorch", ours), ("OpenEnv 0.10", peer)]
    rows += [(name, {"1 session": row}) for name, row in floors.items()]
    for name, results in rows:
        for label, row in results.items():
            print(
                f"{name:<24} {label:<12} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} "
                f"{row['steps_per_s']:>9.0f}"
            )
    many = f"{args.sessions} sessions"
    goals = [
        ("p50 <= 0.25 ms with 1 session", ours["1 session"]["p50_ms"] <= 0.25),
        (f">= 8000 steps/s with {many}", ours[many]["steps_per_s"] >= 8000),
    ]
    for label in ours:
        speedup = ours[label]["steps_per_s"] / peer[label]["steps_per_s"]
        latency = peer[label]["p50_ms"] / ours[label]["p50_ms"]
        print(f"ratio to OpenEnv 0.10, {label}: {speedup:.1f}x steps/s, {latency:.1f}x lower p50")
        goals.append((f">= 3x OpenEnv 0.10's steps/s with {label}", speedup >= 3))
    ours_p50 = ours["1 session"]["p50_ms"]
    for (name, floor), most in zip(floors.items(), (1.5, 2.0), strict=True):
        multiple = ours_p50 / floor["p50_ms"]
        print(f"our p50 is {multiple:.2f}x the {name} ({floor['p50_ms']:.3f} ms)")
        goals.append((f"p50 <= {most}x the {name}", multiple <= most))
    for goal, met in goals:
        print(f"goal {goal}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
