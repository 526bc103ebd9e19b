import re

import pytest

from envtorch import make
from envtorch.collect import Collector
from envtorch.core import ResetNeeded, RewardSum, to_builtins
from envtorch.envs.math import (
    AnswerReward,
    MathAnswer,
    MathEnv,
    MathObservation,
    answers_match,
    math_tasks,
    reasoning_gym_tasks,
)

pytestmark = pytest.mark.timeout(60)


def test_a_right_answer_earns_one_and_ends_the_episode():
    env = MathEnv()
    observation = env.reset(task={"question": "What is 6 * 7?", "answer": "42"})
    assert observation == MathObservation(question="What is 6 * 7?")
    observation = env.step(MathAnswer(answer="The answer is \\boxed{42}."))
    assert observation.reward == 1.0 and observation.done
    with pytest.raises(ResetNeeded):
        env.step(MathAnswer(answer="42"))


def test_render_shows_the_question_then_the_answer_and_its_reward():
    env = MathEnv(render_mode="ansi")
    env.reset(task={"question": "What is 6 * 7?", "answer": "42"})
    assert env.render() == "[math] What is 6 * 7?\n"
    env.step(MathAnswer(answer="41"))
    assert env.render() == "[math] What is 6 * 7?\nanswer '41': reward 0\n"


def test_a_wrong_answer_earns_zero():
    env = MathEnv()
    env.reset(task={"question": "What is 6 * 7?", "answer": "42"})
    assert env.step(MathAnswer(answer="41")).reward == 0.0


@pytest.mark.parametrize(
    ("given", "expected", "match"),
    [
        ("42", "42", True),
        (" 42. ", "42", True),
        ("so the answer is 42.", "42", True),
        ("\\boxed{1/2}", "0.5", True),
        ("1,000", "1000", True),
        ("-3", "-3", True),
        ("Paris", "paris", True),
        ("4 or 5", "4", False),
        ("\\boxed{5} but maybe 4", "4", False),
        ("", "4", False),
        ("forty-two", "42", False),
    ],
)
def test_answers_match(given, expected, match):
    assert answers_match(given, expected) is match


def test_built_in_tasks_are_seeded_and_their_answers_are_right():
    assert math_tasks(50, seed=1) == math_tasks(50, seed=1)
    assert math_tasks(50, seed=1) != math_tasks(50, seed=2)
    tasks = math_tasks(300, seed=0)
    arithmetic = [task for task in tasks if task["question"].startswith("What is")]
    words = [task for task in tasks if not task["question"].startswith("What is")]
    assert len(arithmetic) > 50 and len(words) > 50
    for task in arithmetic:
        expression = re.fullmatch(r"What is (.*)\?", task["question"]).group(1)
        assert str(eval(expression)) == task["answer"]


def test_reset_without_a_task_draws_one_from_the_seed():
    env = MathEnv()
    first = env.reset(seed=5)
    task = env.state.task
    assert first.question == task["question"]
    assert env.reset(seed=5).question == first.question
    assert env.step(MathAnswer(answer=task["answer"])).reward == 1.0


def test_a_task_without_question_or_answer_is_refused():
    with pytest.raises(ValueError, match="'question' and 'answer' keys, got \\['question'\\]"):
        MathEnv().reset(task={"question": "What is 1 + 1?"})
    with pytest.raises(ValueError, match="got str"):
        MathEnv().reset(task="What is 1 + 1?")


def test_registered_as_math():
    env = make("math")
    assert isinstance(env, MathEnv)
    assert env.reset(seed=0).question


def test_the_reward_can_be_one_term_of_a_sum():
    env = MathEnv(transform=RewardSum({"correct": AnswerReward()}, weights={"correct": 2.0}))
    env.reset(task={"question": "What is 1 + 1?", "answer": "2"})
    observation = env.step(MathAnswer(answer="2"))
    assert observation.reward == 2.0
    assert observation.metadata["reward_terms"] == {"correct": 1.0}


SECRET = "SECRET-ANSWER-4471"


def test_the_answer_never_reaches_the_policy():
    tasks = [
        {"question": f"Question {n}: say the hidden word.", "answer": SECRET} for n in range(4)
    ]
    tasks += math_tasks(4, seed=9)
    seen = []

    def nosy_policy(inputs):
        seen.extend(inputs)
        return [MathAnswer(answer=SECRET) for _ in inputs]

    collector = Collector(
        lambda: MathEnv(max_steps=3),
        nosy_policy,
        tasks,
        group_size=2,
        batch_size=16,
        cycle=False,
        seed=0,
        progress=False,
    )
    (batch,) = list(collector)
    assert batch.rewards() == [1.0] * 8 + [0.0] * 8
    assert len(seen) == 16
    for item in seen:
        visible = repr(item) + repr(to_builtins(item.observation))
        assert SECRET not in visible
        assert "answer" not in to_builtins(item.observation)
    hidden = {task["answer"] for task in tasks[4:]}
    for trajectory in batch:
        observation = to_builtins(trajectory.last_observation)
        assert not hidden & {str(value) for value in observation.values()}
        assert SECRET not in repr(observation)


def test_reasoning_gym_is_an_optional_extra():
    try:
        import reasoning_gym  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install 'envtorch\\[math\\]'"):
            reasoning_gym_tasks("basic_arithmetic", 3)
        return
    tasks = reasoning_gym_tasks("basic_arithmetic", 3, seed=1)
    assert len(tasks) == 3
    env = MathEnv()
    env.reset(task=tasks[0])
    assert env.step(MathAnswer(answer=str(tasks[0]["answer"]))).reward == 1.0
