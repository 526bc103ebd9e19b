import random
from dataclasses import dataclass
from typing import Any

import pytest

from envtorch import Action, EchoEnv, Environment, Observation, State
from envtorch.checker import CheckFailed, check_env, minimal_instance
from envtorch.cli import main
from envtorch.envs.echo import EchoAction, EchoObservation


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
    assert report.passed[-1] == "close" and len(report.passed) == 9


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
    assert "EchoEnv passed 9 checks" in capsys.readouterr().out
    assert main(["check", "tests.test_checker:UnseededEnv"]) == 1
    assert "FAILED UnseededEnv: determinism" in capsys.readouterr().out
    assert main(["check", "no-such-env"]) == 2
    assert "error: no environment registered as 'no-such-env'" in capsys.readouterr().out


def test_environment_base_is_not_an_env():
    with pytest.raises(CheckFailed):
        check_env(lambda **kwargs: State())
    assert issubclass(EchoEnv, Environment)


@pytest.mark.parametrize("env_id", ["echo", "math", "python", "python-math"])
def test_check_passes_on_every_builtin_env(env_id):
    from envtorch.registry import registered

    assert env_id in registered()
    report = check_env(registered()[env_id].make)
    assert len(report.passed) == 9


def test_check_closes_every_env_it_builds():
    built = []

    class Tracked(EchoEnv):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            built.append(self)

    check_env(Tracked)
    assert built and all(env._closed for env in built)
