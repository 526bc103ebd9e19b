"""The math environment: answer an arithmetic or word problem, rewarded by an answer string.

A task is a mapping with a `question` and an `answer` (rows from `math_tasks()`, from
`reasoning_gym_tasks()`, or from any dataset shaped so). The observation carries the question only;
the answer stays in `state.task`, where the reward transform reads it.

```python
env = MathEnv()
obs = env.reset(task={"question": "What is 6 * 7?", "answer": "42"})
obs = env.step(MathAnswer(answer="42"))
obs.reward, obs.done
```
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from envtorch.core import Action, Environment, Observation, RewardTransform, State
from envtorch.core.extras import import_optional
from envtorch.core.transforms import TransformLike


@dataclass(kw_only=True)
class MathAnswer(Action):
    """The policy's answer; a `\\boxed{...}` part or the last number in it counts when present."""

    answer: str


@dataclass(kw_only=True)
class MathObservation(Observation):
    """The question to answer (the answer itself is never part of an observation)."""

    question: str = ""


class AnswerReward(RewardTransform):
    """1.0 when the step states the expected answer, else 0.0; a right answer ends the episode.

    The expected answer comes from the constructor, or else from the task's `answer` (a mapping's
    key or an attribute), read from the state so it stays on the environment's side. The step
    states its answer as a `MathAnswer` action, or, for code, as its trailing expression's value or
    else what it printed. Whole numbers compare exactly, other numbers with a relative and absolute
    `tolerance`; other answers compare as stripped strings (see `answers_match`). It works alone, in
    `Compose`, or weighed inside a `RewardSum`.
    """

    def __init__(self, answer: Any = None, tolerance: float = 1e-6) -> None:
        self.answer = answer
        self.tolerance = tolerance

    def score(self, observation: Observation, action: Action, state: State) -> float:
        """1.0 for a right answer, which also marks the observation `done`; else 0.0."""
        expected = self._expected(state)
        given = _stated_answer(observation, action)
        if expected is None or given is None:
            return 0.0
        if not answers_match(given, str(expected), self.tolerance):
            return 0.0
        observation.done = True
        return 1.0

    def _expected(self, state: State) -> Any:
        if self.answer is not None:
            return self.answer
        task = state.task
        if isinstance(task, Mapping):
            return task.get("answer")
        return getattr(task, "answer", None)

    def __repr__(self) -> str:
        return f"AnswerReward(tolerance={self.tolerance})"


def _stated_answer(observation: Observation, action: Action) -> str | None:
    """The answer a step states: a `MathAnswer`, else the code's value, else what it printed."""
    if isinstance(action, MathAnswer):
        return action.answer
    value = getattr(observation, "value", None)
    if value is not None:
        return str(value)
    return getattr(observation, "stdout", None) or None


def answers_match(given: str, expected: str, tolerance: float = 1e-6) -> bool:
    """Whether `given` states `expected`: equal as numbers (`0.5` is `1/2`) or as trimmed text.

    From `given`, a `\\boxed{...}` part is taken when present; otherwise the whole text, and failing
    that its last number ("so the answer is 42." states 42). Whole numbers must be equal; other
    numbers may differ by a relative or absolute `tolerance` (`0.1 + 0.2` states 0.3).
    """
    candidate = _boxed(given)
    if candidate is None:
        candidate = given
        if _same(candidate, expected, tolerance):
            return True
        candidate = _last_number(given) or ""
    return _same(candidate, expected, tolerance)


class MathEnv(Environment[MathAnswer, MathObservation, State]):
    """Answer one math question per episode; the answer earns 1.0 when right, 0.0 otherwise.

    `reset(task=...)` takes a mapping with `question` and `answer`; without a task it draws one
    from `math_tasks` using the reset seed. The default transform is `AnswerReward()`; pass
    another (say a `RewardSum` of it and a format term) to change the reward.
    """

    action_type = MathAnswer
    observation_type = MathObservation
    state_type = State
    metadata = {
        "name": "math",
        "description": "Arithmetic and word problems, rewarded by the answer string.",
        "render_modes": ["ansi"],
    }
    nonblocking = True

    def __init__(self, *, transform: TransformLike | None = None, **kwargs: Any) -> None:
        super().__init__(transform=transform or AnswerReward(), **kwargs)
        self._answered: tuple[str, MathObservation] | None = None

    def _reset(self, *, seed: int | None, task: Any) -> MathObservation:
        if task is None:
            task = _generated_task(self.rng)
            self.state.task = task
        _require_math_task(task)
        self._answered = None
        return MathObservation(question=str(task["question"]))

    def _step(self, action: MathAnswer) -> MathObservation:
        observation = MathObservation(question=str(self.state.task["question"]), done=True)
        self._answered = (action.answer, observation)
        return observation

    def _render(self) -> str:
        """The question and, once answered, the answer given and its reward."""
        question = f"[math] {self.state.task['question']}\n"
        if self._answered is None:
            return question
        answer, observation = self._answered
        reward = "none" if observation.reward is None else f"{observation.reward:g}"
        return f"{question}answer {answer!r}: reward {reward}\n"


def math_tasks(size: int, *, seed: int = 0) -> list[dict[str, str]]:
    """`size` arithmetic and word problems as `{"question", "answer"}` rows, the same per seed."""
    rng = random.Random(seed)
    return [_generated_task(rng) for _ in range(size)]


def reasoning_gym_tasks(name: str, size: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """`size` tasks from reasoning-gym's procedural dataset `name` (the `math` extra).

    Rows keep reasoning-gym's `question`, `answer` and `metadata`, e.g.
    `reasoning_gym_tasks("basic_arithmetic", 100)`.
    """
    reasoning_gym = import_optional(
        "reasoning_gym", extra="math", needed_by="reasoning_gym_tasks()"
    )
    return [dict(entry) for entry in reasoning_gym.create_dataset(name, size=size, seed=seed)]


def _require_math_task(task: Any) -> None:
    if not isinstance(task, Mapping) or "question" not in task or "answer" not in task:
        shape = sorted(task) if isinstance(task, Mapping) else type(task).__name__
        raise ValueError(f"MathEnv needs a task with 'question' and 'answer' keys, got {shape}")


def _generated_task(rng: random.Random) -> dict[str, str]:
    """One problem from the built-in generator: an arithmetic expression or a word problem."""
    if rng.random() < 0.5:
        return _arithmetic_task(rng)
    return _word_task(rng)


def _arithmetic_task(rng: random.Random) -> dict[str, str]:
    """`a op b`, or `(a op b) op c`, over small integers with an integer result."""
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 12)
    first = rng.choice(["+", "-", "*"])
    inner = f"{a} {first} {b}"
    if rng.random() < 0.5:
        return {"question": f"What is {inner}?", "answer": str(_evaluate(a, first, b))}
    second = rng.choice(["+", "-", "*"])
    value = _evaluate(_evaluate(a, first, b), second, c)
    return {"question": f"What is ({inner}) {second} {c}?", "answer": str(value)}


def _evaluate(left: int, operator: str, right: int) -> int:
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    return left * right


_NAMES = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
_THINGS = ["apples", "marbles", "stickers", "books", "coins", "pencils", "shells", "cards"]


def _word_task(rng: random.Random) -> dict[str, str]:
    """A short story problem: getting and giving away, sharing equally, or paying for packs."""
    name, other = rng.sample(_NAMES, 2)
    things = rng.choice(_THINGS)
    kind = rng.randrange(3)
    if kind == 0:
        start, bought = rng.randint(5, 60), rng.randint(1, 40)
        given = rng.randint(1, start + bought)
        question = (
            f"{name} has {start} {things}. {name} gets {bought} more and gives {given} to "
            f"{other}. How many {things} does {name} have now?"
        )
        return {"question": question, "answer": str(start + bought - given)}
    if kind == 1:
        people, each = rng.randint(2, 9), rng.randint(2, 15)
        question = (
            f"{name} shares {people * each} {things} equally among {people} friends. "
            f"How many {things} does each friend get?"
        )
        return {"question": question, "answer": str(each)}
    packs, price = rng.randint(2, 9), rng.randint(2, 15)
    question = (
        f"{name} buys {packs} packs of {things} at {price} dollars a pack. "
        f"How many dollars does {name} pay?"
    )
    return {"question": question, "answer": str(packs * price)}


_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def _boxed(text: str) -> str | None:
    found = _BOXED.findall(text)
    return found[-1] if found else None


def _last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def _same(given: str, expected: str, tolerance: float) -> bool:
    """Equal as numbers when both read as numbers, else equal as case-insensitive trimmed text."""
    given_number, expected_number = _number(given), _number(expected)
    if given_number is not None and expected_number is not None:
        if given_number.denominator == 1 and expected_number.denominator == 1:
            return given_number == expected_number
        scale = max(1, abs(given_number), abs(expected_number))
        return abs(given_number - expected_number) <= Fraction(tolerance) * scale
    return _plain(given) == _plain(expected)


def _number(text: str) -> Fraction | None:
    try:
        return Fraction(_plain(text).replace(",", "").replace("$", ""))
    except (ValueError, ZeroDivisionError):
        return None


def _plain(text: str) -> str:
    return text.strip().rstrip(".").strip().lower()
