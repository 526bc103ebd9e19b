import dataclasses
import math
from typing import Any

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from envtorch import Action, Observation, State, ValidationError
from envtorch.core import decode, encode, from_builtins, json_schema, schemas, to_builtins
from envtorch.envs.echo import EchoAction, EchoEnv, EchoObservation

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
metadata = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
rewards = st.none() | st.floats(allow_nan=False, allow_infinity=False)

BUILT_IN = [
    Action(),
    Observation(reward=0.5, done=True, truncated=True, metadata={"a": [1, 2]}),
    State(episode_id="e1", step_count=3, task={"question": "1+1", "answer": 2}),
    EchoAction(message="Hello, World!"),
    EchoObservation(echoed_message="hi", message_length=2, reward=0.2),
]


@pytest.mark.parametrize("value", BUILT_IN, ids=lambda value: type(value).__name__)
def test_round_trip_of_every_built_in_type(value):
    assert decode(encode(value), type(value)) == value
    assert from_builtins(to_builtins(value), type(value)) == value


@given(
    st.builds(
        EchoObservation,
        echoed_message=st.text(),
        message_length=st.integers(min_value=0, max_value=10**9),
        reward=rewards,
        done=st.booleans(),
        truncated=st.booleans(),
        metadata=metadata,
    )
)
def test_echo_observation_round_trips(observation):
    assert decode(encode(observation), EchoObservation) == observation


@given(
    st.builds(State, episode_id=st.none() | st.text(), step_count=st.integers(0), task=json_values)
)
def test_state_round_trips(state):
    assert decode(encode(state), State) == state


FIELD_TYPES = {
    "text": (str, st.text()),
    "count": (int, st.integers(min_value=-(2**53), max_value=2**53)),
    "ratio": (float, st.floats(allow_nan=False, allow_infinity=False)),
    "flag": (bool, st.booleans()),
    "tags": (list[str], st.lists(st.text(), max_size=3)),
    "table": (dict[str, int], st.dictionaries(st.text(max_size=5), st.integers(0, 99), max_size=3)),
    "maybe": (str | None, st.none() | st.text()),
    "anything": (Any, json_values),
}


@st.composite
def generated_dataclass_instances(draw):
    names = draw(st.lists(st.sampled_from(sorted(FIELD_TYPES)), min_size=1, unique=True))
    base = draw(st.sampled_from([Action, Observation, State]))
    cls = dataclasses.make_dataclass(
        "Generated", [(name, FIELD_TYPES[name][0]) for name in names], bases=(base,), kw_only=True
    )
    values = {name: draw(FIELD_TYPES[name][1]) for name in names}
    return cls(**values)


@given(generated_dataclass_instances())
def test_generated_dataclasses_round_trip(instance):
    decoded = decode(encode(instance), type(instance))
    assert decoded == instance


def test_wrong_type_names_the_field_and_expected_type():
    with pytest.raises(
        ValidationError, match=r"EchoAction: Expected `str`, got `int` - at `\$.message`"
    ):
        decode(b'{"message": 3}', EchoAction)


def test_missing_field_is_named():
    with pytest.raises(ValidationError, match="missing required field `message`"):
        from_builtins({}, EchoAction)


def test_unknown_field_is_rejected_and_named():
    with pytest.raises(ValidationError, match="unknown field `mesage`.*expected fields: message"):
        from_builtins({"mesage": "typo"}, EchoAction)


def test_invalid_json_is_a_validation_error():
    with pytest.raises(ValidationError, match="invalid JSON for EchoAction"):
        decode(b"{not json", EchoAction)


def test_nested_path_is_named():
    with pytest.raises(ValidationError, match=r"at `\$.reward`"):
        decode(b'{"reward": "high"}', Observation)


def test_non_finite_rewards_encode_as_null():
    assert b'"reward":null' in encode(Observation(reward=math.inf))


def test_json_schema_of_all_three_types():
    result = schemas(EchoEnv)
    assert set(result) == {"action", "observation", "state"}
    action = result["action"]
    assert action["properties"] == {"message": {"type": "string"}}
    assert action["required"] == ["message"]
    assert action["additionalProperties"] is False
    assert set(result["observation"]["properties"]) >= {"echoed_message", "reward", "done"}
    assert set(json_schema(State)["properties"]) == {"episode_id", "step_count", "task"}


def test_numpy_arrays_and_scalars_encode_as_lists_and_numbers():
    observation = Observation(
        reward=numpy.float32(0.25),
        metadata={"board": numpy.zeros((2, 2), dtype=numpy.uint8), "turn": numpy.int64(3)},
    )
    expected = {"board": [[0, 0], [0, 0]], "turn": 3}
    assert to_builtins(observation)["metadata"] == expected
    assert decode(encode(observation), Observation) == Observation(reward=0.25, metadata=expected)


def test_values_without_a_json_form_still_fail_to_encode():
    with pytest.raises(TypeError, match="object"):
        encode(Observation(metadata={"bad": object()}))
