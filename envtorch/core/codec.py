"""JSON encoding, validated decoding and JSON Schema for action, observation and state types.

Built on msgspec: decoding validates types and names the offending path
(``Expected `str`, got `int` - at `$.message` ``); unknown top-level fields are rejected too.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from envtorch.core.errors import ValidationError
from envtorch.core.types import HIDDEN

if TYPE_CHECKING:
    from envtorch.core.environment import Environment

T = TypeVar("T")

_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder().encode


def encode(obj: Any) -> bytes:
    """Encode a dataclass instance (or any JSON-compatible value) as JSON bytes."""
    return _json_encode(obj)


def to_builtins(obj: Any) -> Any:
    """Convert a dataclass instance into plain dicts, lists, strings and numbers."""
    return msgspec.to_builtins(obj)


def visible_builtins(obj: Any) -> Any:
    """`to_builtins(obj)` without the dataclass fields marked `hidden`, for sending away."""
    data = msgspec.to_builtins(obj)
    kind: type = obj.__class__
    for name in _hidden_fields(kind):
        data.pop(name, None)
    return data


def decode(data: bytes | str, type_: type[T]) -> T:
    """Decode JSON into `type_`, raising `ValidationError` that names the field on a mismatch."""
    try:
        raw = _json_decode(data)
    except msgspec.DecodeError as error:
        raise ValidationError(f"invalid JSON for {_name(type_)}: {error}") from None
    return from_builtins(raw, type_)


def from_builtins(obj: Any, type_: type[T]) -> T:
    """Validate plain data (such as parsed JSON) and build a `type_` from it."""
    _reject_unknown_fields(obj, type_)
    try:
        return msgspec.convert(obj, type_)
    except msgspec.ValidationError as error:
        raise ValidationError(f"{_name(type_)}: {error}") from None


def json_schema(type_: type) -> dict[str, Any]:
    """The JSON Schema of `type_`, with its definition inlined at the top level."""
    schema = msgspec.json.schema(type_)
    definitions = schema.pop("$defs", {})
    reference = schema.pop("$ref", "")
    top = dict(definitions.pop(reference.rsplit("/", 1)[-1], schema))
    if dataclasses.is_dataclass(type_):
        top["additionalProperties"] = False
    if definitions:
        top["$defs"] = definitions
    return top


def schemas(env_type: type[Environment[Any, Any, Any]]) -> dict[str, dict[str, Any]]:
    """The JSON Schemas of an environment's action, observation and state types."""
    return {
        "action": json_schema(env_type.action_type),
        "observation": json_schema(env_type.observation_type),
        "state": json_schema(env_type.state_type),
    }


@lru_cache(maxsize=512)
def _field_names(type_: type) -> frozenset[str]:
    return frozenset(field.name for field in dataclasses.fields(type_))


@lru_cache(maxsize=512)
def _hidden_fields(type_: type) -> tuple[str, ...]:
    if not dataclasses.is_dataclass(type_):
        return ()
    return tuple(field.name for field in dataclasses.fields(type_) if field.metadata.get(HIDDEN))


def _reject_unknown_fields(obj: Any, type_: type) -> None:
    if not (isinstance(obj, dict) and dataclasses.is_dataclass(type_)):
        return
    allowed = _field_names(type_)
    unknown = [key for key in obj if key not in allowed]
    if unknown:
        raise ValidationError(
            f"{_name(type_)}: unknown field `{unknown[0]}` - at `$.{unknown[0]}`; "
            f"expected fields: {', '.join(sorted(allowed)) or 'none'}"
        )


def _name(type_: type) -> str:
    return getattr(type_, "__name__", repr(type_))
