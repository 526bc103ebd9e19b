"""Gymnasium spaces and envtorch's dataclass field types, both ways.

- `field_type(space)`: the field type that carries values of `space` as JSON (numbers, nested lists
  of fixed lengths, strings, objects, arrays for tuples). Its JSON Schema describes the values and
  holds the exact space under `SPACE_KEY`, so the space survives the wire (`/schema`).
- `space_of(schema)`: the space of a field's JSON Schema: the exact one when the schema holds it,
  else one derived from the schema's types (a string is `Text`, a number an unbounded `Box`, an
  integer between bounds `Discrete`, a fixed-length array of numbers a `Box`, an object with
  properties a `Dict`, any other value `JSONValue`).
- `space_value(space, value)`: JSON data or an env's own value as the space holds it (numpy arrays
  for `Box`, `MultiDiscrete` and `MultiBinary`, tuples for `Tuple`).
- `plain(value)`: a space's value as JSON data (lists and numbers), ready to go into an action.
"""

from __future__ import annotations

import json
import string
from functools import singledispatch
from typing import Annotated, Any, TypedDict

import gymnasium
import msgspec
import numpy as np
from gymnasium import spaces

SPACE_KEY = "x-gymnasium-space"
"""The JSON Schema keyword under which a field's exact Gymnasium space is described."""

TEXT_MAX_LENGTH = 4096
"""The `max_length` of the `Text` space of a string field that declares none."""

TEXT_CHARSET = string.printable
"""The characters of the `Text` space of a string field: printable ASCII and whitespace."""

SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, Text, Dict and Tuple"


class JSONValue(gymnasium.Space[Any]):
    """Any JSON value: null, booleans, numbers, strings, lists and string-keyed objects.

    The space of a field typed `Any`, a union or anything else no Gymnasium space fits. It
    samples `None`.
    """

    def __init__(self) -> None:
        super().__init__(shape=None, dtype=None)

    @property
    def is_np_flattenable(self) -> bool:
        """JSON values have no fixed flat shape."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> None:
        """`None`, the one value every JSON field can hold."""
        return None

    def contains(self, x: Any) -> bool:
        """Whether `x` is JSON data."""
        try:
            msgspec.json.encode(x)
        except (TypeError, msgspec.EncodeError):
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONValue)

    def __hash__(self) -> int:
        return hash(JSONValue)

    def __repr__(self) -> str:
        return "JSONValue()"


def field_type(space: gymnasium.Space[Any]) -> Any:
    """The dataclass field type for values of `space`, its JSON Schema holding the space."""
    return Annotated[
        _json_type(space), msgspec.Meta(extra_json_schema={SPACE_KEY: describe(space)})
    ]


def space_of(schema: dict[str, Any], definitions: dict[str, Any] | None = None) -> Any:
    """The Gymnasium space of a field's JSON Schema; `definitions` resolve its `$ref`s."""
    definitions = definitions or {}
    if SPACE_KEY in schema:
        return space_from_description(schema[SPACE_KEY])
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in definitions:
            return JSONValue()
        return space_of(definitions[name], definitions)
    kind = schema.get("type")
    if kind == "boolean":
        return spaces.Box(0, 1, (), np.bool_)
    if kind == "integer":
        return _integer_space(schema)
    if kind == "number":
        return spaces.Box(
            schema.get("minimum", -np.inf), schema.get("maximum", np.inf), (), np.float64
        )
    if kind == "string":
        return spaces.Text(
            schema.get("maxLength", TEXT_MAX_LENGTH),
            min_length=schema.get("minLength", 0),
            charset=TEXT_CHARSET,
        )
    if kind == "array":
        return _array_space(schema, definitions)
    if kind == "object" and "properties" in schema:
        return spaces.Dict(
            {name: space_of(field, definitions) for name, field in schema["properties"].items()}
        )
    return JSONValue()


def _integer_space(schema: dict[str, Any]) -> Any:
    if "minimum" in schema and "maximum" in schema:
        low, high = schema["minimum"], schema["maximum"]
        return spaces.Discrete(high - low + 1, start=low)
    return spaces.Box(schema.get("minimum", -np.inf), schema.get("maximum", np.inf), (), np.int64)


def _array_space(schema: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """A tuple's space, a `Box` for a fixed number of numbers (or of such boxes), else a
    `Sequence` of the items' space."""
    if "prefixItems" in schema:
        return spaces.Tuple([space_of(item, definitions) for item in schema["prefixItems"]])
    item = space_of(schema.get("items", {}), definitions)
    length = schema.get("minItems")
    if isinstance(item, spaces.Box) and length is not None and length == schema.get("maxItems"):
        return spaces.Box(
            np.stack([item.low] * length), np.stack([item.high] * length), dtype=item.dtype
        )
    return spaces.Sequence(item)


@singledispatch
def describe(space: gymnasium.Space[Any]) -> dict[str, Any]:
    """`space` as JSON data, for `space_from_description`; raises `TypeError` for spaces
    other than Box, Discrete, MultiDiscrete, MultiBinary, Text, Dict and Tuple."""
    raise _unsupported(space)


def _unsupported(space: gymnasium.Space[Any]) -> TypeError:
    return TypeError(
        f"{type(space).__name__} spaces have no envtorch field type; supported: {SUPPORTED}"
    )


@describe.register
def _(space: spaces.Box) -> dict[str, Any]:
    return {
        "type": "Box",
        "shape": list(space.shape),
        "dtype": space.dtype.name,
        "low": _bound(space.low, space.bounded_below),
        "high": _bound(space.high, space.bounded_above),
    }


@describe.register
def _(space: spaces.Discrete) -> dict[str, Any]:
    return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}


@describe.register
def _(space: spaces.MultiDiscrete) -> dict[str, Any]:
    return {
        "type": "MultiDiscrete",
        "nvec": space.nvec.tolist(),
        "start": space.start.tolist(),
        "dtype": space.dtype.name,
    }


@describe.register
def _(space: spaces.MultiBinary) -> dict[str, Any]:
    return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}


@describe.register
def _(space: spaces.Text) -> dict[str, Any]:
    return {
        "type": "Text",
        "min_length": space.min_length,
        "max_length": space.max_length,
        "charset": "".join(space.character_list),
    }


@describe.register
def _(space: spaces.Dict) -> dict[str, Any]:
    return {"type": "Dict", "spaces": {name: describe(sub) for name, sub in space.items()}}


@describe.register
def _(space: spaces.Tuple) -> dict[str, Any]:
    return {"type": "Tuple", "spaces": [describe(sub) for sub in space.spaces]}


def _bound(values: np.ndarray, bounded: np.ndarray) -> Any:
    """One number when every element shares it, else nested lists; `None` where unbounded."""
    if values.dtype.kind == "b":
        values = values.astype(np.int64)
    data = np.where(bounded, values, None)
    flat = data.ravel().tolist()
    if flat and all(value == flat[0] for value in flat):
        return flat[0]
    return data.tolist()


def space_from_description(description: dict[str, Any]) -> Any:
    """The space that `describe` described."""
    kind = description["type"]
    if kind == "Box":
        dtype = np.dtype(description["dtype"])
        shape = tuple(description["shape"])
        return spaces.Box(
            _bound_array(description["low"], -np.inf, shape, dtype),
            _bound_array(description["high"], np.inf, shape, dtype),
            shape,
            dtype,
        )
    if kind == "Discrete":
        return spaces.Discrete(description["n"], start=description["start"])
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(
            description["nvec"], dtype=description["dtype"], start=description["start"]
        )
    if kind == "MultiBinary":
        return spaces.MultiBinary(description["n"])
    if kind == "Text":
        return spaces.Text(
            description["max_length"],
            min_length=description["min_length"],
            charset=description["charset"],
        )
    if kind == "Dict":
        return spaces.Dict(
            {name: space_from_description(sub) for name, sub in description["spaces"].items()}
        )
    if kind == "Tuple":
        return spaces.Tuple([space_from_description(sub) for sub in description["spaces"]])
    raise ValueError(f"unknown space description {json.dumps(description)[:200]}")


def _bound_array(bound: Any, unbounded: float, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
    """The bounds `_bound` wrote, `unbounded` (an infinity) where it wrote `None`: one number
    as it was, or an array in `dtype` where `dtype` can hold them."""
    if not isinstance(bound, list):
        return unbounded if bound is None else bound
    fill = np.frompyfunc(lambda value: unbounded if value is None else value, 1, 1)
    values = np.asarray(fill(np.asarray(bound, dtype=object)), dtype=np.float64)
    if dtype.kind == "f" or np.isfinite(values).all():
        values = values.astype(dtype)
    return values.reshape(shape)


@singledispatch
def _json_type(space: gymnasium.Space[Any]) -> Any:
    raise _unsupported(space)


@_json_type.register
def _(space: spaces.Discrete) -> Any:
    start = int(space.start)
    return Annotated[int, msgspec.Meta(ge=start, le=start + int(space.n) - 1)]


@_json_type.register
def _(space: spaces.Box) -> Any:
    return _nested_lists(_scalar_type(space.dtype), space.shape)


@_json_type.register
def _(space: spaces.MultiDiscrete) -> Any:
    return _nested_lists(int, space.shape)


@_json_type.register
def _(space: spaces.MultiBinary) -> Any:
    return _nested_lists(Annotated[int, msgspec.Meta(ge=0, le=1)], space.shape)


@_json_type.register
def _(space: spaces.Text) -> Any:
    return Annotated[str, msgspec.Meta(min_length=space.min_length, max_length=space.max_length)]


@_json_type.register
def _(space: spaces.Dict) -> Any:
    return TypedDict("Dict", {name: _json_type(sub) for name, sub in space.items()})


@_json_type.register
def _(space: spaces.Tuple) -> Any:
    return tuple[tuple(_json_type(sub) for sub in space.spaces)]


def _scalar_type(dtype: np.dtype[Any]) -> type:
    if dtype.kind == "b":
        return bool
    if dtype.kind in "iu":
        return int
    return float


def _nested_lists(scalar: Any, shape: tuple[int, ...]) -> Any:
    """`scalar` in lists nested as deep as `shape`, each of its exact length."""
    nested = scalar
    for length in reversed(shape):
        nested = Annotated[list[nested], msgspec.Meta(min_length=length, max_length=length)]
    return nested


@singledispatch
def space_value(space: gymnasium.Space[Any], value: Any) -> Any:
    """`value` (JSON data, or an env's own value) as `space` holds it."""
    return value


@space_value.register(spaces.Box)
@space_value.register(spaces.MultiDiscrete)
@space_value.register(spaces.MultiBinary)
def _(space: Any, value: Any) -> Any:
    return np.asarray(value, dtype=space.dtype)


@space_value.register
def _(space: spaces.Discrete, value: Any) -> Any:
    return np.int64(value) if isinstance(value, (int, np.integer)) else value


@space_value.register
def _(space: spaces.Dict, value: Any) -> Any:
    return {name: space_value(sub, value[name]) for name, sub in space.items()}


@space_value.register
def _(space: spaces.Tuple, value: Any) -> Any:
    return tuple(space_value(sub, item) for sub, item in zip(space.spaces, value, strict=True))


@space_value.register
def _(space: spaces.Sequence, value: Any) -> Any:
    return tuple(space_value(space.feature_space, item) for item in value)


@singledispatch
def neutral(space: gymnasium.Space[Any]) -> Any:
    """The plainest value in `space`, as JSON data: zeros (clipped into a `Box`'s bounds), the
    first choice, the shortest text; the default of a field of `field_type(space)`."""
    raise _unsupported(space)


@neutral.register
def _(space: spaces.Box) -> Any:
    return np.clip(np.zeros(space.shape), space.low, space.high).astype(space.dtype).tolist()


@neutral.register
def _(space: spaces.Discrete) -> Any:
    return int(space.start)


@neutral.register
def _(space: spaces.MultiDiscrete) -> Any:
    return space.start.tolist()


@neutral.register
def _(space: spaces.MultiBinary) -> Any:
    return np.zeros(space.shape, dtype=int).tolist()


@neutral.register
def _(space: spaces.Text) -> Any:
    return space.character_list[0] * space.min_length


@neutral.register
def _(space: spaces.Dict) -> Any:
    return {name: neutral(sub) for name, sub in space.items()}


@neutral.register
def _(space: spaces.Tuple) -> Any:
    return [neutral(sub) for sub in space.spaces]


def plain(value: Any) -> Any:
    """A space's value as JSON data: arrays and numpy numbers become lists and numbers."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {name: plain(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
