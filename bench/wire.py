"""Wire speed: echo steps over WebSocket, envtorch against OpenEnv, measured in the same run.

For each stack, a server process serves an echo env; a client process steps it with 1 session
(the sync client: latency) and with 64 concurrent sessions (async clients in one event loop:
throughput). Prints p50/p99 per step, steps/s, and envtorch/OpenEnv ratios.

OpenEnv (openenv-core) is never a project dependency: it is looked for in the virtual environment
named by $ENVTORCH_PEERS_VENV (default /tmp/peers-venv), e.g.
    python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install openenv-core==0.3.0
and reported "not installed" when absent.

    .venv/bin/python bench/wire.py [--steps 3000] [--sessions 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from envtorch.client import AsyncEnvClient, EnvClient
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.providers import LocalProcessProvider

PEERS_VENV = Path(os.environ.get("ENVTORCH_PEERS_VENV", "/tmp/peers-venv"))

OPENENV_SERVER = """
import sys
import uvicorn
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State


class EchoAction(Action):
    message: str


class EchoObservation(Observation):
    echoed_message: str = ""
    message_length: int = 0


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

OPENENV_CLIENT = """
import asyncio, json, sys, time
from openenv.core import EnvClient
from openenv.core.client_types import StepResult
from openenv.core.env_server.types import Action, Observation, State


class EchoAction(Action):
    message: str


class EchoObservation(Observation):
    echoed_message: str = ""
    message_length: int = 0


class EchoClient(EnvClient):
    def _step_payload(self, action):
        return {"message": action.message}

    def _parse_result(self, payload):
        data = payload.get("observation", {})
        observation = EchoObservation(
            echoed_message=data.get("echoed_message", ""),
            message_length=data.get("message_length", 0),
            done=payload.get("done", False),
            reward=payload.get("reward"),
        )
        return StepResult(observation=observation, reward=payload.get("reward"),
                          done=payload.get("done", False))

    def _parse_state(self, payload):
        return State(**payload)


url, mode, steps, sessions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
action = EchoAction(message="Hello, World!")


def latency():
    with EchoClient(base_url=url).sync() as env:
        env.reset()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            env.step(action)
            times.append(time.perf_counter() - start)
    return times, sum(times)


async def throughput():
    clients = [EchoClient(base_url=url) for _ in range(sessions)]
    for client in clients:
        await client.connect()
        await client.reset()
    times = []

    async def run(client):
        for _ in range(steps):
            start = time.perf_counter()
            await client.step(action)
            times.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(run(client) for client in clients))
    wall = time.perf_counter() - start
    for client in clients:
        await client.close()
    return times, wall


times, wall = latency() if mode == "latency" else asyncio.run(throughput())
print(json.dumps({"times": times, "wall": wall}))
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


async def envtorch_throughput(url: str, steps: int, sessions: int) -> tuple[list[float], float]:
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

    start = time.perf_counter()
    await asyncio.gather(*(run(client) for client in clients))
    wall = time.perf_counter() - start
    await asyncio.gather(*(client.close() for client in clients))
    return times, wall


def summary(times: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": ordered[len(ordered) // 2] * 1e3,
        "p99_ms": ordered[int(len(ordered) * 0.99)] * 1e3,
        "steps_per_s": len(ordered) / wall,
    }


def measure_envtorch(steps: int, sessions: int) -> dict[str, dict[str, float]]:
    with LocalProcessProvider("echo", max_sessions=max(128, sessions)) as server:
        latency = summary(*envtorch_latency(server.url, steps))
        per_session = max(20, steps // sessions)
        throughput = summary(*asyncio.run(envtorch_throughput(server.url, per_session, sessions)))
    return {"1 session": latency, f"{sessions} sessions": throughput}


def measure_openenv(steps: int, sessions: int) -> dict[str, dict[str, float]] | None:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        return None
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
            results = {}
            per_session = max(20, steps // sessions)
            for label, mode, count, width in (
                ("1 session", "latency", steps, 1),
                (f"{sessions} sessions", "throughput", per_session, sessions),
            ):
                output = subprocess.run(
                    [str(python), str(client_script), url, mode, str(count), str(width)],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                ).stdout
                measured = json.loads(output.strip().splitlines()[-1])
                results[label] = summary(measured["times"], measured["wall"])
            return results
        finally:
            server.terminate()
            server.wait(timeout=30)


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
    parser.add_argument("--steps", type=int, default=3000, help="steps per measurement")
    parser.add_argument("--sessions", type=int, default=64, help="concurrent sessions")
    args = parser.parse_args()
    ours = measure_envtorch(args.steps, args.sessions)
    peer = measure_openenv(args.steps, args.sessions)
    print(f"{'stack':<10} {'sessions':<12} {'p50 ms':>8} {'p99 ms':>8} {'steps/s':>9}")
    for name, results in (("envtorch", ours), ("openenv", peer)):
        if results is None:
            print(f"{name:<10} not installed (looked in {PEERS_VENV})")
            continue
        for label, row in results.items():
            print(
                f"{name:<10} {label:<12} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} "
                f"{row['steps_per_s']:>9.0f}"
            )
    if peer is not None:
        for label in ours:
            speedup = ours[label]["steps_per_s"] / peer[label]["steps_per_s"]
            latency = peer[label]["p50_ms"] / ours[label]["p50_ms"]
            print(f"ratio {label}: {speedup:.1f}x steps/s, {latency:.1f}x lower p50")
    print(
        "goals: p50 <= 0.25 ms (1 session), >= 6x OpenEnv steps/s, "
        f">= 8000 steps/s with {args.sessions} sessions"
    )


if __name__ == "__main__":
    main()
