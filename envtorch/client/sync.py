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

from envtorch.client.base import (
    CLOSE_TIMEOUT,
    STALE,
    BaseEnvClient,
    Call,
    http_url,
)
from envtorch.client.frames import Frames
from envtorch.client.schema import fetch_json, types_from_schema
from envtorch.core import EnvClosed, EnvtorchError
from envtorch.wire import CONNECTION_FAILED, ConnectionLost

KEEPALIVE_SECONDS = 1.0
"""How often an idle `EnvClient` reads what arrived, so the server's pings get their pongs."""


class EnvClient(BaseEnvClient):
    """A remote environment: `reset`, `step`, `state`, `render`, `close`, like a local env.

    Arguments are those of `BaseEnvClient`; without `env_type` the constructor fetches `/schema`.
    One client is one server session. Calls from several threads are safe: they take turns.
    Server errors raise `ResetNeeded`, `ValidationError` (a bad action) or `ServerError` with the
    server's `code`; a call that outlives `timeout` raises `TimeoutError`, and its late reply is
    recognised by its id and dropped.
    """

    _container: Any = None

    @classmethod
    def from_docker_image(
        cls, image: str, env_type: Any = None, *, resources: Any = None, **options: Any
    ) -> EnvClient:
        """A client on a new container of `image` (an image `envtorch build` made), once the
        server in it is healthy; `close()` stops and removes the container.

        `resources` (a task file's `Resources`) caps the container as `DockerProvider` does;
        `options` are those of `EnvClient`.
        """
        from envtorch.providers.docker import DockerProvider

        container = DockerProvider(image, resources=resources)
        container.start()
        try:
            client = cls(container.url, env_type, **options)
        except BaseException:
            container.stop()
            raise
        client._container = container
        return client

    def _start(self) -> None:
        """Fetch the schema when no env type was given, connect, and start the keepalive."""
        if self._types is None:
            schema = fetch_json(http_url(self.url, "/schema"), self._headers, self.timeout)
            self._types = types_from_schema(schema)
        self._lock = threading.Lock()
        self._closed = False
        self._connection = _Connection(self._websocket_url, self._headers, self.timeout)
        self._settle_dialect(self._connection.frames.subprotocol)
        self._stop_keepalive = threading.Event()
        threading.Thread(
            target=_keep_alive,
            args=(weakref.ref(self), self._stop_keepalive),
            name="envtorch-client-keepalive",
            daemon=True,
        ).start()

    def reset(self, *, seed: int | None = None, task: Any = None) -> Any:
        """Start a new episode and return its first observation."""
        return self._call(self._reset_call, seed, task)

    def step(self, action: Any) -> Any:
        """Apply one action and return the observation."""
        return self._call(self._step_call, action)

    @property
    def state(self) -> Any:
        """The episode's state as the server sends it: `hidden` fields (`task` among them)
        stay on the server and read as their defaults here."""
        return self._call(self._state_call)

    def render(self) -> Any:
        """The server env's rendering in its render mode (None without one)."""
        return self._call(self._render_call)

    def fork(self, count: int) -> list[EnvClient]:
        """`count` clients, each holding a copy of the running episode in a new server session
        (the server's env forks, see `Environment.fork`); `CannotFork` when it cannot."""
        session_ids = self._call(self._fork_call, count)
        forks: list[EnvClient] = []
        try:
            for session_id in session_ids:
                forks.append(EnvClient(self.url, **self._twin_arguments(session_id)))
        except BaseException:
            for fork in forks:
                fork.close()
            raise
        return forks

    def close(self) -> None:
        """End the session (the server closes its env) and the connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_keepalive.set()
            with contextlib.suppress(EnvtorchError, TimeoutError, OSError):
                self._exchange(self._close_call(), CLOSE_TIMEOUT)
            self._connection.close()
            if self._container is not None:
                self._container.stop()

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EnvClient({self.url!r}, {self.observation_type.__name__})"

    def _call(self, make_call: Callable[..., Call], *args: Any) -> Any:
        with self._lock:
            if self._closed:
                raise EnvClosed(f"{self!r} is closed")
            return self._exchange(make_call(*args), self.timeout)

    def _exchange(self, call: Call, timeout: float) -> Any:
        """Send one request and wait for its reply, skipping stale replies to older requests."""
        deadline = time.monotonic() + timeout
        try:
            self._connection.send(call.request)
            while (result := self._match(self._connection.receive(deadline), call)) is STALE:
                continue
        except TimeoutError:
            if self._openenv_peer:
                self._connection.close()
            raise self._no_reply(timeout) from None
        return result

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
            raise ConnectionLost(CONNECTION_FAILED, f"cannot connect to {url}: {error}") from None
        try:
            self._write(self.frames.outgoing())
            while not self.frames.open:
                self._read(deadline)
        except BaseException:
            self.socket.close()
            raise

    def send(self, payload: bytes) -> None:
        """Send one text message; once the server closed, only what it sent before is left to
        receive (the error saying why, say), and without that the loss is raised."""
        if self.frames.closed:
            if self.frames.messages:
                return
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
