from __future__ import annotations

import gc
import http.client
import os
import time

import pytest

from envtorch.client import EnvClient
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import DockerProvider, ProviderError
from envtorch.taskfile import Resources
from tests.providers.containers import (
    containers_of,
    engine,
    failing_image,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(300)


def health(url: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_client_from_an_image_runs_sandboxed_python_in_a_capped_container(python_math_image):
    resources = Resources(memory="512M", cpu=1.5)
    env = EnvClient.from_docker_image(python_math_image, PythonEnv, resources=resources)
    container = env._container.container
    try:
        assert env.url.startswith("http://127.0.0.1:") and health(env.url) == 200
        env.reset(task={"question": "6 * 7", "answer": 42})
        observation = env.step(CodeAction(code="import os\nprint(os.getuid())\n6 * 7"))
        assert observation.value == 42 and int(observation.stdout) not in (0, os.getuid())
        assert observation.reward == 1.0 and observation.done
        attributes = engine().api.inspect_container(container.id)
        host = attributes["HostConfig"]
        assert host["Memory"] == 512 * 2**20 and host["NanoCpus"] == 1_500_000_000
        assert {"SYS_ADMIN", "NET_ADMIN"} <= {cap.removeprefix("CAP_") for cap in host["CapAdd"]}
        bindings = attributes["NetworkSettings"]["Ports"]["8000/tcp"]
        assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}
    finally:
        env.close()
    assert container.id not in {c.id for c in containers_of(python_math_image)}


def test_a_container_that_exits_fails_start_with_its_log_and_is_removed():
    failing = failing_image()
    provider = DockerProvider(failing, startup_timeout=60)
    with pytest.raises(ProviderError, match=r"(?s)exited with code 3.*no env served here"):
        provider.start()
    assert provider.container is None
    assert wait_until(lambda: containers_of(failing) == [], timeout=20)


def test_stop_removes_the_container_and_is_idempotent(python_math_image):
    provider = DockerProvider(python_math_image)
    provider.start()
    container_id = provider.container.id
    started = time.monotonic()
    provider.stop()
    provider.stop()
    assert time.monotonic() - started < 30
    assert container_id not in {c.id for c in containers_of(python_math_image)}
    with pytest.raises(ProviderError, match="not started"):
        provider.client(PythonEnv)


def test_no_engine_is_one_clear_error(monkeypatch, tmp_path):
    pytest.importorskip("docker", reason="needs the docker extra")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(ProviderError, match="no container engine answers at unix://"):
        DockerProvider("envtorch-echo").start()


def test_a_forgotten_provider_removes_its_container(python_math_image):
    provider = DockerProvider(python_math_image)
    provider.start()
    container_id = provider.container.id
    del provider
    gc.collect()
    assert wait_until(
        lambda: container_id not in {c.id for c in containers_of(python_math_image)}, timeout=30
    )
