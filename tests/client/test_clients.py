from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time

import pytest

from envtorch.client import AsyncEnvClient, ConnectionLost, EnvClient, ServerError
from envtorch.core import EnvClosed, Observation, ResetNeeded, State
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.server import create_app, serve_in_thread
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_sync_client_runs_an_episode_like_a_local_env(url, env_type):
    with EnvClient(url, env_type) as env:
        assert env.episode_over
        first = env.reset(seed=1, task="t")
        assert type(first) is env_type.observation_type and first.note == "t"
        observation = env.step(env_type.action_type(note="a"))
        assert observation == env_type.observation_type(note="a", count=1, reward=0.5)
        assert not env.episode_over
        state = env.state
        assert type(state) is env_type.state_type
        assert state.notes == ["a"] and state.task is None and state.step_count == 1
        assert env.render() == "a"
        last = env.step(env_type.action_type(note="end"))
        assert last.done and last.truncated and env.episode_over
        with pytest.raises(ResetNeeded):
            env.step(env_type.action_type(note="late"))
    with pytest.raises(EnvClosed):
        env.reset()
    env.close()


def test_types_are_built_from_the_schema_when_not_given(url):
    with EnvClient(url) as env:
        assert env.action_type.__name__ == "NoteAction"
        assert issubclass(env.observation_type, Observation)
        assert issubclass(env.state_type, State)
        assert {field.name for field in dataclasses.fields(env.action_type)} >= {"note", "sleep"}
        with pytest.raises(TypeError):
            env.action_type()
        env.reset(task={"q": 1})
        observation = env.step(env.action_type(note="hi"))
        assert observation.note == "hi" and observation.count == 1 and observation.reward == 0.5
        assert env.state.notes == ["hi"] and env.state.task is None
    with EnvClient(url, env) as again:
        assert again.reset().note == "None"


def test_errors_map_to_clear_exceptions_and_the_session_lives_on(url, env_type):
    with EnvClient(url, env_type) as env:
        with pytest.raises(ResetNeeded):
            env.step(env_type.action_type(note="x"))
        env.reset()
        with pytest.raises(ServerError) as failure:
            env.step(env_type.action_type(note="x", fail=True))
        assert failure.value.code == "env_error" and "asked to fail" in str(failure.value)
        assert env.step(env_type.action_type(note="fine")).count == 1


def test_a_wrong_action_type_raises_type_error_like_a_local_env(url, env_type):
    local = env_type()
    local.reset()
    with pytest.raises(TypeError, match="expects a"):
        local.step(EchoAction(message="wrong type"))
    with EnvClient(url, env_type) as env:
        env.reset()
        for wrong in (EchoAction(message="wrong type"), {"note": "a dict"}):
            with pytest.raises(TypeError, match="NoteAction"):
                env.step(wrong)
        assert env.step(env_type.action_type(note="fine")).count == 1


def test_an_action_subclass_sends_only_the_fields_its_env_declares(url, env_type):
    @dataclasses.dataclass(kw_only=True)
    class TokenNote(env_type.action_type):
        token_ids: list[int]

    async def over_async():
        async with AsyncEnvClient(url, env_type) as env:
            await env.reset()
            return await env.step(TokenNote(note="async", token_ids=[3]))

    with EnvClient(url, env_type) as env:
        env.reset()
        assert env.step(TokenNote(note="sync", token_ids=[1, 2])).note == "sync"
        assert env.state.notes == ["sync"]
    assert asyncio.run(over_async()).note == "async"


def test_a_schema_built_client_takes_only_its_own_action_type(url, env_type):
    with EnvClient(url) as env:
        env.reset()
        with pytest.raises(TypeError, match=r"client\.action_type"):
            env.step(env_type.action_type(note="the env's own class"))
        assert env.step(env.action_type(note="built")).count == 1


def test_an_async_client_checks_the_action_type_too(url, env_type):
    async def episode():
        async with AsyncEnvClient(url, env_type) as env:
            await env.reset()
            with pytest.raises(TypeError, match="NoteAction"):
                await env.step(EchoAction(message="wrong type"))
            assert (await env.step(env_type.action_type(note="fine"))).count == 1

    asyncio.run(episode())


def test_a_timed_out_call_does_not_shift_later_replies(url, env_type):
    with EnvClient(url, env_type, timeout=0.3) as env:
        env.reset()
        with pytest.raises(TimeoutError):
            env.step(env_type.action_type(note="slow", sleep=1.0))
        env.timeout = 10
        assert env.step(env_type.action_type(note="next")).note == "next"
        assert env.state.notes == ["slow", "next"]


def test_one_sync_client_is_safe_to_share_between_threads(url, env_type):
    with EnvClient(url, env_type) as env:
        env.reset()
        seen: list[str] = []

        def work(name: str) -> None:
            for index in range(25):
                note = f"{name}-{index}"
                assert env.step(env_type.action_type(note=note)).note == note
                seen.append(note)

        threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(env.state.notes) == sorted(seen) and len(seen) == 100


def test_async_client_runs_an_episode(url, env_type):
    async def episode():
        async with AsyncEnvClient(url, env_type) as env:
            first = await env.reset(task="t")
            assert first.note == "t"
            observation = await env.step(env_type.action_type(note="a"))
            assert observation.count == 1
            assert (await env.state()).notes == ["a"]
            assert await env.render() == "a"
            with pytest.raises(ServerError):
                await env.step(env_type.action_type(note="b", fail=True))
        with pytest.raises(EnvClosed):
            await env.reset()

    asyncio.run(episode())


def test_async_client_builds_types_from_the_schema_on_connect(url):
    async def episode():
        env = AsyncEnvClient(url)
        with pytest.raises(RuntimeError, match="connect"):
            env.action_type  # noqa: B018
        await env.connect()
        await env.reset()
        assert (await env.step(env.action_type(note="z"))).note == "z"
        await env.close()

    asyncio.run(episode())


def test_64_async_sessions_interleave_without_crossing(url, env_type):
    sessions, steps = 64, 12

    async def run_one(index: int, env: AsyncEnvClient) -> list[str]:
        await env.reset(task=index)
        notes = []
        for step in range(steps):
            note = f"s{index}-{step}"
            observation = await env.step(env_type.action_type(note=note))
            assert observation.note == note and observation.count == step + 1
            notes.append(note)
            await asyncio.sleep(random.random() / 1000)
        state = await env.state()
        assert state.task is None and state.notes == notes
        return notes

    async def main():
        clients = [AsyncEnvClient(url, env_type) for _ in range(sessions)]
        try:
            results = await asyncio.gather(*(run_one(i, c) for i, c in enumerate(clients)))
        finally:
            await asyncio.gather(*(client.close() for client in clients))
        assert len({note for notes in results for note in notes}) == sessions * steps

    asyncio.run(main())


def test_connection_errors_are_clear(env_type):
    with pytest.raises(ConnectionLost) as failure:
        EnvClient("http://127.0.0.1:9", env_type, timeout=2)
    assert failure.value.code == "connection_failed"
    with pytest.raises(ValueError, match="URL"):
        EnvClient("ftp://example", env_type)


def test_client_sends_the_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("ENVTORCH_TOKEN", "t0ken")
    with serve_in_thread(create_app(EchoEnv)) as url:
        with EnvClient(url) as env:
            assert env.reset().echoed_message == ""
        with pytest.raises(ServerError) as failure:
            EnvClient(url, token="wrong")
        assert failure.value.code == "unauthorized"
        with EnvClient(url, EchoEnv, token="wrong") as env, pytest.raises(ServerError) as failure:
            env.reset()
        assert failure.value.code == "unauthorized"


@pytest.fixture
def pinging_url(env_type):
    """A server that pings every 0.3 s and drops a client that does not pong within 2.5 s (the
    sync client reads pings every second, so a loaded machine has 1.5 s of slack)."""
    import uvicorn

    config = uvicorn.Config(
        create_app(env_type),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="websockets-sansio",
        ws_ping_interval=0.3,
        ws_ping_timeout=2.5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started or not thread.is_alive(), timeout=30)
    assert server.started, "the pinging server died while starting"
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)


def test_an_idle_sync_client_answers_pings_and_keeps_its_session(pinging_url, env_type):
    with EnvClient(pinging_url, env_type) as env:
        env.reset()
        env.step(env_type.action_type(note="before"))
        time.sleep(4.0)
        assert env.step(env_type.action_type(note="after")).count == 2


def test_an_async_client_answers_pings_while_waiting(pinging_url, env_type):
    async def episode():
        async with AsyncEnvClient(pinging_url, env_type) as env:
            await env.reset()
            await asyncio.sleep(4.0)
            slow = await env.step(env_type.action_type(note="slow", sleep=3.5))
            assert slow.count == 1

    asyncio.run(episode())
