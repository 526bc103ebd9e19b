import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).with_name("mcp_server.py")


@dataclass
class HttpServer:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @classmethod
    def start(cls, port: int = 0) -> "HttpServer":
        process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "http", str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        announced = process.stdout.readline().split()
        assert announced[:1] == ["PORT"], f"the test MCP server did not start: {announced}"
        return cls(process, int(announced[1]))

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()


@pytest.fixture(scope="module")
def http_server():
    server = HttpServer.start()
    yield server
    server.stop()


@pytest.fixture
def start_http_server():
    started = []

    def start(port: int = 0) -> HttpServer:
        started.append(HttpServer.start(port))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop()
