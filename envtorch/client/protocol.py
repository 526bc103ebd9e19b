"""The protocol core both clients share: encode requests, match replies by id, decode, map errors.

`EnvClient` and `AsyncEnvClient` only move bytes; everything they say and understand is here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from envtorch.core import EnvtorchError, ResetNeeded, ValidationError, from_builtins

CLOSE_TIMEOUT = 5.0
"""Seconds a client waits for the server to acknowledge `close`."""


class ServerError(EnvtorchError):
    """The server answered with an error; `code` is its stable error code (e.g. `timeout`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message


class ConnectionLost(ServerError):
    """The connection to the server closed; `code` says why when the server told us."""


class Reply(msgspec.Struct):
    """One reply message."""

    type: str
    data: Any = None
    id: int | str | None = None


_decode_reply = msgspec.json.Decoder(Reply).decode
_encode = msgspec.json.Encoder().encode
_CODED_ERRORS: dict[str, type[Exception]] = {
    "reset_needed": ResetNeeded,
    "invalid_action": ValidationError,
}


class Protocol:
    """Request encoding and reply decoding for one connection, typed by the env's three types.

    One request is awaited at a time: each new request's id is the one `match` looks for, so a
    late reply to an abandoned request is recognised and skipped.
    """

    def __init__(self, action_type: type, observation_type: type, state_type: type) -> None:
        self.action_type = action_type
        self.observation_type = observation_type
        self.state_type = state_type
        self.episode_over = True
        self._last_id = 0

    def reset(self, seed: int | None, task: Any) -> bytes:
        """A reset request."""
        return self._request("reset", {"seed": seed, "task": msgspec.to_builtins(task)})

    def step(self, action: Any) -> bytes:
        """A step request carrying the action's fields as `data`, as OpenEnv does.

        Like a local env, the client accepts only instances of its `action_type`: the env's own
        action class when the client was given `env_type`, else the class it built from the
        server's `/schema` (build actions with `client.action_type(...)`). Anything else raises
        `TypeError` before a byte is sent.
        """
        if not isinstance(action, self.action_type):
            raise TypeError(
                f"step() expects a {_qualified_name(self.action_type)}, "
                f"got {_qualified_name(type(action))}; build it with client.action_type(...)"
            )
        return self._request("step", msgspec.to_builtins(action))

    def simple(self, kind: str) -> bytes:
        """A `state`, `render` or `close` request."""
        return self._request(kind, None)

    def match(self, raw: str | bytes) -> Reply | None:
        """The reply to the latest request, or None for a stale reply to an abandoned one.

        A reply without an id (an error sent as the server closes the session, or a server that
        does not echo ids) belongs to whichever request is waiting.
        """
        try:
            reply = _decode_reply(raw)
        except msgspec.DecodeError as error:
            raise ServerError(
                "invalid_reply", f"unreadable reply from the server: {error}"
            ) from None
        if reply.id is not None and reply.id != self._last_id:
            return None
        if reply.type == "error":
            error = self.error(reply)
            if isinstance(error, ResetNeeded) or getattr(error, "code", None) == "timeout":
                self.episode_over = True
            raise error
        return reply

    def observation(self, reply: Reply) -> Any:
        """Decode an observation reply into `observation_type`."""
        data = self._expect(reply, "observation")
        fields = dict(data.get("observation") or {})
        for name in ("reward", "done", "truncated", "metadata"):
            if name in data:
                fields[name] = data[name]
        observation = self._build(fields, self.observation_type)
        self.episode_over = bool(observation.done)
        return observation

    def state(self, reply: Reply) -> Any:
        """Decode a state reply into `state_type`."""
        return self._build(self._expect(reply, "state"), self.state_type)

    def frame(self, reply: Reply) -> Any:
        """The frame in a render reply."""
        return self._expect(reply, "render").get("frame")

    def closed(self, reply: Reply) -> None:
        """Check the reply to `close`."""
        self._expect(reply, "closed")

    @staticmethod
    def error(reply: Reply) -> Exception:
        """The exception for an error reply: `ResetNeeded`, `ValidationError` or `ServerError`."""
        data = reply.data if isinstance(reply.data, dict) else {}
        code = str(data.get("code", "unknown"))
        message = str(data.get("message", "the server reported an error"))
        exception_type = _CODED_ERRORS.get(code)
        if exception_type is not None:
            return exception_type(message)
        return ServerError(code, message)

    @staticmethod
    def connection_lost(code: int | None, reason: str) -> ConnectionLost:
        """The exception for a closed connection, naming the server's reason when it gave one."""
        return ConnectionLost(
            reason or "connection_closed",
            f"the connection to the server closed (code {code}); open a new client",
        )

    @staticmethod
    def no_reply(url: str, timeout: float) -> TimeoutError:
        """The exception for a request that got no reply within `timeout` seconds."""
        return TimeoutError(f"no reply from {url} within {timeout:g} s")

    def _request(self, kind: str, data: Any) -> bytes:
        self._last_id += 1
        message: dict[str, Any] = {"type": kind, "id": self._last_id}
        if data is not None:
            message["data"] = data
        return _encode(message)

    @staticmethod
    def _expect(reply: Reply, kind: str) -> dict[str, Any]:
        if reply.type != kind or not isinstance(reply.data, dict):
            raise ServerError("invalid_reply", f"expected a {kind!r} reply, got {reply.type!r}")
        return reply.data

    @staticmethod
    def _build(fields: dict[str, Any], type_: type) -> Any:
        try:
            return from_builtins(fields, type_)
        except ValidationError as error:
            raise ServerError(
                "invalid_reply", f"the server's reply does not fit: {error}"
            ) from None


def websocket_url(url: str) -> str:
    """The `/ws` URL for a server given as `http://host:port`, `ws://host:port` or the /ws URL."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"expected an http(s):// or ws(s):// URL, got {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def http_url(url: str, path: str) -> str:
    """The HTTP URL of `path` on the server that `url` points to."""
    parts = urlsplit(websocket_url(url))
    scheme = "https" if parts.scheme == "wss" else "http"
    base = parts.path[: -len("/ws")]
    return urlunsplit((scheme, parts.netloc, base + path, "", ""))


def types_of(env_type: Any) -> tuple[type, type, type]:
    """`(action_type, observation_type, state_type)` of an env class, or of anything carrying them
    (another client, for instance)."""
    try:
        return env_type.action_type, env_type.observation_type, env_type.state_type
    except AttributeError:
        raise TypeError(
            f"env_type must carry action_type, observation_type and state_type "
            f"(an Environment subclass or a client), got {env_type!r}"
        ) from None


def _qualified_name(type_: type) -> str:
    return f"{type_.__module__}.{type_.__qualname__}"
