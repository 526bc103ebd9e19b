"""The connections a server holds: a cap on how many are open and a deadline on request headers.

The bearer token is in the request headers, so until they are complete a connection could be
anyone's. Such a connection waits: from its accept, and again after each response, until the
headers of its next request are complete. A connection that waits longer than
`handshake_timeout` seconds is closed. When a new connection finds `capacity` connections open,
the one that has waited longest is closed to make room, so idle connections cannot lock out a
client that sends its request; with none waiting, the new connection gets a 503 `server_full`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from envtorch import wire


class ConnectionGate:
    """The connections of one server still waiting for request headers, oldest first."""

    def __init__(self, capacity: int, handshake_timeout: float) -> None:
        self.capacity = capacity
        self.handshake_timeout = handshake_timeout
        self._waiting: dict[GatedHttpProtocol, asyncio.TimerHandle] = {}

    def wait_for_headers(self, connection: GatedHttpProtocol) -> None:
        """Start `connection`'s deadline, unless it already runs."""
        if connection not in self._waiting:
            self._waiting[connection] = connection.loop.call_later(
                self.handshake_timeout, self._close, connection
            )

    def stop_waiting(self, connection: GatedHttpProtocol) -> None:
        """`connection` sent its request headers, or is gone: its deadline no longer applies."""
        deadline = self._waiting.pop(connection, None)
        if deadline is not None:
            deadline.cancel()

    def make_room(self) -> bool:
        """Close the connection that has waited longest; False when none is waiting."""
        if not self._waiting:
            return False
        self._close(next(iter(self._waiting)))
        return True

    def _close(self, connection: GatedHttpProtocol) -> None:
        self.stop_waiting(connection)
        connection.transport.close()


class GatedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol (httptools), admitting connections through a `ConnectionGate`.

    A WebSocket starts as an HTTP request too, so the gate sees it until its upgrade.
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        gate: ConnectionGate,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.gate = gate

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Admit the connection and start its deadline, or refuse it when the server is full."""
        super().connection_made(transport)
        if self._over_capacity() and not self.gate.make_room():
            self._refuse_as_full()
        else:
            self.gate.wait_for_headers(self)

    def on_headers_complete(self) -> None:
        """httptools' callback: the request is in, so the deadline stops."""
        self.gate.stop_waiting(self)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """A kept-alive connection with no request left waits for the next one's headers."""
        super().on_response_complete()
        if self.cycle.response_complete and not self.transport.is_closing():
            self.gate.wait_for_headers(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection's deadline."""
        self.gate.stop_waiting(self)
        super().connection_lost(exc)

    def _over_capacity(self) -> bool:
        """Every open connection counts, this one and WebSockets included."""
        return len(self.connections) > self.gate.capacity

    def _refuse_as_full(self) -> None:
        message = (
            f"the server holds {self.gate.capacity} connections, its limit; retry later, "
            "or raise max_connections (--max-connections)"
        )
        body = wire.encode(wire.error_reply(wire.ServerError(wire.SERVER_FULL, message)))
        head = (
            f"HTTP/1.1 {wire.http_status(wire.SERVER_FULL)} Service Unavailable\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
