"""`create_app`: serve any environment over WebSocket and HTTP, many sessions at once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from envtorch import wire
from envtorch.core import Environment, schemas
from envtorch.server.auth import BearerAuth
from envtorch.server.endpoints import Endpoints
from envtorch.server.limits import ServerLimits
from envtorch.server.mcp import McpEndpoint
from envtorch.server.openapi import openapi_endpoint
from envtorch.server.sessions import SessionManager
from envtorch.web.pages import add_play_page


def create_app(
    env_factory: Callable[..., Environment], *, limits: ServerLimits | None = None
) -> FastAPI:
    """A FastAPI app serving the environments that `env_factory()` builds, one per session.

    A `/ws` connection that asks for a render mode (the query parameter `render_mode`, one of
    the env's `metadata["render_modes"]`) gets an env built as `env_factory(render_mode=...)`.

    Endpoints: WebSocket `/ws` (one session per connection, in the dialect its handshake
    settles), `GET /health`, `GET /schema`, `GET /metadata`, and `POST /reset`, `POST /step`,
    `GET /state`, `GET /render`, `POST /fork`, `POST /close` on an explicit `session_id`
    (`/reset` without one opens a session; `/step` and `/state` without one use a passing env,
    as OpenEnv's stateless endpoints do); `fork` answers with new sessions' ids, which a
    WebSocket attaches to at `/ws?session_id=...`; `/mcp` serves the env's tools over MCP;
    `GET /openapi.json` describes the HTTP routes. `limits` bounds sessions, idle time, call time
    and message size.
    When the `ENVTORCH_TOKEN` environment variable is set, every endpoint requires
    `Authorization: Bearer <token>`. The factory is called once here to learn the env's types;
    that probe env is closed right away. On shutdown every session's env is closed.
    """
    limits = limits or ServerLimits()
    env_type, info = _describe(env_factory)
    sessions = SessionManager(env_factory, limits, nonblocking=env_type.nonblocking)
    endpoints = Endpoints(sessions, env_type, info)
    app = FastAPI(
        title=info["metadata"]["name"],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan(sessions),
    )
    app.state.sessions = sessions
    router = app.router
    router.add_route("/health", endpoints.health, methods=["GET"])
    router.add_route("/schema", endpoints.schema, methods=["GET"])
    router.add_route("/metadata", endpoints.metadata, methods=["GET"])
    router.add_route("/reset", endpoints.http_reset, methods=["POST"])
    router.add_route("/step", endpoints.http_step, methods=["POST"])
    router.add_route("/state", endpoints.http_state, methods=["GET"])
    router.add_route("/render", endpoints.http_render, methods=["GET"])
    router.add_route("/fork", endpoints.http_fork, methods=["POST"])
    router.add_route("/close", endpoints.http_close, methods=["POST"])
    router.add_websocket_route("/ws", endpoints.websocket)
    add_play_page(app)

    mcp = McpEndpoint(sessions, info["metadata"]["name"])
    router.add_route("/mcp", mcp.handle, methods=["POST", "GET", "DELETE"])
    router.add_route("/openapi.json", openapi_endpoint(app.title, router.routes), methods=["GET"])
    app.add_exception_handler(HTTPException, _http_error)
    token = os.environ.get(wire.TOKEN_VARIABLE)
    if token:
        app.add_middleware(BearerAuth, token=token)
    return app


def _lifespan(sessions: SessionManager) -> Callable[[FastAPI], Any]:
    """Run the idle reaper while the app lives; close every session's env when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reaper = asyncio.create_task(sessions.reap_forever())
        try:
            yield
        finally:
            reaper.cancel()
            await sessions.close_all()

    return lifespan


def _describe(env_factory: Callable[[], Environment]) -> tuple[type[Environment], dict[str, Any]]:
    """Build one env to learn its type and render mode, close it, and describe the type."""
    probe = env_factory()
    try:
        if not isinstance(probe, Environment):
            raise TypeError(
                f"env_factory must build an envtorch Environment, got {type(probe).__name__}"
            )
        env_type, render_mode = type(probe), probe.render_mode
    finally:
        if isinstance(probe, Environment):
            probe.close()
    metadata = msgspec.to_builtins(dict(env_type.metadata), enc_hook=repr)
    description = (env_type.__doc__ or "").strip().split("\n", 1)[0]
    metadata.setdefault("name", env_type.__name__)
    metadata.setdefault("description", description)
    metadata.setdefault("render_modes", [])
    metadata["render_mode"] = render_mode
    metadata["env_type"] = f"{env_type.__module__}:{env_type.__qualname__}"
    return env_type, {"schema": schemas(env_type), "metadata": metadata}


async def _http_error(request: Request, error: Exception) -> Response:
    """Unknown paths and wrong methods get the same error envelope as everything else."""
    status = getattr(error, "status_code", 404)
    code = wire.METHOD_NOT_ALLOWED if status == 405 else wire.NOT_FOUND
    message = f"{request.method} {request.url.path}: {getattr(error, 'detail', 'not found')}"
    body = wire.encode(wire.error_reply(wire.ServerError(code, message)))
    return Response(body, status_code=status, media_type="application/json")
