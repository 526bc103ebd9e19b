"""GRPO-style rollouts over the wire, top to bottom.

A sandboxed CodeAct server runs in a local process (`envtorch serve
examples/python_math_one_turn.yaml`: `python-math` with one step per episode); 16 clients collect
groups of 4 episodes per math task; each batch becomes group-relative advantages and a
Hugging Face dataset, where a trainer would take over. The policy is scripted and, like a sampled
LLM, gets some episodes of a group right and others wrong, so most groups carry a learning
signal (a non-zero advantage); swap in a model call that returns one `CodeAction` per input.
"""

import re
from pathlib import Path

from envtorch import AsyncEnvClient, Collector, LocalProcessProvider
from envtorch.envs.math import math_tasks
from envtorch.envs.python import CodeAction, PythonEnv

TASKS = 8
GROUP_SIZE = 4
ONE_TURN_MATH = Path(__file__).with_name("python_math_one_turn.yaml")
SOLUTIONS = [
    (re.compile(r"What is ([\d\s()+\-*]+)\?"), "answer = {0}"),
    (
        re.compile(r"buys (\d+) packs of \w+ at (\d+) dollars"),
        "packs, price = {0}, {1}\nanswer = packs * price",
    ),
    (
        re.compile(r"shares (\d+) \w+ equally among (\d+)"),
        "total, friends = {0}, {1}\nanswer = total // friends",
    ),
    (
        re.compile(r"has (\d+) \w+\. \w+ gets (\d+) more and gives (\d+)"),
        "start, more, given = {0}, {1}, {2}\nanswer = start + more - given",
    ),
]
"""What the scripted policy knows: a pattern of the generated questions and the code solving it."""


def solution(question: str) -> str | None:
    """Code that computes the answer to a question the policy recognises, else None."""
    for pattern, code in SOLUTIONS:
        found = pattern.search(question)
        if found:
            return code.format(*found.groups()) + "\nanswer"
    return None


def policy(inputs):
    """One code action per waiting episode: every other episode solves the question."""
    actions = []
    for item in inputs:
        code = solution(item.first_observation.prompt)
        if code is not None and item.episode % 2 == 0:
            actions.append(CodeAction(code=code))
        else:
            actions.append(CodeAction(code="print('I think it is', 41 + 1)"))
    return actions


def main() -> None:
    with LocalProcessProvider(str(ONE_TURN_MATH), max_sessions=16) as server:
        collector = Collector(
            envs=lambda: AsyncEnvClient(server.url, PythonEnv),
            policy=policy,
            tasks=math_tasks(TASKS, seed=0),
            group_size=GROUP_SIZE,
            batch_size=GROUP_SIZE * 4,
            concurrency=16,
            total=TASKS * GROUP_SIZE,
            seed=0,
        )
        signal = 0
        for number, batch in enumerate(collector):
            batch = batch.completed()
            rewards, advantages = batch.rewards(), batch.advantages()
            dataset = batch.to_dataset()
            print(f"batch {number}: {len(batch)} episodes, mean reward {sum(rewards) / len(batch)}")
            for row, advantage in zip(dataset, advantages, strict=True):
                print(
                    f"  group {row['group']} reward {row['reward']:.1f} advantage {advantage:+.2f}"
                )
            signal += len({row["group"] for row, a in zip(dataset, advantages, strict=True) if a})
        print(f"{signal} of {TASKS} groups have non-zero advantages")


if __name__ == "__main__":
    main()
