import random
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from envtorch import Action, Environment, Observation, State, hidden
from envtorch.cli import main
from envtorch.env_checker import CheckFailed, check_env, minimal_instance
from envtorch.envs.echo import EchoAction, EchoEnv, EchoObservation


class WrongObservationEnv(EchoEnv):
    def _step(self, action):
        return Observation(reward=1.0)


class UnseededEnv(EchoEnv):
    def _step(self, action):
        return EchoObservation(echoed_message=str(random.random()))


class BadRenderEnv(EchoEnv):
    def _render(self):
        return 42


class StickyCloseEnv(EchoEnv):
    def close(self):
        pass


@dataclass(kw_only=True)
class Nested(Action):
    label: str
    count: int
    ratio: float | None
    tags: list[str]
    extra: dict[str, Any]
    flag: bool = True


def test_check_passes_on_builtin_envs():
    report = check_env(EchoEnv)
    assert report.passed[-1] == "close" and len(report.passed) == 10


@pytest.mark.parametrize(
    ("env_type", "message"),
    [
        (WrongObservationEnv, "WrongObservationEnv: step: step 1 returned Observation, expected"),
        (UnseededEnv, "UnseededEnv: determinism under a seed: two episodes with seed=0"),
        (BadRenderEnv, "BadRenderEnv: render modes: render() in 'ansi' mode returned 42"),
        (StickyCloseEnv, "StickyCloseEnv: close: step() after close() did not raise EnvClosed"),
    ],
)
def test_check_fails_precisely_on_broken_envs(env_type, message):
    with pytest.raises(CheckFailed) as raised:
        check_env(env_type)
    assert str(raised.value).startswith(message)


def test_check_reports_exceptions_with_the_check_name():
    class Crashing(EchoEnv):
        def _reset(self, *, seed, task):
            raise RuntimeError("boom")

    with pytest.raises(CheckFailed, match="Crashing: reset: raised RuntimeError: boom"):
        check_env(Crashing)


def test_minimal_instances_are_empty_values():
    assert minimal_instance(Nested) == Nested(label="", count=0, ratio=None, tags=[], extra={})
    assert minimal_instance(EchoAction) == EchoAction(message="")


def test_check_verifies_the_task_reaches_the_state():
    class Forgetful(EchoEnv):
        def _reset(self, *, seed, task):
            self.state.task = None
            return super()._reset(seed=seed, task=task)

    check_env(EchoEnv, task={"prompt": "hi"})
    with pytest.raises(CheckFailed, match="state.task does not hold the task"):
        check_env(Forgetful, task={"prompt": "hi"})


def test_check_uses_given_actions():
    seen = []

    class Recording(EchoEnv):
        def _step(self, action):
            seen.append(action.message)
            return super()._step(action)

    check_env(Recording, actions=[EchoAction(message="scripted")])
    assert set(seen) == {"scripted"}


def test_cli_check(capsys):
    assert main(["check", "echo"]) == 0
    assert "EchoEnv passed 10 checks" in capsys.readouterr().out
    assert main(["check", "tests.test_env_checker:UnseededEnv"]) == 1
    assert "FAILED UnseededEnv: determinism" in capsys.readouterr().out
    assert main(["check", "no-such-env"]) == 2
    assert "error: no environment registered as 'no-such-env'" in capsys.readouterr().out


def test_environment_base_is_not_an_env():
    with pytest.raises(CheckFailed):
        check_env(lambda **kwargs: State())
    assert issubclass(EchoEnv, Environment)


@pytest.mark.parametrize("env_id", ["echo", "math", "python", "python-math"])
def test_check_passes_on_every_builtin_env(env_id):
    from envtorch.registry import registered, resolve

    assert env_id in registered()
    report = check_env(resolve(env_id))
    assert len(report.passed) == 10


def test_check_closes_every_env_it_builds():
    built = []

    class Tracked(EchoEnv):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            built.append(self)

    check_env(Tracked)
    assert built and all(env._closed for env in built)


@dataclass(kw_only=True)
class GuessAction(Action):
    guess: int


@dataclass(kw_only=True)
class GuessObservation(Observation):
    hint: str = ""


@dataclass(kw_only=True)
class LeakyGuessState(State):
    secret: int = 0
    guesses: int = 0
    high: int = 100


@dataclass(kw_only=True)
class HiddenGuessState(LeakyGuessState):
    secret: int = hidden(default=0)


class LeakyGuessEnv(Environment[GuessAction, GuessObservation, LeakyGuessState]):
    """The old `envtorch init` scaffold: the secret is a plain state field."""

    action_type = GuessAction
    observation_type = GuessObservation
    state_type = LeakyGuessState
    metadata = {"render_modes": []}

    def _reset(self, *, seed, task):
        self.state.secret = self.rng.randint(0, 100)
        return GuessObservation(hint="guess a number between 0 and 100")

    def _step(self, action):
        self.state.guesses += 1
        if action.guess == self.state.secret:
            return GuessObservation(hint="right", reward=1.0, done=True)
        return GuessObservation(hint="higher" if action.guess < self.state.secret else "lower")


class HiddenGuessEnv(LeakyGuessEnv):
    state_type = HiddenGuessState


class ShownGuessEnv(LeakyGuessEnv):
    """The secret is no secret: every observation says it, as a word of the hint."""

    def _reset(self, *, seed, task):
        super()._reset(seed=seed, task=task)
        return GuessObservation(hint=f"the number is {self.state.secret}.")

    def _step(self, action):
        return GuessObservation(hint=f"the number was {self.state.secret}", done=True)


class FixedGuessEnv(LeakyGuessEnv):
    """The same secret whatever the seed: nothing about the episode to hide."""

    def _reset(self, *, seed, task):
        self.state.secret = 42
        return GuessObservation(hint="guess a number between 0 and 100")


@dataclass(kw_only=True)
class TicketState(State):
    ticket: str = ""


class TicketEnv(EchoEnv):
    """A state field that differs in every episode, seed or not: noise, not episode data."""

    state_type = TicketState

    def _reset(self, *, seed, task):
        self.state.ticket = uuid.uuid4().hex
        return super()._reset(seed=seed, task=task)


def test_check_fails_on_episode_data_sent_unhidden():
    with pytest.raises(CheckFailed) as raised:
        check_env(LeakyGuessEnv)
    message = str(raised.value)
    assert message.startswith("LeakyGuessEnv: hidden state: state.secret changes with the seed")
    assert "declare it with hidden(default=...)" in message
    assert "guesses" not in message and "high" not in message


def test_check_passes_hidden_shown_and_seed_independent_state_fields():
    for env_type in (HiddenGuessEnv, ShownGuessEnv, FixedGuessEnv, TicketEnv):
        report = check_env(env_type)
        assert "hidden state" in report.passed and len(report.passed) == 10


def test_check_fails_when_a_value_is_shown_only_inside_a_larger_number():
    class HalfShownGuessEnv(LeakyGuessEnv):
        def _reset(self, *, seed, task):
            super()._reset(seed=seed, task=task)
            return GuessObservation(hint=f"between 1{self.state.secret}1 and 1000")

    with pytest.raises(CheckFailed, match="hidden state: state.secret"):
        check_env(HalfShownGuessEnv)
