"""`AsyncEnvClient`: the asyncio twin of `EnvClient`; same protocol core, only the I/O differs."""

from __future__ import annotations

import asyncio
import contextlib
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


class AsyncEnvClient:
    """A remote environment for asyncio: await `reset`, `step`, `state`, `render`, `close`.

    Arguments and errors are those of `EnvClient`. The connection opens on `async with` or on the
    first call (`await client.connect()` opens it explicitly). Many clients can share one event
    loop; concurrent calls on the same client take turns. Without `env_type`, the types are built
    from `/schema` when connecting, so `action_type` is available after `connect()`.
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
        self._headers = auth_headers(token)
        self._protocol = Protocol(*types_of(env_type)) if env_type is not None else None
        self._lock = asyncio.Lock()
        self._stream: _Stream | None = None
        self._closed = False

    @property
    def action_type(self) -> type:
        """The action dataclass this client sends."""
        return self._require_protocol().action_type

    @property
    def observation_type(self) -> type:
        """The observation dataclass replies decode into."""
        return self._require_protocol().observation_type

    @property
    def state_type(self) -> type:
        """The state dataclass state replies decode into."""
        return self._require_protocol().state_type

    async def connect(self) -> AsyncEnvClient:
        """Fetch the schema if needed and open the connection. Idempotent."""
        async with self._lock:
            await self._connect()
        return self

    async def reset(self, *, seed: int | None = None, task: Any = None) -> Any:
        """Start a new episode and return its first observation."""
        return await self._call(
            lambda protocol: protocol.reset(seed, task), lambda p, reply: p.observation(reply)
        )

    async def step(self, action: Any) -> Any:
        """Apply one action and return the observation."""
        return await self._call(
            lambda protocol: protocol.step(action), lambda p, reply: p.observation(reply)
        )

    async def state(self) -> Any:
        """The episode's state as the server sends it: `hidden` fields (`task` among them)
        stay on the server and read as their defaults here."""
        return await self._call(
            lambda protocol: protocol.simple("state"), lambda p, reply: p.state(reply)
        )

    @property
    def episode_over(self) -> bool:
        """True before the first `reset()`, once an observation came back `done`, and after the
        server gave the episode up (a step timeout)."""
        return self._protocol is None or self._protocol.episode_over

    async def render(self) -> Any:
        """The server env's rendering in its render mode (None without one)."""
        return await self._call(
            lambda protocol: protocol.simple("render"), lambda p, reply: p.frame(reply)
        )

    async def close(self) -> None:
        """End the session (the server closes its env) and the connection. Idempotent."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._stream is None or self._protocol is None:
                return
            with contextlib.suppress(EnvtorchError, TimeoutError, OSError):
                await self._exchange(self._protocol.simple("close"), CLOSE_TIMEOUT)
            self._stream.close()

    async def __aenter__(self) -> AsyncEnvClient:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncEnvClient({self.url!r})"

    async def _call(
        self,
        request: Callable[[Protocol], bytes],
        decode: Callable[[Protocol, Reply], Any],
    ) -> Any:
        async with self._lock:
            await self._connect()
            protocol = self._require_protocol()
            return decode(protocol, await self._exchange(request(protocol), self.timeout))

    async def _connect(self) -> None:
        if self._closed:
            raise EnvClosed(f"{self!r} is closed")
        if self._stream is not None:
            return
        if self._protocol is None:
            url = http_url(self.url, "/schema")
            schema = await asyncio.to_thread(fetch_json, url, self._headers, self.timeout)
            self._protocol = Protocol(*types_from_schema(schema))
        self._stream = await _Stream.open(websocket_url(self.url), self._headers, self.timeout)

    async def _exchange(self, request: bytes, timeout: float) -> Reply:
        """Send one request and wait for its reply, skipping stale replies to older requests."""
        assert self._stream is not None and self._protocol is not None
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            self._stream.send(request)
            while (reply := self._protocol.match(await self._stream.receive(deadline))) is None:
                continue
        except TimeoutError:
            raise Protocol.no_reply(self.url, timeout) from None
        return reply

    def _require_protocol(self) -> Protocol:
        if self._protocol is None:
            raise RuntimeError(
                "the types are built from the server's /schema when connecting: "
                "await client.connect() first, or pass env_type"
            )
        return self._protocol


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
                    "connection_failed", f"cannot connect to {url}: {error or 'timed out'}"
                ) from None
            raise
        return stream

    def send(self, payload: bytes) -> None:
        """Send one text message."""
        if self._transport is None or self._transport.is_closing() or self.frames.closed:
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
