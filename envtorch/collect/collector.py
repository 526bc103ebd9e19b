"""The Collector: a policy, many envs and a source of tasks, yielding batches of trajectories.

```python
collector = Collector(lambda: make("math"), policy, tasks=dataset, group_size=8, batch_size=64)
for batch in collector:
    advantages = batch.completed().advantages()
```

Underneath runs one asyncio loop: `concurrency` slots each run episodes one after another on
their own env handle, and every episode waiting for an action joins the next policy call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from envtorch.collect.episodes import Episode, episodes
from envtorch.collect.trajectory import Batch, Step, Trajectory
from envtorch.core import EnvtorchError, ValidationError
from envtorch.core.offload import Offload

FAILED_IN_A_ROW_TO_GIVE_UP = 3
"""Episodes failing one after another (each after its retries) that end the collection."""


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """What the policy sees of one episode waiting for an action.

    `observation` is the env's latest observation, `first_observation` the one `reset()` returned
    (the episode's prompt, so a policy never digs it out of `history`) and `history` the episode's
    steps so far. The task's visible fields are whatever the env put into its observations: the
    collector never passes the task itself, so a hidden answer stays with the env. `group` and
    `episode` number the task and the episode, as on the resulting `Trajectory`.
    """

    observation: Any
    first_observation: Any
    history: tuple[Step, ...]
    group: int
    episode: int


@dataclass(frozen=True, slots=True)
class PolicyOutput:
    """An action together with the policy's own data about it, for one episode.

    A policy returns these instead of bare actions to keep per-step data a trainer needs (token
    ids, logprobs, the generated text, masks) with the step: `policy_data` lands on the
    trajectory's `Step.policy_data` and in `Batch.to_dataset()`, and never reaches the env, which
    gets `action` only.
    """

    action: Any
    policy_data: Mapping[str, Any] = field(default_factory=dict)


class PolicyError(EnvtorchError):
    """The policy broke its contract: it raised, answered with the wrong number of outputs, or
    gave an action that is not of the env's action type (or that the env refused as invalid).
    The collection stops at once: a policy bug would fail every episode the same way."""


class EnvUnavailable(EnvtorchError):
    """Episodes kept failing one after another even on fresh env handles: the env side is down
    (or refuses these tasks). The collection stops rather than use the task source up."""


class Collector:
    """An iterable of `Batch`es of finished trajectories, like a DataLoader of rollouts.

    - `envs`: a factory called with no arguments that returns an env handle: a local
      `Environment`, or a client (`EnvClient`, `AsyncEnvClient`) with the same `reset`, `step` and
      `close`. It may be async. Each of the `concurrency` slots makes one handle and reuses it;
      a handle that raised is closed and replaced by a new one.
    - `policy`: called with a list of `PolicyInput`s (every episode currently waiting, so an LLM
      server gets them in one call) and returns one output per input, in order: an action of the
      env's `action_type`, or a `PolicyOutput` pairing one with per-step data of its own. It may
      be a coroutine function; a sync policy runs in a worker thread. One call runs at a time.
    - `tasks`: any iterable: a list, a generator, a `datasets.Dataset`, a torch `DataLoader`
      (batches are split into single tasks). Each task goes to `env.reset(task=...)` in
      `group_size` episodes that form one group. The source is started over when it ends if
      `cycle` and it can be iterated again; `total` stops after that many episodes. An episode
      runs until an observation is `done`: its step budget is the env's (`make("echo",
      max_steps=8)`), whose last observation comes back `truncated`.
    - `batch_size`: trajectories per batch, a multiple of `group_size`, so a batch holds whole
      groups; the last batch may be smaller.
    - `seed`: with a seed, the episodes of group `g` are reset with `seed + g` and batches hold
      groups in task order, so a deterministic policy gives the same batches on every run.
      Without one, groups are batched as soon as they finish.
    - `branch_at`: with a number of steps, a group runs as one episode for its first `branch_at`
      steps, which then forks (`env.fork(group_size - 1)`) so that the group's episodes share
      that prefix and differ only after it; each trajectory records the shared steps in
      `branched_at`. A slot then runs a whole group at a time. The env handles must fork.
    - `retries`: how many times an episode whose env side failed starts over, with its task, on
      a fresh handle before it is kept as failed.
    - `progress`: a tqdm bar (on a terminal) with turns/s, the last batch's mean reward and the
      failures so far.

    Async env handles (whose `step` is a coroutine function) are awaited. Sync handles run in
    worker threads, so a slow env never stalls the other episodes, except envs that declare
    `nonblocking = True` (they only compute, like `EchoEnv`): those run on the event loop, as
    `envtorch.core.offload.Offload` decides.

    A policy that raises, returns the wrong number of outputs or an action of another type (or
    one the env refuses as invalid) stops the collection at once with a `PolicyError`.

    When an env or the env factory raises (a server killed, a connection lost, a sandbox crash),
    the episode starts over with the same task on a fresh handle, up to `retries` times (a
    branching group as a whole, while its shared prefix fails); then it is kept with its
    `failure` reason and the collection goes on. When `FAILED_IN_A_ROW_TO_GIVE_UP` episodes fail
    so one after another, the env side is taken to be down and the collection raises
    `EnvUnavailable` instead of using the tasks up.

    Iterate with `for` or, inside a running event loop, `async for`.
    """

    def __init__(
        self,
        envs: Callable[[], Any],
        policy: Callable[[list[PolicyInput]], Any],
        tasks: Iterable[Any],
        *,
        group_size: int = 1,
        batch_size: int = 64,
        concurrency: int = 64,
        total: int | None = None,
        cycle: bool = True,
        seed: int | None = None,
        branch_at: int | None = None,
        retries: int = 2,
        progress: bool = True,
    ) -> None:
        if not callable(envs):
            raise TypeError(f"envs must be a factory of env handles (a callable), got {envs!r}")
        if not callable(policy):
            raise TypeError(f"policy must be callable, got {policy!r}")
        if not isinstance(tasks, Iterable):
            raise TypeError(f"tasks must be iterable, got {type(tasks).__name__}")
        for name, value in [
            ("group_size", group_size),
            ("batch_size", batch_size),
            ("concurrency", concurrency),
        ]:
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if batch_size % group_size:
            raise ValueError(
                f"batch_size ({batch_size}) must be a multiple of group_size ({group_size}) "
                "so that every batch holds whole groups"
            )
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
        if total is not None and (total < 1 or total % group_size):
            raise ValueError(f"total must be a positive multiple of group_size, got {total!r}")
        if branch_at is not None and (not isinstance(branch_at, int) or branch_at < 1):
            raise ValueError(f"branch_at must be a positive number of steps, got {branch_at!r}")
        if branch_at is not None and group_size < 2:
            raise ValueError("branch_at needs a group_size of at least 2 to branch into")
        self.envs = envs
        self.policy = policy
        self.tasks = tasks
        self.group_size = group_size
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.total = total
        self.cycle = cycle
        self.seed = seed
        self.branch_at = branch_at
        self.retries = retries
        self.progress = progress

    def __iter__(self) -> Iterator[Batch]:
        _require_no_running_loop()
        loop = asyncio.new_event_loop()
        batches = self._batches()
        try:
            while True:
                try:
                    yield loop.run_until_complete(anext(batches))
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(batches.aclose())
            loop.close()

    def __aiter__(self) -> AsyncIterator[Batch]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[Batch]:
        """The main loop: start the slots and the policy, batch whole groups as they finish."""
        planned = episodes(
            self.tasks,
            group_size=self.group_size,
            cycle=self.cycle,
            total=self.total,
            seed=self.seed,
        )
        executor = ThreadPoolExecutor(self.concurrency + 1, thread_name_prefix="envtorch-collect")
        policy = _PolicyBatcher(self.policy, executor)
        finished: asyncio.Queue[Trajectory | PolicyError | None] = asyncio.Queue()
        slots = [
            asyncio.create_task(self._run_slot(planned, policy, executor, finished))
            for _ in range(self.concurrency)
        ]
        serving = asyncio.create_task(policy.serve())
        groups = _Groups(self.group_size, in_order=self.seed is not None)
        failing = _FailuresInARow()
        progress = _Progress(self.progress, self.total)
        try:
            running = len(slots)
            while running:
                trajectory = await finished.get()
                if trajectory is None:
                    running -= 1
                    continue
                if isinstance(trajectory, PolicyError):
                    raise trajectory
                failing.count(trajectory)
                groups.add(trajectory)
                while len(groups.ready) >= self.batch_size:
                    yield progress.shown(groups.take(self.batch_size))
            await asyncio.gather(*slots)
            if groups.ready:
                yield progress.shown(groups.take(len(groups.ready)))
        finally:
            for task in [*slots, serving]:
                task.cancel()
            await asyncio.gather(*slots, serving, return_exceptions=True)
            executor.shutdown(wait=False, cancel_futures=True)
            progress.close()

    async def _run_slot(
        self,
        planned: Iterator[Episode],
        policy: _PolicyBatcher,
        executor: ThreadPoolExecutor,
        finished: asyncio.Queue[Trajectory | PolicyError | None],
    ) -> None:
        """Run episodes one after another on one env handle until the task source runs out.

        What the task source raises ends the collection: it is the caller's data, not an episode.
        A `PolicyError` ends it too, through the queue.
        """
        env = _EnvSlot(self.envs, executor)
        try:
            for episode in planned:
                if self.branch_at is None:
                    run = partial(self._run_episode, env, policy, episode)
                else:
                    group = [episode, *itertools.islice(planned, self.group_size - 1)]
                    run = partial(self._run_branching_group, env, policy, executor, group)
                for trajectory in await self._with_retries(env, run):
                    finished.put_nowait(trajectory)
        except PolicyError as error:
            finished.put_nowait(error)
        finally:
            await env.discard()
            finished.put_nowait(None)

    async def _with_retries(
        self, env: _EnvSlot, run: Callable[[], Awaitable[list[Trajectory]]]
    ) -> list[Trajectory]:
        """The trajectories of `run`, run again on a fresh handle while all of them failed."""
        attempts = self.retries + 1
        for _ in range(attempts):
            trajectories = await run()
            if not all(trajectory.failed for trajectory in trajectories):
                return trajectories
            await env.discard()
        if attempts > 1:
            for trajectory in trajectories:
                trajectory.failure = f"{trajectory.failure} (the last of {attempts} attempts)"
        return trajectories

    async def _run_episode(
        self, env: _EnvSlot, policy: _PolicyBatcher, episode: Episode
    ) -> list[Trajectory]:
        """One episode: reset with the task, then ask the policy and step until it is done.

        Its trajectory comes in a list, as a branching group's do."""
        trajectory = Trajectory(task=episode.task, group=episode.group, episode=episode.number)
        start = time.perf_counter()
        try:
            observation = first_observation = await env.call(
                "reset", seed=episode.seed, task=episode.task
            )
            observation = await _play(env, policy, trajectory, observation, first_observation)
            _finish(trajectory, observation)
        except Exception as error:
            trajectory.failure = _env_failure(error)
            await env.discard()
        _time(trajectory, start)
        return [trajectory]

    async def _run_branching_group(
        self,
        env: _EnvSlot,
        policy: _PolicyBatcher,
        executor: ThreadPoolExecutor,
        group: list[Episode],
    ) -> list[Trajectory]:
        """One group from a shared prefix: the first episode runs `branch_at` steps and forks,
        then every member goes on by itself from there."""
        first = group[0]
        prefix = Trajectory(task=first.task, group=first.group, episode=first.number)
        start = time.perf_counter()
        try:
            observation = first_observation = await env.call(
                "reset", seed=first.seed, task=first.task
            )
            observation = await _play(
                env, policy, prefix, observation, first_observation, until=self.branch_at
            )
            if observation.done:
                _finish(prefix, observation)
                return [_branch(prefix, member, start) for member in group]
            forks = await env.call("fork", len(group) - 1)
        except Exception as error:
            prefix.failure = _env_failure(error)
            await env.discard()
            return [_branch(prefix, member, start) for member in group]
        slots = [env, *(_EnvSlot.holding(handle, executor) for handle in forks)]
        return list(
            await asyncio.gather(
                *(
                    self._go_on(
                        slot,
                        policy,
                        _branch(prefix, member, start),
                        observation,
                        first_observation,
                        start,
                        owned=slot is not env,
                    )
                    for slot, member in zip(slots, group, strict=True)
                )
            )
        )

    async def _go_on(
        self,
        env: _EnvSlot,
        policy: _PolicyBatcher,
        trajectory: Trajectory,
        observation: Any,
        first_observation: Any,
        start: float,
        *,
        owned: bool,
    ) -> Trajectory:
        """Play one branch of a group to its end; a forked handle is closed afterwards."""
        try:
            observation = await _play(env, policy, trajectory, observation, first_observation)
            _finish(trajectory, observation)
        except Exception as error:
            trajectory.failure = _env_failure(error)
            await env.discard()
        if owned:
            await env.discard()
        _time(trajectory, start)
        return trajectory


async def _play(
    env: _EnvSlot,
    policy: _PolicyBatcher,
    trajectory: Trajectory,
    observation: Any,
    first_observation: Any,
    until: int | None = None,
) -> Any:
    """Ask the policy and step until an observation is done, or `until` steps are recorded;
    returns the last observation."""
    while not observation.done and (until is None or len(trajectory.steps) < until):
        asked = time.perf_counter()
        output = await policy.act(
            PolicyInput(
                observation=observation,
                first_observation=first_observation,
                history=tuple(trajectory.steps),
                group=trajectory.group,
                episode=trajectory.episode,
            )
        )
        trajectory.policy_seconds += time.perf_counter() - asked
        action, policy_data = _unpacked(output, env.action_type)
        result = await env.call("step", action)
        trajectory.steps.append(
            Step(
                observation=observation,
                action=action,
                reward=result.reward,
                policy_data=policy_data,
            )
        )
        observation = result
    return observation


def _finish(trajectory: Trajectory, observation: Any) -> None:
    trajectory.last_observation = observation
    trajectory.done = observation.done
    trajectory.truncated = observation.truncated


def _time(trajectory: Trajectory, start: float) -> None:
    trajectory.seconds = time.perf_counter() - start
    trajectory.env_seconds = trajectory.seconds - trajectory.policy_seconds


def _branch(prefix: Trajectory, member: Episode, start: float) -> Trajectory:
    """The trajectory of a group member that shares `prefix` and goes on by itself."""
    trajectory = copy.copy(prefix)
    trajectory.episode = member.number
    trajectory.steps = list(prefix.steps)
    trajectory.branched_at = len(prefix.steps)
    if prefix.failure is not None or prefix.done:
        _time(trajectory, start)
    return trajectory


def _require_no_running_loop() -> None:
    """`for batch in collector` drives its own loop, which cannot run inside another one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        "an event loop is already running here (a notebook or async code): "
        "iterate with `async for batch in collector` instead"
    )


class _EnvFailed(Exception):
    """An env handle (or the factory making one) raised; the message names the call."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(message)
        self.method = method


def _env_failure(error: Exception) -> str:
    """Why the env side failed an episode; a `PolicyError` is no env failure and goes on up.

    An action the env refuses as invalid is the policy's bug, which no retry can fix.
    """
    if isinstance(error, PolicyError):
        raise error
    if isinstance(error, _EnvFailed):
        if error.method == "step" and isinstance(error.__cause__, ValidationError):
            raise PolicyError(f"the env refused the policy's action: {error.__cause__}") from None
        return str(error)
    return f"{type(error).__name__}: {error}"


def _unpacked(output: Any, action_type: type | None) -> tuple[Any, dict[str, Any]]:
    """The action and the policy data of one policy output, checked against the env's type."""
    if isinstance(output, PolicyOutput):
        action, policy_data = output.action, output.policy_data
        if not isinstance(policy_data, Mapping) or not all(
            isinstance(key, str) for key in policy_data
        ):
            raise PolicyError(
                f"policy_data must be a mapping with str keys, got {type(policy_data).__name__}"
            )
    else:
        action, policy_data = output, {}
    if action_type is not None and not isinstance(action, action_type):
        raise PolicyError(
            f"the policy returned a {type(action).__name__} where the env takes "
            f"{action_type.__name__} (or a PolicyOutput holding one)"
        )
    return action, dict(policy_data)


def _is_coroutine_callable(function: Any) -> bool:
    """True for an `async def` function, or an object whose `__call__` is one."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        type(function).__call__
    )


FIRST_RETRY_DELAY = 0.05
"""Seconds an env slot waits before its next handle after one failure; doubled per failure."""

LONGEST_RETRY_DELAY = 5.0
"""The longest an env slot waits between failures."""


def retry_delay(failures_in_a_row: int) -> float:
    """Seconds to wait before the next env handle after that many failures in a row."""
    return min(FIRST_RETRY_DELAY * 2 ** (failures_in_a_row - 1), LONGEST_RETRY_DELAY)


class _EnvSlot:
    """One of the `concurrency` places episodes run in, holding an env handle from the factory.

    The handle is made on first use and again after `discard()`. Async handles are awaited; sync
    ones run in worker threads, or on the loop when they declare themselves `nonblocking`. After
    a failure the slot waits before making its next handle, twice as long after each failure in
    a row (`retry_delay`), so a dead server is not hammered.
    """

    def __init__(self, factory: Callable[[], Any], executor: ThreadPoolExecutor) -> None:
        self._factory = factory
        self._executor = executor
        self._handle: Any = None
        self._is_async = False
        self._offload = Offload(False, self._in_thread)
        self._failures_in_a_row = 0

    @classmethod
    def holding(cls, handle: Any, executor: ThreadPoolExecutor) -> _EnvSlot:
        """A slot over a handle made elsewhere (a fork); a fresh one would be unrelated."""

        def refuse() -> Any:
            raise RuntimeError("a forked env handle failed and cannot be made again")

        slot = cls(refuse, executor)
        slot._adopt(handle)
        return slot

    @property
    def action_type(self) -> type | None:
        """The action type of the current handle, when it declares one."""
        action_type = getattr(self._handle, "action_type", None)
        return action_type if isinstance(action_type, type) else None

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call `reset`, `step` or `close` on the handle; errors become `_EnvFailed`."""
        if self._handle is None:
            await self._open()
        try:
            result = await self._invoke(getattr(self._handle, method), *args, **kwargs)
        except Exception as error:
            self._failures_in_a_row += 1
            raise _EnvFailed(
                method, f"env.{method} raised {type(error).__name__}: {error}"
            ) from error
        self._failures_in_a_row = 0
        return result

    async def discard(self) -> None:
        """Close the handle, ignoring its errors, so the next call makes a fresh one."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(Exception):
                await self._invoke(handle.close)

    async def _open(self) -> None:
        if self._failures_in_a_row:
            await asyncio.sleep(retry_delay(self._failures_in_a_row))
        try:
            handle = await self._made()
            if inspect.isawaitable(handle):
                handle = await handle
        except Exception as error:
            self._failures_in_a_row += 1
            raise _EnvFailed(
                "create", f"creating the env raised {type(error).__name__}: {error}"
            ) from error
        self._adopt(handle)

    async def _made(self) -> Any:
        """The factory's new handle; one still being made when the collection stops is closed
        once it exists, so stopping early leaks no env."""
        made = asyncio.get_running_loop().run_in_executor(self._executor, self._factory)
        try:
            return await asyncio.shield(made)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                handle = await made
                if not inspect.isawaitable(handle):
                    self._adopt(handle)
                    await self.discard()
            raise

    def _adopt(self, handle: Any) -> None:
        self._handle = handle
        self._is_async = inspect.iscoroutinefunction(getattr(handle, "step", None))
        self._offload = Offload(getattr(handle, "nonblocking", False) is True, self._in_thread)

    async def _invoke(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._is_async:
            return await function(*args, **kwargs)
        return await self._offload(partial(function, *args, **kwargs))

    def _in_thread(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self._executor, call)


class _PolicyBatcher:
    """Gathers the episodes waiting for an action and asks the policy for all of them at once."""

    def __init__(self, policy: Callable[[list[PolicyInput]], Any], executor: ThreadPoolExecutor):
        self._policy = policy
        self._executor = executor
        self._is_async = _is_coroutine_callable(policy)
        self._waiting: list[tuple[PolicyInput, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()

    async def act(self, item: PolicyInput) -> Any:
        """The policy's action for one episode, from the next batched call."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._wakeup.set()
        return await future

    async def serve(self) -> None:
        """Call the policy for every waiting episode, one call at a time, forever."""
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(0)
            self._wakeup.clear()
            waiting, self._waiting = self._waiting, []
            try:
                actions = await self._actions([item for item, _ in waiting])
            except PolicyError as failure:
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(failure)
                continue
            for (_, future), action in zip(waiting, actions, strict=True):
                if not future.done():
                    future.set_result(action)

    async def _actions(self, inputs: list[PolicyInput]) -> list[Any]:
        try:
            if self._is_async:
                actions = await self._policy(inputs)
            else:
                loop = asyncio.get_running_loop()
                actions = await loop.run_in_executor(self._executor, self._policy, inputs)
                if inspect.isawaitable(actions):
                    actions = await actions
            actions = list(actions)
        except Exception as error:
            raise PolicyError(f"policy raised {type(error).__name__}: {error}") from error
        if len(actions) != len(inputs):
            raise PolicyError(f"policy returned {len(actions)} outputs for {len(inputs)} inputs")
        return actions


class _FailuresInARow:
    """Counts episodes failing one after another; too many end the collection."""

    def __init__(self) -> None:
        self._in_a_row = 0

    def count(self, trajectory: Trajectory) -> None:
        """Count a finished episode; raise `EnvUnavailable` when the env side looks down."""
        if not trajectory.failed:
            self._in_a_row = 0
            return
        self._in_a_row += 1
        if self._in_a_row >= FAILED_IN_A_ROW_TO_GIVE_UP:
            raise EnvUnavailable(
                f"{self._in_a_row} episodes in a row failed: the env side is down or refuses "
                f"these tasks; last failure: {trajectory.failure}"
            )


class _Groups:
    """Holds finished trajectories until their group is whole, then makes the group ready.

    With `in_order`, whole groups become ready in task order; otherwise as soon as they are whole.
    The members of a group are ordered by episode.
    """

    def __init__(self, group_size: int, in_order: bool) -> None:
        self.group_size = group_size
        self.in_order = in_order
        self.ready: list[Trajectory] = []
        self._partial: dict[int, list[Trajectory]] = {}
        self._whole: dict[int, list[Trajectory]] = {}
        self._next_group = 0
        self._batches = 0

    def add(self, trajectory: Trajectory) -> None:
        members = self._partial.setdefault(trajectory.group, [])
        members.append(trajectory)
        if len(members) < self.group_size:
            return
        del self._partial[trajectory.group]
        members.sort(key=lambda member: member.episode)
        if not self.in_order:
            self.ready.extend(members)
            return
        self._whole[trajectory.group] = members
        while self._next_group in self._whole:
            self.ready.extend(self._whole.pop(self._next_group))
            self._next_group += 1

    def take(self, count: int) -> Batch:
        """The next batch of `count` ready trajectories, each marked with the batch's number."""
        batch, self.ready = Batch(self.ready[:count]), self.ready[count:]
        for trajectory in batch:
            trajectory.batch = self._batches
        self._batches += 1
        return batch


class _Progress:
    """A tqdm bar over trajectories showing turns/s, the last batch's mean reward and failures."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total, unit="traj", desc="collect", disable=None if enabled else True
        )
        self._start = time.perf_counter()
        self._turns = 0
        self._failures = 0

    def shown(self, batch: Batch) -> Batch:
        """Count the batch on the bar and return it."""
        self._turns += sum(len(trajectory.steps) for trajectory in batch)
        completed = batch.completed()
        self._failures += len(batch) - len(completed)
        rewards = completed.rewards()
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._bar.set_postfix(
            {
                "turns/s": f"{self._turns / elapsed:.0f}",
                "reward": f"{sum(rewards) / len(rewards):.3f}" if rewards else "-",
                "failed": self._failures,
            },
            refresh=False,
        )
        self._bar.update(len(batch))
        return batch

    def close(self) -> None:
        self._bar.close()
