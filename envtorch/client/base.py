"""`BaseEnvClient`: what `EnvClient` and `AsyncEnvClient` share; they only move the bytes.

The base owns the constructor, the env's three types, the request table (what each call sends
and how its reply decodes), the dialect, request ids and reply matching, and the errors; it
speaks `envtorch.wire`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from envtorch import wire
from envtorch.client.schema import reply_of
from envtorch.core import ResetNeeded, ValidationError, codec

CLOSE_TIMEOUT = 5.0
"""Seconds a client waits for the server to acknowledge `close`."""


@dataclass(frozen=True, slots=True)
class Call:
    """One call to the server: the encoded request, the reply type it expects, and its decoder."""

    request: bytes
    reply_type: str
    decode: Callable[[dict[str, Any]], Any]


class BaseEnvClient:
    """A remote environment's front end, typed by the env's action, observation and state types.

    `url` is the server (`http://127.0.0.1:8000` or its `ws://.../ws`). Replies decode into the
    env's own dataclasses when `env_type` (the env class, or anything with `action_type`,
    `observation_type` and `state_type`) is given; otherwise into dataclasses built from the
    server's `/schema` (see `envtorch.client.schema`). `timeout` bounds every call in seconds;
    `token` (default: the `ENVTORCH_TOKEN` environment variable) is sent as a bearer token.
    `render_mode` asks the server for a session whose env renders in that mode (one of its
    `metadata["render_modes"]`); `render()` then returns the frame, an `rgb_array` as a numpy
    array. Without it the session renders in the server's render mode, if it has one.
    `session_id` attaches the client to a session that already holds an episode (one of those
    `fork(n)` made) instead of opening a new session.

    The server may be envtorch's or OpenEnv's: the client offers `wire.SUBPROTOCOL` when it
    connects, and the handshake's answer settles the dialect. With envtorch's, one request is
    awaited at a time and each request's id is the one a reply must carry, so a late reply to an
    abandoned request is recognised and skipped. With OpenEnv's (no ids), `reset` sends the seed
    and a mapping task's items as OpenEnv's reset keywords, and a call that times out closes the
    connection, since its late reply could not be told from the next one's.
    """

    def __init__(
        self,
        url: str,
        env_type: Any = None,
        *,
        timeout: float = 120.0,
        token: str | None = None,
        render_mode: str | None = None,
        session_id: str | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.render_mode = render_mode
        self.session_id = session_id
        self._token = token
        self._websocket_url = _attached(websocket_url(url, render_mode), session_id)
        self._headers = wire.auth_headers(token)
        self._types = types_of(env_type) if env_type is not None else None
        self._episode_over = session_id is None
        self._last_id = 0
        self._openenv_peer = False
        self._start()

    def _start(self) -> None:
        """What a front end does once its arguments are set: `EnvClient` connects at once."""
        raise NotImplementedError

    @property
    def action_type(self) -> type:
        """The action dataclass this client sends."""
        return self._require_types()[0]

    @property
    def observation_type(self) -> type:
        """The observation dataclass replies decode into."""
        return self._require_types()[1]

    @property
    def state_type(self) -> type:
        """The state dataclass state replies decode into."""
        return self._require_types()[2]

    @property
    def episode_over(self) -> bool:
        """True before the first `reset()`, once an observation came back `done`, and after the
        server gave the episode up (a call timeout)."""
        return self._episode_over

    def _settle_dialect(self, subprotocol: str | None) -> None:
        """The handshake's answer: a server that selected `wire.SUBPROTOCOL` speaks envtorch's
        dialect; any other (OpenEnv's) gets no request ids and OpenEnv's reset keywords."""
        self._openenv_peer = subprotocol != wire.SUBPROTOCOL

    def _reset_call(self, seed: int | None, task: Any) -> Call:
        data = wire.reset_data(seed, task, self._openenv_peer)
        return self._call_for(wire.RESET, data, self._observation)

    def _step_call(self, action: Any) -> Call:
        """A step carries the action's fields as `data`, as OpenEnv does.

        Like a local env, the client accepts only instances of its `action_type`: the env's own
        action class when the client was given `env_type`, else the class it built from the
        server's `/schema` (build actions with `client.action_type(...)`). Anything else raises
        `TypeError` before a byte is sent. An instance of a subclass sends only the fields the
        action type declares: what the subclass adds (a policy's token ids) stays here.
        """
        if not isinstance(action, self.action_type):
            raise TypeError(
                f"step() expects a {_qualified_name(self.action_type)}, "
                f"got {_qualified_name(type(action))}; build it with client.action_type(...)"
            )
        data = codec.declared_builtins(action, self.action_type)
        return self._call_for(wire.STEP, data, self._observation)

    def _state_call(self) -> Call:
        return self._call_for(wire.STATE, None, self._state)

    def _render_call(self) -> Call:
        return self._call_for(wire.RENDER, None, wire.frame_of)

    def _fork_call(self, count: int) -> Call:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        return self._call_for(wire.FORK, {"count": count}, wire.session_ids_of)

    def _twin_arguments(self, session_id: str) -> dict[str, Any]:
        """The arguments of a client like this one attached to the session `session_id`."""
        return {
            "env_type": self,
            "timeout": self.timeout,
            "token": self._token,
            "render_mode": self.render_mode,
            "session_id": session_id,
        }

    def _close_call(self) -> Call:
        return self._call_for(wire.CLOSE, None, _ignore)

    def _call_for(self, kind: str, data: Any, decode: Callable[[dict[str, Any]], Any]) -> Call:
        """The one place that numbers requests: every request carries the next id, except to an
        OpenEnv peer, whose message models reject an `id`."""
        self._last_id += 1
        request_id = None if self._openenv_peer else self._last_id
        return Call(wire.request(kind, data, request_id), _REPLY_TYPES[kind], decode)

    def _match(self, raw: bytes, call: Call) -> Any:
        """The decoded result when `raw` answers `call`, or `_STALE` for a late reply to an
        abandoned request.

        A reply without an id (an error sent as the server closes the session, or a server that
        does not echo ids) belongs to whichever request is waiting.
        """
        try:
            reply = codec.decode(raw, wire.Reply)
        except ValidationError as error:
            raise wire.ServerError(
                wire.INVALID_REPLY, f"unreadable reply from the server: {error}"
            ) from None
        if reply.id is not None and reply.id != self._last_id:
            return STALE
        if reply.type == wire.ERROR:
            raise self._error(reply.data)
        if reply.type != call.reply_type or not isinstance(reply.data, dict):
            raise wire.ServerError(
                wire.INVALID_REPLY, f"expected a {call.reply_type!r} reply, got {reply.type!r}"
            )
        return call.decode(reply.data)

    def _error(self, data: Any) -> Exception:
        error = wire.error_of(data)
        if isinstance(error, ResetNeeded) or getattr(error, "code", None) == wire.TIMEOUT:
            self._episode_over = True
        return error

    def _observation(self, data: dict[str, Any]) -> Any:
        observation = _build(wire.observation_fields(data), self.observation_type)
        self._episode_over = bool(observation.done)
        return observation

    def _state(self, data: dict[str, Any]) -> Any:
        return _build(data, self.state_type)

    def _no_reply(self, timeout: float) -> TimeoutError:
        """The error for a call without a reply; to an OpenEnv peer the caller then closes the
        connection."""
        message = f"no reply from {self.url} within {timeout:g} s"
        if self._openenv_peer:
            message += (
                "; the server sends no request ids, so its late reply could not be told from"
                " the next one's: the connection is closed, open a new client"
            )
        return TimeoutError(message)

    def _require_types(self) -> tuple[type, type, type]:
        if self._types is None:
            raise RuntimeError(
                "the types are built from the server's /schema when connecting: "
                "await client.connect() first, or pass env_type"
            )
        return self._types


STALE = object()
"""What `_match` returns for a reply to an older request."""

_REPLY_TYPES = {
    wire.RESET: wire.OBSERVATION,
    wire.STEP: wire.OBSERVATION,
    wire.STATE: wire.STATE,
    wire.RENDER: wire.RENDER,
    wire.FORK: wire.FORKED,
    wire.CLOSE: wire.CLOSED,
}


def connection_lost(code: int | None, reason: str) -> wire.ConnectionLost:
    """The exception for a closed connection, naming the server's reason when it gave one."""
    return wire.ConnectionLost(
        reason or wire.CONNECTION_CLOSED,
        f"the connection to the server closed (code {code}); open a new client",
    )


def websocket_url(url: str, render_mode: str | None = None) -> str:
    """The `/ws` URL for a server given as `http://host:port`, `ws://host:port` or the /ws URL,
    asking for `render_mode` when one is given."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"expected an http(s):// or ws(s):// URL, got {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    query = parts.query
    if render_mode is not None:
        query = "&".join(filter(None, [query, urlencode({wire.RENDER_MODE: render_mode})]))
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _attached(url: str, session_id: str | None) -> str:
    """The `/ws` URL `url` naming the session to attach to, when there is one."""
    if session_id is None:
        return url
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode({wire.SESSION_ID: session_id})}"


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


def _build(fields: dict[str, Any], type_: type) -> Any:
    try:
        return reply_of(fields, type_)
    except ValidationError as error:
        raise wire.ServerError(
            wire.INVALID_REPLY, f"the server's reply does not fit: {error}"
        ) from None


def _ignore(data: dict[str, Any]) -> None:
    return None


def _qualified_name(type_: type) -> str:
    return f"{type_.__module__}.{type_.__qualname__}"
