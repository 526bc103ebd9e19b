"""`EnvClient`: a remote environment behind the same API as a local one, over one WebSocket."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from envtorch.client.protocol import (
    TOKEN_VARIABLE,
    ConnectionLost,
    Protocol,
    Reply,
    auth_headers,
    http_url,
    types_of,
    websocket_url,
)
from envtorch.client.schema import fetch_json, types_from_schema
from envtorch.core import EnvClosed, EnvtorchError

CLOSE_TIMEOUT = 5.0


class EnvClient:
    """A remote environment: `reset`, `step`, `state`, `render`, `close`, like a local env.

    `url` is the server (`http://127.0.0.1:8000` or its `ws://.../ws`). Replies decode into the
    env's own dataclasses when `env_type` (the env class, or anything with `action_type`,
    `observation_type` and `state_type`) is given; otherwise into dataclasses built from the
    server's `/schema` (see `envtorch.client.schema`). `timeout` bounds every call in seconds;
    `token` (default: the `ENVTORCH_TOKEN` environment variable) is sent as a bearer token.

    One client is one server session. Calls from several threads are safe: they take turns.
    Server errors raise `ResetNeeded`, `ValidationError` (a bad action) or `ServerError` with the
    server's `code`; a call that outlives `timeout` raises `TimeoutError`, and its late reply is
    recognised by its id and dropped.
    """

    def __init__(
        self,
        url: str,
        env_type: Any = None,
        *,
        timeout: float = 120.0,
        token: str | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        token = token if token is not None else os.environ.get(TOKEN_VARIABLE)
        headers = auth_headers(token)
        if env_type is None:
            schema = fetch_json(http_url(url, "/schema"), headers, timeout)
            self._protocol = Protocol(*types_from_schema(schema))
        else:
            self._protocol = Protocol(*types_of(env_type))
        self._lock = threading.Lock()
        self._episode_over = True
        self._closed = False
        self._socket = _open(url, headers, timeout)

    @property
    def action_type(self) -> type:
        return self._protocol.action_type

    @property
    def observation_type(self) -> type:
        return self._protocol.observation_type

    @property
    def state_type(self) -> type:
        return self._protocol.state_type

    def reset(self, *, seed: int | None = None, task: Any = None) -> Any:
        """Start a new episode and return its first observation."""
        observation = self._call(
            lambda: self._protocol.reset(seed, task), self._protocol.observation
        )
        self._episode_over = observation.done
        return observation

    def step(self, action: Any) -> Any:
        """Apply one action and return the observation."""
        observation = self._call(lambda: self._protocol.step(action), self._protocol.observation)
        self._episode_over = observation.done
        return observation

    @property
    def state(self) -> Any:
        """The episode's state, hidden parts included, as the server's env holds it."""
        return self._call(lambda: self._protocol.simple("state"), self._protocol.state)

    @property
    def episode_over(self) -> bool:
        """True before the first `reset()` and once an observation came back `done`."""
        return self._episode_over

    def render(self) -> Any:
        """The server env's rendering in its render mode (None without one)."""
        return self._call(lambda: self._protocol.simple("render"), self._protocol.frame)

    def close(self) -> None:
        """End the session (the server closes its env) and the connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(EnvtorchError, TimeoutError, OSError):
                self._exchange(self._protocol.simple("close"), CLOSE_TIMEOUT)
            self._socket.close()

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EnvClient({self.url!r}, {self.observation_type.__name__})"

    def _call(
        self, request: Callable[[], tuple[int, bytes]], decode: Callable[[Reply], Any]
    ) -> Any:
        with self._lock:
            if self._closed:
                raise EnvClosed(f"{self!r} is closed")
            return decode(self._exchange(request(), self.timeout))

    def _exchange(self, request: tuple[int, bytes], timeout: float) -> Reply:
        """Send one request and wait for its reply, skipping stale replies to older requests."""
        request_id, payload = request
        deadline = time.monotonic() + timeout
        try:
            self._socket.send(payload, text=True)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no reply from {self.url} within {timeout:g} s")
                reply = self._protocol.match(self._socket.recv(remaining, decode=False), request_id)
                if reply is not None:
                    return reply
        except ConnectionClosed as error:
            close = error.rcvd
            raise Protocol.connection_lost(
                close.code if close else None, close.reason if close else ""
            ) from None


def _open(url: str, headers: dict[str, str], timeout: float) -> ClientConnection:
    """Connect to the server's `/ws`; the client owns the connection, hence `__enter__`."""
    try:
        return connect(
            websocket_url(url),
            additional_headers=headers,
            compression=None,
            proxy=None,
            open_timeout=timeout,
            max_size=None,
        ).__enter__()
    except (OSError, InvalidHandshake, TimeoutError) as error:
        raise ConnectionLost("connection_failed", f"cannot connect to {url}: {error}") from None
