"""`envtorch demo`: a real collection of sandboxed CodeAct episodes on generated math tasks.

A scripted policy writes Python for each question it can parse (arithmetic, and paying for packs)
and guesses on the others, so some episodes earn 1.0 and others 0.0. Every episode runs in its
own sandboxed Python process; the answers stay on the environment's side.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

_ARITHMETIC = re.compile(r"What is ([\d\s()+\-*]+)\?")
_PACKS = re.compile(r"buys (\d+) packs of \w+ at (\d+) dollars a pack")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser(
        "demo", help="collect sandboxed CodeAct episodes on math tasks and summarise them"
    )
    parser.add_argument("--tasks", type=int, default=16, help="how many math tasks")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per task")
    parser.add_argument("--concurrency", type=int, default=8, help="episodes in flight")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return its exit code."""
    from envtorch.collect import Batch, Collector
    from envtorch.envs.math import math_tasks
    from envtorch.registry import make

    tasks = math_tasks(args.tasks, seed=args.seed)
    collector = Collector(
        envs=lambda: make("python-math", step_timeout=5.0, max_steps=2),
        policy=scripted_policy,
        tasks=tasks,
        group_size=args.group_size,
        batch_size=args.group_size * 4,
        concurrency=args.concurrency,
        total=args.tasks * args.group_size,
        seed=args.seed,
    )
    print(
        f"envtorch demo: {args.tasks * args.group_size} CodeAct episodes ({args.tasks} math tasks "
        f"x {args.group_size}), each in its own sandboxed Python, {args.concurrency} at a time"
    )
    start = time.perf_counter()
    trajectories = Batch(trajectory for batch in collector for trajectory in batch)
    seconds = time.perf_counter() - start
    print_summary(trajectories, seconds)
    return 0 if trajectories and not trajectories.failures() else 1


def scripted_policy(inputs: list[Any]) -> list[Any]:
    """One code action per waiting episode, written from the question it was shown."""
    from envtorch.envs.python import CodeAction

    return [
        CodeAction(code=_solution(str(item.first_observation.prompt), len(item.history)))
        for item in inputs
    ]


def _solution(question: str, attempt: int) -> str:
    """Python that answers `question`: computed where the policy understands it, else a guess."""
    arithmetic = _ARITHMETIC.search(question)
    if arithmetic:
        return f"answer = {arithmetic.group(1)}\nprint('computed', answer)\nanswer"
    packs = _PACKS.search(question)
    if packs:
        return f"packs, price = {packs.group(1)}, {packs.group(2)}\npacks * price"
    numbers = [int(n) for n in re.findall(r"\d+", question)]
    return f"guess = {sum(numbers) + attempt}\nprint('guessing', guess)"


def print_summary(trajectories: Any, seconds: float) -> None:
    """A small table: episodes, mean reward, solved share, turns/s and sandbox resets/s."""
    completed = trajectories.completed()
    rewards = completed.rewards()
    turns = sum(len(trajectory.steps) for trajectory in trajectories)
    rows = [
        ("episodes", f"{len(trajectories)}"),
        ("failed (infrastructure)", f"{len(trajectories.failures())}"),
        ("mean reward", f"{sum(rewards) / max(len(rewards), 1):.3f}"),
        ("solved", f"{sum(reward > 0 for reward in rewards)} of {len(rewards)}"),
        ("turns", f"{turns}"),
        ("turns/s", f"{turns / seconds:.1f}"),
        ("sandbox resets/s", f"{len(trajectories) / seconds:.1f}"),
        ("wall time", f"{seconds:.2f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>12}")
