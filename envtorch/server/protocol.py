"""The wire protocol: requests in, replies out, and errors as values with stable codes.

Requests are JSON objects shaped like OpenEnv's, plus an optional `id` that every reply echoes:
`{"type": "reset", "data": {"seed": 0, "task": {...}}, "id": 1}`,
`{"type": "step", "data": {...action fields...}, "id": 2}`, `{"type": "state"}`,
`{"type": "render"}` and `{"type": "close"}`.

Replies are `{"type": "observation", "data": {"observation": {...}, "reward": r, "done": d,
"truncated": t, "metadata": {...}}, "id": ...}`, `{"type": "state", "data": {...}}`,
`{"type": "render", "data": {"frame": ...}}`, `{"type": "closed", "data": {}}` and
`{"type": "error", "data": {"message": "...", "code": "..."}}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from envtorch.core import Observation, ValidationError, from_builtins, visible_builtins

INVALID_JSON = "invalid_json"
INVALID_MESSAGE = "invalid_message"
UNKNOWN_TYPE = "unknown_type"
INVALID_ACTION = "invalid_action"
RESET_NEEDED = "reset_needed"
UNKNOWN_SESSION = "unknown_session"
SERVER_FULL = "server_full"
TIMEOUT = "timeout"
MESSAGE_TOO_LARGE = "message_too_large"
ENV_ERROR = "env_error"
UNAUTHORIZED = "unauthorized"
IDLE_TIMEOUT = "idle_timeout"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"

HTTP_STATUS = {
    INVALID_JSON: 400,
    INVALID_MESSAGE: 400,
    UNKNOWN_TYPE: 400,
    INVALID_ACTION: 422,
    RESET_NEEDED: 409,
    UNKNOWN_SESSION: 404,
    SERVER_FULL: 503,
    TIMEOUT: 504,
    MESSAGE_TOO_LARGE: 413,
    ENV_ERROR: 422,
    UNAUTHORIZED: 401,
    IDLE_TIMEOUT: 404,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
}

REQUEST_TYPES = ("reset", "step", "state", "render", "close")

_OBSERVATION_ENVELOPE = ("reward", "done", "truncated", "metadata")


class ProtocolError(Exception):
    """A request that cannot be served; it becomes an error reply carrying `code`.

    `session_id` is set when the error happened within a known session (HTTP replies carry it).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.session_id: str | None = None


class Message(msgspec.Struct):
    """One request message."""

    type: str
    data: dict[str, Any] | None = None
    id: int | str | None = None


class ResetData(msgspec.Struct, forbid_unknown_fields=True):
    """The `data` of a reset request."""

    seed: int | None = None
    task: Any = None


_decode_request = msgspec.json.Decoder(Message).decode
_decode_any = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_T = TypeVar("_T")


def parse_request(raw: str | bytes, max_bytes: int) -> Message:
    """Decode and check one request message, raising `ProtocolError` when it is unusable."""
    if len(raw) > max_bytes:
        raise ProtocolError(
            MESSAGE_TOO_LARGE, f"message of {len(raw)} bytes exceeds the limit of {max_bytes} bytes"
        )
    request = _decoded(_decode_request, raw)
    if request.type not in REQUEST_TYPES:
        raise ProtocolError(
            UNKNOWN_TYPE,
            f"unknown message type {request.type!r}; expected one of {', '.join(REQUEST_TYPES)}",
        )
    return request


def request_id_of(raw: str | bytes) -> int | str | None:
    """The `id` of a message that failed to parse, when one can still be read from it."""
    try:
        message = decode_json(raw)
    except ProtocolError:
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, (int, str)) else None


def decode_json(raw: str | bytes) -> Any:
    """Parse JSON text, raising an `invalid_json` error when it is not JSON or nests too deep."""
    return _decoded(_decode_any, raw)


def _decoded(decode: Callable[[str | bytes], _T], raw: str | bytes) -> _T:
    """Every JSON the server reads is parsed here, so every way it can fail becomes an error reply.

    msgspec raises `RecursionError`, not a `DecodeError`, for JSON nested deeper than the
    interpreter's recursion limit.
    """
    try:
        return decode(raw)
    except msgspec.ValidationError as error:
        raise ProtocolError(INVALID_MESSAGE, f"invalid message: {error}") from None
    except msgspec.DecodeError as error:
        raise ProtocolError(INVALID_JSON, f"invalid JSON: {error}") from None
    except RecursionError:
        raise ProtocolError(INVALID_JSON, "invalid JSON: nested too deeply") from None


def decode_struct(data: Any, type_: type[msgspec.Struct]) -> Any:
    """Validate `data` as `type_`, raising an `invalid_message` error that names the field."""
    try:
        return msgspec.convert(data if data is not None else {}, type_)
    except msgspec.ValidationError as error:
        raise ProtocolError(INVALID_MESSAGE, f"invalid {type_.__name__}: {error}") from None


def decode_action(data: Any, action_type: type) -> Any:
    """Build an action from the fields in `data`, raising `invalid_action` that names the field."""
    try:
        return from_builtins(data if data is not None else {}, action_type)
    except ValidationError as error:
        raise ProtocolError(INVALID_ACTION, str(error)) from None


def observation_message(observation: Observation) -> dict[str, Any]:
    """An observation reply (without `id`); OpenEnv's shape plus `truncated` and `metadata`."""
    fields = msgspec.to_builtins(observation)
    envelope = {name: fields.pop(name, None) for name in _OBSERVATION_ENVELOPE}
    return {"type": "observation", "data": {"observation": fields, **envelope}}


def state_message(state: Any) -> dict[str, Any]:
    """A state reply (without `id`)."""
    return {"type": "state", "data": visible_builtins(state)}


def render_message(frame: Any) -> dict[str, Any]:
    """A render reply (without `id`)."""
    return {"type": "render", "data": {"frame": msgspec.to_builtins(frame)}}


def closed_message() -> dict[str, Any]:
    """The reply to `close`."""
    return {"type": "closed", "data": {}}


def error_message(error: ProtocolError) -> dict[str, Any]:
    """An error reply (without `id`)."""
    return {"type": "error", "data": {"message": error.message, "code": error.code}}


def encode(message: dict[str, Any]) -> bytes:
    """Encode a reply as JSON."""
    return _encode(message)
