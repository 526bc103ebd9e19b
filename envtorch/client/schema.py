"""Types built from a server's `/schema` when the client was not given the env's own classes.

The generic fallback: each type becomes a kw-only dataclass subclassing `Action`, `Observation` or
`State`, named after the schema's title, with one field per property. Fields are typed `Any`
(the server validates actions; replies are the server's own), required properties have no
default, and the others take the schema's default.
"""

from __future__ import annotations

import copy
import dataclasses
import urllib.error
import urllib.request
from typing import Any

from envtorch.core import Action, Observation, State, ValidationError, codec
from envtorch.wire import CONNECTION_FAILED, ConnectionLost, ServerError, error_in

_BASES = {"action": Action, "observation": Observation, "state": State}
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def types_from_schema(schema: dict[str, Any]) -> tuple[type, type, type]:
    """`(action_type, observation_type, state_type)` built from a `/schema` reply."""
    built = {kind: dataclass_from_schema(schema[kind], base) for kind, base in _BASES.items()}
    return built["action"], built["observation"], built["state"]


def dataclass_from_schema(schema: dict[str, Any], base: type) -> type:
    """A kw-only dataclass subclassing `base` with the properties of an object JSON Schema."""
    inherited = {field.name for field in dataclasses.fields(base)}
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema.get("properties", {}).items():
        if name in inherited:
            continue
        fields.append((name, Any, _field(name in required, spec)))
    name = str(schema.get("title") or base.__name__)
    return dataclasses.make_dataclass(
        name,
        fields,
        bases=(base,),
        kw_only=True,
        namespace={
            "__doc__": schema.get("description", f"{name}, built from a server schema."),
            "__module__": __name__,
        },
    )


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
