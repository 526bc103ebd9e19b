"""Running an app with uvicorn: `uvicorn_config`, the one configuration, `serve_forever` for
`envtorch serve`, and `serve_in_thread`."""

from __future__ import annotations

import gc
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import uvicorn

from envtorch.server.connections import ConnectionGate, GatedHttpProtocol
from envtorch.server.limits import ServerLimits
from envtorch.wire import SERVING_ON


def uvicorn_config(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> uvicorn.Config:
    """The uvicorn configuration for an app from `create_app`, sized by the app's `ServerLimits`.

    A WebSocket message up to 4 times `max_message_bytes` reaches the app, which answers it with
    a `message_too_large` error; a larger one closes the connection. Connections go through a
    fresh `ConnectionGate`, and the listen backlog is as long as the connection cap, since the
    event loop accepts a full backlog at once (see `_connection_capacity`).
    """
    limits: ServerLimits = app.state.sessions.limits
    capacity = _connection_capacity(limits)
    gate = ConnectionGate(capacity, limits.handshake_timeout)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=partial(GatedHttpProtocol, gate=gate),
        backlog=capacity,
        ws="websockets-sansio",
        ws_max_size=4 * limits.max_message_bytes,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,
    )


def _connection_capacity(limits: ServerLimits) -> int:
    """`max_connections`, at most a quarter of the fd limit, so the server never runs out of fds.

    Another quarter is for the listen backlog, which arrives in one burst before the cap can
    act; the other half is left to sessions and the process itself.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(limits.max_connections, soft // 4)


def serve_forever(app: Any, *, host: str, port: int, log_level: str) -> None:
    """Serve `app` (from `create_app`) until interrupted.

    Once the port accepts connections, print `envtorch serving on http://HOST:PORT` on stdout,
    with the port the kernel chose under `port=0`.
    """
    raise_fd_limit()
    config = uvicorn_config(app, host=host, port=port, log_level=log_level)
    _spare_start_up_objects_from_collections()
    run_announcing(config)


def _spare_start_up_objects_from_collections() -> None:
    """Keep what the server made before serving (its modules, the app) out of the garbage
    collector's passes: it lives as long as the server, and each full pass, which stalls every
    session, then scans only the objects of the sessions."""
    gc.collect()
    gc.freeze()


def run_announcing(config: uvicorn.Config) -> None:
    """Run uvicorn with `config` until interrupted; print `envtorch serving on URL` once it
    listens."""
    _AnnouncingServer(config).run(sockets=[config.bind_socket()])


def raise_fd_limit() -> None:
    """Raise the soft limit on open files to the hard limit: more room for connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and hard != resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that announces its URL after its startup, when its socket listens."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            port = sockets[0].getsockname()[1]
            print(f"{SERVING_ON}http://{_url_host(self.config.host)}:{port}", flush=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextmanager
def serve_in_thread(
    app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 30.0
) -> Iterator[str]:
    """Serve `app` (from `create_app`) on `host` and a free port; yield its `http://` URL.

    On exit the server shuts down gracefully, which closes every session's env.
    """
    server = uvicorn.Server(uvicorn_config(app, host=host))
    thread = threading.Thread(target=server.run, name="envtorch-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start; see the log above")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{_url_host(host)}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
