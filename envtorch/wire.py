"""The wire protocol, written once: message types and shapes, error codes, the token header.

Servers and clients import their vocabulary from here; no other module spells a message field.
Requests are JSON objects shaped like OpenEnv's, plus an optional `id` that every reply echoes:
`{"type": "reset", "data": {"seed": 0, "task": {...}}, "id": 1}`,
`{"type": "step", "data": {...action fields...}, "id": 2}`, `{"type": "state"}`,
`{"type": "render"}`, `{"type": "fork", "data": {"count": 2}}` and `{"type": "close"}`.

Replies are `{"type": "observation", "data": {"observation": {...}, "reward": r, "done": d,
"truncated": t, "metadata": {...}}, "id": ...}`, `{"type": "state", "data": {...}}`,
`{"type": "render", "data": {"frame": ...}}`, `{"type": "forked", "data": {"session_ids": [...]}}`
(new sessions, each holding a copy of the episode; a WebSocket attaches to one at
`/ws?session_id=...`), `{"type": "closed", "data": {}}` and
`{"type": "error", "data": {"message": "...", "code": "..."}}`. Encoding and decoding go through
`envtorch.core.codec`. A frame that is an array (an `rgb_array` render) travels as
`{"shape": [...], "dtype": "uint8", "data": "<base64 of its bytes>"}` and arrives as a numpy
array. A `/ws` connection may pick its session's render mode with the query parameter
`render_mode`; without one the session gets the server's.

Each `/ws` connection speaks one dialect, settled by its opening handshake with no extra round
trip: a client offers the subprotocol `SUBPROTOCOL`; a server that selects it speaks envtorch's
(ids echoed, observations whole). A peer that offers or selects nothing speaks OpenEnv's: no
`id` anywhere, reset data as OpenEnv's reset keywords, observations in OpenEnv's view
(`observation_reply`), since OpenEnv's message models reject fields they do not know.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from envtorch.core import codec
from envtorch.core.errors import (
    CannotFork,
    EnvtorchError,
    InvalidJSON,
    ResetNeeded,
    ValidationError,
)
from envtorch.core.extras import import_optional

RESET = "reset"
STEP = "step"
STATE = "state"
RENDER = "render"
FORK = "fork"
CLOSE = "close"
REQUEST_TYPES = (RESET, STEP, STATE, RENDER, FORK, CLOSE)

OBSERVATION = "observation"
FORKED = "forked"
CLOSED = "closed"
ERROR = "error"

INVALID_JSON = "invalid_json"
INVALID_MESSAGE = "invalid_message"
UNKNOWN_TYPE = "unknown_type"
INVALID_ACTION = "invalid_action"
RESET_NEEDED = "reset_needed"
UNKNOWN_SESSION = "unknown_session"
SESSION_IN_USE = "session_in_use"
CANNOT_FORK = "cannot_fork"
SERVER_FULL = "server_full"
TIMEOUT = "timeout"
MESSAGE_TOO_LARGE = "message_too_large"
ENV_ERROR = "env_error"
UNAUTHORIZED = "unauthorized"
IDLE_TIMEOUT = "idle_timeout"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
INVALID_REPLY = "invalid_reply"
CONNECTION_FAILED = "connection_failed"
CONNECTION_CLOSED = "connection_closed"

HTTP_STATUS = {
    INVALID_JSON: 400,
    INVALID_MESSAGE: 400,
    UNKNOWN_TYPE: 400,
    INVALID_ACTION: 422,
    RESET_NEEDED: 409,
    UNKNOWN_SESSION: 404,
    SESSION_IN_USE: 409,
    CANNOT_FORK: 422,
    SERVER_FULL: 503,
    TIMEOUT: 504,
    MESSAGE_TOO_LARGE: 413,
    ENV_ERROR: 422,
    UNAUTHORIZED: 401,
    IDLE_TIMEOUT: 404,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
}
"""The HTTP status of each error code; a code not listed is a 400 (see `http_status`)."""

_RAISED_AS: dict[str, type[Exception]] = {
    RESET_NEEDED: ResetNeeded,
    INVALID_ACTION: ValidationError,
    CANNOT_FORK: CannotFork,
}

TOKEN_VARIABLE = "ENVTORCH_TOKEN"
"""The environment variable holding the bearer token of servers, clients and providers."""

AUTH_HEADER = "Authorization"

SUBPROTOCOL = "envtorch"
"""The WebSocket subprotocol of envtorch's dialect: offered by envtorch's clients and the play
page, selected by envtorch's servers; OpenEnv's servers and clients neither offer nor select it."""

SERVING_ON = "envtorch serving on "
"""`envtorch serve` prints this, then its base URL, once it listens; process providers wait for it.
"""

RENDER_MODE = "render_mode"
"""The `/ws` query parameter choosing a session's render mode (`envtorch serve --render-mode`
sets the server's)."""

ARRAY_FRAME_FIELDS = frozenset({"shape", "dtype", "data"})
"""The fields of an array frame in a render reply; `data` is base64 of the array's bytes."""

SESSION_ID = "session_id"
"""The field (or query parameter) naming the session in HTTP requests and replies."""

_ENVELOPE = ("reward", "done", "truncated", "metadata")


class ServerError(EnvtorchError):
    """An error reply: `code` is its stable error code (e.g. `timeout`), `message` says what to do.

    The server raises it to answer with an error; the client raises it when one arrives.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message


class ConnectionLost(ServerError):
    """The connection to the server closed; `code` says why when the server told us."""


class Request(msgspec.Struct):
    """One request message."""

    type: str
    data: dict[str, Any] | None = None
    id: int | str | None = None


class Reply(msgspec.Struct):
    """One reply message."""

    type: str
    data: Any = None
    id: int | str | None = None


class ResetData(msgspec.Struct):
    """The `data` of a reset request. Other fields OpenEnv clients send (`episode_id`, an env's
    own reset keywords) are ignored, as OpenEnv ignores those its env's `reset` does not take."""

    seed: int | None = None
    task: Any = None


class HttpReset(msgspec.Struct):
    """The body of `POST /reset`: no `session_id` opens a new session. Other fields (OpenEnv's
    `episode_id`, an env's own reset keywords) are ignored, as in `ResetData`."""

    session_id: str | None = None
    seed: int | None = None
    task: Any = None


class HttpStep(msgspec.Struct):
    """The body of `POST /step`: no `session_id` steps a passing env, as OpenEnv's stateless
    `/step` does. Other fields OpenEnv sends (`timeout_s`, `request_id`) are ignored."""

    action: dict[str, Any]
    session_id: str | None = None


class ForkData(msgspec.Struct, forbid_unknown_fields=True):
    """The `data` of a fork request: how many copies of the episode to make."""

    count: Annotated[int, msgspec.Meta(ge=1)]


class HttpFork(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `POST /fork`."""

    session_id: str
    count: Annotated[int, msgspec.Meta(ge=1)]


class HttpSession(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `POST /close`."""

    session_id: str


def auth_headers(token: str | None = None) -> dict[str, str]:
    """The `Authorization: Bearer` header for `token` (default: `$ENVTORCH_TOKEN`), if any."""
    if token is None:
        token = os.environ.get(TOKEN_VARIABLE)
    return {AUTH_HEADER: f"Bearer {token}"} if token else {}


def bearer_protocol(token: str) -> str:
    """The WebSocket subprotocol carrying `token`, for browsers, which cannot set a header on a
    WebSocket: `envtorch.bearer.` and the token in unpadded base64url. A browser offers it beside
    `SUBPROTOCOL`, which the server selects, so the token is never echoed back."""
    encoded = base64.urlsafe_b64encode(token.encode()).rstrip(b"=").decode()
    return f"{SUBPROTOCOL}.bearer.{encoded}"


def request(kind: str, data: Any, request_id: int | None) -> bytes:
    """An encoded request; `data` and `id` are left out when None."""
    message: dict[str, Any] = {"type": kind}
    if request_id is not None:
        message["id"] = request_id
    if data is not None:
        message["data"] = data
    return codec.encode(message)


def reset_data(seed: int | None, task: Any, openenv_peer: bool = False) -> dict[str, Any]:
    """The `data` of a reset request.

    To an OpenEnv peer, whose reset takes keywords (each passed on when its env's `reset` takes
    it), a task that is a mapping goes as those keywords, as `envtorch.bridges.openenv` hands a
    task to an OpenEnv env; another task raises `TypeError`.
    """
    if not openenv_peer:
        return {"seed": seed, "task": codec.to_builtins(task)}
    if task is not None and not isinstance(task, Mapping):
        raise TypeError(
            "an OpenEnv server takes reset keywords: pass the task as a mapping of them, "
            f"got {type(task).__name__}"
        )
    keywords = codec.to_builtins(dict(task or {}))
    return keywords if seed is None else {"seed": seed, **keywords}


def parse_request(raw: str | bytes, max_bytes: int) -> Request:
    """Decode and check one request message, raising `ServerError` when it is unusable; its
    size is counted in bytes, a text message's as UTF-8."""
    size = _size_in_bytes(raw, max_bytes)
    if size > max_bytes:
        raise message_too_large(size, max_bytes)
    request = decode(raw, Request)
    if request.type not in REQUEST_TYPES:
        raise ServerError(
            UNKNOWN_TYPE,
            f"unknown message type {request.type!r}; expected one of {', '.join(REQUEST_TYPES)}",
        )
    return request


def request_id_of(raw: str | bytes) -> int | str | None:
    """The `id` of a message that failed to parse, when one can still be read from it."""
    try:
        message = decode(raw, Any)
    except ServerError:
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, (int, str)) else None


def decode(raw: str | bytes, type_: Any) -> Any:
    """Parse a message or body into `type_` (a message `Struct`, or `Any` for plain JSON).

    Raises `ServerError`: `invalid_json` for text that is not JSON, `invalid_message` for JSON of
    the wrong shape.
    """
    try:
        return codec.decode(raw, type_)
    except InvalidJSON as error:
        raise ServerError(INVALID_JSON, str(error)) from None
    except ValidationError as error:
        raise ServerError(INVALID_MESSAGE, f"invalid message: {error}") from None


def convert(data: Any, type_: type) -> Any:
    """Validate `data` (None reads as `{}`) as the `Struct` `type_`; or `invalid_message`."""
    try:
        return codec.from_builtins(data if data is not None else {}, type_)
    except ValidationError as error:
        raise ServerError(INVALID_MESSAGE, f"invalid {error}") from None


def action_of(data: Any, action_type: type) -> Any:
    """Build an action from the fields in `data`, raising `invalid_action` that names the field.

    The `metadata` object every OpenEnv action carries is dropped when `action_type` has no such
    field.
    """
    fields = data if data is not None else {}
    if isinstance(fields.get("metadata"), dict) and "metadata" not in _field_names(action_type):
        fields = {name: value for name, value in fields.items() if name != "metadata"}
    try:
        return codec.from_builtins(fields, action_type)
    except ValidationError as error:
        raise ServerError(INVALID_ACTION, str(error)) from None


def _size_in_bytes(raw: str | bytes, max_bytes: int) -> int:
    """The size of `raw` in bytes; a text only encoded when it may exceed `max_bytes`, since a
    character takes at most 4 bytes in UTF-8."""
    if isinstance(raw, str) and 4 * len(raw) > max_bytes:
        return len(raw.encode())
    return len(raw)


def message_too_large(size: int, limit: int) -> ServerError:
    """The error for a request of `size` bytes when at most `limit` are accepted."""
    return ServerError(
        MESSAGE_TOO_LARGE, f"message of {size} bytes exceeds the limit of {limit} bytes"
    )


def _field_names(kind: type) -> set[str]:
    return (
        {field.name for field in dataclasses.fields(kind)}
        if dataclasses.is_dataclass(kind)
        else set()
    )


def observation_reply(observation: Any, openenv_peer: bool = False) -> dict[str, Any]:
    """An observation reply (without `id`): OpenEnv's envelope plus `truncated` and `metadata`.

    To an OpenEnv peer, `metadata` is also inside the observation, as OpenEnv's servers send it,
    and an observation type that names its `openenv_fields` (the fields OpenEnv's clients of that
    kind of env know, whose models forbid others) sends only those, its other fields travelling
    in `metadata`.
    """
    fields = codec.to_builtins(observation)
    envelope = {name: fields.pop(name, None) for name in _ENVELOPE}
    known = getattr(observation, "openenv_fields", None)
    if openenv_peer and known is not None:
        envelope["metadata"] = {
            **envelope["metadata"],
            **{name: fields.pop(name) for name in list(fields) if name not in known},
        }
    if openenv_peer:
        fields["metadata"] = envelope["metadata"]
    return {"type": OBSERVATION, "data": {"observation": fields, **envelope}}


def observation_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The observation's fields from an observation reply's `data`, envelope fields included."""
    fields = dict(data.get("observation") or {})
    for name in _ENVELOPE:
        if name in data:
            fields[name] = data[name]
    return fields


def state_reply(state: Any) -> dict[str, Any]:
    """A state reply (without `id`): the state without its `hidden` fields."""
    return {"type": STATE, "data": codec.visible_builtins(state)}


def render_reply(frame: Any) -> dict[str, Any]:
    """A render reply (without `id`); an array frame goes as its shape, dtype and base64 bytes."""
    if _is_array(frame):
        encoded = base64.b64encode(frame.tobytes()).decode("ascii")
        sent = {"shape": list(frame.shape), "dtype": str(frame.dtype), "data": encoded}
        return {"type": RENDER, "data": {"frame": sent}}
    return {"type": RENDER, "data": {"frame": codec.to_builtins(frame)}}


def frame_of(data: dict[str, Any]) -> Any:
    """The frame in a render reply's `data`: an array frame as a numpy array, others as sent."""
    frame = data.get("frame")
    if isinstance(frame, dict) and set(frame) == ARRAY_FRAME_FIELDS:
        return _array_of(frame)
    return frame


def _is_array(frame: Any) -> bool:
    return all(hasattr(frame, name) for name in ("shape", "dtype", "tobytes"))


def _array_of(frame: dict[str, Any]) -> Any:
    """The numpy array an array frame carries; `invalid_reply` when it does not fit."""
    numpy = import_optional("numpy", extra="games", needed_by="array frames (rgb_array renders)")
    try:
        dtype = numpy.dtype(frame["dtype"])
        if dtype.hasobject:
            raise ValueError("an array of Python objects is not data")
        raw = base64.b64decode(frame["data"], validate=True)
        return numpy.frombuffer(raw, dtype=dtype).reshape(frame["shape"]).copy()
    except (TypeError, ValueError) as error:
        raise ServerError(INVALID_REPLY, f"the render frame is no array: {error}") from None


def forked_reply(session_ids: list[str]) -> dict[str, Any]:
    """The reply to `fork` (without `id`): the new sessions, one per copy of the episode."""
    return {"type": FORKED, "data": {"session_ids": session_ids}}


def session_ids_of(data: dict[str, Any]) -> list[str]:
    """The new sessions' ids in a forked reply's `data`."""
    session_ids = data.get("session_ids")
    if not isinstance(session_ids, list) or not all(isinstance(s, str) for s in session_ids):
        raise ServerError(INVALID_REPLY, f"a forked reply without session ids: {data!r}")
    return session_ids


def closed_reply() -> dict[str, Any]:
    """The reply to `close`."""
    return {"type": CLOSED, "data": {}}


def error_reply(error: ServerError) -> dict[str, Any]:
    """An error reply (without `id`)."""
    return {"type": ERROR, "data": {"message": error.message, "code": error.code}}


def http_status(code: str) -> int:
    """The HTTP status of an error reply with `code`."""
    return HTTP_STATUS.get(code, 400)


def health_reply(sessions: int, max_sessions: int) -> dict[str, Any]:
    """The body of `GET /health`."""
    return {"status": "healthy", "sessions": sessions, "max_sessions": max_sessions}


def error_of(data: Any) -> Exception:
    """The exception for an error reply's `data`: `ResetNeeded`, `ValidationError` (a bad action),
    `CannotFork` or `ServerError` carrying the code."""
    data = data if isinstance(data, dict) else {}
    code = str(data.get("code", "unknown"))
    message = str(data.get("message", "the server reported an error"))
    exception_type = _RAISED_AS.get(code)
    if exception_type is not None:
        return exception_type(message)
    return ServerError(code, message)


def error_in(body: bytes) -> ServerError | None:
    """The `ServerError` an HTTP error body carries, or None when it is no error reply."""
    try:
        reply = codec.decode(body, Reply)
    except ValidationError:
        return None
    data = reply.data
    if reply.type != ERROR or not isinstance(data, dict):
        return None
    code, message = data.get("code"), data.get("message")
    if not (isinstance(code, str) and isinstance(message, str)):
        return None
    return ServerError(code, message)


def encode(reply: dict[str, Any]) -> bytes:
    """Encode a reply or another JSON body."""
    return codec.encode(reply)
