import threading
from dataclasses import dataclass
from typing import Any

import pytest

from envtorch import (
    Action,
    CannotFork,
    EnvClosed,
    Environment,
    Observation,
    ResetNeeded,
    State,
)
from envtorch.envs.echo import EchoAction, EchoEnv, EchoObservation


@dataclass(kw_only=True)
class GuessAction(Action):
    guess: int


@dataclass(kw_only=True)
class GuessObservation(Observation):
    hint: str = ""


@dataclass(kw_only=True)
class GuessState(State):
    secret: int = 0


class GuessEnv(Environment[GuessAction, GuessObservation, GuessState]):
    action_type = GuessAction
    observation_type = GuessObservation
    state_type = GuessState
    metadata = {"render_modes": ["ansi"]}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.closed_count = 0

    def _reset(self, *, seed, task):
        self.state.secret = self.rng.randint(0, 1000)
        return GuessObservation(hint="guess a number between 0 and 1000")

    def _step(self, action):
        if action.guess == self.state.secret:
            return GuessObservation(hint="right", reward=1.0, done=True)
        hint = "higher" if action.guess < self.state.secret else "lower"
        return GuessObservation(hint=hint, reward=0.0)

    def _render(self):
        return f"step {self.state.step_count}"

    def _close(self):
        self.closed_count += 1


def test_reset_starts_an_episode_and_step_counts():
    env = EchoEnv()
    observation = env.reset()
    assert isinstance(observation, EchoObservation)
    assert observation.reward is None and not observation.done
    assert env.state.step_count == 0 and env.state.episode_id
    observation = env.step(EchoAction(message="Hello, World!"))
    assert observation.echoed_message == "Hello, World!"
    assert observation.reward == pytest.approx(1.3)
    assert env.state.step_count == 1


def test_each_reset_is_a_new_episode_with_its_task():
    env = EchoEnv()
    env.reset(task={"id": 1})
    first = env.state.episode_id
    env.step(EchoAction(message="a"))
    env.reset(task={"id": 2})
    assert env.state.episode_id != first
    assert env.state.step_count == 0
    assert env.state.task == {"id": 2}


def test_step_before_reset_raises():
    with pytest.raises(ResetNeeded, match="before reset"):
        EchoEnv().step(EchoAction(message="x"))


def test_state_before_reset_raises():
    with pytest.raises(ResetNeeded):
        EchoEnv().state  # noqa: B018


def test_step_after_done_raises_until_reset():
    env = GuessEnv()
    env.reset(seed=3)
    observation = env.step(GuessAction(guess=env.state.secret))
    assert observation.done and not observation.truncated
    assert env.episode_over
    with pytest.raises(ResetNeeded, match="after the episode ended"):
        env.step(GuessAction(guess=0))
    env.reset()
    env.step(GuessAction(guess=-1))


def test_step_rejects_a_foreign_action_type():
    env = EchoEnv()
    env.reset()
    with pytest.raises(TypeError, match="expects a EchoAction"):
        env.step(GuessAction(guess=1))


def test_max_steps_truncates():
    env = EchoEnv(max_steps=2)
    env.reset()
    assert not env.step(EchoAction(message="a")).done
    last = env.step(EchoAction(message="b"))
    assert last.done and last.truncated
    with pytest.raises(ResetNeeded):
        env.step(EchoAction(message="c"))


def test_a_task_ending_on_the_last_step_is_not_truncated():
    env = GuessEnv(max_steps=1)
    env.reset(seed=0)
    observation = env.step(GuessAction(guess=env.state.secret))
    assert observation.done and not observation.truncated


@pytest.mark.parametrize("max_steps", [0, -1])
def test_max_steps_must_be_positive(max_steps):
    with pytest.raises(ValueError, match="max_steps"):
        EchoEnv(max_steps=max_steps)


def test_seed_determinism():
    first, second = GuessEnv(), GuessEnv()
    first.reset(seed=42)
    second.reset(seed=42)
    assert first.state.secret == second.state.secret
    secrets = set()
    for seed in range(5):
        first.reset(seed=seed)
        secrets.add(first.state.secret)
    assert len(secrets) > 1


def test_render_modes():
    assert EchoEnv().render() is None
    env = EchoEnv(render_mode="ansi")
    with pytest.raises(ResetNeeded, match="nothing to render: call reset"):
        env.render()
    env.reset()
    env.step(EchoAction(message="hi"))
    assert "'hi'" in env.render()
    with pytest.raises(ValueError, match="render_mode 'human' is not supported"):
        EchoEnv(render_mode="human")


def test_close_is_idempotent_and_final():
    env = GuessEnv()
    env.reset()
    env.close()
    env.close()
    assert env.closed_count == 1
    with pytest.raises(EnvClosed):
        env.reset()
    with pytest.raises(EnvClosed):
        env.step(GuessAction(guess=1))
    with pytest.raises(EnvClosed):
        env.render()


def test_context_manager_closes():
    with GuessEnv() as env:
        env.reset()
    assert env.closed_count == 1


def test_transform_runs_on_reset_and_step_before_the_budget():
    calls = []

    def record(observation, action, state):
        calls.append((action, state.step_count))
        observation.done = action is not None and action.message == "stop"
        return observation

    env = EchoEnv(transform=record, max_steps=5)
    env.reset()
    env.step(EchoAction(message="go"))
    last = env.step(EchoAction(message="stop"))
    assert [step for _, step in calls] == [0, 1, 2]
    assert calls[0][0] is None
    assert last.done and not last.truncated


def test_time_limit_truncates_the_episode():
    env = EchoEnv(time_limit=0.05)
    env.reset()
    assert not env.step(EchoAction(message="fast")).done
    env._episode_start -= 1.0
    observation = env.step(EchoAction(message="late"))
    assert observation.done and observation.truncated
    with pytest.raises(ValueError, match="time_limit"):
        EchoEnv(time_limit=0)


def test_a_failed_reset_leaves_no_running_episode():
    class Flaky(EchoEnv):
        fail = False

        def _reset(self, *, seed, task):
            if self.fail:
                raise RuntimeError("could not start")
            return super()._reset(seed=seed, task=task)

    env = Flaky()
    env.reset()
    env.step(EchoAction(message="a"))
    env.fail = True
    with pytest.raises(RuntimeError):
        env.reset()
    with pytest.raises(ResetNeeded):
        env.step(EchoAction(message="b"))


def test_fork_copies_the_episode_under_new_ids():
    env = GuessEnv()
    env.reset(seed=3, task={"level": 1})
    env.step(GuessAction(guess=-1))
    copies = env.fork(2)
    assert [twin.state.step_count for twin in copies] == [1, 1]
    assert {twin.state.secret for twin in copies} == {env.state.secret}
    assert [twin.state.task for twin in copies] == [{"level": 1}, {"level": 1}]
    ids = {env.state.episode_id, *(twin.state.episode_id for twin in copies)}
    assert len(ids) == 3
    assert [twin.rng.random() for twin in copies] == [env.rng.random()] * 2
    copies[0].step(GuessAction(guess=copies[0].state.secret))
    assert copies[0].episode_over and not copies[1].episode_over and not env.episode_over


def test_fork_needs_a_running_episode_and_a_positive_count():
    env = GuessEnv()
    with pytest.raises(ResetNeeded):
        env.fork(1)
    env.reset()
    for bad in (0, -2, 1.0, True):
        with pytest.raises(ValueError):
            env.fork(bad)
    env.close()
    with pytest.raises(EnvClosed):
        env.fork(1)


def test_an_env_whose_state_cannot_be_copied_cannot_fork():
    env = GuessEnv()
    env.reset()
    env.lock = threading.Lock()
    with pytest.raises(CannotFork, match="GuessEnv cannot fork.*override _fork"):
        env.fork(1)
