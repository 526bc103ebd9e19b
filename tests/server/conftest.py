from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.sync.client import connect

from envtorch.core import Action, Environment, Observation, State
from envtorch.server import ServerLimits, create_app, serve_in_thread
from envtorch.wire import SUBPROTOCOL


@dataclass(kw_only=True)
class ScriptAction(Action):
    command: str = "echo"
    text: str = ""
    seconds: float = 0.0


@dataclass(kw_only=True)
class ScriptObservation(Observation):
    text: str = ""
    instance: int = 0


class ScriptEnv(Environment[ScriptAction, ScriptObservation, State]):
    """Echoes, sleeps or fails on command; records every instance and every close."""

    action_type = ScriptAction
    observation_type = ScriptObservation
    state_type = State
    metadata = {"name": "script", "render_modes": ["ansi"]}
    instances: list[ScriptEnv] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.number = len(ScriptEnv.instances)
        self.closed_at: float | None = None
        ScriptEnv.instances.append(self)

    def _reset(self, *, seed: int | None, task: Any) -> ScriptObservation:
        return ScriptObservation(text=str(task), instance=self.number)

    def _step(self, action: ScriptAction) -> ScriptObservation:
        if action.command == "sleep":
            time.sleep(action.seconds)
        elif action.command == "raise":
            raise RuntimeError("boom")
        elif action.command == "exit":
            raise SystemExit(3)
        elif action.command == "unencodable":
            return ScriptObservation(metadata={"bad": object()})
        elif action.command == "arrays":
            return arrays_observation()
        elif action.command == "thread":
            return ScriptObservation(text=threading.current_thread().name, instance=self.number)
        elif action.command == "finish":
            return ScriptObservation(text=action.text, done=True, reward=1.0)
        return ScriptObservation(text=action.text, instance=self.number)

    def _render(self) -> str:
        return f"step {self.state.step_count}"

    def _close(self) -> None:
        self.closed_at = time.monotonic()


def arrays_observation() -> ScriptObservation:
    """An observation holding numpy values, as a game or a vision env returns them."""
    import numpy

    grid = numpy.arange(6, dtype=numpy.int8).reshape(2, 3)
    metadata = {"grid": grid, "mean": numpy.float32(2.5), "count": numpy.int64(6)}
    return ScriptObservation(text="arrays", reward=numpy.float64(0.5), metadata=metadata)


class QuickScriptEnv(ScriptEnv):
    """ScriptEnv declaring that it never blocks, so the server runs its calls on the event loop."""

    nonblocking = True


@pytest.fixture
def script_envs():
    ScriptEnv.instances = []
    yield ScriptEnv.instances


@pytest.fixture
def script_env_type():
    return ScriptEnv


@pytest.fixture
def serve(script_envs):
    """Serve ScriptEnv with the given limits; yields a function returning the URL."""

    def start(env_type: type[ScriptEnv] = ScriptEnv, **limits: Any) -> str:
        app = create_app(env_type, limits=ServerLimits(**limits))
        context = serve_in_thread(app)
        contexts.append(context)
        return context.__enter__()

    contexts: list[Any] = []
    yield start
    for context in contexts:
        context.__exit__(None, None, None)


@pytest.fixture
def url(serve) -> str:
    return serve(call_timeout=2.0, max_message_bytes=4096)


class Socket:
    """A raw WebSocket speaking JSON, to test the server without our client: in envtorch's
    dialect (it offers the subprotocol), or as an OpenEnv peer (it offers none)."""

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, openenv: bool = False
    ) -> None:
        self.connection = connect(
            url.replace("http://", "ws://") + "/ws",
            compression=None,
            additional_headers=headers,
            subprotocols=None if openenv else [SUBPROTOCOL],
        ).__enter__()

    def ask(self, message: Any) -> dict[str, Any]:
        self.connection.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
        return json.loads(self.connection.recv(timeout=10))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def socket(url):
    """Open raw WebSockets to `url`, or to another server's URL when given one."""
    sockets: list[Socket] = []

    def open_socket(
        server_url: str | None = None,
        headers: dict[str, str] | None = None,
        openenv: bool = False,
    ) -> Socket:
        sockets.append(Socket(server_url or url, headers, openenv))
        return sockets[-1]

    yield open_socket
    for opened in sockets:
        opened.close()
