"""MCP servers' tools as plain Python callables, over one long-lived session per server.

`MCPToolset(servers).tools()` connects to every server on first use (all at once), lists their
tools and returns one function per tool, keyed by its Python name, with a signature and a
docstring built from the tool's JSON Schema. The sessions live in one background thread running
an asyncio event loop; each is opened and closed by a single task there, as the `mcp` SDK
requires. Any number of threads may call the functions at once: the calls share the session,
multiplexed by request id.

Tool names become Python identifiers (`shout-text` -> `shout_text`). A name that two servers
both expose is qualified with the server's name on every server that has it (`files_search`,
`web_search`), so the result never depends on the order of the servers.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from typing import Any

from envtorch.core import EnvtorchError
from envtorch.core.extras import import_optional
from envtorch.tools.functions import is_wrapped_result, python_name, schema_function
from envtorch.tools.loop import BackgroundLoop, LoopStopped
from envtorch.tools.servers import MCPServer

_CLOSE_SECONDS = 10.0


class ToolError(EnvtorchError):
    """A tool reported an error, or calling it failed, timed out or found the toolset closed."""


class MCPToolset:
    """The tools of some MCP servers as Python callables, connected once and reused.

    ```python
    toolset = MCPToolset([MCPServer("math", command="python", args=["math_server.py"])])
    add = toolset.tools()["add"]
    add(2, 3)                                  # 5
    toolset.close()
    ```
    A call returns the tool's structured content (unwrapped from the `{"result": value}`
    envelope servers put around non-object values), else its text; content that is not text
    comes back as a list of JSON blocks. A tool error, a JSON-RPC error or a call longer than
    `timeout` seconds raises `ToolError`. When a server has died the next call reconnects once
    and is sent again (so a call the dead server had already received may run twice).
    `close()` ends the sessions, the server processes and the thread; it is idempotent and
    also runs at interpreter exit or when the toolset and its tools are garbage.
    """

    def __init__(self, servers: Sequence[MCPServer], *, timeout: float = 60.0) -> None:
        servers = list(servers)
        if not all(isinstance(server, MCPServer) for server in servers):
            raise TypeError("MCPToolset takes a list of MCPServer")
        names = [server.name for server in servers]
        if len(set(names)) != len(names):
            raise ValueError(f"MCP server names must be unique, got {names}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.servers = servers
        self.timeout = timeout
        self._connections = _Connections(servers, timeout)
        self._lock = threading.Lock()
        self._tools: dict[str, Callable[..., Any]] | None = None
        self._finalizer = weakref.finalize(self, self._connections.close)

    def tools(self) -> dict[str, Callable[..., Any]]:
        """Python name -> function, for every tool of every server; connects on the first call.

        The mapping fits a sandbox's host-tool table as it is; each function's `__name__` is
        its key.
        """
        with self._lock:
            if self.closed:
                raise ToolError("the MCP toolset is closed")
            if self._tools is None:
                self._tools = self._connect()
            return dict(self._tools)

    @property
    def closed(self) -> bool:
        """True once the toolset was closed (explicitly, by garbage collection or at exit)."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Close every session and stop the servers this toolset started. Idempotent."""
        with self._lock:
            self._finalizer()

    def __enter__(self) -> MCPToolset:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self) -> dict[str, Callable[..., Any]]:
        """Connect and build the functions; a tool that cannot become one closes the toolset."""
        listings = self._connections.start()
        try:
            return self._functions(listings)
        except Exception:
            self._finalizer()
            raise

    def _functions(self, listings: dict[str, list[Any]]) -> dict[str, Callable[..., Any]]:
        names = _python_names(listings)
        return {
            names[server, tool.name]: self._function(server, tool, names[server, tool.name])
            for server, tools in listings.items()
            for tool in tools
        }

    def _function(self, server: str, tool: Any, name: str) -> Callable[..., Any]:
        wrapped = is_wrapped_result(tool.output_schema)
        label = f"MCP tool {tool.name!r} of server {server!r}"

        def call(arguments: dict[str, Any]) -> Any:
            connections = self._connections
            result = connections.submit(connections.call(server, tool.name, arguments), label)
            return _value(result, wrapped, label)

        return schema_function(
            name, tool.description or "", tool.input_schema or {}, tool.output_schema, call
        )


_shared: dict[str, MCPToolset] = {}
_shared_lock = threading.Lock()


def shared_toolset(servers: Sequence[MCPServer], *, timeout: float = 60.0) -> MCPToolset:
    """The process-wide toolset for these servers: equal configs get the same open sessions.

    An env server builds one environment per episode; environments that take their MCP tools
    from here start each server once per process instead of once per episode. Do not close a
    shared toolset from one environment (the others still use it); it closes at interpreter
    exit, and a closed one is replaced on the next request.
    """
    servers = list(servers)
    key = repr((servers, timeout))
    with _shared_lock:
        toolset = _shared.get(key)
        if toolset is None or toolset.closed:
            toolset = _shared[key] = MCPToolset(servers, timeout=timeout)
        return toolset


def _python_names(listings: dict[str, list[Any]]) -> dict[tuple[str, str], str]:
    """(server, tool name) -> a unique identifier; names shared by servers get the server prefix."""
    owners: dict[str, set[str]] = defaultdict(set)
    for server, tools in listings.items():
        for tool in tools:
            owners[python_name(tool.name)].add(server)
    names: dict[tuple[str, str], str] = {}
    taken: dict[str, tuple[str, str]] = {}
    for server, tools in listings.items():
        for tool in tools:
            base = python_name(tool.name)
            name = f"{server}_{base}" if len(owners[base]) > 1 else base
            if name in taken:
                raise ValueError(
                    f"MCP tools {taken[name]} and {(server, tool.name)} both map to the Python "
                    f"name {name!r}; rename a server"
                )
            taken[name] = (server, tool.name)
            names[server, tool.name] = name
    return names


def _value(result: Any, wrapped: bool, label: str) -> Any:
    """The JSON value of a `CallToolResult`, or a `ToolError` when the tool reported one."""
    if result.is_error:
        message = _text(result.content) or "the tool reported an error"
        raise ToolError(f"{label} failed: {message}")
    structured = result.structured_content
    if structured is not None:
        return structured["result"] if wrapped and "result" in structured else structured
    if all(block.type == "text" for block in result.content):
        return _text(result.content)
    return [_block(block) for block in result.content]


def _block(block: Any) -> dict[str, Any]:
    return block.model_dump(mode="json", by_alias=True, exclude_none=True)


def _text(content: list[Any]) -> str:
    return "\n".join(block.text for block in content if block.type == "text")


class _ConnectionLost(Exception):
    """The session's transport is gone (the server died or closed it)."""


class _Connection:
    """One open session with one server, held open by a task that also closes it."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self.client: Any = None
        self.tools: list[Any] = []
        self.error: BaseException | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.client is not None

    async def open(self, timeout: float) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except BaseException:
            self._task.cancel()
            await asyncio.wait({self._task})
            _mark_retrieved(ready)
            raise

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        try:
            async with AsyncExitStack() as stack:
                self.client = await _enter_client(stack, self.server)
                self.tools = await _list_tools(self.client)
                ready.set_result(None)
                await self._stop.wait()
        except Exception as exc:
            self.error = exc
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self.client = None
            if not ready.done():
                ready.set_exception(_ConnectionLost("the connection was closed while opening"))

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> Any:
        if not self.alive:
            raise _ConnectionLost(repr(self.error) if self.error else "not connected")
        try:
            return await self.client.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except Exception as exc:
            if _is_connection_lost(exc) or not self.alive:
                raise _ConnectionLost(str(exc) or repr(exc)) from exc
            raise

    async def close(self) -> None:
        self._stop.set()
        if self._task is None:
            return
        await asyncio.wait({self._task}, timeout=_CLOSE_SECONDS)
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=_CLOSE_SECONDS)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    """Read a future's exception so asyncio does not log it as never retrieved."""
    if future.done() and not future.cancelled():
        future.exception()


async def _enter_client(stack: AsyncExitStack, server: MCPServer) -> Any:
    """An initialised `mcp.Client` for `server`, closed when `stack` unwinds."""
    import mcp

    if server.command is not None:
        params = mcp.StdioServerParameters(
            command=server.command, args=server.args, env=server.env, cwd=server.cwd
        )
        return await stack.enter_async_context(mcp.Client(params))
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    assert server.url is not None
    http = await stack.enter_async_context(create_mcp_http_client(headers=server.headers or None))
    transport = streamable_http_client(server.url, http_client=http)
    return await stack.enter_async_context(mcp.Client(transport))


async def _list_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


def _is_connection_lost(exc: Exception) -> bool:
    import anyio
    import mcp

    if isinstance(exc, mcp.MCPError):
        return exc.code == mcp.types.CONNECTION_CLOSED
    return isinstance(exc, OSError | anyio.ClosedResourceError | anyio.BrokenResourceError)


class _Connections:
    """Every server's connection, held on a background loop; started lazily, closed once."""

    def __init__(self, servers: list[MCPServer], timeout: float) -> None:
        self.servers = servers
        self.timeout = timeout
        self.closed = False
        self.background: BackgroundLoop | None = None
        self.connections: dict[str, _Connection] = {}
        self._reconnecting: dict[str, asyncio.Lock] = {}
        self._lock = threading.Lock()

    def start(self) -> dict[str, list[Any]]:
        """Start the loop thread and connect to every server at once; server name -> tools."""
        import_optional("mcp", extra="mcp", needed_by="MCP tools")
        with self._lock:
            if self.closed:
                raise ToolError("the MCP toolset is closed")
            self.background = BackgroundLoop("envtorch-mcp")
        try:
            self.submit(self._open_all(), "connecting to MCP servers")
        except BaseException:
            self.background.stop()
            raise
        return {name: connection.tools for name, connection in self.connections.items()}

    def submit(self, coroutine: Coroutine[Any, Any, Any], label: str) -> Any:
        """Run `coroutine` on the loop and wait for it, from any thread."""
        if self.closed or self.background is None:
            coroutine.close()
            raise ToolError(f"{label}: the MCP toolset is closed")
        try:
            return self.background.run(coroutine)
        except LoopStopped:
            raise ToolError(f"{label}: the MCP toolset was closed during the call") from None

    async def _open_all(self) -> None:
        connections = {server.name: _Connection(server) for server in self.servers}
        outcomes = await asyncio.gather(
            *(connection.open(self.timeout) for connection in connections.values()),
            return_exceptions=True,
        )
        failures = [
            f"{name}: {_describe_failure(outcome, self.timeout)}"
            for name, outcome in zip(connections, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        if failures:
            await asyncio.gather(*(connection.close() for connection in connections.values()))
            raise ToolError("cannot connect to MCP server " + "; ".join(failures))
        self.connections = connections
        self._reconnecting = {name: asyncio.Lock() for name in connections}

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        """Call `tool`, reconnecting once when the server's connection was lost."""
        import mcp

        label = f"MCP tool {tool!r} of server {server!r}"
        connection = self.connections[server]
        try:
            try:
                return await connection.call(tool, arguments, self.timeout)
            except _ConnectionLost:
                connection = await self._reconnect(server, connection)
                return await connection.call(tool, arguments, self.timeout)
        except _ConnectionLost as exc:
            raise ToolError(f"{label}: the server is unreachable ({exc})") from None
        except mcp.MCPError as exc:
            if exc.code == mcp.types.REQUEST_TIMEOUT:
                raise ToolError(f"{label} timed out after {self.timeout:g} s") from None
            raise ToolError(f"{label} failed: {exc.message}") from None

    async def _reconnect(self, server: str, stale: _Connection) -> _Connection:
        async with self._reconnecting[server]:
            if self.closed:
                raise ToolError(f"MCP server {server!r}: the MCP toolset is closed")
            if self.connections[server] is stale:
                await stale.close()
                fresh = _Connection(stale.server)
                try:
                    await fresh.open(self.timeout)
                except Exception as exc:
                    raise _ConnectionLost(_describe_failure(exc, self.timeout)) from exc
                self.connections[server] = fresh
            return self.connections[server]

    def close(self) -> None:
        """Close every session, then stop the loop thread. Runs once."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if self.background is not None:
            self.background.stop(self._close_all(), timeout=3 * _CLOSE_SECONDS)

    async def _close_all(self) -> None:
        await asyncio.gather(*(connection.close() for connection in self.connections.values()))


def _describe_failure(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe_failure(inner, timeout) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"
