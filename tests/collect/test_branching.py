"""Collector(branch_at=...): a group runs from one shared prefix, then each member by itself."""

from functools import partial

import pytest

from envtorch.collect import Collector, PolicyInput
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.python import CodeAction, PythonEnv

pytestmark = pytest.mark.timeout(90)


def say_step_and_episode(inputs: list[PolicyInput]) -> list[EchoAction]:
    return [EchoAction(message=f"step {len(item.history)} by {item.episode}") for item in inputs]


class CountingEcho(EchoEnv):
    resets: list[str] = []

    def _reset(self, *, seed, task):
        CountingEcho.resets.append(task)
        return super()._reset(seed=seed, task=task)


def collect(**kwargs) -> list:
    kwargs.setdefault("progress", False)
    return [trajectory for batch in Collector(**kwargs) for trajectory in batch]


def messages(trajectory) -> list[str]:
    return [step.action.message for step in trajectory.steps]


def test_a_group_shares_its_prefix_and_differs_only_after_it():
    CountingEcho.resets = []
    trajectories = collect(
        envs=partial(CountingEcho, max_steps=4),
        policy=say_step_and_episode,
        tasks=["a", "b"],
        group_size=3,
        batch_size=3,
        total=6,
        seed=0,
        branch_at=2,
    )
    assert sorted(CountingEcho.resets) == ["a", "b"]
    for group in (trajectories[:3], trajectories[3:]):
        first = group[0].episode
        shared = [f"step 0 by {first}", f"step 1 by {first}"]
        for trajectory in group:
            assert trajectory.branched_at == 2 and trajectory.failure is None
            assert messages(trajectory)[:2] == shared
            assert messages(trajectory)[2:] == [
                f"step 2 by {trajectory.episode}",
                f"step 3 by {trajectory.episode}",
            ]
            assert trajectory.truncated
        assert len({trajectory.episode for trajectory in group}) == 3
    assert [t.branched_at for t in trajectories] == [2] * 6


def test_an_episode_that_ends_before_the_branch_point_is_the_whole_group():
    trajectories = collect(
        envs=partial(EchoEnv, max_steps=1),
        policy=say_step_and_episode,
        tasks=["a"],
        group_size=2,
        batch_size=2,
        total=2,
        branch_at=3,
    )
    assert [t.branched_at for t in trajectories] == [1, 1]
    assert [messages(t) for t in trajectories] == [["step 0 by 0"], ["step 0 by 0"]]
    assert [t.episode for t in trajectories] == [0, 1]


class Unforkable(EchoEnv):
    def _fork(self, count):
        raise NotImplementedError("no forks here")


def test_an_env_that_cannot_fork_fails_the_whole_group_with_the_reason():
    trajectories = collect(
        envs=partial(Unforkable, max_steps=3),
        policy=say_step_and_episode,
        tasks=["a"],
        group_size=2,
        batch_size=2,
        total=2,
        branch_at=1,
    )
    assert [t.failure for t in trajectories] == [
        "env.fork raised NotImplementedError: no forks here (the last of 3 attempts)"
    ] * 2


def test_branch_at_needs_steps_and_a_group_to_branch_into():
    for bad in (dict(branch_at=0), dict(branch_at=2, group_size=1), dict(branch_at=1.5)):
        options = dict(envs=EchoEnv, policy=say_step_and_episode, tasks=["a"], group_size=2)
        options.update(bad)
        with pytest.raises(ValueError, match="branch_at"):
            Collector(**options)


def choose(inputs: list[PolicyInput]) -> list[CodeAction]:
    actions = []
    for item in inputs:
        if not item.history:
            actions.append(CodeAction(code="import random\nbase = random.random()"))
        else:
            actions.append(CodeAction(code=f"base, {item.episode}"))
    return actions


def test_python_episodes_branch_from_a_shared_sandboxed_prefix():
    trajectories = collect(
        envs=partial(PythonEnv, max_steps=2),
        policy=choose,
        tasks=["t"],
        group_size=3,
        batch_size=3,
        total=3,
        branch_at=1,
    )
    values = [t.last_observation.value for t in trajectories]
    assert [value[1] for value in values] == [0, 1, 2]
    assert len({value[0] for value in values}) == 1
    assert all(t.branched_at == 1 and t.failure is None for t in trajectories)
