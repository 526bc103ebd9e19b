from dataclasses import dataclass
from typing import Any

import pytest

from envtorch import Action, Compose, Observation, RewardSum, State
from envtorch.envs.math import AnswerReward
from envtorch.envs.python.rewards import (
    CodeQualityBonus,
    CodeSafetyPenalty,
    find_risky_code,
)


@dataclass(kw_only=True)
class Code(Action):
    code: str


@dataclass(kw_only=True)
class Result(Observation):
    stdout: str = ""
    value: Any = None
    success: bool = True


def reward(transform, code, task=None, **result):
    return transform(Result(**result), Code(code=code), State(task=task))


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"value": 42}, 1.0),
        ({"value": 42.0000000001}, 1.0),
        ({"value": "42"}, 1.0),
        ({"value": 41}, 0.0),
        ({"value": 42.5}, 0.0),
        ({"stdout": "the answer is 40\nno, 42\n"}, 1.0),
        ({"stdout": "42 is close to 43"}, 0.0),
        ({"stdout": "nothing numeric"}, 0.0),
        ({}, 0.0),
    ],
)
def test_math_answer_from_the_task(result, expected):
    observation = reward(AnswerReward(), "x", task={"answer": 42}, **result)
    assert observation.reward == expected
    assert observation.done is bool(expected)


def test_math_answer_from_the_constructor_fractions_and_strings():
    assert reward(AnswerReward(answer="3/4"), "x", value=0.75).reward == 1.0
    assert reward(AnswerReward(answer="Paris"), "x", value=" Paris ").reward == 1.0
    assert reward(AnswerReward(answer=True), "x", value="1").reward == 0.0
    assert reward(AnswerReward(answer=987654321), "x", value=987654322).reward == 0.0
    assert reward(AnswerReward(answer=0.3), "x", value=0.1 + 0.2).reward == 1.0
    assert reward(AnswerReward(), "x", task=None, value=1).reward == 0.0


def test_math_answer_ignores_reset():
    observation = AnswerReward(answer=1)(Result(value=1), None, State())
    assert observation.reward is None and not observation.done


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.system('ls')",
        "from subprocess import run",
        "import socket",
        "import ctypes",
        "eval('1+1')",
        "exec('x = 1')",
        "__import__('os')",
        "().__class__.__bases__[0].__subclasses__()",
    ],
)
def test_safety_penalty_on_hostile_code(code):
    observation = reward(CodeSafetyPenalty(penalty=2.0), code)
    assert observation.reward == -2.0
    assert observation.metadata["safety_findings"]


@pytest.mark.parametrize(
    "code",
    [
        "x = sum(range(10))",
        "print('import os; os.system(1)')",
        "import math\nmath.sqrt(2)",
        "def f(:\n",
    ],
)
def test_safety_penalty_spares_harmless_code(code):
    observation = reward(CodeSafetyPenalty(), code)
    assert observation.reward == 0.0
    assert "safety_findings" not in observation.metadata


def test_findings_carry_line_numbers():
    findings = find_risky_code("x = 1\nimport subprocess\neval('2')")
    assert [(f.line, f.what) for f in findings] == [
        (2, "imports subprocess"),
        (3, "calls eval()"),
    ]


def test_quality_bonus():
    bonus = CodeQualityBonus(bonus=3.0, max_lines=2)
    assert reward(bonus, "x = 1").reward == 3.0
    assert reward(bonus, "x = 1", success=False).reward == 2.0
    assert reward(bonus, "a = 1\nb = 2\nc = 3").reward == 2.0
    assert reward(bonus, "def f(:").reward == 0.0


def test_rewards_compose_and_sum():
    composed = Compose([AnswerReward(), CodeSafetyPenalty(penalty=0.5)])
    observation = reward(composed, "import os\n42", task={"answer": 42}, value=42)
    assert observation.reward == 0.5
    weighted = RewardSum(
        {
            "correct": AnswerReward(),
            "safety": CodeSafetyPenalty(),
            "quality": CodeQualityBonus(),
        },
        weights={"quality": 0.1},
    )
    observation = reward(weighted, "21 * 2", task={"answer": 42}, value=42)
    assert observation.reward == pytest.approx(1.1)
    assert observation.metadata["reward_terms"] == {"correct": 1.0, "safety": 0.0, "quality": 1.0}


def test_a_right_answer_ends_the_episode_inside_sums_and_compositions():
    inside_sum = RewardSum({"correct": AnswerReward(), "safety": CodeSafetyPenalty()})
    observation = reward(inside_sum, "42", task={"answer": 42}, value=42)
    assert observation.done and observation.reward == 1.0
    after_penalty = Compose([CodeSafetyPenalty(), AnswerReward()])
    observation = reward(after_penalty, "import os\n42", task={"answer": 42}, value=42)
    assert observation.done and observation.reward == 0.0


def test_huge_numbers_compare_without_overflow():
    assert reward(AnswerReward(answer="0.3"), "x", value="1e400").reward == 0.0
    assert reward(AnswerReward(answer="1e400"), "x", value="1e400").reward == 1.0
