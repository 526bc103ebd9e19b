"""JSON encoding, validated decoding and JSON Schema for action, observation and state types.

Built on msgspec: decoding validates types and names the offending path
(``Expected `str`, got `int` - at `$.message` ``); unknown top-level fields are rejected too.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec

from envtorch.core.errors import InvalidJSON, ValidationError
from envtorch.core.types import HIDDEN

if TYPE_CHECKING:
    from envtorch.core.environment import Environment

T = TypeVar("T")


def _as_builtin(obj: Any) -> Any:
    """Values with a `tolist()` (numpy arrays and scalars, torch tensors) become its result."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot encode an object of type {type(obj).__name__} as JSON")


_json_decode = msgspec.json.Decoder().decode
_json_encode = msgspec.json.Encoder(enc_hook=_as_builtin).encode


def encode(obj: Any) -> bytes:
    """Encode a dataclass instance (or any JSON-compatible value) as JSON bytes.

    Values with a `tolist()` method, such as numpy arrays and scalars, encode as what it returns.
    """
    return _json_encode(obj)


def to_builtins(obj: Any) -> Any:
    """Convert a dataclass instance into plain dicts, lists, strings and numbers, as `encode`."""
    return msgspec.to_builtins(obj, enc_hook=_as_builtin)


def declared_builtins(obj: Any, type_: type) -> dict[str, Any]:
    """`to_builtins(obj)` of only the fields `type_` declares: what an env taking `type_` gets
    of an instance of a subclass, whose own fields (a policy's token ids, say) stay behind."""
    data: dict[str, Any] = to_builtins(obj)
    declared = _field_names(type_)
    return {name: value for name, value in data.items() if name in declared}


def visible_builtins(obj: Any) -> Any:
    """`to_builtins(obj)` without the dataclass fields marked `hidden`, for sending away."""
    data = to_builtins(obj)
    kind: type = obj.__class__
    for name in _hidden_fields(kind):
        data.pop(name, None)
    return data


def decode(data: bytes | str, type_: type[T]) -> T:
    """Decode JSON into `type_`, raising `ValidationError` that names the field on a mismatch.

    `type_` is a dataclass, a `msgspec.Struct` (decoded in one pass), or `Any` for plain JSON.
    Text that is not JSON, or nests deeper than the interpreter's recursion limit (msgspec then
    raises `RecursionError`), raises `InvalidJSON`, a `ValidationError`.
    """
    decoder = _struct_decoder(type_)
    try:
        raw = decoder(data) if decoder is not None else _json_decode(data)
    except msgspec.ValidationError as error:
        raise ValidationError(f"{_name(type_)}: {error}") from None
    except msgspec.DecodeError as error:
        raise InvalidJSON(f"invalid JSON{_for(type_)}: {error}") from None
    except RecursionError:
        raise InvalidJSON(f"invalid JSON{_for(type_)}: nested too deeply") from None
    if decoder is not None or type_ is Any:
        return cast(T, raw)
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


_struct_decoders: dict[Any, Any] = {}


def _struct_decoder(type_: Any) -> Any:
    """A one-pass decoder for a `msgspec.Struct` type, made once per type; None for others."""
    try:
        return _struct_decoders[type_]
    except KeyError:
        is_struct = isinstance(type_, type) and issubclass(type_, msgspec.Struct)
        decoder = msgspec.json.Decoder(type_).decode if is_struct else None
        return _struct_decoders.setdefault(type_, decoder)


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


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", repr(type_))


def _for(type_: Any) -> str:
    return "" if type_ is Any else f" for {_name(type_)}"
