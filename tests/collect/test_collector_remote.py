import http.client
import json
import os
import signal
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

import pytest

from envtorch.client import AsyncEnvClient
from envtorch.collect import Batch, Collector, EnvUnavailable, PolicyInput, PolicyOutput
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.providers import LocalProcessProvider
from envtorch.server import create_app, serve_in_thread
from tests.waiting import gone, wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def url():
    with serve_in_thread(create_app(partial(EchoEnv, max_steps=4))) as server_url:
        yield server_url


def say_step(inputs: list[PolicyInput]) -> list[EchoAction]:
    return [
        EchoAction(message=f"{item.observation.echoed_message}|g{item.group}s{len(item.history)}")
        for item in inputs
    ]


def clients(url: str):
    return lambda: AsyncEnvClient(url, EchoEnv)


def summary(batches: list[Batch]) -> list[list[tuple]]:
    return [
        [
            (t.group, t.episode, t.task, t.reward, [s.observation.echoed_message for s in t.steps])
            for t in batch
        ]
        for batch in batches
    ]


def open_sessions(url: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", "/health")
        return json.loads(connection.getresponse().read())["sessions"]
    finally:
        connection.close()


def test_many_remote_sessions_collect_deterministically_under_a_seed(url):
    def run() -> list[Batch]:
        collector = Collector(
            clients(url),
            say_step,
            tasks=["a", "b", "c", "d", "e", "f", "g", "h"],
            group_size=4,
            batch_size=16,
            concurrency=32,
            total=96,
            seed=11,
            progress=False,
        )
        return list(collector)

    first = run()
    assert wait_until(lambda: open_sessions(url) == 0)
    second = run()
    assert summary(first) == summary(second)
    assert [len(batch) for batch in first] == [16] * 6
    trajectories = [t for batch in first for t in batch]
    assert [t.group for t in trajectories] == [group for group in range(24) for _ in range(4)]
    assert all(t.failure is None and t.truncated and len(t.steps) == 4 for t in trajectories)
    last_echo = trajectories[5].last_observation.echoed_message
    assert last_echo == "|g1s0|g1s1|g1s2|g1s3"
    assert trajectories[5].reward == pytest.approx(0.5 + 1.0 + 1.5 + 2.0)
    assert wait_until(lambda: open_sessions(url) == 0)


@dataclass(kw_only=True)
class TokenEcho(EchoAction):
    """An action carrying a policy's tokens, which the echo env never declared."""

    token_ids: list[int]


def test_policy_data_travels_with_the_trajectory_not_over_the_wire(url):
    def policy(inputs):
        return [
            PolicyOutput(
                TokenEcho(message=f"e{item.episode}", token_ids=[item.episode]),
                {"logprobs": [-0.5], "text": f"e{item.episode}"},
            )
            for item in inputs
        ]

    collector = Collector(
        clients(url), policy, tasks=["a", "b"], group_size=2, cycle=False, progress=False
    )
    (batch,) = list(collector)
    assert not batch.failures()
    for trajectory in batch:
        assert [s.observation.echoed_message for s in trajectory.steps[1:]] == [
            f"e{trajectory.episode}"
        ] * 3
        assert all(s.policy_data["text"] == f"e{trajectory.episode}" for s in trajectory.steps)
        assert trajectory.steps[0].action.token_ids == [trajectory.episode]


def echo_server(tmp_path) -> LocalProcessProvider:
    task_file = tmp_path / "echo.yaml"
    task_file.write_text("id: echo-50\nenv: echo\nmax_steps: 50\n")
    return LocalProcessProvider(str(task_file))


def kill(provider: LocalProcessProvider) -> None:
    pid = provider.process.pid
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: gone(pid))


def test_episodes_cut_off_by_a_killed_server_are_retried_with_their_tasks(tmp_path):
    first, second = echo_server(tmp_path), echo_server(tmp_path)
    current = {"url": first.start()}
    second.start()
    handles = []

    def client():
        handles.append(current["url"])
        return AsyncEnvClient(current["url"], EchoEnv)

    try:
        collector = Collector(
            client,
            say_step,
            tasks=range(100),
            group_size=2,
            batch_size=8,
            concurrency=8,
            total=40,
            seed=0,
            progress=False,
        )
        batches = []
        for batch in collector:
            batches.append(batch)
            if len(batches) == 1:
                current["url"] = second.url
                kill(first)
    finally:
        first.stop()
        second.stop()
    trajectories = [t for batch in batches for t in batch]
    assert len(trajectories) == 40 and not Batch(trajectories).failures()
    assert [t.task for t in trajectories] == [t.group for t in trajectories]
    assert all(len(t.steps) == 50 for t in trajectories)
    assert handles.count(first.url) == 8
    assert handles.count(second.url) == 8, "each connection cut off gets one fresh handle"


def test_a_killed_server_ends_the_collection_instead_of_using_the_tasks_up(tmp_path):
    provider = echo_server(tmp_path)
    server_url = provider.start()
    drawn = []

    def tasks():
        for number in range(10_000):
            drawn.append(number)
            yield number

    try:
        collector = Collector(
            clients(server_url),
            say_step,
            tasks=tasks(),
            group_size=2,
            batch_size=8,
            concurrency=8,
            progress=False,
        )
        batches = []
        with pytest.raises(EnvUnavailable, match="in a row failed.*env.reset raised"):
            for batch in collector:
                batches.append(batch)
                if len(batches) == 1:
                    kill(provider)
    finally:
        provider.stop()
    assert len(batches) == 1 and not batches[0].failures()
    assert len(drawn) <= 16, "it stops within a round of the 8 slots, not at task 10,000"
