"""CodeAct speed: the sandboxed PythonEnv over WebSocket against OpenEnv's coding env, same run.

envtorch: `envtorch serve python` in a child process (every episode a sandboxed process forked
from a warm zygote), driven by `EnvClient` (latency) and 32 `AsyncEnvClient`s in one event loop
(throughput). Measured: a trivial step's p50/p99, reset p50, a 10^5-iteration loop in the sandbox
against plain `exec` in this process, steps/s with 32 concurrent episodes, and the server's start
to a healthy `/health` (it builds one env at startup to learn the types, which must stay cheap).

OpenEnv: openenv-core 0.3.0 does not ship its coding env server (`envs/coding_env` lives in the
OpenEnv repository, not in the wheel); the wheel ships the executor that server wraps,
`openenv.core.tools.PyExecutor` (smolagents' LocalPythonExecutor, an AST interpreter in the
server's own process: no sandbox). So the peer here is that env's shape rebuilt on the wheel: its
`create_app`, one `PyExecutor` per episode made on reset, code run on step, stdout/stderr/exit
code back, driven by its `GenericEnvClient`. Its env does not declare concurrent sessions, so
the server allows one session and the 32-session row has no peer figure. The peers live in the
venv named by $ENVTORCH_PEERS_VENV (default /tmp/peers-venv), never in the project:
    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install openenv-core==0.3.0 smolagents==1.26.0
When it cannot run, the table says why and shows the figure recorded on this machine instead.

    .venv/bin/python bench/codeact.py [--steps 2000] [--resets 100] [--loops 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from envtorch.client import AsyncEnvClient, EnvClient
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import LocalProcessProvider

PEERS_VENV = Path(os.environ.get("ENVTORCH_PEERS_VENV", "/tmp/peers-venv"))
SESSIONS = 32
TRIVIAL = "x = 1"
LOOP = "total = 0\nfor i in range(100_000):\n    total += i\ntotal"
RECORDED_OPENENV_STEP_MS = 0.62

OPENENV_SERVER = """
import sys
import uuid

import uvicorn
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State
from openenv.core.tools import PyExecutor


class CodeAction(Action):
    code: str


class CodeObservation(Observation):
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


class CodingEnv(Environment):
    def __init__(self):
        super().__init__()
        self._executor = PyExecutor()
        self._state = State(episode_id="", step_count=0)

    def reset(self, seed=None, episode_id=None, **kwargs):
        self._executor = PyExecutor()
        self._state = State(episode_id=episode_id or str(uuid.uuid4()), step_count=0)
        return CodeObservation()

    def step(self, action, timeout_s=None, **kwargs):
        result = self._executor.run(action.code)
        self._state.step_count += 1
        return CodeObservation(
            stdout=result.stdout, stderr=result.stderr, exit_code=result.exit_code
        )

    @property
    def state(self):
        return self._state


app = create_app(CodingEnv, CodeAction, CodeObservation, env_name="coding_env")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

OPENENV_CLIENT = """
import json, sys, time
from openenv.core.generic_client import GenericEnvClient
from openenv.core.tools import PyExecutor

url, steps, resets, loops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
trivial, loop = json.loads(sys.argv[5]), json.loads(sys.argv[6])


def timed(call, count):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


with GenericEnvClient(base_url=url).sync() as env:
    env.reset()
    timed(lambda: env.step({"code": trivial}), 200)
    result = {
        "step": timed(lambda: env.step({"code": trivial}), steps),
        "reset": timed(env.reset, resets),
    }
    env.reset()
    answer = env.step({"code": loop}).observation["stdout"]
    result["loop"] = timed(lambda: env.step({"code": loop}), loops)
    result["loop_answer"] = answer
executor = PyExecutor()
timed(lambda: executor.run(trivial), 200)
result["inline"] = timed(lambda: executor.run(trivial), steps)
print(json.dumps(result))
"""


def timed(call, count: int) -> list[float]:
    """Seconds each of `count` calls took."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def p50_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def p99_ms(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3


def measure_envtorch(steps: int, resets: int, loops: int) -> dict[str, float]:
    """Every envtorch figure, against one `envtorch serve python` process."""
    started = time.perf_counter()
    with LocalProcessProvider("python", max_sessions=2 * SESSIONS) as server:
        startup = time.perf_counter() - started
        with EnvClient(server.url, PythonEnv) as env:
            env.reset()
            timed(lambda: env.step(CodeAction(code=TRIVIAL)), 200)
            step = timed(lambda: env.step(CodeAction(code=TRIVIAL)), steps)
            reset = timed(env.reset, resets)
            env.reset()
            assert env.step(CodeAction(code=LOOP)).value == sum(range(100_000))
            loop = timed(lambda: env.step(CodeAction(code=LOOP)), loops)
        per_session = max(50, steps // SESSIONS)
        wall = asyncio.run(concurrent_steps(server.url, per_session))
    return {
        "inline_p50": inline_step_ms(steps),
        "echo_p50": echo_step_ms(steps),
        "step_p50": p50_ms(step),
        "step_p99": p99_ms(step),
        "reset_p50": p50_ms(reset),
        "loop_p50": p50_ms(loop),
        "steps_per_s": SESSIONS * per_session / wall,
        "startup_s": startup,
    }


def inline_step_ms(steps: int) -> float:
    """p50 of a trivial `PythonEnv.step` in this process: the sandbox without the wire."""
    with PythonEnv() as env:
        env.reset()
        timed(lambda: env.step(CodeAction(code=TRIVIAL)), 200)
        return p50_ms(timed(lambda: env.step(CodeAction(code=TRIVIAL)), steps))


def echo_step_ms(steps: int) -> float:
    """p50 of an echo step over WebSocket: the wire without the sandbox."""
    with LocalProcessProvider("echo") as server, EnvClient(server.url, EchoEnv) as env:
        env.reset()
        action = EchoAction(message="Hello, World!")
        timed(lambda: env.step(action), 200)
        return p50_ms(timed(lambda: env.step(action), steps))


async def concurrent_steps(url: str, per_session: int) -> float:
    """Seconds for `SESSIONS` episodes in one event loop to take `per_session` steps each."""
    clients = [AsyncEnvClient(url, PythonEnv) for _ in range(SESSIONS)]
    await asyncio.gather(*(client.reset() for client in clients))
    action = CodeAction(code=TRIVIAL)

    async def run(client: AsyncEnvClient) -> None:
        for _ in range(per_session):
            await client.step(action)

    start = time.perf_counter()
    await asyncio.gather(*(run(client) for client in clients))
    wall = time.perf_counter() - start
    await asyncio.gather(*(client.close() for client in clients))
    return wall


def native_loop_ms(loops: int) -> float:
    """p50 of the same loop run by plain `exec` in this process, fresh globals each time."""
    compiled = compile(LOOP, "<loop>", "exec")
    return p50_ms(timed(lambda: exec(compiled, {}), loops))


def measure_openenv(steps: int, resets: int, loops: int) -> dict[str, float] | str:
    """OpenEnv's figures, or why they could not be measured."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        return f"not installed (no {python})"
    missing = subprocess.run(
        [str(python), "-c", "import openenv.core.tools.local_python_executor"],
        capture_output=True,
        text=True,
    )
    if missing.returncode:
        reason = (missing.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"cannot import PyExecutor in {PEERS_VENV}: {reason}"
    with tempfile.TemporaryDirectory() as folder:
        server_script = Path(folder, "openenv_coding_server.py")
        client_script = Path(folder, "openenv_coding_client.py")
        server_script.write_text(textwrap.dedent(OPENENV_SERVER))
        client_script.write_text(textwrap.dedent(OPENENV_CLIENT))
        port = _free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            [str(python), str(server_script), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for_port(port, server)
            startup = time.perf_counter() - started
            command = [str(python), str(client_script), f"http://127.0.0.1:{port}"]
            command += [str(steps), str(resets), str(loops), json.dumps(TRIVIAL), json.dumps(LOOP)]
            run = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if run.returncode:
                return f"its client failed: {run.stderr.strip().splitlines()[-1:]}"
            measured = json.loads(run.stdout.strip().splitlines()[-1])
        except RuntimeError as error:
            return str(error)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if measured["loop_answer"].strip() != str(sum(range(100_000))):
        return f"its loop gave {measured['loop_answer']!r}"
    return {
        "step_p50": p50_ms(measured["step"]),
        "step_p99": p99_ms(measured["step"]),
        "reset_p50": p50_ms(measured["reset"]),
        "loop_p50": p50_ms(measured["loop"]),
        "inline_p50": p50_ms(measured["inline"]),
        "startup_s": startup,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = (process.stderr.read().strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"its server exited early: {error}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("its server did not open its port")


ROWS = [
    ("trivial step p50 (ms)", "step_p50", "{:.3f}", "<= 0.4 ms"),
    ("trivial step p99 (ms)", "step_p99", "{:.3f}", ""),
    ("reset p50 (ms)", "reset_p50", "{:.2f}", "<= 15 ms"),
    ("10^5 loop p50 (ms)", "loop_p50", "{:.2f}", "~ native"),
    (f"steps/s, {SESSIONS} sessions", "steps_per_s", "{:.0f}", ""),
    ("server start to /health (s)", "startup_s", "{:.2f}", ""),
    ("in-process step p50 (ms)", "inline_p50", "{:.3f}", ""),
    ("echo step over WebSocket (ms)", "echo_p50", "{:.3f}", ""),
]


def print_table(ours: dict[str, float], peer: dict[str, float] | str, native: float) -> None:
    print(f"{'metric':<30} {'envtorch':>10} {'openenv':>10} {'ratio':>8}  goal")
    for label, key, form, goal in ROWS:
        mine = form.format(ours[key])
        theirs = peer.get(key) if isinstance(peer, dict) else None
        ratio = ""
        if theirs is not None:
            better = ours[key] / theirs if key == "steps_per_s" else theirs / ours[key]
            ratio = f"{better:.1f}x"
        shown = form.format(theirs) if theirs is not None else "-"
        print(f"{label:<30} {mine:>10} {shown:>10} {ratio:>8}  {goal}")
    print(f"{'native exec 10^5 loop (ms)':<30} {native:>10.2f}")
    print("in-process: envtorch's sandboxed PythonEnv.step, openenv's PyExecutor.run, no wire;")
    print("echo over WebSocket: the same server and client without a sandbox (the wire's floor)")
    print(f"sandbox loop / native exec: {ours['loop_p50'] / native:.2f}x")
    if isinstance(peer, dict):
        print(f"openenv loop / native exec: {peer['loop_p50'] / native:.1f}x")
        print("ratio: how many times better envtorch is (lower latency, more steps/s)")
        print(f"openenv's coding env allows 1 session, so no {SESSIONS}-session figure")
    else:
        print(f"openenv: not available: {peer}")
        print(
            f"  reference only (FIELD-NOTES, not this run): its coding env's trivial step p50 "
            f"{RECORDED_OPENENV_STEP_MS} ms, without a sandbox, one session"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=2000, help="trivial steps timed")
    parser.add_argument("--resets", type=int, default=100, help="resets timed")
    parser.add_argument("--loops", type=int, default=10, help="10^5 loops timed")
    args = parser.parse_args()
    native = native_loop_ms(args.loops)
    ours = measure_envtorch(args.steps, args.resets, args.loops)
    peer = measure_openenv(args.steps, args.resets, args.loops)
    print_table(ours, peer, native)


if __name__ == "__main__":
    main()
