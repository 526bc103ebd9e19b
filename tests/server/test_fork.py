"""Forking an episode over the wire: `fork` answers with new sessions, clients attach to them."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from envtorch.client import AsyncEnvClient, EnvClient
from envtorch.collect import Collector, PolicyInput
from envtorch.core import Action, CannotFork, Environment, Observation, ResetNeeded, State
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import LocalProcessProvider
from envtorch.server import ServerLimits, create_app, serve_in_thread
from envtorch.wire import ServerError, auth_headers
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def run(env: EnvClient, code: str) -> Any:
    observation = env.step(CodeAction(code=code))
    assert observation.exception is None, observation.exception
    return observation.value


def open_sessions(url: str) -> int:
    return request(url, "GET", "/health")[1]["sessions"]


def request(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=auth_headers())
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_served_python_episode_forks_into_independent_episodes(monkeypatch):
    monkeypatch.setenv("ENVTORCH_TOKEN", "fork-t0ken")
    with LocalProcessProvider("python", max_sessions=8) as server:
        with server.client(PythonEnv) as env:
            env.reset(seed=3)
            run(env, "x = [1]\nopen('notes.txt', 'w').write('kept')")
            first, second = env.fork(2)
            assert open_sessions(server.url) == 3
            assert [first.episode_over, second.episode_over] == [False, False]
            assert run(first, "x.append('first'); x") == [1, "first"]
            assert run(second, "x.append('second'); x") == [1, "second"]
            assert run(env, "x") == [1]
            assert run(second, "open('notes.txt').read()") == "kept"
            states = [first.state, env.state]
            assert [state.step_count for state in states] == [2, 2]
            assert states[0].episode_id != states[1].episode_id
            first.close()
            assert wait_until(lambda: open_sessions(server.url) == 2, timeout=10)
            assert run(second, "x") == [1, "second"]
            assert run(env, "len(x)") == 1
            intruder = EnvClient(server.url, PythonEnv, token="wrong", session_id=second.session_id)
            with intruder, pytest.raises(ServerError) as failure:
                intruder.reset()
            assert failure.value.code == "unauthorized"
            assert run(second, "len(x)") == 2
            second.close()
        assert wait_until(lambda: open_sessions(server.url) == 0, timeout=10)


@dataclass(kw_only=True)
class LockState(State):
    lock: Any = field(default_factory=threading.Lock)


class LockedEnv(Environment[Action, Observation, LockState]):
    """Holds a lock in its state, which `copy.deepcopy` refuses."""

    action_type = Action
    observation_type = Observation
    state_type = LockState

    def _reset(self, *, seed: int | None, task: Any) -> Observation:
        return Observation()

    def _step(self, action: Action) -> Observation:
        return Observation(reward=1.0)


def test_an_env_that_cannot_fork_says_so_and_goes_on():
    with serve_in_thread(create_app(LockedEnv)) as url, EnvClient(url, LockedEnv) as env:
        env.reset()
        with pytest.raises(CannotFork, match="LockedEnv cannot fork"):
            env.fork(2)
        assert env.step(Action()).reward == 1.0
        assert open_sessions(url) == 1


@pytest.fixture(scope="module")
def echo_url():
    limits = ServerLimits(max_sessions=4)
    with serve_in_thread(create_app(EchoEnv, limits=limits)) as url:
        yield url


def test_forks_count_against_max_sessions_and_need_an_episode(echo_url):
    with EnvClient(echo_url, EchoEnv) as env:
        with pytest.raises(ResetNeeded):
            env.fork(1)
        env.reset()
        with pytest.raises(ServerError, match="max_sessions") as failure:
            env.fork(4)
        assert failure.value.code == "server_full"
        with pytest.raises(ValueError, match="count"):
            env.fork(0)
        forks = env.fork(3)
        assert forks[2].step(EchoAction(message="hi")).echoed_message == "hi"
        for fork in forks:
            fork.close()
    assert wait_until(lambda: open_sessions(echo_url) == 0, timeout=10)


def test_a_session_takes_one_connection_and_unknown_ones_are_refused(echo_url):
    with EnvClient(echo_url, EchoEnv) as env:
        env.reset()
        (fork,) = env.fork(1)
        ws = echo_url.replace("http", "ws") + "/ws"
        for session_id, code in [(fork.session_id, "session_in_use"), ("nope", "unknown_session")]:
            with connect(f"{ws}?session_id={session_id}") as socket:
                reply = json.loads(socket.recv(timeout=10))
            assert reply["data"]["code"] == code
        for method, path, body in [
            ("POST", "/step", {"session_id": fork.session_id, "action": {"message": "x"}}),
            ("POST", "/reset", {"session_id": fork.session_id}),
            ("GET", f"/state?session_id={fork.session_id}", None),
            ("POST", "/close", {"session_id": fork.session_id}),
        ]:
            status, reply = request(echo_url, method, path, body)
            assert (status, reply["data"]["code"]) == (409, "session_in_use"), path
        assert fork.step(EchoAction(message="still")).echoed_message == "still"
        fork.close()


def test_forks_over_http(echo_url):
    status, reply = request(echo_url, "POST", "/reset", {})
    session_id = reply["session_id"]
    status, reply = request(echo_url, "POST", "/fork", {"session_id": session_id, "count": 2})
    assert status == 200 and reply["session_id"] == session_id
    first, second = reply["session_ids"]
    step = {"session_id": second, "action": {"message": "copy"}}
    status, reply = request(echo_url, "POST", "/step", step)
    assert reply["observation"]["echoed_message"] == "copy"
    status, reply = request(echo_url, "POST", "/fork", {"session_id": first, "count": 0})
    assert status == 400 and reply["data"]["code"] == "invalid_message"
    for session in (session_id, first, second):
        assert request(echo_url, "POST", "/close", {"session_id": session})[0] == 200


def test_async_clients_fork_and_the_collector_branches_over_the_wire():
    app = create_app(partial(PythonEnv, max_steps=2))
    with serve_in_thread(app) as url:

        async def fork_twice() -> list[Any]:
            async with AsyncEnvClient(url, PythonEnv) as env:
                await env.reset()
                await env.step(CodeAction(code="n = 10"))
                forks = await env.fork(2)
                values = [
                    (await fork.step(CodeAction(code=f"n += {k}; n"))).value
                    for k, fork in enumerate(forks)
                ]
                await asyncio.gather(*(fork.close() for fork in forks))
                return values

        assert asyncio.run(fork_twice()) == [10, 11]

        def choose(inputs: list[PolicyInput]) -> list[CodeAction]:
            return [
                CodeAction(code="import random\nbase = random.random()")
                if not item.history
                else CodeAction(code=f"base, {item.episode}")
                for item in inputs
            ]

        collector = Collector(
            envs=lambda: AsyncEnvClient(url, PythonEnv),
            policy=choose,
            tasks=["t"],
            group_size=3,
            batch_size=3,
            total=3,
            branch_at=1,
            progress=False,
        )
        trajectories = [trajectory for batch in collector for trajectory in batch]
        values = [t.last_observation.value for t in trajectories]
        assert [t.failure for t in trajectories] == [None] * 3
        assert [value[1] for value in values] == [0, 1, 2]
        assert len({value[0] for value in values}) == 1
        assert wait_until(lambda: open_sessions(url) == 0, timeout=10)
