import http.client
import json
from functools import partial
from urllib.parse import urlsplit

import pytest

from envtorch.client import AsyncEnvClient
from envtorch.collect import Batch, Collector, PolicyInput
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.providers import LocalProcessProvider
from envtorch.server import create_app, serve_in_thread
from tests.waiting import wait_until

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


def test_stopping_the_server_mid_collection_marks_failures_and_the_collection_ends(tmp_path):
    task_file = tmp_path / "echo.yaml"
    task_file.write_text("id: echo-50\nenv: echo\nmax_steps: 50\n")
    provider = LocalProcessProvider(str(task_file))
    server_url = provider.start()
    try:
        collector = Collector(
            clients(server_url),
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
                provider.stop()
    finally:
        provider.stop()
    trajectories = [t for batch in batches for t in batch]
    assert len(trajectories) == 40
    assert not batches[0].failures()
    failed = [t for t in trajectories if t.failed]
    assert len(failed) == 40 - len(batches[0])
    for trajectory in failed:
        assert trajectory.reward is None and trajectory.failure.startswith("env.")
    cut_off = [t for t in failed if "cannot connect" not in t.failure]
    assert len(cut_off) == 8, "each of the 8 connections open at the stop loses its episode"
    assert all("ConnectionLost" in t.failure for t in cut_off)
    for batch in batches[1:]:
        with pytest.raises(ValueError, match="failed trajectories"):
            batch.rewards()
        assert batch.completed().rewards() == [t.reward for t in batch if not t.failed]
