"""Plain Python functions built from a tool's JSON Schema: a real signature, a docstring, checks.

`schema_function` is what turns an MCP tool (or any JSON-Schema-described tool) into a callable
an agent can read with `help()` and call with positional or keyword arguments.
"""

from __future__ import annotations

import inspect
import keyword
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from envtorch.core.jsontypes import JSON_TYPES, is_json_type, json_types, type_name


def python_name(text: str) -> str:
    """`text` as a valid Python identifier: other characters become `_`, keywords get a `_`."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", text) or "_"
    if name[0].isdigit():
        name = "_" + name
    if keyword.iskeyword(name):
        name += "_"
    return name


@dataclass(frozen=True)
class _Param:
    """One schema property as a Python parameter."""

    python: str
    json: str
    types: tuple[str, ...]
    required: bool
    schema: dict[str, Any]


def schema_function(
    name: str,
    description: str,
    input_schema: dict[str, Any],
    output_schema: dict[str, Any] | None,
    call: Callable[[dict[str, Any]], Any],
) -> Callable[..., Any]:
    """A function named `name` whose signature and docstring come from `input_schema`.

    Calling it binds positional and keyword arguments to the signature, checks their JSON types
    (a `TypeError` naming the argument otherwise) and hands `call` a dict keyed by the schema's
    own property names. Only arguments the caller gave are passed; an optional argument given
    as None is left out unless the schema allows null, so the tool applies its own default.
    """
    params = _params(name, input_schema)
    signature = inspect.Signature(
        [_parameter(param) for param in params], return_annotation=_return_annotation(output_schema)
    )
    by_python = {param.python: param for param in params}

    def tool(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}{signature}: {exc}") from None
        arguments = {}
        for python, value in bound.arguments.items():
            param = by_python[python]
            if value is None and not param.required and "null" not in param.types:
                continue
            _check_type(name, param, value)
            arguments[param.json] = list(value) if isinstance(value, tuple) else value
        return call(arguments)

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = _docstring(description, params)
    tool.__signature__ = signature  # type: ignore[attr-defined]
    return tool


def _params(name: str, schema: dict[str, Any]) -> list[_Param]:
    """Required properties first (Python wants them before defaults), each group in schema order."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    params = [
        _Param(python_name(key), key, _types(spec), key in required, spec)
        for key, spec in properties.items()
        if isinstance(spec, dict)
    ]
    params.sort(key=lambda param: not param.required)
    seen: dict[str, str] = {}
    for param in params:
        if param.python in seen:
            raise ValueError(
                f"tool {name!r}: parameters {seen[param.python]!r} and {param.json!r} both map to "
                f"the Python name {param.python!r}"
            )
        seen[param.python] = param.json
    return params


def _types(spec: dict[str, Any]) -> tuple[str, ...]:
    """The JSON types a property accepts, or () when it does not say (then anything goes)."""
    declared = spec.get("type")
    if isinstance(declared, str):
        return (declared,) if declared in JSON_TYPES else ()
    if isinstance(declared, list):
        names = tuple(t for t in declared if t in JSON_TYPES)
        return names if len(names) == len(declared) else ()
    branches = spec.get("anyOf") or spec.get("oneOf")
    if isinstance(branches, list) and branches:
        names = [_types(branch) if isinstance(branch, dict) else () for branch in branches]
        if all(names):
            return tuple(dict.fromkeys(t for branch in names for t in branch))
    return ()


def _annotation(types: tuple[str, ...]) -> Any:
    """`int`, `str | None`, ... for the given JSON types; empty when unknown."""
    if not types:
        return inspect.Parameter.empty
    return reduce(operator.or_, [JSON_TYPES[t] for t in types])


def _parameter(param: _Param) -> inspect.Parameter:
    """A positional-or-keyword parameter; optional ones default to the schema default or None."""
    types = param.types
    if param.required:
        return inspect.Parameter(
            param.python,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=_annotation(types),
        )
    default = param.schema.get("default")
    if default is None and types and "null" not in types:
        types = (*types, "null")
    return inspect.Parameter(
        param.python,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=default,
        annotation=_annotation(types),
    )


def _return_annotation(output_schema: dict[str, Any] | None) -> Any:
    """What the call returns: the wrapped `result` type, `dict` for an object, else unknown."""
    if output_schema is None:
        return inspect.Signature.empty
    if is_wrapped_result(output_schema):
        return _annotation(_types(output_schema["properties"]["result"]))
    return dict


def is_wrapped_result(output_schema: dict[str, Any] | None) -> bool:
    """Whether the output is `{"result": value}`, the envelope servers put around non-objects."""
    if not output_schema:
        return False
    properties = output_schema.get("properties")
    return (
        isinstance(properties, dict)
        and list(properties) == ["result"]
        and output_schema.get("required") == ["result"]
    )


def _check_type(name: str, param: _Param, value: Any) -> None:
    """Raise a `TypeError` when `value` is not one of the parameter's JSON types."""
    if not param.types or any(is_json_type(value, json_type) for json_type in param.types):
        return
    expected = " or ".join(type_name(t) for t in param.types)
    raise TypeError(
        f"{name}() argument {param.python!r} must be {expected}, not {type(value).__name__}"
    )


def _docstring(description: str, params: list[_Param]) -> str:
    """The tool's description followed by a Google-style Args section built from the schema."""
    lines = [description.strip() or "(no description)"]
    if params:
        lines += ["", "Args:"]
        lines += [f"    {_describe_param(param)}" for param in params]
    return "\n".join(lines)


def _describe_param(param: _Param) -> str:
    """`name (type[, optional]): description. One of: ... Defaults to ...`"""
    kind = " | ".join(type_name(t) for t in param.types) or "any"
    if not param.required:
        kind += ", optional"
    parts = [str(param.schema.get("description", "")).strip()]
    if isinstance(param.schema.get("enum"), list):
        parts.append("One of: " + ", ".join(repr(v) for v in param.schema["enum"]) + ".")
    if not param.required and "default" in param.schema:
        parts.append(f"Defaults to {param.schema['default']!r}.")
    text = " ".join(part for part in parts if part)
    return f"{param.python} ({kind})" + (f": {text}" if text else "")


def input_schema(function: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of `function`'s keyword arguments, read from its signature.

    Annotations among `str`, `int`, `float`, `bool`, `list`, `dict` and `None` (`list[int]` too,
    and unions of them) give the property's type (`envtorch.core.jsontypes`, which checks a
    call's arguments the same way); other annotations leave it open. Parameters without a
    default are required; `**kwargs` allows other properties.
    """
    try:
        parameters = inspect.signature(function, eval_str=True).parameters.values()
    except (NameError, TypeError, ValueError):
        return {"type": "object", "additionalProperties": True}
    properties: dict[str, Any] = {}
    required = []
    open_ended = False
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            continue
        properties[parameter.name] = _property(parameter)
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if open_ended:
        schema["additionalProperties"] = True
    return schema


def _property(parameter: inspect.Parameter) -> dict[str, Any]:
    """A parameter's JSON Schema: its JSON type(s) when its annotation names them, its default."""
    names = json_types(parameter.annotation)
    spec: dict[str, Any] = {}
    if names:
        spec["type"] = names[0] if len(names) == 1 else list(names)
    default = parameter.default
    if default is not inspect.Parameter.empty and isinstance(
        default, (str, int, float, bool, type(None))
    ):
        spec["default"] = default
    return spec
