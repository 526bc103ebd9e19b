"""`AsyncEnvClient`: the asyncio twin of `EnvClient`; same protocol core, only the I/O differs."""

from __future__ import annotations

import asyncio
import contextlib
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


class AsyncEnvClient(BaseEnvClient):
    """A remote environment for asyncio: await `reset`, `step`, `state`, `render`, `close`.

    Arguments and errors are those of `EnvClient`. The connection opens on `async with` or on the
    first call (`await client.connect()` opens it explicitly). Many clients can share one event
    loop; concurrent calls on the same client take turns. Without `env_type`, the types are built
    from `/schema` when connecting, so `action_type` is available after `connect()`.
    """

    def _start(self) -> None:
        """Prepare the lock; the connection opens on the first call or `connect()`."""
        self._lock = asyncio.Lock()
        self._stream: _Stream | None = None
        self._closed = False

    async def connect(self) -> AsyncEnvClient:
        """Fetch the schema if needed and open the connection. Idempotent."""
        async with self._lock:
            await self._connect()
        return self

    async def reset(self, *, seed: int | None = None, task: Any = None) -> Any:
        """Start a new episode and return its first observation."""
        return await self._call(self._reset_call, seed, task)

    async def step(self, action: Any) -> Any:
        """Apply one action and return the observation."""
        return await self._call(self._step_call, action)

    async def state(self) -> Any:
        """The episode's state as the server sends it: `hidden` fields (`task` among them)
        stay on the server and read as their defaults here."""
        return await self._call(self._state_call)

    async def render(self) -> Any:
        """The server env's rendering in its render mode (None without one)."""
        return await self._call(self._render_call)

    async def fork(self, count: int) -> list[AsyncEnvClient]:
        """`count` connected clients, each holding a copy of the running episode in a new server
        session (the server's env forks, see `Environment.fork`); `CannotFork` when it cannot."""
        session_ids = await self._call(self._fork_call, count)
        forks = [AsyncEnvClient(self.url, **self._twin_arguments(s)) for s in session_ids]
        connecting = await asyncio.gather(
            *(fork.connect() for fork in forks), return_exceptions=True
        )
        failure = next((c for c in connecting if isinstance(c, BaseException)), None)
        if failure is not None:
            await asyncio.gather(*(fork.close() for fork in forks))
            raise failure
        return forks

    async def close(self) -> None:
        """End the session (the server closes its env) and the connection. Idempotent."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._stream is None:
                return
            with contextlib.suppress(EnvtorchError, TimeoutError, OSError):
                await self._exchange(self._close_call(), CLOSE_TIMEOUT)
            self._stream.close()

    async def __aenter__(self) -> AsyncEnvClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncEnvClient({self.url!r})"

    async def _call(self, make_call: Callable[..., Call], *args: Any) -> Any:
        async with self._lock:
            await self._connect()
            return await self._exchange(make_call(*args), self.timeout)

    async def _connect(self) -> None:
        if self._closed:
            raise EnvClosed(f"{self!r} is closed")
        if self._stream is not None:
            return
        if self._types is None:
            url = http_url(self.url, "/schema")
            schema = await asyncio.to_thread(fetch_json, url, self._headers, self.timeout)
            self._types = types_from_schema(schema)
        self._stream = await _Stream.open(self._websocket_url, self._headers, self.timeout)
        self._settle_dialect(self._stream.frames.subprotocol)

    async def _exchange(self, call: Call, timeout: float) -> Any:
        """Send one request and wait for its reply, skipping stale replies to older requests."""
        assert self._stream is not None
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            self._stream.send(call.request)
            while (result := self._match(await self._stream.receive(deadline), call)) is STALE:
                continue
        except TimeoutError:
            if self._openenv_peer:
                self._stream.close()
            raise self._no_reply(timeout) from None
        return result


class _Stream(asyncio.Protocol):
    """A WebSocket as an `asyncio.Protocol`: bytes in, messages queued, one waiter woken."""

    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: ConnectionLost | None = None

    @classmethod
    async def open(cls, url: str, headers: dict[str, str], timeout: float) -> _Stream:
        """Connect and finish the opening handshake within `timeout` seconds."""
        frames = Frames(url, headers)
        loop = asyncio.get_running_loop()
        uri = frames.uri
        stream: _Stream | None = None
        try:
            async with asyncio.timeout(timeout):
                _, stream = await loop.create_connection(
                    lambda: cls(frames), uri.host, uri.port, ssl=True if uri.secure else None
                )
                while not frames.open:
                    await stream._wait(loop.time() + timeout)
        except BaseException as error:
            if stream is not None:
                stream.close()
            if isinstance(error, (OSError, TimeoutError)):
                raise ConnectionLost(
                    CONNECTION_FAILED, f"cannot connect to {url}: {error or 'timed out'}"
                ) from None
            raise
        return stream

    def send(self, payload: bytes) -> None:
        """Send one text message; once the server closed, only what it sent before is left to
        receive (the error saying why, say), and without that the loss is raised."""
        if self._transport is None or self._transport.is_closing() or self.frames.closed:
            if self.frames.messages:
                return
            raise self._error or self.frames.lost()
        self._transport.write(self.frames.send(payload))

    async def receive(self, deadline: float) -> bytes:
        """The next message, waiting until `deadline` (the loop's clock) at most."""
        messages = self.frames.messages
        while not messages:
            await self._wait(deadline)
        return messages.popleft()

    def close(self) -> None:
        """Send a close frame and close the transport."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(self.frames.close())
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(self.frames.outgoing())

    def data_received(self, data: bytes) -> None:
        self._take(data)

    def eof_received(self) -> bool:
        self._take(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._take(b"")

    def _take(self, data: bytes) -> None:
        try:
            self.frames.receive(data)
        except ConnectionLost as error:
            self._error = error
        outgoing = self.frames.outgoing()
        if outgoing and self._transport is not None and not self._transport.is_closing():
            self._transport.write(outgoing)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, deadline: float) -> None:
        """Wait for more bytes until `deadline`; raise when the connection is gone."""
        if self._error is not None:
            raise self._error
        if self.frames.closed:
            raise self.frames.lost()
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("timed out"))
