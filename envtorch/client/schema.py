"""Types built from a server's `/schema` when the client was not given the env's own classes.

The generic fallback, for envtorch's servers and OpenEnv's alike: each type becomes a kw-only
dataclass subclassing `Action`, `Observation` or `State`, named after the schema's title, with one
field per property. Fields are typed `Any` (the server validates actions; replies are the
server's own). An action's required properties have no default, and the others take the
schema's default. The observation and state types take replies as the server sends them
(`reply_of`): a property missing from a reply reads as its default (None when the schema gives
none), and a field the schema does not name becomes an attribute of the instance.
"""

from __future__ import annotations

import copy
import dataclasses
import urllib.error
import urllib.request
import weakref
from typing import Any

from envtorch.core import Action, Observation, State, ValidationError, codec
from envtorch.wire import CONNECTION_FAILED, ConnectionLost, ServerError, error_in

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_REPLY_TYPES: weakref.WeakSet[type] = weakref.WeakSet()


def types_from_schema(schema: dict[str, Any]) -> tuple[type, type, type]:
    """`(action_type, observation_type, state_type)` built from a `/schema` reply."""
    action = dataclass_from_schema(schema["action"], Action)
    observation = dataclass_from_schema(schema["observation"], Observation, for_replies=True)
    state = dataclass_from_schema(schema["state"], State, for_replies=True)
    return action, observation, state


def reply_of(fields: dict[str, Any], type_: type) -> Any:
    """An instance of the observation or state type `type_` holding a reply's `fields`.

    The env's own types take exactly their fields (`ValidationError` otherwise). A type built
    for replies from a schema takes what the server sent: its own fields by name, the others
    (OpenEnv's State allows extra fields, such as coding_env's `last_exit_code`) as attributes,
    where the name is a plain identifier the class does not already use.
    """
    if type_ not in _REPLY_TYPES:
        return codec.from_builtins(fields, type_)
    declared = {field.name for field in dataclasses.fields(type_)}
    instance = codec.from_builtins(
        {name: value for name, value in fields.items() if name in declared}, type_
    )
    for name, value in fields.items():
        if name not in declared and _free_attribute(type_, name):
            setattr(instance, name, value)
    return instance


def dataclass_from_schema(schema: dict[str, Any], base: type, for_replies: bool = False) -> type:
    """A kw-only dataclass subclassing `base` with the properties of an object JSON Schema;
    `for_replies` makes every property optional and lets `reply_of` keep unnamed fields."""
    inherited = {field.name for field in dataclasses.fields(base)}
    required = set() if for_replies else set(schema.get("required", []))
    fields = []
    for name, spec in schema.get("properties", {}).items():
        if name in inherited:
            continue
        fields.append((name, Any, _field(name in required, spec)))
    name = str(schema.get("title") or base.__name__)
    built = dataclasses.make_dataclass(
        name,
        fields,
        bases=(base,),
        kw_only=True,
        namespace={
            "__doc__": schema.get("description", f"{name}, built from a server schema."),
            "__module__": __name__,
        },
    )
    if for_replies:
        _REPLY_TYPES.add(built)
    return built


def _free_attribute(type_: type, name: str) -> bool:
    return name.isidentifier() and not name.startswith("_") and not hasattr(type_, name)


def _field(required: bool, spec: dict[str, Any]) -> Any:
    if required:
        return dataclasses.field()
    default = spec.get("default")
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default))
    if "default" not in spec and spec.get("type") == "object":
        return dataclasses.field(default_factory=dict)
    if "default" not in spec and spec.get("type") == "array":
        return dataclasses.field(default_factory=list)
    return dataclasses.field(default=default)


def fetch_json(url: str, headers: dict[str, str], timeout: float) -> Any:
    """GET `url` and parse its JSON body; an error reply raises `ServerError` with its code."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return codec.decode(response.read(), Any)
    except urllib.error.HTTPError as error:
        raise _http_error(error) from None
    except (OSError, ValidationError) as error:
        raise ConnectionLost(CONNECTION_FAILED, f"cannot GET {url}: {error}") from None


def _http_error(error: urllib.error.HTTPError) -> ServerError:
    try:
        body = error.read()
    except OSError:
        body = b""
    reported = error_in(body)
    if reported is not None:
        return reported
    return ServerError(f"http_{error.code}", f"{error.url}: HTTP {error.code} {error.reason}")
