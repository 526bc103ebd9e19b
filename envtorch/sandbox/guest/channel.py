"""Length-prefixed JSON frames between the host, the zygote and the sessions, and their messages.

Imported on both sides of the sandbox wall: by the host as `envtorch.sandbox.guest.channel` and
inside the sandbox as `guest.channel`, so it needs nothing but the standard library and msgspec.
A frame is a 4-byte big-endian length followed by that many bytes of JSON. Frames are never
unpickled; every frame is decoded into one of the message types below, or refused.
"""

from __future__ import annotations

import array
import math
import os
import socket
import struct
import time
from typing import Any

import msgspec

HEADER = struct.Struct(">I")


class ChannelError(Exception):
    """A peer sent a frame that is too large, malformed or of an unexpected type."""


class ErrorInfo(msgspec.Struct, frozen=True):
    """An exception that crossed the wall: its type name, message and formatted traceback."""

    type: str
    message: str
    traceback: str = ""


class ToolSpec(msgspec.Struct, frozen=True):
    """A host tool as the sandbox sees it: a name, a signature as text and a docstring."""

    name: str
    signature: str
    doc: str = ""


MARKER_ROOM = 128
"""Characters a truncation marker may add to a text field beyond `max_output`."""
NULL = msgspec.Raw(b"null")


def frame_limit(max_output: int) -> int:
    """The largest frame a session may send: room for a result whose every character is escaped,
    or a tool call with up to 1 MiB of arguments.

    A result has six text fields of at most `max_output` characters each (stdout, stderr, value,
    exception type, message and traceback), and a character escapes to at most six bytes.
    """
    return (1 << 20) + 36 * (max_output + MARKER_ROOM)


def capped(text: str, limit: int, what: str) -> str:
    """`text` cut to `limit` characters with a visible marker, lone surrogates escaped."""
    if len(text) > limit:
        text = text[:limit] + f"... [{what} truncated: {len(text)} characters]"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Config(msgspec.Struct, tag="config"):
    """The sandbox profile the host sends to a new zygote; every session it forks obeys it."""

    address_space: int
    cpu_time: int
    file_size: int
    open_files: int
    processes: int
    workspace_size: int
    max_output: int
    prelude: str = ""


class Ready(msgspec.Struct, tag="ready"):
    """The zygote is warm; `error` says why sessions cannot be created here."""

    error: str | None = None


class Open(msgspec.Struct, tag="open"):
    """Asks the zygote for a new session."""


class Opened(msgspec.Struct, tag="opened"):
    """The zygote forked a session; the host end of its socket travels with this frame."""

    error: str | None = None


class MapUser(msgspec.Struct, tag="map_user"):
    """Asks the zygote to map the session user in the new user namespaces of `copies`, forked
    by `parent`; pids as the zygote sees them."""

    parent: int
    copies: list[int]


class Mapped(msgspec.Struct, tag="mapped"):
    """The zygote mapped the copies' user, or `error` says why not."""

    error: str | None = None


class Hello(msgspec.Struct, tag="hello"):
    """A session's first frame: it is confined and ready, or `error` says what failed. A new
    session's hello carries its seccomp listener; a forked copy's does not."""

    error: str | None = None


class Fork(msgspec.Struct, tag="fork"):
    """Fork `count` confined copies of the session, each greeting the host on a socket of its
    own."""

    count: int


class Forked(msgspec.Struct, tag="forked"):
    """The session forked its copies; the host ends of their sockets travel with this frame, or
    `error` says why there are none."""

    count: int
    error: str | None = None


class Setup(msgspec.Struct, tag="setup"):
    """The tools a session's namespace gets as stubs."""

    tools: list[ToolSpec]


class Execute(msgspec.Struct, tag="execute"):
    """Run `code` in the session's namespace with a soft timeout in seconds."""

    id: int
    code: str
    timeout: float


class ToolCall(msgspec.Struct, tag="tool_call"):
    """Code in the sandbox called a tool stub; the host runs the tool."""

    id: int
    name: str
    args: list[Any]
    kwargs: dict[str, Any]


class ToolReturn(msgspec.Struct, tag="tool_return"):
    """The host's answer to a `ToolCall`: a JSON value or an error."""

    id: int
    value: Any = None
    error: ErrorInfo | None = None


class Result(msgspec.Struct, tag="result"):
    """The outcome of one `Execute`; `value` is the trailing expression's value as JSON, which
    the host decodes only once it has checked its size."""

    id: int
    stdout: str
    stderr: str
    value: msgspec.Raw = NULL
    exception: ErrorInfo | None = None
    timed_out: bool = False


_encoder = msgspec.json.Encoder()


def pack(message: Any) -> bytes:
    """Encode a message as one frame."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


def pack_json(message: Any) -> bytes:
    """Encode a message as one frame, refusing NaN and infinities with a `ValueError`: JSON
    cannot hold them and msgspec would write them as null, so only a frame holding a null is
    searched for them."""
    frame = pack(message)
    if b"null" in frame and _holds_non_finite(msgspec.to_builtins(message)):
        raise ValueError("NaN and infinities are not JSON")
    return frame


def _holds_non_finite(data: Any) -> bool:
    """Whether builtin JSON data holds a float that is NaN or an infinity."""
    pending = [data]
    while pending:
        item = pending.pop()
        if type(item) is float and not math.isfinite(item):
            return True
        if type(item) is list:
            pending += item
        elif type(item) is dict:
            pending += item.values()
    return False


class FrameReader:
    """Reads whole frames from a stream socket, refusing any larger than `limit` bytes."""

    def __init__(self, sock: socket.socket, decoder: msgspec.json.Decoder, limit: int) -> None:
        self._sock = sock
        self._decoder = decoder
        self._limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        """Add bytes received outside `read` (with `recvmsg`, say) in front of the stream."""
        self._buffer += data

    def read(self, deadline: float | None = None) -> Any:
        """The next message; EOFError when the peer closed, TimeoutError after `deadline`."""
        body = self._read_body(deadline)
        try:
            return self._decoder.decode(body)
        except (msgspec.DecodeError, RecursionError) as error:
            raise ChannelError(f"malformed frame: {error}") from None

    def _read_body(self, deadline: float | None) -> bytes:
        while True:
            if len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                if size > self._limit:
                    raise ChannelError(f"frame of {size} bytes exceeds the {self._limit} limit")
                end = HEADER.size + size
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[HEADER.size : end])
                    del self._buffer[:end]
                    return body
            self._receive(deadline)

    def _receive(self, deadline: float | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame before the deadline")
            self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(1 << 16)
        except TimeoutError:
            raise TimeoutError("no frame before the deadline") from None
        if not chunk:
            raise EOFError("the peer closed the connection")
        self._buffer += chunk


def receive_with_fds(
    sock: socket.socket, reader: FrameReader, deadline: float, max_fds: int
) -> tuple[Any, list[int]]:
    """Read one message and the file descriptors (close-on-exec, at most `max_fds`) sent along
    with its first bytes; the descriptors are closed if the message cannot be read."""
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    space = socket.CMSG_SPACE(max_fds * array.array("i").itemsize)
    data, ancillary, _, _ = sock.recvmsg(HEADER.size, space, socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    try:
        if not data:
            raise EOFError("the peer closed the connection")
        reader.feed(data)
        return reader.read(deadline), list(fds)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
