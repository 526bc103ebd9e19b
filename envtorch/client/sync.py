"""`EnvClient`: a remote environment behind the same API as a local one, over one WebSocket."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from envtorch.client.frames import Frames
from envtorch.client.protocol import (
    CLOSE_TIMEOUT,
    ConnectionLost,
    Protocol,
    Reply,
    http_url,
    types_of,
    websocket_url,
)
from envtorch.client.schema import fetch_json, types_from_schema
from envtorch.core import EnvClosed, EnvtorchError
from envtorch.core.auth import auth_headers

KEEPALIVE_SECONDS = 1.0
"""How often an idle `EnvClient` reads what arrived, so the server's pings get their pongs."""


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
        headers = auth_headers(token)
        if env_type is None:
            schema = fetch_json(http_url(url, "/schema"), headers, timeout)
            self._protocol = Protocol(*types_from_schema(schema))
        else:
            self._protocol = Protocol(*types_of(env_type))
        self._lock = threading.Lock()
        self._closed = False
        self._connection = _Connection(websocket_url(url), headers, timeout)
        self._stop_keepalive = threading.Event()
        threading.Thread(
            target=_keep_alive,
            args=(weakref.ref(self), self._stop_keepalive),
            name="envtorch-client-keepalive",
            daemon=True,
        ).start()

    @property
    def action_type(self) -> type:
        """The action dataclass this client sends."""
        return self._protocol.action_type

    @property
    def observation_type(self) -> type:
        """The observation dataclass replies decode into."""
        return self._protocol.observation_type

    @property
    def state_type(self) -> type:
        """The state dataclass state replies decode into."""
        return self._protocol.state_type

    def reset(self, *, seed: int | None = None, task: Any = None) -> Any:
        """Start a new episode and return its first observation."""
        return self._call(lambda: self._protocol.reset(seed, task), self._protocol.observation)

    def step(self, action: Any) -> Any:
        """Apply one action and return the observation."""
        return self._call(lambda: self._protocol.step(action), self._protocol.observation)

    @property
    def state(self) -> Any:
        """The episode's state as the server sends it: `hidden` fields (`task` among them)
        stay on the server and read as their defaults here."""
        return self._call(lambda: self._protocol.simple("state"), self._protocol.state)

    @property
    def episode_over(self) -> bool:
        """True before the first `reset()`, once an observation came back `done`, and after the
        server gave the episode up (a step timeout)."""
        return self._protocol.episode_over

    def render(self) -> Any:
        """The server env's rendering in its render mode (None without one)."""
        return self._call(lambda: self._protocol.simple("render"), self._protocol.frame)

    def close(self) -> None:
        """End the session (the server closes its env) and the connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_keepalive.set()
            with contextlib.suppress(EnvtorchError, TimeoutError, OSError):
                self._exchange(self._protocol.simple("close"), CLOSE_TIMEOUT)
            self._connection.close()

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EnvClient({self.url!r}, {self.observation_type.__name__})"

    def _call(self, request: Callable[[], bytes], decode: Callable[[Reply], Any]) -> Any:
        with self._lock:
            if self._closed:
                raise EnvClosed(f"{self!r} is closed")
            return decode(self._exchange(request(), self.timeout))

    def _exchange(self, request: bytes, timeout: float) -> Reply:
        """Send one request and wait for its reply, skipping stale replies to older requests."""
        deadline = time.monotonic() + timeout
        try:
            self._connection.send(request)
            while (reply := self._protocol.match(self._connection.receive(deadline))) is None:
                continue
        except TimeoutError:
            raise Protocol.no_reply(self.url, timeout) from None
        return reply

    def _answer_pings(self) -> None:
        """When no call is running, read what arrived so that pings are answered."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if not self._closed:
                self._connection.read_pending()
        except (EnvtorchError, OSError):
            return
        finally:
            self._lock.release()


class _Connection:
    """A WebSocket on a blocking socket: no reader thread, the caller reads its own reply."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        self.frames = Frames(url, headers)
        uri = self.frames.uri
        deadline = time.monotonic() + timeout
        try:
            self.socket = socket.create_connection((uri.host, uri.port), timeout)
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if uri.secure:
                context = ssl.create_default_context()
                self.socket = context.wrap_socket(self.socket, server_hostname=uri.host)
        except OSError as error:
            raise ConnectionLost("connection_failed", f"cannot connect to {url}: {error}") from None
        try:
            self._write(self.frames.outgoing())
            while not self.frames.open:
                self._read(deadline)
        except BaseException:
            self.socket.close()
            raise

    def send(self, payload: bytes) -> None:
        """Send one text message."""
        if self.frames.closed:
            raise self.frames.lost()
        try:
            self._write(self.frames.send(payload))
        except TimeoutError:
            raise
        except OSError:
            self.frames.receive(b"")
            raise self.frames.lost() from None

    def receive(self, deadline: float) -> bytes:
        """The next message, waiting until `deadline` (`time.monotonic()`) at most."""
        messages = self.frames.messages
        while not messages:
            self._read(deadline)
        return messages.popleft()

    def read_pending(self) -> None:
        """Read what already arrived without waiting; messages are kept for `receive`."""
        while not self.frames.closed and select.select([self.socket], [], [], 0)[0]:
            self._read(time.monotonic() + CLOSE_TIMEOUT)

    def close(self) -> None:
        """Send a close frame and close the socket."""
        with contextlib.suppress(OSError):
            self._write(self.frames.close())
        self.socket.close()

    def _read(self, deadline: float) -> None:
        if self.frames.closed:
            raise self.frames.lost()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        self.socket.settimeout(remaining)
        try:
            data = self.socket.recv(1 << 16)
        except TimeoutError:
            raise
        except OSError:
            data = b""
        self.frames.receive(data)
        with contextlib.suppress(OSError):
            self._write(self.frames.outgoing())

    def _write(self, data: bytes) -> None:
        if data:
            self.socket.sendall(data)


def _keep_alive(client: weakref.ref[EnvClient], stopped: threading.Event) -> None:
    """Answer the server's pings while the client sits idle, until it closes or is collected."""
    while not stopped.wait(KEEPALIVE_SECONDS):
        alive = client()
        if alive is None:
            return
        alive._answer_pings()
        del alive
