"""The host's handle on a zygote: starting it inside bubblewrap and asking it for sessions."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

import msgspec

from envtorch.sandbox import bwrap
from envtorch.sandbox.errors import SandboxUnavailable
from envtorch.sandbox.guest.channel import (
    ChannelError,
    Config,
    FrameReader,
    Mapped,
    MapUser,
    Open,
    Opened,
    Ready,
    pack,
    receive_with_fds,
)
from envtorch.sandbox.limits import SandboxLimits

START_TIMEOUT = 30.0
OPEN_TIMEOUT = 10.0
USERNS_HINT = (
    "user namespaces are unavailable; allow them (sysctl user.max_user_namespaces=15000, "
    "kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0), "
    "or use the Docker provider"
)
_replies = msgspec.json.Decoder(Ready | Opened | Mapped)


def _open_sandbox_init(info_fd: int, deadline: float) -> int | None:
    """A pidfd of the sandbox's pid 1, read from bubblewrap's info pipe (closes `info_fd`).

    None when bubblewrap exited before reporting it; the handshake then says why.
    """
    data = b""
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([info_fd], [], [], deadline - time.monotonic())
            chunk = os.read(info_fd, 4096) if readable else b""
            if not chunk:
                break
            data += chunk
    finally:
        os.close(info_fd)
    try:
        return os.pidfd_open(int(json.loads(data)["child-pid"]))
    except (ValueError, KeyError, TypeError, OSError):
        return None


class Zygote:
    """A warm Python inside bubblewrap that forks confined sessions on request."""

    def __init__(self, limits: SandboxLimits, prelude: str = "") -> None:
        self._lock = threading.Lock()
        self._in_step = True
        control, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        info_read, info_write = os.pipe()
        self._control = control
        self._reader = FrameReader(control, _replies, 1 << 20)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._log_text = ""
        self._sandbox_init: int | None = None
        try:
            self._process = subprocess.Popen(
                bwrap.command(bwrap.find_bwrap(), child_end.fileno(), info_write, limits),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(child_end.fileno(), info_write),
                env={},
            )
        except OSError as error:
            control.close()
            os.close(info_read)
            message = f"cannot run bubblewrap: {error}; {bwrap.INSTALL_HINT}"
            raise SandboxUnavailable(message) from None
        finally:
            child_end.close()
            os.close(info_write)
        self._sandbox_init = _open_sandbox_init(info_read, time.monotonic() + START_TIMEOUT)
        self._handshake(limits, prelude)

    def _handshake(self, limits: SandboxLimits, prelude: str) -> None:
        config = msgspec.convert(limits, Config, from_attributes=True)
        config = msgspec.structs.replace(config, prelude=prelude)
        try:
            self._control.sendall(pack(config))
            ready = self._reader.read(time.monotonic() + START_TIMEOUT)
        except (OSError, EOFError, ChannelError) as error:
            self.close()
            raise SandboxUnavailable(
                f"the sandbox did not start ({error}): {self._log_tail()}; "
                f"check that bubblewrap works here ({bwrap.INSTALL_HINT})"
            ) from None
        if not isinstance(ready, Ready) or ready.error is not None:
            reason = ready.error if isinstance(ready, Ready) else "unexpected reply"
            self.close()
            raise SandboxUnavailable(f"cannot confine sessions: {reason}; {USERNS_HINT}")

    def _log_tail(self) -> str:
        return self._log_text or "no output"

    @property
    def alive(self) -> bool:
        """Whether the zygote process still runs."""
        return self._process.poll() is None

    @property
    def in_step(self) -> bool:
        """Whether every `Open` sent so far got its reply; one that failed may still be due."""
        return self._in_step

    def spawn(self) -> socket.socket:
        """A new session's socket; the session confines itself and then says hello on it.

        Raises `SandboxUnavailable` when the zygote does not answer in time or breaks the
        protocol; it is then out of step for good and a fresh one must take its place.
        """
        with self._lock:
            if not self._in_step:
                raise SandboxUnavailable("this zygote is out of step; start a fresh one")
            try:
                self._control.sendall(pack(Open()))
                reply, fd = self._receive_with_fd(time.monotonic() + OPEN_TIMEOUT)
            except (OSError, EOFError, ChannelError) as error:
                self._in_step = False
                raise SandboxUnavailable(f"the zygote did not fork a session: {error}") from None
        if not isinstance(reply, Opened) or reply.error is not None or fd is None:
            if fd is not None:
                os.close(fd)
            raise SandboxUnavailable(f"the zygote could not fork a session: {reply}")
        return socket.socket(fileno=fd)

    def map_user(self, parent: int, copies: list[int]) -> None:
        """Map the session user in the new user namespaces of the `copies` that process `parent`
        forked (pids as the zygote sees them); `SandboxUnavailable` if that fails."""
        with self._lock:
            if not self._in_step:
                raise SandboxUnavailable("this zygote is out of step; start a fresh one")
            try:
                self._control.sendall(pack(MapUser(parent=parent, copies=copies)))
                reply = self._reader.read(time.monotonic() + OPEN_TIMEOUT)
            except (OSError, EOFError, ChannelError) as error:
                self._in_step = False
                raise SandboxUnavailable(f"the zygote did not map a fork's user: {error}") from None
        if not isinstance(reply, Mapped) or reply.error is not None:
            raise SandboxUnavailable(f"the zygote could not map a fork's user: {reply}")

    def _receive_with_fd(self, deadline: float) -> tuple[object, int | None]:
        """Read one reply frame and the file descriptor sent along with it (close-on-exec)."""
        reply, fds = receive_with_fds(self._control, self._reader, deadline, 1)
        return reply, fds[0] if fds else None

    def close(self) -> None:
        """Stop the zygote and with it every session it forked, whatever they did (stopped,
        ignoring signals, forked): the sandbox's pid 1 is killed, which ends its pid namespace."""
        self._control.close()
        sandbox_init, self._sandbox_init = self._sandbox_init, None
        if sandbox_init is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(sandbox_init, signal.SIGKILL)
            os.close(sandbox_init)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.seek(0)
        self._log_text = self._log.read()[-2000:].decode(errors="replace").strip()
        self._log.close()
