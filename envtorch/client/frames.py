"""WebSocket framing for both clients, without I/O: websockets' sans-I/O `ClientProtocol`.

`EnvClient` feeds it from a blocking socket and `AsyncEnvClient` from an `asyncio.Protocol`;
neither pays for a library connection object's reader task or thread on every message.
"""

from __future__ import annotations

from collections import deque

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import WebSocketURI, parse_uri

from envtorch.client.base import connection_lost
from envtorch.wire import CONNECTION_FAILED, SUBPROTOCOL, ConnectionLost

_DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class Frames:
    """One connection's WebSocket state: the opening handshake, messages in, frames out.

    Bytes from the network go to `receive()`; complete messages wait in `messages`; whatever
    must be written (the handshake request, frames, pongs, the closing handshake) comes from
    `outgoing()`. Pings are answered and the closing handshake is done by the protocol. The
    handshake offers `SUBPROTOCOL`; `subprotocol` is the one the server selected (None for a
    server that ignores it, such as OpenEnv's).
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.uri: WebSocketURI = parse_uri(url)
        self.messages: deque[bytes] = deque()
        self.open = False
        self._protocol = ClientProtocol(self.uri, subprotocols=[SUBPROTOCOL], max_size=None)
        self._fragments: list[bytes] = []
        request = self._protocol.connect()
        request.headers.update(headers)
        self._protocol.send_request(request)

    def outgoing(self) -> bytes:
        """The bytes to write to the network now (possibly none)."""
        return b"".join(self._protocol.data_to_send())

    def send(self, payload: bytes) -> bytes:
        """The bytes of one text message carrying `payload`; `ConnectionLost` once the
        connection is closing (either side began the closing handshake)."""
        if self._protocol.state is not State.OPEN:
            raise self.lost()
        self._protocol.send_text(payload)
        return self.outgoing()

    def close(self) -> bytes:
        """The bytes of a normal close frame, or none when the connection is already closing."""
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(1000)
        return self.outgoing()

    def receive(self, data: bytes) -> None:
        """Take bytes from the network (`b""` at end of stream); keep the complete messages.

        Raises `ConnectionLost` (code `connection_failed`) when the server refuses the handshake.
        """
        if data and not self._protocol.reader.eof:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        for event in self._protocol.events_received():
            if isinstance(event, Response):
                self.open = self._protocol.handshake_exc is None
            elif event.opcode in _DATA_OPCODES:
                self._fragments.append(event.data)
                if event.fin:
                    self.messages.append(b"".join(self._fragments))
                    self._fragments.clear()
        error = self._protocol.handshake_exc
        if error is not None:
            raise ConnectionLost(CONNECTION_FAILED, f"cannot connect to {self.url}: {error}")

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected in its handshake response."""
        return self._protocol.subprotocol

    @property
    def closed(self) -> bool:
        """True once the server sent a close frame or the stream ended."""
        protocol = self._protocol
        return protocol.close_rcvd is not None or protocol.state is State.CLOSED

    def lost(self) -> ConnectionLost:
        """The exception for a closed connection, naming the server's reason when it gave one."""
        if not self.open:
            return ConnectionLost(CONNECTION_FAILED, f"cannot connect to {self.url}: closed")
        close = self._protocol.close_rcvd
        return connection_lost(close.code if close else None, close.reason if close else "")
