"""Dialog turns per second through `envtorch.collect.Collector` with a scripted policy.

Usage: python bench/collector.py [--episodes N] [--turns T] [--repeats R]

Rows: echo (T turns per episode) and math (one turn per episode) in-process, 64 episodes in
flight; the WebSocket row (64 sessions) once `envtorch.client` exists. TorchRL's LLMCollector +
ChatEnv is the peer: it is looked for in the interpreter named by TORCHRL_PYTHON (a throwaway venv,
never the project's); when absent the figure recorded in shared/FIELD-NOTES.md is printed as a
reference only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from envtorch.collect import Collector
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.math import MathAnswer, MathEnv, math_tasks

IN_PROCESS_GOAL = 20_000
WEBSOCKET_GOAL = 3_000
TORCHRL_REFERENCE = (96, 151)
CONCURRENCY = 64


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


def echo_in_process(episodes: int, turns: int) -> float:
    action = EchoAction(message="hello")
    collector = Collector(
        EchoEnv,
        lambda inputs: [action] * len(inputs),
        tasks=[None],
        max_steps=turns,
        batch_size=CONCURRENCY,
        concurrency=CONCURRENCY,
        total=episodes,
        progress=False,
    )
    return turns_per_second(collector)


def math_in_process(episodes: int) -> float:
    tasks = math_tasks(1000, seed=0)
    answers = {task["question"]: task["answer"] for task in tasks}
    collector = Collector(
        MathEnv,
        lambda inputs: [MathAnswer(answer=answers[i.observation.question]) for i in inputs],
        tasks=tasks,
        batch_size=CONCURRENCY,
        concurrency=CONCURRENCY,
        total=episodes,
        progress=False,
    )
    return turns_per_second(collector)


def websocket_status() -> str:
    """Why the WebSocket row is not measured yet."""
    try:
        from envtorch.client import AsyncEnvClient  # noqa: F401
    except ImportError:
        return "not measured: envtorch.client has not landed"
    return "not measured: envtorch.client landed after this script was written"


def torchrl_status() -> str:
    """Whether TorchRL is installed in the interpreter named by TORCHRL_PYTHON."""
    python = os.environ.get("TORCHRL_PYTHON")
    if not python:
        return "not installed (set TORCHRL_PYTHON to a venv's python that has torchrl)"
    probe = subprocess.run([python, "-c", "import torchrl"], capture_output=True)
    if probe.returncode != 0:
        return f"not installed in {python}"
    return f"installed in {python}, not measured by this script"


def median_of(repeats: int, measure, *args) -> float:
    return statistics.median(measure(*args) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4096)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    echo = median_of(args.repeats, echo_in_process, args.episodes, args.turns)
    math = median_of(args.repeats, math_in_process, args.episodes)
    reference = statistics.fmean(TORCHRL_REFERENCE)
    print(f"{'collector (scripted policy)':<46}{'turns/s':>10}{'vs TorchRL ref':>16}")
    print(f"{f'envtorch echo in-process, {args.turns} turns/episode':<46}{echo:>10.0f}", end="")
    print(f"{echo / reference:>15.0f}x")
    print(f"{'envtorch math in-process, 1 turn/episode':<46}{math:>10.0f}", end="")
    print(f"{math / reference:>15.0f}x")
    print(f"{'envtorch echo over WebSocket, 64 sessions':<46}  {websocket_status()}")
    print(f"{'TorchRL LLMCollector + ChatEnv':<46}  {torchrl_status()}")
    low, high = TORCHRL_REFERENCE
    print(f"  reference only: TorchRL did {low}-{high} turns/s on this machine (FIELD-NOTES)")
    verdict = "met" if echo >= IN_PROCESS_GOAL else "MISSED"
    print(f"goal: in-process >= {IN_PROCESS_GOAL} turns/s: {verdict} ({echo:.0f})")
    print(f"goal: WebSocket 64 sessions >= {WEBSOCKET_GOAL} turns/s: not measured")


if __name__ == "__main__":
    main()
