"""Bearer-token authentication for every endpoint, enabled by the `ENVTORCH_TOKEN` variable."""

from __future__ import annotations

import hmac
from typing import Any

from envtorch import wire
from envtorch.web.pages import is_page

_REPLY = wire.encode(
    wire.error_reply(
        wire.ServerError(
            wire.UNAUTHORIZED,
            f"missing or wrong bearer token: send the header '{wire.AUTH_HEADER}: Bearer <token>'",
        )
    )
)
_HEADER = wire.AUTH_HEADER.lower().encode()


class BearerAuth:
    """ASGI middleware: a request without `Authorization: Bearer <token>` gets `unauthorized`.

    HTTP requests get a 401 reply; a WebSocket is accepted, sent the error, and closed with 1008.
    A browser's WebSocket, which cannot carry the header, may offer the subprotocols
    `SUBPROTOCOL` and `bearer_protocol(token)` instead; `/ws` then selects `SUBPROTOCOL`.
    The play page's static files (`/web`) are served to anyone: they hold no secret.
    """

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("BearerAuth needs a non-empty token")
        self.app = app
        self._token = token.encode()
        self._expected_protocol = wire.bearer_protocol(token).encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or self._authorized(scope):
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _refuse_http(send)
        else:
            await _refuse_websocket(receive, send)

    def _authorized(self, scope: dict) -> bool:
        if scope["type"] == "http" and is_page(scope["path"]):
            return True
        if scope["type"] == "websocket" and self._offers_token(scope):
            return True
        for name, value in scope["headers"]:
            if name == _HEADER:
                return self._carries_token(value)
        return False

    def _carries_token(self, value: bytes) -> bool:
        """True when an `Authorization` value is `Bearer <token>`, the scheme in any case."""
        scheme, _, credentials = value.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)

    def _offers_token(self, scope: dict) -> bool:
        """True when a WebSocket offers `SUBPROTOCOL` and the token as `bearer_protocol`."""
        offered = scope.get("subprotocols") or []
        return wire.SUBPROTOCOL in offered and any(
            hmac.compare_digest(protocol.encode(), self._expected_protocol) for protocol in offered
        )


async def _refuse_http(send: Any) -> None:
    body = _REPLY
    await send(
        {
            "type": "http.response.start",
            "status": wire.http_status(wire.UNAUTHORIZED),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse_websocket(receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": _REPLY.decode()})
    await send({"type": "websocket.close", "code": 1008, "reason": wire.UNAUTHORIZED})
