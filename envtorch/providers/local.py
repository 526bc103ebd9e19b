"""`LocalProcessProvider`: run `envtorch serve` in a child process on a free loopback port.

The child binds port 0 and prints the port the kernel chose, so no other server can take the port
between its choice and the bind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from envtorch.providers.provider import Provider, ProviderError, healthy
from envtorch.wire import SERVING_ON

_PR_SET_PDEATHSIG = 1


class LocalProcessProvider(Provider):
    """Start `envtorch serve TARGET` on 127.0.0.1 and a free port; stop it; leave nothing behind.

    `target` is what `envtorch serve` takes (`echo`, `module:Class`, `module:factory`);
    `serve_options` become its flags (`max_sessions=64` gives `--max-sessions 64`). The child
    gets SIGTERM when the thread that started it dies, so a crashed parent leaves no orphan
    (Linux `PR_SET_PDEATHSIG`); `stop()` shuts it down gracefully, which closes every env.

        with LocalProcessProvider("echo") as server:
            env = server.client()
            env.reset()
    """

    def __init__(self, target: str, *, startup_timeout: float = 30.0, **serve_options: Any):
        self.target = target
        self.startup_timeout = startup_timeout
        self.serve_options = serve_options
        self.url: str | None = None
        self.process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self) -> str:
        """Start the server and wait until `/health` answers; return its `http://` URL."""
        if self.process is not None:
            raise ProviderError(f"{self!r} is already started")
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        try:
            self.url = self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after `timeout` seconds. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def client(self, env_type: Any = None, **options: Any) -> Any:
        """An `EnvClient` on this server (`options` as for `EnvClient`)."""
        from envtorch.client import EnvClient

        if self.url is None or self.process is None:
            raise ProviderError(f"{self!r} is not started; call start() first")
        return EnvClient(self.url, env_type, **options)

    def log(self) -> str:
        """What the server printed so far (read without moving the offset the child writes at)."""
        descriptor = self._log.fileno()
        return os.pread(descriptor, os.fstat(descriptor).st_size, 0).decode(errors="replace")

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=5.0)

    def __repr__(self) -> str:
        return f"LocalProcessProvider({self.target!r}, url={self.url!r})"

    def _command(self) -> list[str]:
        serve = serve_arguments(self.target, self.serve_options)
        return [sys.executable, "-m", "envtorch", *serve, "--host", "127.0.0.1", "--port", "0"]

    def _wait_until_serving(self) -> str:
        """The URL the child announced, once its `/health` answers."""
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while (url := self._announced_url()) is None or not healthy(url):
            if self.process.poll() is not None:
                raise ProviderError(
                    f"envtorch serve {self.target} exited with code {self.process.returncode}:\n"
                    f"{self.log()}"
                )
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"envtorch serve {self.target} did not answer /health within "
                    f"{self.startup_timeout:g} s:\n{self.log()}"
                )
            time.sleep(0.02)
        return url

    def _announced_url(self) -> str | None:
        """The URL from the child's `envtorch serving on URL` line, once it printed it."""
        for line in self.log().splitlines():
            if line.startswith(SERVING_ON):
                return line.removeprefix(SERVING_ON).strip()
        return None


def serve_arguments(target: str, serve_options: dict[str, Any]) -> list[str]:
    """The `envtorch serve` arguments for `target` and its options as flags
    (`max_sessions=64` gives `--max-sessions 64`)."""
    arguments = ["serve", target]
    for name, value in serve_options.items():
        arguments += [f"--{name.replace('_', '-')}", str(value)]
    return arguments


def _die_with_parent(parent_pid: int) -> Any:
    """A `preexec_fn` asking Linux to SIGTERM the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None

    def arrange() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:
            os._exit(1)

    return arrange
