"""Tool stubs: callables in a session's namespace that run a host tool over the session channel.

A stub carries the host tool's signature and docstring, so `help()`, `inspect.signature()` and
`list_tools()` show the real thing; calling it sends the JSON arguments to the host and returns
the JSON result, or raises the host's error.
"""

from __future__ import annotations
import __future__

import builtins
import inspect
import typing
from collections.abc import Callable
from typing import Any

from .channel import ErrorInfo, ToolSpec

CallTool = Callable[[str, tuple[Any, ...], dict[str, Any]], Any]


class ToolError(Exception):
    """A tool failed on the host with an exception that has no built-in equivalent here."""


def make_stub(spec: ToolSpec, call_tool: CallTool) -> Callable[..., Any]:
    """A function named like the tool, with its signature and doc, that calls the host."""
    signature = parse_signature(spec.signature)

    def stub(*args: Any, **kwargs: Any) -> Any:
        if signature is not None:
            signature.bind(*args, **kwargs)
        return call_tool(spec.name, args, kwargs)

    stub.__name__ = stub.__qualname__ = spec.name
    stub.__doc__ = spec.doc or None
    stub.__module__ = "tools"
    if signature is not None:
        stub.__signature__ = signature
    return stub


def parse_signature(text: str) -> inspect.Signature | None:
    """The `inspect.Signature` a signature text describes, or None when it cannot be rebuilt.

    Annotations are evaluated with the builtins and `typing` names; where that fails (a type
    that exists only on the host) they stay as strings.
    """
    source = f"def tool{text}:\n    pass\n"
    names = {"__builtins__": builtins, **{name: getattr(typing, name) for name in typing.__all__}}
    for flags in (0, __future__.annotations.compiler_flag):
        namespace: dict[str, Any] = {}
        try:
            code = compile(source, "<tool signature>", "exec", flags=flags, dont_inherit=True)
            exec(code, dict(names), namespace)
            return inspect.signature(namespace["tool"])
        except Exception:
            continue
    return None


def describe(specs: list[ToolSpec]) -> str:
    """The tools as Python stubs with docstrings, ready to paste into a prompt."""
    blocks = []
    for spec in specs:
        doc = spec.doc.strip().replace('"""', '\\"\\"\\"')
        body = f'    """{doc}"""' if doc else "    ..."
        blocks.append(f"def {spec.name}{spec.signature}:\n{body}")
    return "\n\n".join(blocks)


def rebuild_error(error: ErrorInfo) -> Exception:
    """The host's exception as one raised here: the built-in type of that name, else ToolError."""
    kind = getattr(builtins, error.type, None)
    message = error.message
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except Exception:
            pass
    if error.type == ToolError.__name__:
        return ToolError(message)
    return ToolError(f"{error.type}: {message}")
