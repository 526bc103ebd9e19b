"""OpenEnv's pydantic models as envtorch dataclasses, so the server's codec and schemas serve them.

Each field keeps its annotation where msgspec can read it (else `Any`); the pydantic model stays
the judge: an action dataclass validates through its model when built, and keeps the validated
model for the OpenEnv environment.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import msgspec
import pydantic

from envtorch.core import Action, Observation, State

_ENVELOPE = frozenset({"done", "reward", "metadata"})
_STATE_BASE = frozenset({"episode_id", "step_count"})


def action_class(model: type[pydantic.BaseModel]) -> type[Action]:
    """A dataclass of `model`'s fields; building one validates it as `model`, kept as `.model`."""

    def __post_init__(self: Any) -> None:
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        try:
            self.model = model.model_validate(values)
        except pydantic.ValidationError as error:
            raise ValueError(_first_error(error)) from None

    return _dataclass(model, Action, (), {"__post_init__": __post_init__})


def observation_class(model: type[pydantic.BaseModel]) -> type[Observation]:
    """A dataclass of `model`'s fields beyond OpenEnv's `done`, `reward` and `metadata`."""
    return _dataclass(model, Observation, _ENVELOPE, {})


def state_class(model: type[pydantic.BaseModel]) -> type[State]:
    """A dataclass of `model`'s fields beyond `episode_id` and `step_count`."""
    return _dataclass(model, State, _STATE_BASE, {})


def from_model(kind: type[Any], value: pydantic.BaseModel, **extra: Any) -> Any:
    """An instance of the dataclass `kind` holding the fields of the pydantic `value` it has."""
    names = {field.name for field in dataclasses.fields(kind)}
    fields = {name: item for name, item in value.model_dump().items() if name in names}
    return kind(**fields, **extra)


def _dataclass(
    model: type[pydantic.BaseModel], base: type, inherited: frozenset[str] | tuple[()], body: Any
) -> Any:
    fields = [
        _field(name, info) for name, info in model.model_fields.items() if name not in inherited
    ]
    return dataclasses.make_dataclass(
        model.__name__,
        fields,
        bases=(base,),
        kw_only=True,
        namespace={"__doc__": model.__doc__, "__module__": model.__module__, **body},
    )


def _field(name: str, info: Any) -> tuple[str, Any, Any]:
    annotation = _readable(info.annotation)
    if info.is_required():
        return name, annotation, dataclasses.field()
    if info.default_factory is not None:
        return name, annotation, dataclasses.field(default_factory=info.default_factory)
    default = info.default
    return name, annotation, dataclasses.field(default_factory=lambda: copy.deepcopy(default))


def _readable(annotation: Any) -> Any:
    """`annotation` when msgspec can decode and describe it, else `Any`."""
    try:
        msgspec.json.schema(annotation)
    except (TypeError, ValueError):
        return Any
    return annotation


def _first_error(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{first.get('msg', 'invalid value')} - at `$.{where}`"
