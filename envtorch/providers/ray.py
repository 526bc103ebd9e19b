"""`RayProvider`: env servers as Ray actors spread over a cluster, each serving many sessions.

Each actor runs what `envtorch serve TARGET` runs (the same arguments, the same app, uvicorn in a
thread of the actor's process) on its node's address and a free port. Clients connect to the
actors directly over WebSocket; Ray only places, watches and stops the servers.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from envtorch.core.extras import import_optional
from envtorch.providers.local import serve_arguments
from envtorch.providers.provider import Provider, ProviderError
from envtorch.wire import TOKEN_VARIABLE, ConnectionLost

PING_TIMEOUT = 10.0
"""Seconds an actor has to answer before a client that could not connect takes it for dead."""


@dataclass(frozen=True, slots=True)
class RayServer:
    """One env server: the Ray actor hosting it and the `http://` URL it serves on."""

    actor: Any
    url: str


class RayProvider(Provider):
    """Serve `target` from `actors` Ray actors spread over the cluster; hand out clients to them.

    `target` and `serve_options` are what `envtorch serve` takes (`max_sessions=64` gives
    `--max-sessions 64`): every actor is one such server holding many sessions. `address` is
    the cluster's (`ray.init(address=...)`), used when this process has not joined one yet;
    a provider that joined also leaves on `stop()`. Each actor reserves `num_cpus` of its node
    and is placed with Ray's `SPREAD` strategy. `ENVTORCH_TOKEN`, when set here, is the token of
    every actor's server too.

    `client()` opens an `EnvClient` on the next actor in turn, so a collector whose env factory
    it is spreads its episodes over the actors. An actor that died (its node lost, `ray.kill`)
    is found by the first client that cannot reach it and replaced by a fresh actor; the
    episode that was running on it fails and the collector retries it on another handle.

        with RayProvider("python", actors=4, max_sessions=64) as cluster:
            collector = Collector(lambda: cluster.client(PythonEnv), policy, tasks)
    """

    def __init__(
        self,
        target: str,
        *,
        actors: int = 2,
        num_cpus: float = 1.0,
        address: str | None = None,
        startup_timeout: float = 120.0,
        **serve_options: Any,
    ) -> None:
        if not isinstance(actors, int) or actors < 1:
            raise ValueError(f"actors must be a positive integer, got {actors!r}")
        self.target = target
        self.actors = actors
        self.num_cpus = num_cpus
        self.address = address
        self.startup_timeout = startup_timeout
        self.serve_options = serve_options
        self.servers: list[RayServer] = []
        self._arguments = _checked_serve_arguments(target, serve_options)
        self.replaced = 0
        self._joined = False
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def start(self) -> list[str]:
        """Start the actors and wait until each serves; return their URLs."""
        if self.servers:
            raise ProviderError(f"{self!r} is already started")
        try:
            self.servers = self._started([self._new_actor() for _ in range(self.actors)])
        except BaseException:
            self.stop()
            raise
        return self.urls

    @property
    def urls(self) -> list[str]:
        """The URLs of the servers, one per actor."""
        return [server.url for server in self.servers]

    def client(self, env_type: Any = None, **options: Any) -> Any:
        """An `EnvClient` on the next actor in turn (`options` as for `EnvClient`), replacing an
        actor found dead on the way."""
        from envtorch.client import EnvClient

        for _ in range(self.actors + 1):
            server = self._next_server()
            try:
                return EnvClient(server.url, env_type, **options)
            except ConnectionLost:
                if self._alive(server):
                    raise
                self._replace(server)
        raise ProviderError(f"no actor of {self!r} could be reached")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every server gracefully (closing its sessions' envs), then its actor. Idempotent."""
        servers, self.servers = self.servers, []
        if servers:
            ray = self._ray()
            stopping = [server.actor.stop.remote() for server in servers]
            with contextlib.suppress(Exception):
                ray.wait(stopping, num_returns=len(stopping), timeout=timeout)
            for server in servers:
                with contextlib.suppress(Exception):
                    ray.kill(server.actor)
        if self._joined:
            self._joined = False
            import_optional("ray", extra="ray", needed_by="RayProvider").shutdown()

    def __repr__(self) -> str:
        return f"RayProvider({self.target!r}, actors={self.actors})"

    def _ray(self) -> Any:
        """The `ray` module, with this process joined to the cluster."""
        ray = import_optional("ray", extra="ray", needed_by="RayProvider")
        if not ray.is_initialized():
            ray.init(address=self.address, logging_level=logging.WARNING)
            self._joined = True
        return ray

    def _new_actor(self) -> Any:
        """A new actor serving the target, placed by Ray's SPREAD strategy."""
        ray = self._ray()
        server_class = ray.remote(_EnvServer).options(
            num_cpus=self.num_cpus,
            scheduling_strategy="SPREAD",
            runtime_env={"env_vars": _actor_environment()},
        )
        return server_class.remote(self._arguments)

    def _started(self, actors: list[Any]) -> list[RayServer]:
        """The servers of `actors` once each serves; a failure to start says why."""
        ray = self._ray()
        try:
            urls = ray.get([actor.url.remote() for actor in actors], timeout=self.startup_timeout)
        except ray.exceptions.GetTimeoutError:
            for actor in actors:
                ray.kill(actor)
            raise ProviderError(
                f"the actors of {self!r} did not serve within {self.startup_timeout:g} s "
                "(is the cluster short of CPUs? each actor reserves num_cpus)"
            ) from None
        except ray.exceptions.RayError as error:
            for actor in actors:
                ray.kill(actor)
            raise ProviderError(
                f"envtorch serve {self.target} failed in a Ray actor: {error}"
            ) from None
        return [RayServer(actor, url) for actor, url in zip(actors, urls, strict=True)]

    def _next_server(self) -> RayServer:
        with self._lock:
            if not self.servers:
                raise ProviderError(f"{self!r} is not started; call start() first")
            return self.servers[next(self._turn) % len(self.servers)]

    def _alive(self, server: RayServer) -> bool:
        """True when the actor answers a ping within `PING_TIMEOUT`."""
        ray = self._ray()
        try:
            ray.get(server.actor.url.remote(), timeout=PING_TIMEOUT)
        except ray.exceptions.RayError:
            return False
        return True

    def _replace(self, dead: RayServer) -> None:
        """Put a fresh actor in the place of `dead`, unless another thread already did."""
        with self._lock:
            if dead not in self.servers:
                return
            with contextlib.suppress(Exception):
                self._ray().kill(dead.actor)
            (fresh,) = self._started([self._new_actor()])
            self.servers[self.servers.index(dead)] = fresh
            self.replaced += 1


def _checked_serve_arguments(target: str, serve_options: dict[str, Any]) -> list[str]:
    """`envtorch serve`'s arguments for `target` and its options, parsed here first, so that a
    bad option fails at once with the parser's message rather than in every actor."""
    from envtorch.cli import build_parser

    arguments = serve_arguments(target, serve_options)
    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):
            build_parser().parse_args(arguments)
    except SystemExit:
        message = complaint.getvalue().strip().splitlines()[-1]
        raise ProviderError(f"RayProvider({target!r}): {message}") from None
    return arguments


def _actor_environment() -> dict[str, str]:
    """The environment variables of an actor's worker process.

    Ray starts workers at niceness 15 so that its own daemons come first; an env server is the
    work itself, so its worker runs at 0 (at 15, on a loaded machine, an actor served 0.62x the
    steps/s of a local server). The token, when set here, is the server's too.
    """
    environment = {"RAY_worker_niceness": "0"}
    if token := os.environ.get(TOKEN_VARIABLE):
        environment[TOKEN_VARIABLE] = token
    return environment


class _EnvServer:
    """The Ray actor: `envtorch serve` with these arguments, in a thread, on the node's address."""

    def __init__(self, arguments: list[str]) -> None:
        from ray.util import get_node_ip_address

        from envtorch.cli import build_parser
        from envtorch.cli.serve import app_of
        from envtorch.server.background import raise_fd_limit, serve_in_thread

        raise_fd_limit()
        app = app_of(build_parser().parse_args(arguments))
        self._serving = contextlib.ExitStack()
        self._url = self._serving.enter_context(serve_in_thread(app, host=get_node_ip_address()))

    def url(self) -> str:
        """The server's `http://` URL."""
        return self._url

    def stop(self) -> None:
        """Shut the server down gracefully, closing every session's env."""
        self._serving.close()
