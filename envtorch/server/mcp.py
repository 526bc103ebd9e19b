"""`/mcp`: JSON-RPC 2.0 MCP over an environment's tools (`Environment.tools()`).

It speaks what the official `mcp` SDK client needs over streamable HTTP (`initialize`, `ping`,
`tools/list`, `tools/call`; notifications and responses answered 202; sessions named by the
`Mcp-Session-Id` header, ended by `DELETE`) and what OpenEnv's `MCPToolClient` sends (bare
`tools/*` requests, `openenv/session/create` and `openenv/session/close`, a `session_id` among
the params). Replies are JSON. An MCP session is one of the server's sessions, under its limits
and its idle reaper, and it can also be stepped over HTTP with its id; its environment is reset
when the session opens. A request that names no session runs in one of its own, closed after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from envtorch.core import Environment
from envtorch.core.jsontypes import check_arguments, signature_of
from envtorch.server.sessions import Session, SessionManager
from envtorch.tools.functions import input_schema
from envtorch.wire import ServerError, decode

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_ERROR = -32000

SESSION_HEADER = "Mcp-Session-Id"
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

_encode = msgspec.json.Encoder(enc_hook=repr).encode


class RpcError(Exception):
    """A JSON-RPC error reply: `code` and `message`, and the HTTP status it goes with."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class McpEndpoint:
    """`POST`, `GET` and `DELETE /mcp` for one served environment type."""

    def __init__(self, sessions: SessionManager, server_name: str) -> None:
        self.sessions = sessions
        self.server_name = server_name
        self.max_bytes = sessions.limits.max_message_bytes

    async def handle(self, request: Request) -> Response:
        """Answer one HTTP request to `/mcp`."""
        if request.method == "GET":
            return Response(status_code=405, headers={"Allow": "POST, DELETE"})
        if request.method == "DELETE":
            return await self._end_session(request)
        request_id: Any = None
        try:
            message = await self._read_message(request)
            request_id = message.get("id")
            if _is_notification_or_response(message):
                return Response(status_code=202)
            result, session_id = await self._answer(request, message)
            reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
            headers = {SESSION_HEADER: session_id} if session_id else None
            return _json(reply, 200, headers)
        except RpcError as error:
            body = {"code": error.code, "message": error.message}
            return _json({"jsonrpc": "2.0", "id": request_id, "error": body}, error.status)

    async def _read_message(self, request: Request) -> dict[str, Any]:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_bytes:
                raise RpcError(
                    INVALID_REQUEST, f"message exceeds the limit of {self.max_bytes} bytes", 413
                )
        try:
            message = decode(bytes(body), Any)
        except ServerError as error:
            raise RpcError(PARSE_ERROR, f"Parse error: {error.message}") from None
        if not isinstance(message, dict) or message.get("jsonrpc", "2.0") != "2.0":
            raise RpcError(INVALID_REQUEST, "Invalid Request: expected one JSON-RPC 2.0 object")
        if "id" in message and not isinstance(message["id"], (str, int)):
            raise RpcError(INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
        if not (isinstance(message.get("method"), str) or _is_notification_or_response(message)):
            raise RpcError(INVALID_REQUEST, "Invalid Request: method must be a string")
        return message

    async def _answer(self, request: Request, message: dict[str, Any]) -> tuple[Any, str | None]:
        """The result of one request, and the session id to send back as `Mcp-Session-Id`."""
        method = message["method"]
        params = message.get("params") or {}
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "Invalid params: params must be an object")
        session = self._session_named(request, params)
        if method == "initialize":
            session = session or await self._open()
            return self._initialized(params), session.id
        if method == "ping":
            return {}, None
        if method == "openenv/session/create":
            session = session or await self._open()
            return {"session_id": session.id}, None
        if method == "openenv/session/close":
            if session is None:
                raise RpcError(INVALID_PARAMS, "Invalid params: 'session_id' is required")
            await self.sessions.close(session)
            return {"session_id": session.id, "closed": True}, None
        if method == "tools/list":
            return {"tools": await self._in_session(session, _listing)}, None
        if method == "tools/call":
            name, arguments = _call_params(params)
            result = await self._in_session(session, lambda env: _call(env, name, arguments))
            if result is None:
                raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
            return result, None
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    def _session_named(self, request: Request, params: dict[str, Any]) -> Session | None:
        """The session the `Mcp-Session-Id` header or the `session_id` param names, if any."""
        header = request.headers.get(SESSION_HEADER)
        named = header if header is not None else params.get("session_id")
        if named is None:
            return None
        try:
            session = self.sessions.get(str(named))
        except ServerError as error:
            status = 404 if header is not None else 200
            raise RpcError(INVALID_PARAMS, error.message, status) from None
        session.touch()
        return session

    async def _open(self) -> Session:
        """A new MCP session, its environment built and reset so its tools can act. It outlives
        a WebSocket attached to it (as OpenEnv's `MCPToolClient` attaches one) until the MCP
        client closes it or the reaper does."""
        session = self._opened(outlives_connection=True)
        try:
            await self.sessions.reset(session, lambda env: env.reset())
        except ServerError as error:
            await self.sessions.close(session)
            raise _server_error(error) from None
        return session

    def _opened(self, outlives_connection: bool = False) -> Session:
        try:
            return self.sessions.open(outlives_connection=outlives_connection)
        except ServerError as error:
            raise _server_error(error) from None

    async def _in_session(self, session: Session | None, call: Callable[[Environment], Any]) -> Any:
        """Run `call` on the session's env, building it when needed; in a passing session when
        the request named none."""
        passing = session is None
        session = session or self._opened()
        try:
            return await self.sessions.reset(session, call)
        except ServerError as error:
            raise _server_error(error) from None
        finally:
            if passing:
                await self.sessions.close(session)

    def _initialized(self, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        version = asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1]
        return {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": self.server_name, "version": "1.0.0"},
        }

    async def _end_session(self, request: Request) -> Response:
        named = request.headers.get(SESSION_HEADER)
        session = self.sessions.sessions.get(named or "")
        if session is None:
            return Response(status_code=404)
        await self.sessions.close(session)
        return Response(status_code=200)


def _listing(env: Environment) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "description": (tool.__doc__ or name).strip(),
            "inputSchema": input_schema(tool),
        }
        for name, tool in env.tools().items()
    ]


def _call_params(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name, arguments = params.get("name"), params.get("arguments") or {}
    if not isinstance(name, str):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'name' must be a tool's name")
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: 'arguments' must be an object")
    return name, arguments


def _is_notification_or_response(message: dict[str, Any]) -> bool:
    """A notification (a method, no id) or a response to the server: answered 202, no body."""
    if "method" in message:
        return "id" not in message
    return "id" in message and ("result" in message or "error" in message)


def _call(env: Environment, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """Call one tool (None when there is no such tool), its arguments checked against its
    annotations; a wrong argument and what the tool raises become an `isError` result the agent
    can read."""
    tool = env.tools().get(name)
    if tool is None:
        return None
    try:
        check_arguments(name, signature_of(tool), (), arguments)
        value = tool(**arguments)
    except Exception as error:
        text = f"{type(error).__name__}: {error}"
        return {"content": [{"type": "text", "text": text}], "isError": True}
    data = msgspec.to_builtins(value, enc_hook=repr)
    text = data if isinstance(data, str) else _encode(data).decode()
    return {"content": [{"type": "text", "text": text}], "isError": False, "data": data}


def _server_error(error: ServerError) -> RpcError:
    return RpcError(SERVER_ERROR, f"{error.message} [{error.code}]")


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encode(body), status_code=status, headers=headers, media_type="application/json"
    )
