from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.providers import LocalProcessProvider, ProviderError
from tests.waiting import gone, wait_until

pytestmark = pytest.mark.timeout(90)


def test_provider_serves_a_client_and_stops_without_leftovers():
    with LocalProcessProvider("echo", max_sessions=4) as server:
        pid = server.process.pid
        assert server.url.startswith("http://127.0.0.1:")
        with server.client(EchoEnv) as env:
            env.reset()
            assert env.step(EchoAction(message="hi")).echoed_message == "hi"
    assert server.process is None
    assert wait_until(lambda: gone(pid), timeout=20)
    server.stop()


def test_a_bad_target_fails_with_the_server_log():
    provider = LocalProcessProvider("no_such_env_anywhere")
    with pytest.raises(ProviderError, match="no_such_env_anywhere"):
        provider.start()
    assert provider.process is None


def test_the_server_dies_when_its_parent_crashes():
    script = textwrap.dedent(
        """
        import os, sys
        from envtorch.providers import LocalProcessProvider
        provider = LocalProcessProvider("echo")
        provider.start()
        print(provider.process.pid, flush=True)
        sys.stdin.read(1)
        os._exit(1)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    child_pid = int(parent.stdout.readline())
    assert not gone(child_pid)
    parent.kill()
    parent.wait()
    assert wait_until(lambda: gone(child_pid), timeout=20)


def test_the_provider_uses_the_port_its_own_server_bound_and_announced(monkeypatch):
    monkeypatch.setenv("ENVTORCH_TOKEN", "pr0vider")
    with LocalProcessProvider("echo") as server:
        assert f"envtorch serving on {server.url}\n" in server.log()
        with server.client(EchoEnv) as env:
            env.reset()
            assert env.step(EchoAction(message="ours")).echoed_message == "ours"
