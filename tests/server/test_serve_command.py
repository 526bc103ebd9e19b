from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)


def serve(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "envtorch", "serve", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def metadata_when_up(url: str) -> dict:
    """GET /metadata, retrying while the server is still starting."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/metadata", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_port_zero_serves_on_a_free_port_and_prints_it():
    server = serve("echo", "--port", "0")
    try:
        line = server.stdout.readline()
        assert line.startswith("envtorch serving on http://127.0.0.1:")
        url = line.split()[-1]
        assert not url.endswith(":0")
        assert metadata_when_up(url)["env_type"] == "envtorch.envs.echo:EchoEnv"
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["no_such_env_anywhere"], "no_such_env_anywhere"),
        (["no_such_module:Env"], "no_such_module"),
        (["echo", "--max-sessions", "0"], "max_sessions"),
        (["echo", "--call-timeout", "-1"], "call_timeout"),
        (["echo", "--max-connections", "0"], "max_connections"),
        (["echo", "--handshake-timeout", "0"], "handshake_timeout"),
        (["echo", "--kwarg", "nosuch=1"], "--kwarg nosuch=1"),
        (["echo", "--kwarg", "max_steps=abc"], "max_steps"),
        (["echo", "--kwarg", "time_limit=[]"], "time_limit"),
        (["math", "--kwarg", "nosuch=1", "--kwarg", "max_steps=3"], "nosuch"),
    ],
)
def test_a_bad_target_limit_or_kwarg_is_one_line_and_status_2(arguments, words):
    server = serve(*arguments)
    stdout, stderr = server.communicate(timeout=30)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert lines[0].startswith("envtorch serve: error:") and words in lines[0]
    assert stdout == "" and server.returncode == 2


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_bad_port_is_refused_by_name_with_status_2(port):
    server = serve("echo", "--port", port)
    stdout, stderr = server.communicate(timeout=30)
    assert "Traceback" not in stderr and server.returncode == 2
    assert stderr.strip().splitlines()[-1].startswith("envtorch serve: error: argument --port:")
    assert stdout == ""


def test_the_serving_line_comes_only_once_the_port_answers_requests():
    for _ in range(5):
        server = serve("echo", "--port", "0")
        try:
            url = server.stdout.readline().removeprefix("envtorch serving on ").strip()
            with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
                assert json.loads(response.read())["status"] == "healthy"
        finally:
            server.terminate()
            server.communicate(timeout=30)
