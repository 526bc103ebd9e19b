"""Gymnasium spaces and envtorch field types: each supported space survives the trip through a
field type's JSON Schema, its values through JSON, and plain types get sensible spaces."""

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces

from envtorch.bridges.gymnasium.spaces import (
    SPACE_KEY,
    JSONValue,
    describe,
    field_type,
    neutral,
    plain,
    space_from_description,
    space_of,
    space_value,
)
from envtorch.core import Action, Observation, decode, encode, json_schema, schemas
from envtorch.envs.echo import EchoEnv

SPACES = {
    "box float32, mixed bounds": spaces.Box(
        np.array([-1.0, -np.inf], np.float32), np.array([1.0, np.inf], np.float32)
    ),
    "box image": spaces.Box(0, 255, (3, 4, 3), np.uint8),
    "box unbounded int": spaces.Box(-np.inf, np.inf, (), np.int64),
    "box bool": spaces.Box(0, 1, (2,), np.bool_),
    "discrete with a start": spaces.Discrete(3, start=-1),
    "multi-discrete": spaces.MultiDiscrete([[2, 3], [4, 5]]),
    "multi-binary": spaces.MultiBinary((2, 3)),
    "text": spaces.Text(6, min_length=2, charset="abc "),
    "dict": spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Dict({"c": spaces.Box(0, 1, (2,))})}),
    "tuple": spaces.Tuple((spaces.Discrete(2), spaces.Text(3), spaces.MultiBinary(2))),
}


def holder(space: spaces.Space) -> type:
    return dataclasses.make_dataclass(
        "Holder",
        [("value", field_type(space), dataclasses.field(default_factory=lambda: neutral(space)))],
        bases=(Observation,),
        kw_only=True,
    )


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())
def test_a_space_survives_its_description_and_its_field_schema(space):
    description = json.loads(json.dumps(describe(space)))
    assert space_from_description(description) == space
    field_schema = json_schema(holder(space))["properties"]["value"]
    assert space_of(json.loads(json.dumps(field_schema))) == space


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())
def test_sampled_values_travel_as_json_and_come_back_into_the_space(space):
    space.seed(0)
    for _ in range(5):
        sample = space.sample()
        decoded = decode(encode(holder(space)(value=sample)), holder(space))
        assert space.contains(space_value(space, decoded.value))
        assert space.contains(space_value(space, json.loads(json.dumps(plain(sample)))))


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES.keys())
def test_the_neutral_value_is_in_the_space(space):
    assert space.contains(space_value(space, neutral(space)))
    assert space.contains(space_value(space, holder(space)().value))


def test_the_field_schema_describes_the_json_values_too():
    box = json_schema(holder(SPACES["box image"]))["properties"]["value"]
    assert (box["type"], box["minItems"], box["maxItems"]) == ("array", 3, 3)
    assert box["items"]["items"]["items"]["type"] == "integer"
    discrete = json_schema(holder(SPACES["discrete with a start"]))["properties"]["value"]
    assert (discrete["type"], discrete["minimum"], discrete["maximum"]) == ("integer", -1, 1)
    assert discrete[SPACE_KEY] == {"type": "Discrete", "n": 3, "start": -1}


def test_a_server_rejects_values_of_the_wrong_shape_or_choice():
    from envtorch.core import ValidationError, from_builtins

    action_type = dataclasses.make_dataclass(
        "A", [("action", field_type(spaces.Discrete(2)))], bases=(Action,), kw_only=True
    )
    with pytest.raises(ValidationError, match="<= 1"):
        from_builtins({"action": 2}, action_type)
    box_type = dataclasses.make_dataclass(
        "B", [("action", field_type(spaces.Box(-1, 1, (2,))))], bases=(Action,), kw_only=True
    )
    with pytest.raises(ValidationError, match="length >= 2"):
        from_builtins({"action": [0.5]}, box_type)


def test_unsupported_spaces_are_named_with_the_supported_ones():
    with pytest.raises(TypeError, match="Sequence spaces .* supported: Box, Discrete"):
        describe(spaces.Sequence(spaces.Discrete(2)))
    with pytest.raises(TypeError, match="Graph spaces"):
        field_type(spaces.Graph(spaces.Box(0, 1, (1,)), None))


def test_plain_types_get_spaces_of_their_own():
    echo = schemas(EchoEnv)
    message = space_of(echo["action"]["properties"]["message"])
    assert isinstance(message, spaces.Text) and message.contains("Hello, World!")
    assert message.contains("") and message.max_length == 4096
    length = space_of(echo["observation"]["properties"]["message_length"])
    assert length == spaces.Box(-np.inf, np.inf, (), np.int64)
    assert space_of({"type": "integer", "minimum": 2, "maximum": 4}) == spaces.Discrete(3, start=2)
    assert space_of({"type": "number"}) == spaces.Box(-np.inf, np.inf, (), np.float64)
    assert space_of({"type": "boolean"}) == spaces.Box(0, 1, (), np.bool_)
    pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    assert space_of(pair) == spaces.Box(-np.inf, np.inf, (2,), np.float64)
    assert space_of({"type": "array", "items": {"type": "string"}}) == spaces.Sequence(
        space_of({"type": "string"})
    )
    assert space_of({"prefixItems": [{"type": "boolean"}], "type": "array"}) == spaces.Tuple(
        (spaces.Box(0, 1, (), np.bool_),)
    )
    point = {"type": "object", "properties": {"x": {"$ref": "#/$defs/X"}}}
    assert space_of(point, {"X": {"type": "number"}}) == spaces.Dict(
        {"x": space_of({"type": "number"})}
    )


@pytest.mark.parametrize(
    "schema", [{}, {"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "object"}]
)
def test_anything_else_is_any_json_value(schema):
    space = space_of(schema)
    assert space == JSONValue()
    assert space.sample() is None
    assert space.contains({"a": [1, "two", None]}) and not space.contains(object())


def test_json_values_batch_for_vector_envs():
    from gymnasium.vector.utils import batch_space

    assert batch_space(JSONValue(), 2) == spaces.Tuple((JSONValue(), JSONValue()))


def test_values_become_json_data():
    value: Any = {"a": np.arange(3), "b": (np.int64(2), np.float32(0.5)), "c": "text"}
    assert plain(value) == {"a": [0, 1, 2], "b": [2, 0.5], "c": "text"}
