"""`DockerProvider`: run an env server image in a container, published on 127.0.0.1 only.

It speaks the Docker Engine API through the official `docker` SDK, so it drives Docker as well as
podman's compatible socket (`podman system service`); `DOCKER_HOST` says where the engine is.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import TYPE_CHECKING, Any

from envtorch.core.extras import import_optional
from envtorch.providers.image import SERVER_PORT
from envtorch.providers.provider import Provider, ProviderError, healthy
from envtorch.wire import TOKEN_VARIABLE

if TYPE_CHECKING:
    from envtorch.taskfile import Resources

SANDBOX_CAPABILITIES = ("SYS_ADMIN", "NET_ADMIN")
"""What bubblewrap needs beyond a container's defaults, and nothing more: SYS_ADMIN to create its
namespaces and mounts, NET_ADMIN to bring up `lo` in each session's own network namespace. The
engine's default seccomp profile allows those calls to a holder of SYS_ADMIN."""


class DockerProvider(Provider):
    """Run `image` in a container and wait until its server answers `/health`; stop and remove it.

    The image runs `envtorch serve` on port 8000 (what `envtorch build` makes); the port is
    published on 127.0.0.1 at a port the engine picks. `resources` (a task file's `Resources`)
    caps the container's memory and CPUs. The container gets the privileges the sandbox needs
    (`SANDBOX_CAPABILITIES`) and `ENVTORCH_TOKEN` when it is set here.
    A container that exits or stays unhealthy fails `start()` with its log, and is removed; so
    is a started one when its provider is garbage-collected. Containers carry the label
    `envtorch=server`, to find those a killed parent left behind.

        with DockerProvider("envtorch-python", resources=Resources(memory="1G", cpu=2)) as box:
            env = box.client(PythonEnv)
    """

    def __init__(
        self,
        image: str,
        *,
        resources: Resources | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.image = image
        self.resources = resources
        self.startup_timeout = startup_timeout
        self.url: str | None = None
        self.container: Any = None

    def start(self) -> str:
        """Start the container and wait until `/health` answers; return its `http://` URL."""
        if self.container is not None:
            raise ProviderError(f"{self!r} is already started")
        engine = docker_client()
        try:
            self.container = engine.containers.run(self.image, **self._run_options(engine))
        except Exception as error:
            raise ProviderError(f"cannot start a container of {self.image}: {error}") from None
        try:
            self.url = self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the container (SIGTERM, SIGKILL after `timeout` s) and remove it. Idempotent."""
        container, self.container = self.container, None
        if container is None:
            return
        with contextlib.suppress(Exception):
            container.stop(timeout=math.ceil(timeout))
        with contextlib.suppress(Exception):
            container.remove(force=True)

    def client(self, env_type: Any = None, **options: Any) -> Any:
        """An `EnvClient` on this container's server (`options` as for `EnvClient`)."""
        from envtorch.client import EnvClient

        if self.url is None or self.container is None:
            raise ProviderError(f"{self!r} is not started; call start() first")
        return EnvClient(self.url, env_type, **options)

    def log(self) -> str:
        """What the container printed so far."""
        if self.container is None:
            return ""
        return self.container.logs().decode(errors="replace")

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=5.0)

    def __repr__(self) -> str:
        return f"DockerProvider({self.image!r}, url={self.url!r})"

    def _run_options(self, engine: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "detach": True,
            "ports": {f"{SERVER_PORT}/tcp": ("127.0.0.1", None)},
            "cap_add": list(SANDBOX_CAPABILITIES),
            "labels": {"envtorch": "server"},
        }
        if _is_podman(engine):
            options["network_mode"] = "slirp4netns"
        token = os.environ.get(TOKEN_VARIABLE)
        if token:
            options["environment"] = {TOKEN_VARIABLE: token}
        if self.resources is not None and self.resources.memory_mb is not None:
            options["mem_limit"] = f"{self.resources.memory_mb}m"
        if self.resources is not None and self.resources.cpu is not None:
            options["nano_cpus"] = round(self.resources.cpu * 1e9)
        return options

    def _wait_until_serving(self) -> str:
        deadline = time.monotonic() + self.startup_timeout
        url = None
        while url is None or not healthy(url):
            self.container.reload()
            if self.container.status in ("exited", "dead"):
                raise ProviderError(
                    f"the container of {self.image} exited with code "
                    f"{self.container.attrs['State'].get('ExitCode')}:\n{self.log()}"
                )
            url = url or _published_url(self.container)
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"the container of {self.image} did not answer /health within "
                    f"{self.startup_timeout:g} s:\n{self.log()}"
                )
            time.sleep(0.05)
        return url


def docker_client() -> Any:
    """A `docker.DockerClient` on the engine that `DOCKER_HOST` names (Docker's socket without)."""
    docker = import_optional("docker", extra="docker", needed_by="DockerProvider")
    try:
        return docker.from_env()
    except docker.errors.DockerException as error:
        raise ProviderError(
            f"no container engine answers at {os.environ.get('DOCKER_HOST', 'Docker socket')}: "
            f"{error}; start Docker, or `podman system service` and set DOCKER_HOST"
        ) from None


def _is_podman(engine: Any) -> bool:
    """True when the engine is podman, whose rootful bridge we avoid for slirp4netns."""
    components = engine.version().get("Components") or []
    return any("podman" in component.get("Name", "").lower() for component in components)


def _published_url(container: Any) -> str | None:
    """The `http://127.0.0.1:PORT` the engine published the server's port at, once it has."""
    bindings = (container.ports or {}).get(f"{SERVER_PORT}/tcp") or []
    for binding in bindings:
        if binding.get("HostPort"):
            return f"http://127.0.0.1:{binding['HostPort']}"
    return None
