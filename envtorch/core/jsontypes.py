"""The JSON types that Python annotations name, and a tool's arguments checked against them.

A tool's annotations among `str`, `int`, `float`, `bool`, `list`, `dict` and `None` (their
parametrized forms such as `list[int]`, and unions of them such as `str | None`) say which JSON
types its arguments may have; other annotations, or none, let any JSON value through. The same
reading gives the JSON Schema a tool is listed with and the check its arguments go through.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

JSON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}

_ACCEPTED: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}

_JSON_NAMES = {python: json for json, python in JSON_TYPES.items()}


def json_types(annotation: Any) -> tuple[str, ...]:
    """The JSON type names `annotation` allows, or () when it names another type (or none)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if union else (annotation,)
    names = []
    for member in members:
        name = _JSON_NAMES.get(type(None) if member is None else _bare(member))
        if name is None:
            return ()
        names.append(name)
    return tuple(dict.fromkeys(names))


def _bare(annotation: Any) -> Any:
    """`list` for `list[int]`, `dict` for `dict[str, int]`; any other annotation as it is."""
    origin = typing.get_origin(annotation)
    return origin if origin in (list, dict) else annotation


def is_json_type(value: Any, json_type: str) -> bool:
    """Whether `value` has JSON type `json_type`; a bool is never an integer or a number."""
    if isinstance(value, bool) and json_type in ("integer", "number"):
        return False
    return isinstance(value, _ACCEPTED[json_type])


def type_name(json_type: str) -> str:
    """The Python name of a JSON type, as an error message says it: `str`, `None`, ..."""
    return "None" if json_type == "null" else JSON_TYPES[json_type].__name__


def check_arguments(
    name: str, signature: inspect.Signature | None, args: Any, kwargs: dict[str, Any]
) -> None:
    """Raise a `TypeError` when an argument of tool `name` is not of the JSON types its
    parameter's annotation names (None is taken where it is the default). Arguments that do not
    bind to the signature are left for the call to refuse; without a signature nothing is
    checked."""
    if signature is None:
        return
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return
    for parameter_name, value in bound.arguments.items():
        parameter = signature.parameters[parameter_name]
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        allowed = json_types(parameter.annotation)
        if not allowed or (value is None and parameter.default is None):
            continue
        if not any(is_json_type(value, json_type) for json_type in allowed):
            expected = " or ".join(type_name(json_type) for json_type in allowed)
            raise TypeError(
                f"{name}() argument {parameter_name!r} must be {expected}, "
                f"not {type(value).__name__}"
            )


def signature_of(function: Callable[..., Any]) -> inspect.Signature | None:
    """`function`'s signature with its annotations evaluated where they can be; None when it
    has none that can be read."""
    for evaluate in (True, False):
        try:
            return inspect.signature(function, eval_str=evaluate)
        except (NameError, TypeError, ValueError, AttributeError, SyntaxError):
            continue
    return None
