"""Dialog turns per second through `envtorch.collect.Collector` with a scripted policy.

Usage: python bench/collector.py [--episodes N] [--turns T] [--repeats R] [--torchrl-episodes M]

Rows: echo (T turns per episode) and math (one turn per episode) in-process, 64 episodes in
flight, and echo over WebSocket (64 `AsyncEnvClient` sessions of one local server). The peer is
TorchRL's LLMCollector + ChatEnv fed by a DataLoader, with a scripted echo policy and 64 dialogs
batched, run by bench/torchrl_peer.py in the interpreter named by TORCHRL_PYTHON (default
/tmp/torchrl-venv/bin/python; a throwaway venv, never the project's) for M dialogs of T turns and
5*M dialogs of one turn. Each envtorch row is divided by the TorchRL row with as many turns per
dialog. Without torchrl the figure recorded in shared/FIELD-NOTES.md is printed as a reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from envtorch.client import AsyncEnvClient
from envtorch.collect import Collector
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.math import MathAnswer, MathEnv, math_tasks
from envtorch.providers.local import LocalProcessProvider

IN_PROCESS_GOAL = 20_000
WEBSOCKET_GOAL = 3_000
TORCHRL_REFERENCE = (96, 151)
CONCURRENCY = 64
TORCHRL_DEFAULT_PYTHON = Path("/tmp/torchrl-venv/bin/python")
TORCHRL_PEER = Path(__file__).with_name("torchrl_peer.py")
TORCHRL_TIMEOUT = 900


def turns_per_second(collector: Collector) -> float:
    """Turns collected per wall second while iterating `collector` to the end.

    Also prints how much of the wall time this process had the CPU: on a shared machine a low
    share means other processes slowed the figure down.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    turns = sum(len(trajectory.steps) for batch in collector for trajectory in batch)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"  ({turns} turns in {wall:.2f} s wall, {cpu:.2f} s CPU)")
    return turns / wall


def scripted(envs, policy, tasks: list, episodes: int) -> float:
    """Turns/s of a collection with 64 episodes in flight and no progress bar.

    The envs own the episode length: their `max_steps` ends each episode.
    """
    collector = Collector(
        envs,
        policy,
        tasks=tasks,
        batch_size=CONCURRENCY,
        concurrency=CONCURRENCY,
        total=episodes,
        progress=False,
    )
    return turns_per_second(collector)


def say_hello(inputs: list) -> list[EchoAction]:
    return [EchoAction(message="hello")] * len(inputs)


def echo_in_process(episodes: int, turns: int) -> float:
    return scripted(partial(EchoEnv, max_steps=turns), say_hello, [None], episodes)


def math_in_process(episodes: int) -> float:
    tasks = math_tasks(1000, seed=0)
    answers = {task["question"]: task["answer"] for task in tasks}

    def answer(inputs: list) -> list[MathAnswer]:
        return [MathAnswer(answer=answers[item.observation.question]) for item in inputs]

    return scripted(partial(MathEnv, max_steps=1), answer, tasks, episodes)


def echo_over_websocket(episodes: int, turns: int) -> float:
    """The echo row again, each of the 64 slots an `AsyncEnvClient` of one local server.

    The server runs `envtorch serve` on a task file giving its echo envs `max_steps: turns`.
    """
    with tempfile.TemporaryDirectory() as folder:
        task_file = Path(folder, "echo.yaml")
        task_file.write_text(f"id: echo-{turns}\nenv: echo\nmax_steps: {turns}\n")
        with LocalProcessProvider(str(task_file), max_sessions=CONCURRENCY) as provider:

            def client() -> AsyncEnvClient:
                return AsyncEnvClient(provider.url, EchoEnv)

            return scripted(client, say_hello, [None], episodes)


@dataclass
class PeerResult:
    """TorchRL's figure for one row, or why there is none."""

    turns_per_second: float | None
    note: str


def torchrl_python() -> str | None:
    """The interpreter named by TORCHRL_PYTHON, else the documented default venv if present."""
    python = os.environ.get("TORCHRL_PYTHON")
    if python:
        return python
    return str(TORCHRL_DEFAULT_PYTHON) if TORCHRL_DEFAULT_PYTHON.exists() else None


def imports_torchrl(python: str) -> bool:
    try:
        probe = subprocess.run([python, "-c", "import torchrl"], capture_output=True)
    except OSError:
        return False
    return probe.returncode == 0


def torchrl_turns_per_second(python: str, turns: int, episodes: int) -> PeerResult:
    """Run bench/torchrl_peer.py in `python` (its own process: torchrl sets "spawn" globally)."""
    command = [python, str(TORCHRL_PEER), "--batch", str(CONCURRENCY)]
    command += ["--turns", str(turns), "--episodes", str(episodes)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=TORCHRL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        return PeerResult(None, f"failed: {error}")
    if run.returncode != 0:
        last_line = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return PeerResult(None, f"failed in {python}: {last_line}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(
        f"  (TorchRL {result['torchrl']}: {result['turns']} turns, {result['dialogs']} dialogs"
        f" in {result['wall']:.2f} s wall, {result['cpu']:.2f} s CPU)"
    )
    return PeerResult(result["turns"] / result["wall"], f"torchrl {result['torchrl']}")


def torchrl_rows(turns: int, episodes: int) -> tuple[PeerResult, PeerResult]:
    """TorchRL's multi-turn and one-turn figures, or why they are missing."""
    python = torchrl_python()
    if python is None:
        missing = PeerResult(None, "not installed (set TORCHRL_PYTHON to a venv with torchrl)")
        return missing, missing
    if not imports_torchrl(python):
        missing = PeerResult(None, f"not installed in {python}")
        return missing, missing
    multi_turn = torchrl_turns_per_second(python, turns, episodes)
    one_turn = torchrl_turns_per_second(python, 1, 5 * episodes)
    return multi_turn, one_turn


def median_of(repeats: int, measure, *args) -> float:
    return statistics.median(measure(*args) for _ in range(repeats))


def ratio(envtorch: float, peer: PeerResult) -> str:
    """envtorch's turns/s over TorchRL's, or the reference figure's when TorchRL did not run."""
    if peer.turns_per_second is not None:
        return f"{envtorch / peer.turns_per_second:.0f}x"
    return f"{envtorch / statistics.fmean(TORCHRL_REFERENCE):.0f}x (vs ref)"


def peer_row(label: str, peer: PeerResult) -> str:
    """A table row for TorchRL: its turns/s, or why it is missing."""
    if peer.turns_per_second is None:
        return f"{label:<50}  {peer.note}"
    return f"{label:<50}{peer.turns_per_second:>10.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4096)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torchrl-episodes", type=int, default=128)
    args = parser.parse_args()
    echo = median_of(args.repeats, echo_in_process, args.episodes, args.turns)
    math = median_of(args.repeats, math_in_process, args.episodes)
    remote = median_of(args.repeats, echo_over_websocket, args.episodes // 4, args.turns)
    torchrl_multi, torchrl_one = torchrl_rows(args.turns, args.torchrl_episodes)
    echo_label = f"envtorch echo in-process, {args.turns} turns/episode"
    print(f"{'collector (scripted policy, 64 in flight)':<50}{'turns/s':>10}{'vs TorchRL':>16}")
    print(f"{echo_label:<50}{echo:>10.0f}{ratio(echo, torchrl_multi):>16}")
    print(f"{'envtorch math in-process, 1 turn/episode':<50}{math:>10.0f}", end="")
    print(f"{ratio(math, torchrl_one):>16}")
    remote_label = f"envtorch echo over WebSocket, 64 sessions, {args.turns} turns"
    print(f"{remote_label:<50}{remote:>10.0f}{ratio(remote, torchrl_multi):>16}")
    print(peer_row(f"TorchRL LLMCollector + ChatEnv, {args.turns} turns/dialog", torchrl_multi))
    print(peer_row("TorchRL LLMCollector + ChatEnv, 1 turn/dialog", torchrl_one))
    if torchrl_multi.turns_per_second is None or torchrl_one.turns_per_second is None:
        low, high = TORCHRL_REFERENCE
        print(f"  reference only: TorchRL did {low}-{high} turns/s on this machine (FIELD-NOTES)")
    verdict = "met" if echo >= IN_PROCESS_GOAL else "MISSED"
    print(f"goal: in-process >= {IN_PROCESS_GOAL} turns/s: {verdict} ({echo:.0f})")
    verdict = "met" if remote >= WEBSOCKET_GOAL else "MISSED"
    print(f"goal: WebSocket 64 sessions >= {WEBSOCKET_GOAL} turns/s: {verdict} ({remote:.0f})")


if __name__ == "__main__":
    main()
