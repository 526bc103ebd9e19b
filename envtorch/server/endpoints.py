"""The endpoints: WebSocket `/ws` (the step path) and HTTP, both answering through `respond`."""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from envtorch import wire
from envtorch.core import Environment
from envtorch.server.sessions import Session, SessionManager
from envtorch.wire import ServerError

_CLOSE_CODES = {wire.SERVER_FULL: 1013, wire.UNAUTHORIZED: 1008}


class Endpoints:
    """Every endpoint of one served environment type, sharing one `SessionManager`."""

    def __init__(
        self, sessions: SessionManager, env_type: type[Environment], info: dict[str, Any]
    ) -> None:
        self.sessions = sessions
        self.action_type = env_type.action_type
        self.max_bytes = sessions.limits.max_message_bytes
        self.render_modes = list(info["metadata"]["render_modes"])
        self._schema = wire.encode(info["schema"])
        self._metadata = wire.encode(info["metadata"])

    async def respond(
        self, session: Session, request: wire.Request, openenv_peer: bool
    ) -> dict[str, Any]:
        """Serve one request on `session` and return the reply (without `id`); observations to
        an OpenEnv peer in its view (`wire.observation_reply`)."""
        kind = request.type
        if kind == wire.STEP:
            action = wire.action_of(request.data, self.action_type)
            return await self.sessions.call(
                session, lambda env: wire.observation_reply(env.step(action), openenv_peer)
            )
        if kind == wire.RESET:
            data = wire.convert(request.data, wire.ResetData)
            return await self.sessions.reset(
                session,
                lambda env: wire.observation_reply(
                    env.reset(seed=data.seed, task=data.task), openenv_peer
                ),
            )
        if kind == wire.STATE:
            return await self.sessions.call(session, lambda env: wire.state_reply(env.state))
        if kind == wire.RENDER:
            return await self.sessions.call(session, lambda env: wire.render_reply(env.render()))
        if kind == wire.FORK:
            fork = wire.convert(request.data, wire.ForkData)
            forks = await self.sessions.fork(session, fork.count)
            return wire.forked_reply([twin.id for twin in forks])
        await self.sessions.close(session)
        return wire.closed_reply()

    async def websocket(self, websocket: WebSocket) -> None:
        """`/ws`: one session per connection, one reply per message, in order, in the dialect the
        opening handshake settled: envtorch's when the client offered `wire.SUBPROTOCOL` (then
        selected), else OpenEnv's (see `envtorch.wire`).

        `/ws?session_id=...` attaches the connection to an open session (one a fork made, or an
        MCP session, as OpenEnv's `MCPToolClient` does); otherwise the connection opens a new
        session. A session ends with its connection, except an MCP session, which outlives it.
        """
        openenv_peer = wire.SUBPROTOCOL not in websocket.scope.get("subprotocols", ())
        await websocket.accept(None if openenv_peer else wire.SUBPROTOCOL)
        session_id = websocket.query_params.get(wire.SESSION_ID)
        on_reap = partial(_close_socket, websocket)
        try:
            if session_id is None:
                session = self.sessions.open(on_reap, self._render_mode(websocket))
            else:
                session = self.sessions.attach(session_id, on_reap)
        except ServerError as error:
            await _close_socket(websocket, error)
            return
        try:
            await self._serve_socket(websocket, session, openenv_peer)
        finally:
            await self.sessions.release(session)

    def _render_mode(self, websocket: WebSocket) -> str | None:
        """The render mode the connection asks for in its query, checked against the env's."""
        render_mode = websocket.query_params.get(wire.RENDER_MODE)
        if render_mode is not None and render_mode not in self.render_modes:
            raise ServerError(
                wire.INVALID_MESSAGE,
                f"{wire.RENDER_MODE} {render_mode!r} is not one of this environment's render "
                f"modes: {self.render_modes}",
            )
        return render_mode

    async def _serve_socket(
        self, websocket: WebSocket, session: Session, openenv_peer: bool
    ) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] != "websocket.receive":
                return
            session.touch()
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            reply, kind = await self._answer(session, raw, openenv_peer)
            try:
                await websocket.send({"type": "websocket.send", "text": reply.decode()})
            except (WebSocketDisconnect, OSError, RuntimeError):
                return
            if kind == wire.CLOSE:
                await websocket.close(1000)
                return

    async def _answer(
        self, session: Session, raw: str | bytes, openenv_peer: bool
    ) -> tuple[bytes, str | None]:
        """The encoded reply to one raw message, and the message's type when it parsed. A
        `close` releases the session (`SessionManager.release`) before it is acknowledged."""
        try:
            request = wire.parse_request(raw, self.max_bytes)
        except ServerError as error:
            request_id = None if error.code == wire.MESSAGE_TOO_LARGE else wire.request_id_of(raw)
            return _in_dialect(wire.error_reply(error), request_id, openenv_peer), None
        try:
            if request.type == wire.CLOSE:
                await self.sessions.release(session)
                reply = wire.closed_reply()
            else:
                reply = await self.respond(session, request, openenv_peer)
        except ServerError as error:
            reply = wire.error_reply(error)
        return _in_dialect(reply, request.id, openenv_peer), request.type

    async def health(self, request: Request) -> Response:
        """`GET /health`."""
        limits = self.sessions.limits
        return _json(wire.health_reply(len(self.sessions.sessions), limits.max_sessions))

    async def schema(self, request: Request) -> Response:
        """`GET /schema`: JSON Schemas of the action, observation and state types."""
        return Response(self._schema, media_type="application/json")

    async def metadata(self, request: Request) -> Response:
        """`GET /metadata`: name, description, render modes."""
        return Response(self._metadata, media_type="application/json")

    async def http_reset(self, request: Request) -> Response:
        """`POST /reset` with `{"session_id"?, "seed"?, "task"?}`; no session id opens a session.
        Answers OpenEnv's `{observation, reward, done}` plus `truncated`, `metadata` and the
        session's id."""
        return await _http_reply(self._http_reset(request))

    async def http_step(self, request: Request) -> Response:
        """`POST /step` with `{"session_id"?, "action": {...}}`; without a session id a passing
        env is reset and stepped, as OpenEnv's stateless `/step` does."""
        return await _http_reply(self._http_step(request))

    async def http_state(self, request: Request) -> Response:
        """`GET /state?session_id=...`: the state's fields; without a session id, those of a
        passing env just reset, as OpenEnv's stateless `/state` answers."""
        return await _http_reply(self._http_state(request))

    async def http_render(self, request: Request) -> Response:
        """`GET /render?session_id=...`: `{"frame": ...}`."""
        return await _http_reply(self._http_query(request, wire.RENDER))

    async def http_fork(self, request: Request) -> Response:
        """`POST /fork` with `{"session_id", "count"}`: the new sessions' ids."""
        return await _http_reply(self._http_fork(request))

    async def http_close(self, request: Request) -> Response:
        """`POST /close` with `{"session_id"}`."""
        return await _http_reply(self._http_close(request))

    async def _http_reset(self, request: Request) -> _HttpReply:
        body = wire.convert(await self._read_json(request), wire.HttpReset)
        if body.session_id is None:
            session = self.sessions.open()
        else:
            session = self.sessions.unattached(body.session_id)
        data = wire.reset_data(body.seed, body.task)
        return await self._http_respond(session, wire.Request(type=wire.RESET, data=data))

    async def _http_step(self, request: Request) -> _HttpReply:
        body = wire.convert(await self._read_json(request), wire.HttpStep)
        step = wire.Request(type=wire.STEP, data=body.action)
        if body.session_id is None:
            return await self._stateless(step)
        return await self._http_respond(self.sessions.unattached(body.session_id), step)

    async def _http_state(self, request: Request) -> _HttpReply:
        if request.query_params.get(wire.SESSION_ID) is None:
            return await self._stateless(wire.Request(type=wire.STATE))
        return await self._http_query(request, wire.STATE)

    async def _http_query(self, request: Request, kind: str) -> _HttpReply:
        session_id = request.query_params.get(wire.SESSION_ID)
        if not session_id:
            raise ServerError(
                wire.INVALID_MESSAGE, f"the query parameter {wire.SESSION_ID} is required"
            )
        session = self.sessions.unattached(session_id)
        return await self._http_respond(session, wire.Request(type=kind))

    async def _http_fork(self, request: Request) -> _HttpReply:
        body = wire.convert(await self._read_json(request), wire.HttpFork)
        session = self.sessions.unattached(body.session_id)
        data = {"count": body.count}
        return await self._http_respond(session, wire.Request(type=wire.FORK, data=data))

    async def _http_close(self, request: Request) -> _HttpReply:
        body = wire.convert(await self._read_json(request), wire.HttpSession)
        session = self.sessions.unattached(body.session_id)
        return await self._http_respond(session, wire.Request(type=wire.CLOSE))

    async def _http_respond(self, session: Session, request: wire.Request) -> _HttpReply:
        """The reply within a known session, errors included: both carry the session's id.
        Observations are in OpenEnv's view, as its HTTP endpoints answer them."""
        session.touch()
        try:
            return await self.respond(session, request, openenv_peer=True), session.id, 200
        except ServerError as error:
            return wire.error_reply(error), session.id, wire.http_status(error.code)

    async def _stateless(self, request: wire.Request) -> _HttpReply:
        """The reply to `request` on a passing session, reset first and closed after."""
        session = self.sessions.open()
        try:
            await self.sessions.reset(session, lambda env: env.reset())
            return await self.respond(session, request, openenv_peer=True), None, 200
        except ServerError as error:
            return wire.error_reply(error), None, wire.http_status(error.code)
        finally:
            await self.sessions.close(session)

    async def _read_json(self, request: Request) -> Any:
        """The request body parsed as JSON, read no further than `max_message_bytes`."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise wire.message_too_large(int(length), self.max_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_bytes:
                raise wire.message_too_large(len(body), self.max_bytes)
        return wire.decode(bytes(body) or b"{}", Any)


_HttpReply = tuple[dict[str, Any], str | None, int]
"""An HTTP reply: the reply message, the session's id when known, its status."""


async def _http_reply(work: Awaitable[_HttpReply]) -> Response:
    """Await an HTTP handler's reply and encode it; a `ServerError` becomes an error reply.

    The body is the reply's `data` (an error reply whole) with `session_id` beside it, so an
    observation's `observation`, `reward` and `done` are at the top level, as OpenEnv sends them.
    """
    try:
        reply, session_id, status = await work
    except ServerError as error:
        reply, session_id, status = wire.error_reply(error), None, wire.http_status(error.code)
    body = reply if reply["type"] == wire.ERROR else dict(reply["data"])
    body[wire.SESSION_ID] = session_id
    return Response(wire.encode(body), status_code=status, media_type="application/json")


def _in_dialect(reply: dict[str, Any], request_id: int | str | None, openenv_peer: bool) -> bytes:
    """`reply` encoded for the connection: with the request's `id` in envtorch's dialect, and
    without one for an OpenEnv peer, whose models reject it."""
    if not openenv_peer:
        reply["id"] = request_id
    return wire.encode(reply)


async def _close_socket(websocket: WebSocket, error: ServerError) -> None:
    """Tell the client why, then close the socket; quietly if the client already left."""
    code = _CLOSE_CODES.get(error.code, 1000)
    try:
        await websocket.send_text(wire.encode(wire.error_reply(error)).decode())
        await websocket.close(code, reason=error.code)
    except (WebSocketDisconnect, OSError, RuntimeError):
        return


def _json(value: Any) -> Response:
    return Response(wire.encode(value), media_type="application/json")
