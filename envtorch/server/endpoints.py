"""The endpoints: WebSocket `/ws` (the step path) and HTTP, both answering through `respond`."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from envtorch.core import Environment
from envtorch.server.protocol import (
    HTTP_STATUS,
    INVALID_MESSAGE,
    MESSAGE_TOO_LARGE,
    SERVER_FULL,
    UNAUTHORIZED,
    Message,
    ProtocolError,
    ResetData,
    closed_message,
    decode_action,
    decode_json,
    decode_struct,
    encode,
    error_message,
    observation_message,
    parse_request,
    render_message,
    request_id_of,
    state_message,
)
from envtorch.server.sessions import Session, SessionManager

_CLOSE_CODES = {SERVER_FULL: 1013, UNAUTHORIZED: 1008}


class HttpReset(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `POST /reset`: no `session_id` starts a new session."""

    session_id: str | None = None
    seed: int | None = None
    task: Any = None


class HttpStep(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `POST /step`."""

    session_id: str
    action: dict[str, Any]


class HttpSession(msgspec.Struct, forbid_unknown_fields=True):
    """The body of `POST /close`."""

    session_id: str


class Endpoints:
    """Every endpoint of one served environment type, sharing one `SessionManager`."""

    def __init__(
        self, sessions: SessionManager, env_type: type[Environment], info: dict[str, Any]
    ) -> None:
        self.sessions = sessions
        self.action_type = env_type.action_type
        self.max_bytes = sessions.limits.max_message_bytes
        self._schema = encode(info["schema"])
        self._metadata = encode(info["metadata"])

    async def respond(self, session: Session, request: Message) -> dict[str, Any]:
        """Serve one request on `session` and return the reply (without `id`)."""
        kind = request.type
        if kind == "step":
            action = decode_action(request.data, self.action_type)
            return await self.sessions.call(
                session, lambda env: observation_message(env.step(action))
            )
        if kind == "reset":
            data = decode_struct(request.data, ResetData)
            return await self.sessions.reset(
                session,
                lambda env: observation_message(env.reset(seed=data.seed, task=data.task)),
            )
        if kind == "state":
            return await self.sessions.call(session, lambda env: state_message(env.state))
        if kind == "render":
            return await self.sessions.call(session, lambda env: render_message(env.render()))
        await self.sessions.close(session)
        return closed_message()

    async def websocket(self, websocket: WebSocket) -> None:
        """`/ws`: one session per connection, one reply per message, in order."""
        await websocket.accept()
        try:
            session = self.sessions.open(on_reap=lambda error: _close_socket(websocket, error))
        except ProtocolError as error:
            await _close_socket(websocket, error)
            return
        try:
            await self._serve_socket(websocket, session)
        finally:
            await self.sessions.close(session)

    async def _serve_socket(self, websocket: WebSocket, session: Session) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] != "websocket.receive":
                return
            session.touch()
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            reply, kind = await self._answer(session, raw)
            try:
                await websocket.send({"type": "websocket.send", "text": reply.decode()})
            except (WebSocketDisconnect, OSError, RuntimeError):
                return
            if kind == "close":
                await websocket.close(1000)
                return

    async def _answer(self, session: Session, raw: str | bytes) -> tuple[bytes, str | None]:
        """The encoded reply to one raw message, and the message's type when it parsed."""
        try:
            request = parse_request(raw, self.max_bytes)
        except ProtocolError as error:
            request_id = None if error.code == MESSAGE_TOO_LARGE else request_id_of(raw)
            return encode({**error_message(error), "id": request_id}), None
        try:
            reply = await self.respond(session, request)
        except ProtocolError as error:
            reply = error_message(error)
        reply["id"] = request.id
        return encode(reply), request.type

    async def health(self, request: Request) -> Response:
        """`GET /health`."""
        return _json(
            {
                "status": "ok",
                "sessions": len(self.sessions.sessions),
                "max_sessions": self.sessions.limits.max_sessions,
            }
        )

    async def schema(self, request: Request) -> Response:
        """`GET /schema`: JSON Schemas of the action, observation and state types."""
        return Response(self._schema, media_type="application/json")

    async def metadata(self, request: Request) -> Response:
        """`GET /metadata`: name, description, render modes."""
        return Response(self._metadata, media_type="application/json")

    async def http_reset(self, request: Request) -> Response:
        """`POST /reset` with `{"session_id"?, "seed"?, "task"?}`; no session id opens a session."""
        return await _http_reply(self._http_reset(request))

    async def http_step(self, request: Request) -> Response:
        """`POST /step` with `{"session_id", "action": {...}}`."""
        return await _http_reply(self._http_step(request))

    async def http_state(self, request: Request) -> Response:
        """`GET /state?session_id=...`."""
        return await _http_reply(self._http_query(request, "state"))

    async def http_render(self, request: Request) -> Response:
        """`GET /render?session_id=...`."""
        return await _http_reply(self._http_query(request, "render"))

    async def http_close(self, request: Request) -> Response:
        """`POST /close` with `{"session_id"}`."""
        return await _http_reply(self._http_close(request))

    async def _http_reset(self, request: Request) -> tuple[dict[str, Any], str | None]:
        body = decode_struct(await self._read_json(request), HttpReset)
        if body.session_id is None:
            session = self.sessions.open()
        else:
            session = self.sessions.get(body.session_id)
        data = {"seed": body.seed, "task": body.task}
        return await self._http_respond(session, Message(type="reset", data=data))

    async def _http_step(self, request: Request) -> tuple[dict[str, Any], str | None]:
        body = decode_struct(await self._read_json(request), HttpStep)
        session = self.sessions.get(body.session_id)
        return await self._http_respond(session, Message(type="step", data=body.action))

    async def _http_query(self, request: Request, kind: str) -> tuple[dict[str, Any], str | None]:
        session_id = request.query_params.get("session_id")
        if not session_id:
            raise ProtocolError(INVALID_MESSAGE, "the query parameter session_id is required")
        session = self.sessions.get(session_id)
        return await self._http_respond(session, Message(type=kind))

    async def _http_close(self, request: Request) -> tuple[dict[str, Any], str | None]:
        body = decode_struct(await self._read_json(request), HttpSession)
        session = self.sessions.get(body.session_id)
        return await self._http_respond(session, Message(type="close"))

    async def _http_respond(
        self, session: Session, request: Message
    ) -> tuple[dict[str, Any], str | None]:
        session.touch()
        try:
            return await self.respond(session, request), session.id
        except ProtocolError as error:
            error.session_id = session.id
            raise

    async def _read_json(self, request: Request) -> Any:
        """The request body parsed as JSON, read no further than `max_message_bytes`."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise _too_large(int(length), self.max_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_bytes:
                raise _too_large(len(body), self.max_bytes)
        return decode_json(body or b"{}")


async def _http_reply(
    work: Awaitable[tuple[dict[str, Any], str | None]],
) -> Response:
    """Await an HTTP handler's reply and encode it; a `ProtocolError` becomes an error reply."""
    try:
        reply, session_id = await work
        status = 200
    except ProtocolError as error:
        reply, session_id = error_message(error), error.session_id
        status = HTTP_STATUS.get(error.code, 400)
    reply["session_id"] = session_id
    return Response(encode(reply), status_code=status, media_type="application/json")


async def _close_socket(websocket: WebSocket, error: ProtocolError) -> None:
    """Tell the client why, then close the socket; quietly if the client already left."""
    code = _CLOSE_CODES.get(error.code, 1000)
    try:
        await websocket.send_text(encode({**error_message(error), "id": None}).decode())
        await websocket.close(code, reason=error.code)
    except (WebSocketDisconnect, OSError, RuntimeError):
        return


def _too_large(size: int, limit: int) -> ProtocolError:
    return ProtocolError(
        MESSAGE_TOO_LARGE, f"message of {size} bytes exceeds the limit of {limit} bytes"
    )


def _json(value: Any) -> Response:
    return Response(encode(value), media_type="application/json")
