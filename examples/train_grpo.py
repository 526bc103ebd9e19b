"""Train a policy from scratch with group-relative advantages, top to bottom.

`envtorch serve math` runs in a local process and asks questions like "What is 37 * 4?"; the
answer stays on the server, whose `AnswerReward` pays 1.0 for a right one. The policy is a small
torch MLP that reads a question as the counts of its characters and picks one of six programs
of the question's two numbers (`a + b`, `a - b`, `a * b`, `b - a`, `a // b`, `a % b`), whose
result it sends as its answer: it starts at chance and has to learn from the env's rewards alone
which program a question wants. Each iteration a collector runs every task of a batch in a
group of episodes; `batch.advantages()` scores each episode against its group, and the update
raises the log-probability of the programs that beat their group (REINFORCE with GRPO's
advantages; the chosen program travels with each step as `policy_data`). The mean reward climbs
from about 0.2 to nearly 1 in 40 iterations, and a plot of it is saved as an SVG.

    python examples/train_grpo.py [PLOT.svg]
"""

import operator
import random
import re
import sys
from pathlib import Path

import torch
from torch import nn

from envtorch import AsyncEnvClient, Batch, Collector, LocalProcessProvider, PolicyOutput
from envtorch.envs.math import MathAnswer, MathEnv

ITERATIONS = 40
TASKS_PER_BATCH = 32
GROUP_SIZE = 8
LEARNING_RATE = 0.01
HIDDEN = 128
SEED = 0
PROGRAMS = ["a + b", "a - b", "a * b", "b - a", "a // b", "a % b"]
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def arithmetic_tasks(seed: int):
    """Endless `{"question", "answer"}` rows: a sum, a difference or a product of two numbers."""
    rng = random.Random(seed)
    while True:
        a, b, symbol = rng.randint(2, 99), rng.randint(2, 99), rng.choice(list(OPERATORS))
        yield {"question": f"What is {a} {symbol} {b}?", "answer": str(OPERATORS[symbol](a, b))}


def features(question: str) -> torch.Tensor:
    """How often each ASCII character occurs in the question."""
    counts = torch.zeros(128)
    for character in question:
        counts[min(ord(character), 127)] += 1
    return counts


def run(program: int, question: str) -> str:
    """The answer program number `program` gives for the question's two numbers."""
    a, b = (int(number) for number in re.findall(r"\d+", question)[:2])
    return str(eval(PROGRAMS[program], {"a": a, "b": b}))


class Policy(nn.Module):
    """Logits over the programs from a question's character counts."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(128, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, len(PROGRAMS))
        )

    def forward(self, questions: list[str]) -> torch.Tensor:
        return self.layers(torch.stack([features(question) for question in questions]))


def make_act(policy: Policy, iteration: int):
    """The collector's policy: sample a program for every waiting episode, from a generator
    seeded by the iteration and the episode, so that a run repeats whatever order the episodes
    come in."""

    def act(inputs):
        questions = [item.observation.question for item in inputs]
        with torch.no_grad():
            probabilities = torch.softmax(policy(questions), -1)
        outputs = []
        for item, question, row in zip(inputs, questions, probabilities, strict=True):
            seed = (SEED * 1_000 + iteration) * 100_000 + item.episode
            program = int(torch.multinomial(row, 1, generator=torch.Generator().manual_seed(seed)))
            answer = MathAnswer(answer=run(program, question))
            outputs.append(PolicyOutput(answer, {"program": program}))
        return outputs

    return act


def collect(url: str, act, tasks: list[dict]) -> Batch:
    """One batch: every task in a group of episodes, each acted on by the policy as it is now
    (a collector per batch, so no episode runs ahead on older weights)."""
    collector = Collector(
        envs=lambda: AsyncEnvClient(url, MathEnv),
        policy=act,
        tasks=tasks,
        group_size=GROUP_SIZE,
        batch_size=len(tasks) * GROUP_SIZE,
        concurrency=32,
        cycle=False,
        seed=SEED,
        progress=False,
    )
    [batch] = collector
    return batch.completed()


def train(iterations: int = ITERATIONS, plot: Path | None = None) -> list[float]:
    """Train for `iterations` batches; return the mean reward of each. Torch runs on one
    thread: for a policy this small that is the fastest."""
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    policy = Policy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=LEARNING_RATE)
    tasks = arithmetic_tasks(SEED)
    mean_rewards = []
    with LocalProcessProvider("math", max_sessions=64) as server:
        for iteration in range(iterations):
            act = make_act(policy, iteration)
            batch = collect(server.url, act, [next(tasks) for _ in range(TASKS_PER_BATCH)])
            advantages = torch.tensor(batch.advantages())
            questions = [trajectory.steps[0].observation.question for trajectory in batch]
            programs = [trajectory.steps[0].policy_data["program"] for trajectory in batch]
            log_probabilities = torch.log_softmax(policy(questions), -1)
            chosen = log_probabilities[torch.arange(len(batch)), programs]
            loss = -(advantages * chosen).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            rewards = batch.rewards()
            mean_rewards.append(sum(rewards) / len(rewards))
            print(f"iteration {iteration:2d}: mean reward {mean_rewards[-1]:.2f}")
    if plot is not None:
        plot.write_text(svg_plot(mean_rewards))
        print(f"reward per iteration plotted in {plot}")
    return mean_rewards


def svg_plot(values: list[float], width: int = 480, height: int = 240, margin: int = 32) -> str:
    """A line plot of `values` (each in [0, 1]) against their index, as an SVG document."""
    span = max(len(values) - 1, 1)

    def point(index: int, value: float) -> str:
        x = margin + index * (width - 2 * margin) / span
        y = height - margin - value * (height - 2 * margin)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(point(index, value) for index, value in enumerate(values))
    bottom, top, right = height - margin, margin, width - margin
    last = len(values) - 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>\n'
        f'<line x1="{margin}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>\n'
        f'<line x1="{margin}" y1="{bottom}" x2="{margin}" y2="{top}" stroke="black"/>\n'
        f'<text x="{margin - 4}" y="{bottom}" text-anchor="end">0</text>\n'
        f'<text x="{margin - 4}" y="{top + 4}" text-anchor="end">1</text>\n'
        f'<text x="{right}" y="{bottom + 14}" text-anchor="end">iteration {last}</text>\n'
        f'<text x="{width / 2}" y="{top - 12}" text-anchor="middle">mean reward</text>\n'
        f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2"/>\n'
        "</svg>\n"
    )


if __name__ == "__main__":
    train(plot=Path(sys.argv[1] if len(sys.argv) > 1 else "train_grpo.svg"))
