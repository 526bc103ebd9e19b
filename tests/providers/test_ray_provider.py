"""RayProvider on a real local Ray head (the `ray_head` fixture): env servers as actors."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from envtorch import Collector, EnvClient, MissingDependency, ServerError
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import ProviderError, RayProvider
from tests.waiting import gone, wait_until

pytestmark = pytest.mark.timeout(120)

ACTOR_CPUS = 0.25


def actor_pid(server) -> int:
    import ray

    return ray.get(server.actor.__ray_call__.remote(lambda actor: os.getpid()), timeout=30)


def test_episodes_spread_over_the_actors_and_stop_leaves_nothing(ray_head):
    import ray

    with RayProvider(
        "echo", actors=2, num_cpus=ACTOR_CPUS, address=ray_head, max_sessions=8
    ) as provider:
        assert len(set(provider.urls)) == 2
        assert all(url.startswith("http://127.0.0.1:") for url in provider.urls)
        pids = [actor_pid(server) for server in provider.servers]
        clients = [provider.client(EchoEnv) for _ in range(4)]
        assert sorted(client.url for client in clients) == sorted(provider.urls * 2)
        for number, client in enumerate(clients):
            client.reset()
            assert client.step(EchoAction(message=f"m{number}")).echoed_message == f"m{number}"
            client.close()
    assert provider.servers == []
    assert not ray.is_initialized()
    assert all(wait_until(lambda pid=pid: gone(pid), timeout=30) for pid in pids)


def test_a_sandboxed_python_env_runs_in_an_actor_behind_our_token(ray_head, monkeypatch):
    monkeypatch.setenv("ENVTORCH_TOKEN", "r4y-actors")
    provider = RayProvider("python", actors=1, num_cpus=ACTOR_CPUS, address=ray_head)
    with provider, provider.client(PythonEnv) as env:
        env.reset()
        assert env.step(CodeAction(code="x = 21 * 2\nx")).value == 42
        observation = env.step(CodeAction(code="import os\nos.listdir('/')"))
        assert "work" not in observation.value
        with (
            pytest.raises(ServerError, match="unauthorized"),
            EnvClient(provider.urls[0], PythonEnv, token="wrong") as intruder,
        ):
            intruder.reset()


def test_an_actor_killed_mid_collection_costs_retried_episodes_not_the_collection(ray_head):
    import ray

    provider = RayProvider(
        "echo", actors=2, num_cpus=ACTOR_CPUS, address=ray_head, kwarg="max_steps=4"
    )
    made = []
    resets = []
    killed = threading.Event()

    def envs():
        env = provider.client(EchoEnv)
        made.append(env)
        if env.url == victim.url:
            env.step = killing_the_victim_first(env.step)
        return env

    def killing_the_victim_first(step):
        """`step`, which once six episodes have begun kills the victim's actor first, in the
        middle of an episode of its own, so that episode must start over."""

        def killing_step(action):
            if len(resets) >= 6 and not killed.is_set():
                killed.set()
                ray.kill(victim.actor)
                assert wait_until(lambda: gone(victim_pid), timeout=30)
            return step(action)

        return killing_step

    def policy(inputs):
        for item in inputs:
            if not item.history:
                resets.append(item.episode)
        return [EchoAction(message="hi") for _ in inputs]

    with provider:
        victim = provider.servers[0]
        victim_pid = actor_pid(victim)
        collector = Collector(
            envs,
            policy,
            tasks=range(24),
            batch_size=24,
            concurrency=4,
            cycle=False,
            retries=3,
            progress=False,
        )
        trajectories = [trajectory for batch in collector for trajectory in batch]
        assert killed.is_set()
        assert len(trajectories) == 24
        assert all(not trajectory.failed for trajectory in trajectories)
        assert all(len(trajectory.steps) == 4 for trajectory in trajectories)
        assert len(resets) > len(set(resets)), "some episode should have started over"
        assert len(made) > 4
        assert provider.replaced == 1
        assert victim not in provider.servers
        assert len(provider.servers) == 2


def test_a_bad_target_fails_with_a_provider_error(ray_head):
    provider = RayProvider("no_such_env_anywhere", num_cpus=ACTOR_CPUS, address=ray_head)
    with pytest.raises(ProviderError, match="no_such_env_anywhere"):
        provider.start()
    assert provider.servers == []


def test_without_ray_the_provider_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependency, match=r"pip install 'envtorch\[ray\]'$"):
        RayProvider("echo").start()


def test_a_bad_serve_option_fails_at_once_with_the_parsers_message():
    with pytest.raises(ProviderError, match="unrecognized arguments: --bogus-option 3"):
        RayProvider("echo", bogus_option=3)
