"""GRPO-style rollouts over the wire, top to bottom.

A sandboxed CodeAct server runs in a local process (`envtorch serve
examples/python_math_one_turn.yaml`: `python-math` with one step per episode); 16 clients collect
groups of 4 episodes per math task; each batch becomes group-relative advantages and a
Hugging Face dataset, where a trainer would take over. The policy is scripted and, like a sampled
LLM, gets some episodes of a group right and others wrong; swap in a model call that returns one
`CodeAction` per input.
"""

import re
from pathlib import Path

from envtorch import AsyncEnvClient, Collector, LocalProcessProvider
from envtorch.envs.math import math_tasks
from envtorch.envs.python import CodeAction, PythonEnv

TASKS = 8
GROUP_SIZE = 4
ONE_TURN_MATH = Path(__file__).with_name("python_math_one_turn.yaml")
ARITHMETIC = re.compile(r"What is ([\d\s()+\-*]+)\?")


def policy(inputs):
    """One code action per waiting episode: every other episode computes the answer."""
    actions = []
    for item in inputs:
        question = item.first_observation.prompt
        expression = ARITHMETIC.search(question)
        if expression and item.episode % 2 == 0:
            actions.append(CodeAction(code=f"answer = {expression.group(1)}\nanswer"))
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
        for number, batch in enumerate(collector):
            batch = batch.completed()
            rewards, advantages = batch.rewards(), batch.advantages()
            dataset = batch.to_dataset()
            print(f"batch {number}: {len(batch)} episodes, mean reward {sum(rewards) / len(batch)}")
            for row, advantage in zip(dataset, advantages, strict=True):
                print(
                    f"  group {row['group']} reward {row['reward']:.1f} advantage {advantage:+.2f}"
                )


if __name__ == "__main__":
    main()
