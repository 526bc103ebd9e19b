"""A session's interpreter inside the sandbox: one namespace, code in, results out, tools called
back.

Each `Execute` runs in the same globals dict, so names persist for the whole session. The value of
a trailing expression comes back as JSON when it is plain JSON data, else as a truncated repr. A
soft timeout raises `ExecutionTimeout` in the running code and keeps the namespace; the host kills
the session if the code does not give up in time.
"""

from __future__ import annotations

import array
import ast
import builtins
import linecache
import math
import os
import signal
import socket
import traceback
from typing import Any

import msgspec

from . import tools
from .capture import Streams
from .channel import (
    NULL,
    ErrorInfo,
    Execute,
    Fork,
    Forked,
    FrameReader,
    Hello,
    Result,
    Setup,
    ToolCall,
    ToolReturn,
    capped,
    frame_limit,
    pack,
    pack_json,
)
from .fork import fork_copies

HOST_FRAME_LIMIT = 64 << 20
_host_messages = msgspec.json.Decoder(Setup | Execute | ToolReturn | Fork)
_encode = msgspec.json.Encoder().encode


class ExecutionTimeout(BaseException):
    """The soft timeout of an execution expired; the namespace is kept."""


class Interpreter:
    """Serves one session over `sock` until the host closes it."""

    def __init__(self, sock: socket.socket, max_output: int, workspace_size: int) -> None:
        self._sock = sock
        self._reader = FrameReader(sock, _host_messages, HOST_FRAME_LIMIT)
        self._max_output = max_output
        self._workspace_size = workspace_size
        self._frame_limit = frame_limit(max_output)
        self._streams = Streams()
        self._tools: list[tools.ToolSpec] = []
        self._call_id = 0
        self._armed = False
        self.namespace: dict[str, Any] = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "list_tools": self._list_tools,
        }
        signal.signal(signal.SIGALRM, self._on_alarm)

    def serve(self) -> None:
        """Answer frames until the host hangs up."""
        while True:
            try:
                message = self._reader.read()
            except EOFError:
                return
            if isinstance(message, Execute):
                self._sock.sendall(pack(self.execute(message)))
            elif isinstance(message, Setup):
                self._install(message.tools)
            elif isinstance(message, Fork):
                self._fork(message.count)

    def _fork(self, count: int) -> None:
        """Fork `count` copies; a copy goes on serving the host on its own socket."""
        try:
            forked = fork_copies(count, self._workspace_size)
        except OSError as error:
            self._sock.sendall(pack(Forked(count=0, error=f"{type(error).__name__}: {error}")))
            return
        if isinstance(forked, socket.socket):
            self._continue_as_copy(forked)
            return
        fds = array.array("i", [end.fileno() for end in forked])
        self._sock.sendmsg(
            [pack(Forked(count=count))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)]
        )
        for end in forked:
            end.close()

    def _continue_as_copy(self, sock: socket.socket) -> None:
        """Serve on the copy's own socket and captures; the session's descriptors, pointing at
        `/dev/null` by now, are closed, so that nested forks do not pile them up."""
        os.close(self._sock.detach())
        self._sock = sock
        self._reader = FrameReader(sock, _host_messages, HOST_FRAME_LIMIT)
        self._streams.close()
        self._streams = Streams()
        sock.sendall(pack(Hello()))

    def execute(self, request: Execute) -> Result:
        """Run one piece of code with output captured and the soft timeout armed."""
        self._streams.rewind()
        value = NULL
        exception: ErrorInfo | None = None
        timed_out = False
        self._arm(request.timeout)
        try:
            value = self._describe(_run(request.code, self.namespace, f"<step {request.id}>"))
        except ExecutionTimeout as error:
            timed_out = True
            exception = _error_info(error, f"<step {request.id}>", self._max_output)
        except BaseException as error:
            exception = _error_info(error, f"<step {request.id}>", self._max_output)
        finally:
            self._disarm()
        self._streams.flush()
        return Result(
            id=request.id,
            stdout=self._streams.stdout.text(self._max_output),
            stderr=self._streams.stderr.text(self._max_output),
            value=value,
            exception=exception,
            timed_out=timed_out,
        )

    def _arm(self, timeout: float) -> None:
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, max(timeout, 0.001))

    def _disarm(self) -> None:
        self._armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._armed:
            raise ExecutionTimeout("execution timed out (soft limit); the namespace is kept")

    def _describe(self, value: Any) -> msgspec.Raw:
        """`value` as JSON: itself when plain JSON data within the output cap, else its repr."""
        if value is None:
            return NULL
        if _is_plain_json(value, depth=0):
            try:
                encoded = _encode(value)
            except (TypeError, ValueError, OverflowError):
                encoded = b""
            if encoded and len(encoded) <= self._max_output:
                return msgspec.Raw(encoded)
        text = repr(value)
        if len(text) > self._max_output:
            text = text[: self._max_output] + f"... [repr truncated: {len(text)} characters]"
        return msgspec.Raw(_encode(text))

    def _install(self, specs: list[tools.ToolSpec]) -> None:
        self._tools = list(specs)
        for spec in specs:
            self.namespace[spec.name] = tools.make_stub(spec, self.call_tool)

    def _list_tools(self) -> str:
        """The tools available in this session, as Python stubs with their docstrings."""
        return tools.describe(self._tools)

    def call_tool(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run host tool `name` and wait for its answer; other frames meanwhile are stale."""
        self._call_id += 1
        call = ToolCall(id=self._call_id, name=name, args=list(args), kwargs=kwargs)
        try:
            frame = pack_json(call)
        except (TypeError, ValueError, OverflowError) as error:
            raise TypeError(f"tool {name!r} takes JSON arguments only: {error}") from None
        if len(frame) > self._frame_limit:
            raise ValueError(f"the arguments of tool {name!r} exceed {self._frame_limit} bytes")
        self._sock.sendall(frame)
        while True:
            message = self._reader.read()
            if isinstance(message, ToolReturn) and message.id == call.id:
                break
        if message.error is not None:
            raise tools.rebuild_error(message.error)
        return message.value


def _run(code: str, namespace: dict[str, Any], filename: str) -> Any:
    """Execute `code` in `namespace`; return the value of its last statement if an expression."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec", dont_inherit=True), namespace)
    if last is None:
        return None
    return eval(compile(last, filename, "eval", dont_inherit=True), namespace)


def _is_plain_json(value: Any, depth: int) -> bool:
    """Whether `value` is JSON data as it is: no NaN or infinity, which JSON cannot hold."""
    if depth > 64:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(_is_plain_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(
            type(key) is str and _is_plain_json(item, depth + 1) for key, item in value.items()
        )
    return False


def _error_info(error: BaseException, filename: str, limit: int) -> ErrorInfo:
    """Type, message and a traceback that starts at the agent's code, not the interpreter's.

    Each is cut to `limit` characters with a marker and made encodable, whatever the agent's
    exception holds: a huge message, lone surrogates or a `__str__` that raises.
    """
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb)
    if isinstance(error, SyntaxError):
        lines = traceback.format_exception_only(type(error), error)
    return ErrorInfo(
        type=capped(type(error).__name__, limit, "type name"),
        message=capped(_message(error), limit, "message"),
        traceback=capped("".join(lines), limit, "traceback"),
    )


def _message(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return "<exception str() failed>"
