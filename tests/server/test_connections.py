"""Connections that never send a request cannot exhaust the server or lock a real client out."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import WebSocketException

from envtorch.client import EnvClient
from envtorch.envs.echo import EchoAction, EchoEnv

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts fds in /proc"),
]

TOKEN = "flood-test-token"
FLOOD = 1_100
SERVER_FDS = 1_024


@contextmanager
def own_fd_limit_of_at_least(needed: int) -> Iterator[None]:
    """Raise this process's soft fd limit to `needed` for a while."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the flood needs {needed} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def limit_fds_to_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FDS, SERVER_FDS))


def limit_soft_fds_to_1024() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(SERVER_FDS, hard), hard))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_soft_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError(f"no open files limit for {pid}")


@contextmanager
def envtorch_serve(limit_fds: Callable[[], None]) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """`envtorch serve echo` with a token and fds limited; yields its process, URL and log."""
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "stderr"
        with log.open("w") as stderr:
            server = subprocess.Popen(
                [sys.executable, "-m", "envtorch", "serve", "echo", "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "ENVTORCH_TOKEN": TOKEN},
                preexec_fn=limit_fds,
            )
        try:
            url = server.stdout.readline().removeprefix("envtorch serving on ").strip()
            assert url.startswith("http://127.0.0.1:"), log.read_text()
            yield server, url, log
        finally:
            server.terminate()
            server.communicate(timeout=30)


def idle_connections(port: int, count: int, seconds: float) -> list[socket.socket]:
    """Open up to `count` TCP connections that send nothing, within `seconds`."""
    deadline = time.monotonic() + seconds
    sockets: list[socket.socket] = []
    while len(sockets) < count and time.monotonic() < deadline:
        connection = socket.socket()
        connection.settimeout(1.0)
        try:
            connection.connect(("127.0.0.1", port))
        except OSError:
            connection.close()
            continue
        sockets.append(connection)
    return sockets


def test_a_client_with_the_token_gets_in_while_1100_idle_connections_are_held():
    with (
        own_fd_limit_of_at_least(FLOOD + 256),
        envtorch_serve(limit_fds_to_1024) as (server, url, log),
    ):
        flood = idle_connections(urlsplit(url).port, FLOOD, seconds=60)
        try:
            assert len(flood) == FLOOD
            with EnvClient(url, EchoEnv, timeout=10, token=TOKEN) as env:
                env.reset()
                assert env.step(EchoAction(message="through")).echoed_message == "through"
            assert open_fds(server.pid) < fd_soft_limit(server.pid) == SERVER_FDS
        finally:
            for connection in flood:
                connection.close()
        assert server.poll() is None
        assert "Too many open files" not in log.read_text()


def test_envtorch_serve_raises_its_soft_fd_limit_to_the_hard_limit():
    with envtorch_serve(limit_soft_fds_to_1024) as (server, _, _):
        assert fd_soft_limit(server.pid) == resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_to_the_end(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the timeout)."""
    received = b""
    for _ in range(1000):
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError("the server kept sending")


def read_until(connection: socket.socket, marker: bytes) -> bytes:
    received = b""
    for _ in range(1000):
        if marker in received:
            return received
        chunk = connection.recv(65536)
        assert chunk, received
        received += chunk
    raise AssertionError(f"no {marker!r} in {received!r}")


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"],
    ids=["nothing", "headers-without-their-end"],
)
def test_a_connection_without_complete_headers_is_closed_after_the_handshake_timeout(serve, sent):
    url = serve(handshake_timeout=0.5)
    with connect(url) as connection:
        connection.sendall(sent)
        assert read_to_the_end(connection) == b""


def test_at_the_cap_a_new_connection_closes_the_one_that_waited_longest(serve, socket):
    url = serve(max_connections=2, handshake_timeout=60)
    with connect(url) as kept_alive:
        kept_alive.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_until(kept_alive, b'"status":"healthy"').startswith(b"HTTP/1.1 200")
        idle = connect(url)
        ws = socket(url)
        assert ws.ask({"type": "reset"})["type"] == "observation"
        assert read_to_the_end(kept_alive) == b""
        idle.setblocking(False)
        with idle, pytest.raises(BlockingIOError):
            idle.recv(1)


def test_with_no_connection_waiting_a_new_one_gets_503_server_full(serve, socket):
    url = serve(max_connections=2)
    sessions = [socket(url), socket(url)]
    for ws in sessions:
        assert ws.ask({"type": "reset"})["type"] == "observation"
    with connect(url) as refused:
        head, _, body = read_to_the_end(refused).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert json.loads(body)["data"]["code"] == "server_full"
    sessions[0].close()
    assert a_session_gets_in(url, socket, seconds=10)


def a_session_gets_in(url: str, socket, seconds: float) -> bool:
    """Whether a new WebSocket session opens within `seconds`, once a closed one is let go."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return socket(url).ask({"type": "reset"})["type"] == "observation"
        except (OSError, WebSocketException):
            time.sleep(0.05)
    return False
