"""The Gymnasium bridge's cost: CartPole in-process through envtorch against raw Gymnasium, and
served CartPole against served echo, measured in the same run.

- in-process: `make("gymnasium:CartPole-v1").step(action)` against `gymnasium.make("CartPole-v1")
  .step(action)`, and the round trip `to_gymnasium(make("gymnasium:CartPole-v1"))` against the
  same raw env (both directions of the bridge stacked).
- remote: one `EnvClient` stepping `envtorch serve gymnasium:CartPole-v1` against one stepping
  `envtorch serve echo` (the wire's own floor), each server in its own process.

The paths compared take turns, block by block, and each figure is the median block, so a busy
machine slows both sides of a ratio alike. Episodes reset when they end (resets count); actions
alternate 0, 1. Prints µs per step, ratios, and the goal (in-process at most 2.5x raw Gymnasium)
as met or MISSED.

    .venv/bin/python bench/gymnasium_bridge.py [--blocks 15] [--steps 2000] [--remote-blocks 200]
        [--remote-steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import gymnasium

from envtorch import LocalProcessProvider, make, to_gymnasium

IN_PROCESS_GOAL = 2.5

Stepper = Callable[[int], None]
"""Runs `steps` steps of one path, resetting episodes as they end."""


def gymnasium_stepper(env: gymnasium.Env) -> Stepper:
    env.reset(seed=0)

    def run(steps: int) -> None:
        for index in range(steps):
            _, _, terminated, truncated, _ = env.step(index % 2)
            if terminated or truncated:
                env.reset()

    return run


def envtorch_stepper(env) -> Stepper:
    actions = [env.action_type(action=0), env.action_type(action=1)]
    env.reset(seed=0)

    def run(steps: int) -> None:
        for index in range(steps):
            if env.step(actions[index % 2]).done:
                env.reset()

    return run


def echo_stepper(env) -> Stepper:
    action = env.action_type(message="Hello, World!")
    env.reset(seed=0)

    def run(steps: int) -> None:
        for _ in range(steps):
            env.step(action)

    return run


def medians(steppers: dict[str, Stepper], blocks: int, steps: int) -> dict[str, float]:
    """Median µs per step of each path, the paths taking turns block by block."""
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(blocks):
        for name, run in steppers.items():
            start = time.perf_counter()
            run(steps)
            times[name].append((time.perf_counter() - start) / steps * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=2_000, help="in-process steps per block")
    parser.add_argument("--remote-blocks", type=int, default=200)
    parser.add_argument("--remote-steps", type=int, default=10, help="remote steps per block")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    local = medians(
        {
            "raw": gymnasium_stepper(gymnasium.make("CartPole-v1")),
            "ours": envtorch_stepper(make("gymnasium:CartPole-v1")),
            "both ways": gymnasium_stepper(to_gymnasium(make("gymnasium:CartPole-v1"))),
        },
        args.blocks,
        args.steps,
    )
    with (
        LocalProcessProvider("gymnasium:CartPole-v1") as cartpole_server,
        LocalProcessProvider("echo") as echo_server,
        cartpole_server.client() as cartpole,
        echo_server.client() as echo,
    ):
        remote = medians(
            {"echo": echo_stepper(echo), "cartpole": envtorch_stepper(cartpole)},
            args.remote_blocks,
            args.remote_steps,
        )

    rows = [
        ("raw gymnasium.make(CartPole-v1).step (peer)", local["raw"], local["raw"]),
        ("envtorch make(gymnasium:CartPole-v1).step", local["ours"], local["raw"]),
        ("to_gymnasium(make(gymnasium:CartPole-v1)).step", local["both ways"], local["raw"]),
        ("remote echo step, EnvClient (peer)", remote["echo"], remote["echo"]),
        ("remote gymnasium:CartPole-v1 step, EnvClient", remote["cartpole"], remote["echo"]),
    ]
    print(f"{'path':<50} {'µs/step':>9} {'ratio':>7}")
    for name, value, peer in rows:
        print(f"{name:<50} {value:>9.2f} {value / peer:>6.2f}x")
    ratio = local["ours"] / local["raw"]
    verdict = "met" if ratio <= IN_PROCESS_GOAL else "MISSED"
    print(f"goal: in-process step <= {IN_PROCESS_GOAL}x raw Gymnasium: {verdict} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
