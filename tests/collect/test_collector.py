import asyncio
import threading
import time
from functools import partial

import pytest

from envtorch.collect import (
    Batch,
    Collector,
    EnvUnavailable,
    PolicyError,
    PolicyInput,
    PolicyOutput,
)
from envtorch.core import Environment, Observation, State, ValidationError
from envtorch.core.offload import QUICK_CALLS_BEFORE_INLINE
from envtorch.envs.echo import EchoAction, EchoEnv

pytestmark = pytest.mark.timeout(60)


def say_step(inputs: list[PolicyInput]) -> list[EchoAction]:
    return [EchoAction(message=f"g{item.group} step {len(item.history)}") for item in inputs]


def echo(max_steps: int):
    """A factory of echo envs whose episodes end truncated after `max_steps` steps."""
    return partial(EchoEnv, max_steps=max_steps)


def collect(**kwargs) -> list[Batch]:
    kwargs.setdefault("progress", False)
    return list(Collector(**kwargs))


def summary(batches: list[Batch]) -> list[list[tuple]]:
    return [
        [(t.group, t.episode, t.task, t.reward, [s.action.message for s in t.steps]) for t in batch]
        for batch in batches
    ]


def test_echo_collection_is_deterministic_under_a_seed():
    def run():
        return collect(
            envs=echo(3),
            policy=say_step,
            tasks=["a", "b", "c", "d", "e"],
            group_size=2,
            batch_size=4,
            concurrency=3,
            total=10,
            seed=7,
        )

    first, second = run(), run()
    assert summary(first) == summary(second)
    assert [len(batch) for batch in first] == [4, 4, 2]
    trajectories = [t for batch in first for t in batch]
    assert [t.group for t in trajectories] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [t.task for t in trajectories] == ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"]
    first_steps = trajectories[0].steps
    assert [s.action.message for s in first_steps] == ["g0 step 0", "g0 step 1", "g0 step 2"]
    assert trajectories[0].reward == pytest.approx(0.9 * 3)
    assert all(t.truncated and t.done and t.failure is None for t in trajectories)


def test_each_task_runs_group_size_times_and_batches_hold_whole_groups():
    batches = collect(
        envs=echo(1),
        policy=say_step,
        tasks=range(6),
        group_size=4,
        batch_size=8,
        concurrency=5,
        total=24,
    )
    assert [len(batch) for batch in batches] == [8, 8, 8]
    for batch in batches:
        groups = {}
        for trajectory in batch:
            groups.setdefault(trajectory.group, []).append(trajectory)
        assert all(len(members) == 4 for members in groups.values())
        assert all(len({m.task for m in members}) == 1 for members in groups.values())
    assert sorted(t.task for batch in batches for t in batch) == sorted(list(range(6)) * 4)


class _SeededEcho(EchoEnv):
    def _reset(self, *, seed, task):
        self.seen_seed = seed
        return super()._reset(seed=seed, task=task)

    def _step(self, action):
        observation = super()._step(action)
        observation.reward = float(self.seen_seed)
        return observation


def test_group_members_share_their_reset_seed():
    batches = collect(
        envs=partial(_SeededEcho, max_steps=1),
        policy=say_step,
        tasks=["x", "y", "z"],
        group_size=3,
        batch_size=9,
        total=9,
        seed=100,
    )
    assert [t.reward for t in batches[0]] == [100.0] * 3 + [101.0] * 3 + [102.0] * 3


def test_async_policy_gets_the_waiting_episodes_in_one_call():
    _AsyncEcho.instances.clear()
    calls = []

    async def policy(inputs):
        calls.append(len(inputs))
        await _until_all_waiting(16)
        return say_step(inputs)

    batches = collect(
        envs=_AsyncEcho,
        policy=policy,
        tasks=range(16),
        batch_size=16,
        concurrency=16,
        total=16,
    )
    assert sum(len(batch) for batch in batches) == 16
    assert sum(calls) == 32
    assert calls[0] == 16 or calls[1] >= 16 - calls[0]


async def _until_all_waiting(episodes: int) -> None:
    """Hold the first policy call until every episode has reset, so all others are waiting."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(handle.resets for handle in _AsyncEcho.instances) >= episodes:
            return
        await asyncio.sleep(0.005)


class _AsyncEcho:
    """An async env handle shaped like AsyncEnvClient: coroutine reset/step/close."""

    instances = []

    def __init__(self):
        self.env = EchoEnv(max_steps=2)
        self.closed = False
        self.threads = set()
        self.resets = 0
        _AsyncEcho.instances.append(self)

    async def reset(self, *, seed=None, task=None):
        await asyncio.sleep(0)
        self.threads.add(threading.current_thread())
        self.resets += 1
        return self.env.reset(seed=seed, task=task)

    async def step(self, action):
        await asyncio.sleep(0)
        self.threads.add(threading.current_thread())
        return self.env.step(action)

    async def close(self):
        self.closed = True


def test_async_env_handles_are_awaited_on_the_loop_and_closed():
    _AsyncEcho.instances.clear()
    batches = collect(
        envs=_AsyncEcho,
        policy=say_step,
        tasks=range(6),
        batch_size=6,
        concurrency=3,
        cycle=False,
    )
    assert [t.reward for t in batches[0]] == [pytest.approx(1.8)] * 6
    assert len(_AsyncEcho.instances) == 3
    assert all(handle.closed for handle in _AsyncEcho.instances)
    assert all(len(handle.threads) == 1 for handle in _AsyncEcho.instances)


def test_async_factory_is_awaited():
    async def make_env():
        await asyncio.sleep(0)
        return EchoEnv(max_steps=1)

    batches = collect(envs=make_env, policy=say_step, tasks=[1, 2], total=2)
    assert [t.failure for t in batches[0]] == [None, None]


class _Rendezvous(EchoEnv):
    """Each step waits for the other episode's step: only worker threads let both run."""

    barrier = threading.Barrier(2, timeout=5)

    def _reset(self, *, seed, task):
        time.sleep(0.005)
        return super()._reset(seed=seed, task=task)

    def _step(self, action):
        self.barrier.wait()
        return super()._step(action)


def test_a_blocking_sync_env_moves_to_worker_threads():
    batches = collect(
        envs=partial(_Rendezvous, max_steps=2),
        policy=say_step,
        tasks=range(2),
        batch_size=2,
        total=2,
    )
    assert [t.failure for t in batches[0]] == [None, None]
    assert [len(t.steps) for t in batches[0]] == [2, 2]


class _SlowStart(EchoEnv):
    """A slow reset, then quick steps that note the thread they ran on."""

    def _reset(self, *, seed, task):
        time.sleep(0.005)
        self.threads = []
        return super()._reset(seed=seed, task=task)

    def _step(self, action):
        self.threads.append(threading.current_thread())
        return super()._step(action)


def threads_of_one_episode(env_type: type, steps: int) -> list[threading.Thread]:
    """The threads that ran each step of one collected episode of `env_type`."""
    envs = []

    def make_env():
        envs.append(env_type(max_steps=steps))
        return envs[-1]

    collect(envs=make_env, policy=say_step, tasks=[1], total=1)
    (threads,) = [env.threads for env in envs]
    return threads


def test_a_sync_env_comes_back_to_the_loop_after_quick_calls():
    threads = threads_of_one_episode(_SlowStart, steps=100)
    assert threads[0] is not threading.main_thread()
    assert threading.main_thread() in threads[QUICK_CALLS_BEFORE_INLINE:]


class _Breaks(EchoEnv):
    made = 0

    def __init__(self):
        super().__init__(max_steps=2)
        _Breaks.made += 1

    def _reset(self, *, seed, task):
        if task == "boom":
            raise RuntimeError("sandbox crashed")
        return super()._reset(seed=seed, task=task)


def test_an_env_that_raises_is_retried_on_fresh_handles_then_marks_the_episode():
    _Breaks.made = 0
    batches = collect(
        envs=_Breaks,
        policy=say_step,
        tasks=["ok", "boom", "ok"],
        batch_size=3,
        concurrency=1,
        cycle=False,
        retries=2,
    )
    trajectories = batches[0]
    assert [t.failure for t in trajectories] == [
        None,
        "env.reset raised RuntimeError: sandbox crashed (the last of 3 attempts)",
        None,
    ]
    assert trajectories[1].reward is None and trajectories[1].failed
    assert [t.reward for t in trajectories.completed()] == [pytest.approx(1.8)] * 2
    assert _Breaks.made == 4, "one handle per attempt of the broken task, then a fresh one"
    with pytest.raises(ValueError, match="1 failed trajectories.*sandbox crashed"):
        trajectories.rewards()


def test_a_failing_env_factory_is_retried_with_the_same_task():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionRefusedError("server gone")
        return EchoEnv(max_steps=1)

    batches = collect(envs=flaky, policy=say_step, tasks=[1, 2], concurrency=1, cycle=False)
    assert [(t.task, t.failure) for t in batches[0]] == [(1, None), (2, None)]
    assert len(attempts) == 2


def test_without_retries_a_failure_marks_the_episode_and_the_collection_goes_on():
    batches = collect(
        envs=_Breaks, policy=say_step, tasks=["boom", "ok"], concurrency=1, cycle=False, retries=0
    )
    assert [t.failure for t in batches[0]] == [
        "env.reset raised RuntimeError: sandbox crashed",
        None,
    ]


def test_episodes_failing_in_a_row_end_the_collection_before_the_tasks_run_out():
    from envtorch.collect import collector as module

    drawn = []

    def tasks():
        for number in range(1000):
            drawn.append(number)
            yield "boom"

    with pytest.raises(EnvUnavailable, match="3 episodes in a row failed.*sandbox crashed"):
        collect(envs=_Breaks, policy=say_step, tasks=tasks(), concurrency=1, retries=1)
    assert len(drawn) <= module.FAILED_IN_A_ROW_TO_GIVE_UP + 1


def test_a_policy_that_raises_stops_the_collection_at_once():
    calls = []

    def policy(inputs):
        calls.append(len(inputs))
        if any(item.group == 1 for item in inputs):
            raise ValueError("model server returned 500")
        return say_step(inputs)

    with pytest.raises(PolicyError, match="policy raised ValueError: model server returned 500"):
        collect(envs=echo(2), policy=policy, tasks=range(100), concurrency=1)
    assert len(calls) == 3


def test_a_policy_with_the_wrong_number_of_actions_stops_the_collection():
    with pytest.raises(PolicyError, match="policy returned 0 outputs for 1 inputs"):
        collect(envs=echo(2), policy=lambda inputs: [], tasks=[1], cycle=False)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("hi", "returned a str where the env takes EchoAction"),
        (PolicyOutput(action="hi"), "returned a str where the env takes EchoAction"),
        (PolicyOutput(EchoAction(message="hi"), ["ids"]), "policy_data must be a mapping"),
    ],
)
def test_a_wrong_output_stops_the_collection_before_the_env_sees_it(output, message):
    with pytest.raises(PolicyError, match=message):
        collect(envs=echo(2), policy=lambda inputs: [output] * len(inputs), tasks=[1])


def test_an_action_the_env_refuses_stops_the_collection():
    class Strict(EchoEnv):
        def _step(self, action):
            raise ValidationError("EchoAction: message must be short")

    with pytest.raises(PolicyError, match="env refused the policy's action.*must be short"):
        collect(envs=Strict, policy=say_step, tasks=[1])


def test_policy_data_lands_on_the_step_and_never_reaches_the_env():
    seen = []

    class Watching(EchoEnv):
        def _step(self, action):
            seen.append(action)
            return super()._step(action)

    def policy(inputs):
        return [
            PolicyOutput(
                EchoAction(message="hi"),
                {"token_ids": [1, 2, len(item.history)], "logprobs": [-0.5, -0.25, 0.0]},
            )
            for item in inputs
        ]

    batches = collect(envs=lambda: Watching(max_steps=2), policy=policy, tasks=[1], cycle=False)
    steps = batches[0][0].steps
    assert [s.policy_data["token_ids"] for s in steps] == [[1, 2, 0], [1, 2, 1]]
    assert all(s.action == EchoAction(message="hi") for s in steps)
    assert seen == [EchoAction(message="hi")] * 2


def test_episodes_end_when_the_env_says_done():
    batches = collect(envs=lambda: EchoEnv(max_steps=2), policy=say_step, tasks=[1], cycle=False)
    trajectory = batches[0][0]
    assert len(trajectory.steps) == 2
    assert trajectory.done and trajectory.truncated
    assert trajectory.last_observation.echoed_message == "g0 step 1"
    assert trajectory.seconds >= trajectory.policy_seconds >= 0


def test_history_holds_the_steps_so_far():
    seen = []

    def policy(inputs):
        seen.extend(inputs)
        return say_step(inputs)

    collect(envs=echo(3), policy=policy, tasks=[1], cycle=False)
    assert [len(item.history) for item in seen] == [0, 1, 2]
    assert seen[2].history[1].action.message == "g0 step 1"
    assert seen[2].observation.echoed_message == "g0 step 1"


def test_every_input_carries_the_observation_reset_returned():
    seen = []

    def policy(inputs):
        seen.extend(inputs)
        return say_step(inputs)

    collect(envs=echo(3), policy=policy, tasks=[1], cycle=False)
    first = seen[0].observation
    assert first.echoed_message == ""
    assert all(item.first_observation is first for item in seen) and len(seen) == 3
    assert seen[2].observation.echoed_message == "g0 step 1"


def test_tasks_cycle_until_total_and_stop_when_a_generator_ends():
    cycled = collect(envs=echo(1), policy=say_step, tasks=["a", "b"], total=5, seed=0)
    assert [t.task for batch in cycled for t in batch] == ["a", "b", "a", "b", "a"]
    once = collect(envs=echo(1), policy=say_step, tasks=iter(["a", "b"]), seed=0)
    assert [t.task for batch in once for t in batch] == ["a", "b"]
    empty = collect(envs=echo(1), policy=say_step, tasks=[])
    assert empty == []


def test_an_error_in_the_task_source_ends_the_collection():
    def tasks():
        yield "a"
        raise OSError("dataset shard missing")

    with pytest.raises(OSError, match="dataset shard missing"):
        collect(envs=echo(1), policy=say_step, tasks=tasks())


class _Tracked(EchoEnv):
    """Counts its open instances; slow to make, so some are being made when the collection stops."""

    open_count = 0
    lock = threading.Lock()

    def __init__(self):
        time.sleep(0.01)
        super().__init__(max_steps=2)
        with _Tracked.lock:
            _Tracked.open_count += 1

    def _close(self):
        with _Tracked.lock:
            _Tracked.open_count -= 1


def test_stopping_early_closes_every_env():
    _Tracked.open_count = 0
    collector = Collector(_Tracked, say_step, tasks=range(1000), batch_size=4, progress=False)
    for index, _batch in enumerate(collector):
        if index == 2:
            break
    assert _Tracked.open_count == 0


def test_async_for_inside_a_running_loop():
    async def main():
        collector = Collector(echo(2), say_step, tasks=range(4), total=4, progress=False)
        return [len(batch) async for batch in collector]

    assert asyncio.run(main()) == [4]


def test_a_collector_can_be_iterated_again_from_the_start():
    collector = Collector(echo(1), say_step, tasks=["a", "b"], total=2, seed=0, progress=False)
    assert summary(list(collector)) == summary(list(collector))


def test_progress_bar_shows_turns_and_reward(capsys):
    from tqdm import tqdm

    original = tqdm.__init__

    def forced(self, *args, **kwargs):
        kwargs["disable"] = False
        original(self, *args, **kwargs)

    tqdm.__init__ = forced
    try:
        collect(envs=echo(2), policy=say_step, tasks=range(4), total=4, progress=True)
    finally:
        tqdm.__init__ = original
    shown = capsys.readouterr().err
    assert "turns/s=" in shown and "reward=" in shown and "4/4" in shown


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 6, "group_size": 4}, "multiple of group_size"),
        ({"total": 3, "group_size": 2}, "total must be a positive multiple"),
        ({"concurrency": 0}, "concurrency must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
    ],
)
def test_bad_settings_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        Collector(EchoEnv, say_step, tasks=[1], **arguments)


def test_envs_must_be_a_factory():
    with pytest.raises(TypeError, match="factory of env handles"):
        Collector(EchoEnv(), say_step, tasks=[1])


class _Counter(Environment[EchoAction, Observation, State]):
    action_type = EchoAction

    def _reset(self, *, seed, task):
        return Observation()

    def _step(self, action):
        return Observation(reward=1.0, done=self.state.step_count == self.state.task)


def test_episodes_of_different_lengths_are_batched_as_they_finish():
    batches = collect(
        envs=partial(_Counter, max_steps=10),
        policy=say_step,
        tasks=[5, 1, 3, 2],
        batch_size=4,
        total=4,
    )
    trajectories = batches[0]
    assert sorted(t.reward for t in trajectories) == [1.0, 2.0, 3.0, 5.0]
    assert all(t.done and not t.truncated for t in trajectories)


class _Blocking(_SlowStart):
    nonblocking = False


def test_a_blocking_env_always_runs_in_worker_threads():
    threads = threads_of_one_episode(_Blocking, steps=40)
    assert len(threads) == 40
    assert threading.main_thread() not in threads


def test_a_sync_policy_may_return_an_awaitable():
    async def later(inputs):
        return say_step(inputs)

    batches = collect(envs=echo(2), policy=lambda inputs: later(inputs), tasks=[1], total=2)
    assert [t.failure for batch in batches for t in batch] == [None, None]


def test_iterating_inside_a_running_loop_points_to_async_for():
    async def main():
        collector = Collector(echo(2), say_step, tasks=[1], total=1, progress=False)
        with pytest.raises(RuntimeError, match="async for batch in collector"):
            next(iter(collector))
        return [batch async for batch in collector]

    assert len(asyncio.run(main())[0]) == 1


class _CountedSource:
    def __init__(self):
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        return iter(["a", "b"])


def test_a_reiterable_source_is_iterated_once_per_pass():
    source = _CountedSource()
    collect(envs=echo(1), policy=say_step, tasks=source, total=4)
    assert source.passes == 2


def test_failing_envs_are_retried_with_growing_delays(monkeypatch):
    from envtorch.collect import collector as module

    delays = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(seconds):
        delays.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(module.asyncio, "sleep", recorded_sleep)

    def broken():
        raise ConnectionRefusedError("server gone")

    with pytest.raises(EnvUnavailable, match="server gone"):
        collect(envs=broken, policy=say_step, tasks=[1], concurrency=1, retries=1)
    waits = [d for d in delays if d]
    assert len(waits) >= 5 and waits == [module.retry_delay(n) for n in range(1, len(waits) + 1)]
    assert module.retry_delay(1) < module.retry_delay(2) < module.retry_delay(30) == 5.0
