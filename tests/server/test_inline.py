from __future__ import annotations

import json
import threading

import pytest

from envtorch.core import offload
from envtorch.core.offload import QUICK_CALLS_BEFORE_INLINE

from .conftest import QuickScriptEnv, ScriptObservation

pytestmark = pytest.mark.timeout(60)

LOOP_THREAD = "envtorch-server"
INLINE_CALL_LIMIT = 0.1
"""A limit no quick call reaches on a loaded machine, so only the slow calls below are slow."""
SLOW = 3 * INLINE_CALL_LIMIT


class HoldingEnv(QuickScriptEnv):
    """QuickScriptEnv whose "hold" step waits until the test releases it."""

    released = threading.Event()

    def _step(self, action):
        if action.command == "hold":
            HoldingEnv.released.wait(timeout=30)
            return ScriptObservation(text="released", instance=self.number)
        return super()._step(action)


@pytest.fixture(autouse=True)
def generous_inline_limit(monkeypatch):
    monkeypatch.setattr(offload, "INLINE_CALL_LIMIT", INLINE_CALL_LIMIT)


@pytest.fixture
def release():
    HoldingEnv.released = threading.Event()
    yield HoldingEnv.released
    HoldingEnv.released.set()


def thread_of_next_step(ws) -> str:
    reply = ws.ask({"type": "step", "data": {"command": "thread"}})
    return reply["data"]["observation"]["text"]


def test_a_blocking_env_runs_every_call_in_its_session_thread(socket):
    ws = socket()
    ws.ask({"type": "reset"})
    for _ in range(QUICK_CALLS_BEFORE_INLINE + 5):
        assert thread_of_next_step(ws).startswith("envtorch-session-")


def test_a_nonblocking_env_runs_on_the_loop_until_a_slow_call(serve, socket):
    ws = socket(serve(QuickScriptEnv))
    ws.ask({"type": "reset"})
    assert thread_of_next_step(ws) == LOOP_THREAD
    ws.ask({"type": "step", "data": {"command": "sleep", "seconds": SLOW}})
    assert thread_of_next_step(ws).startswith("envtorch-session-")
    threads = [thread_of_next_step(ws) for _ in range(10 * QUICK_CALLS_BEFORE_INLINE)]
    assert threads[-1] == LOOP_THREAD


def test_a_nonblocking_env_that_turns_slow_stalls_the_others_for_one_call_only(
    serve, socket, release
):
    url = serve(HoldingEnv)
    slow, fast = socket(url), socket(url)
    slow.ask({"type": "reset"})
    fast.ask({"type": "reset"})
    slow.ask({"type": "step", "data": {"command": "sleep", "seconds": SLOW}})
    slow.connection.send(json.dumps({"type": "step", "data": {"command": "hold"}}))
    for _ in range(20):
        assert fast.ask({"type": "step", "data": {"text": "quick"}})["type"] == "observation"
    with pytest.raises(TimeoutError):
        slow.connection.recv(timeout=0.01)
    release.set()
    assert json.loads(slow.connection.recv(timeout=10))["type"] == "observation"


def test_a_nonblocking_env_keeps_errors_as_values(serve, socket):
    ws = socket(serve(QuickScriptEnv))
    ws.ask({"type": "reset"})
    for command, code in (("raise", "env_error"), ("exit", "env_error")):
        reply = ws.ask({"type": "step", "data": {"command": command}, "id": 3})
        assert reply["data"]["code"] == code and reply["id"] == 3
    assert ws.ask({"type": "step", "data": {"text": "still here"}})["type"] == "observation"
