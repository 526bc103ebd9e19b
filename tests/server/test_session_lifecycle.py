from __future__ import annotations

import asyncio
import threading
import time

import pytest

from envtorch.server import ServerLimits
from envtorch.server import sessions as sessions_module
from envtorch.server.sessions import SessionManager, SessionQueue, Workers
from envtorch.wire import ServerError
from tests.waiting import wait_until

from .conftest import ScriptAction, ScriptEnv

pytestmark = pytest.mark.timeout(60)


def wait_until_closed(env: ScriptEnv, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while env.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return env.closed_at is not None


def test_a_reset_queued_behind_close_is_refused_and_builds_nothing(script_envs):
    started, release = threading.Event(), threading.Event()

    def busy_step(env: ScriptEnv) -> object:
        started.set()
        release.wait(timeout=30)
        return env.step(ScriptAction(text="busy"))

    async def race() -> None:
        sessions = SessionManager(ScriptEnv, ServerLimits())
        session = sessions.open()
        await sessions.reset(session, lambda env: env.reset())
        busy = asyncio.create_task(sessions.call(session, busy_step))
        assert await asyncio.to_thread(started.wait, 30)
        closing = asyncio.create_task(sessions.close(session))
        await asyncio.sleep(0)
        resetting = asyncio.create_task(sessions.reset(session, lambda env: env.reset()))
        calling = asyncio.create_task(sessions.call(session, lambda env: env.state))
        await asyncio.sleep(0)
        assert not any(task.done() for task in (busy, closing, resetting, calling))
        release.set()
        with pytest.raises(ServerError) as refused:
            await resetting
        assert refused.value.code == "unknown_session"
        with pytest.raises(ServerError) as refused:
            await calling
        assert refused.value.code == "unknown_session"
        await busy
        await closing

    try:
        asyncio.run(race())
    finally:
        release.set()
    assert len(script_envs) == 1 and script_envs[0].closed_at is not None


def test_an_env_the_factory_returns_after_the_call_timeout_is_closed(serve, socket):
    built: list[ScriptEnv] = []
    timed_out = threading.Event()

    def slow_after_the_probe() -> ScriptEnv:
        if built:
            timed_out.wait(timeout=30)
        built.append(ScriptEnv())
        return built[-1]

    ws = socket(serve(slow_after_the_probe, call_timeout=0.3))
    assert ws.ask({"type": "reset"})["data"]["code"] == "timeout"
    timed_out.set()
    deadline = time.monotonic() + 10
    while len(built) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(built) == 2
    assert wait_until_closed(built[1])
    assert ws.ask({"type": "step", "data": {}})["data"]["code"] == "reset_needed"


def session_threads() -> int:
    return sum(t.name.startswith("envtorch-session-") for t in threading.enumerate())


def test_sessions_waiting_for_their_agents_hold_no_thread(serve, socket):
    url = serve()
    sockets = [socket(url) for _ in range(12)]
    workers = set()
    for n, each in enumerate(sockets):
        each.ask({"type": "reset", "data": {"task": n}})
        reply = each.ask({"type": "step", "data": {"command": "thread"}})
        workers.add(reply["data"]["observation"]["text"])
    assert all(name.startswith("envtorch-session-") for name in workers)
    assert len(workers) < len(sockets)
    assert wait_until(lambda: session_threads() == 0, timeout=20)
    for n, each in enumerate(sockets):
        reply = each.ask({"type": "step", "data": {"text": f"again {n}"}})
        assert reply["data"]["observation"]["text"] == f"again {n}"


def test_many_sessions_sharing_workers_that_end_when_idle_keep_their_calls_in_order(monkeypatch):
    monkeypatch.setattr(sessions_module, "IDLE_THREAD_SECONDS", 0.0005)

    async def submit_from_many_sessions() -> list[list[int]]:
        workers = Workers("envtorch-session-shared")
        queues = [SessionQueue(workers) for _ in range(40)]
        futures: list[list[asyncio.Future]] = [[] for _ in queues]
        for n in range(60):
            for calls, submitted in zip(queues, futures, strict=True):
                submitted.append(calls.submit(lambda n=n: n))
            if n % 5 == 0:
                await asyncio.sleep(0.001)
        return [await asyncio.gather(*submitted) for submitted in futures]

    assert asyncio.run(submit_from_many_sessions()) == [list(range(60))] * 40
    assert wait_until(lambda: session_threads() == 0, timeout=20)


def test_a_session_whose_worker_ends_when_idle_keeps_the_calls_in_order(monkeypatch):
    monkeypatch.setattr(sessions_module, "IDLE_THREAD_SECONDS", 0.0005)

    async def submit_with_pauses() -> list[int]:
        calls = SessionQueue(Workers("envtorch-session-order"))
        futures = []
        for n in range(300):
            futures.append(calls.submit(lambda n=n: n))
            if n % 7 == 0:
                await asyncio.sleep(0.002)
        return await asyncio.gather(*futures)

    assert asyncio.run(submit_with_pauses()) == list(range(300))
    assert wait_until(lambda: session_threads() == 0, timeout=20)
