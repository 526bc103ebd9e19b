from __future__ import annotations

import base64
import copy
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from envtorch.client import EnvClient
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.providers import KubernetesProvider, ProviderError
from envtorch.providers.provider import healthy
from envtorch.taskfile import Resources
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

CLUSTER_IMAGE = "ENVTORCH_TEST_KUBERNETES_IMAGE"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pods_of(deployment: dict, ports: list[int], secret: dict | None = None) -> list[dict]:
    """One Pod per replica from the Deployment's own pod template, each publishing its server
    on 127.0.0.1 at a port of its own (podman gives every replica of a Deployment the same
    host port). A variable taken from `secret` gets the secret's value, as Kubernetes gives it:
    podman 4.3's kube play stores a Secret it plays in a form it then cannot read."""
    template = deployment["spec"]["template"]
    pods = []
    for replica, port in enumerate(ports):
        spec = copy.deepcopy(template["spec"])
        for variable in spec["containers"][0].get("env", []):
            key = variable.pop("valueFrom")["secretKeyRef"]["key"]
            variable["value"] = base64.b64decode(secret["data"][key]).decode()
        spec["containers"][0]["ports"][0].update(hostIP="127.0.0.1", hostPort=port)
        metadata = {**template["metadata"], "name": f"{deployment['metadata']['name']}-{replica}"}
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
    return pods


def podman(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_manifests_are_a_deployment_and_a_service_ready_on_health(monkeypatch):
    monkeypatch.delenv("ENVTORCH_TOKEN", raising=False)
    provider = KubernetesProvider(
        "registry.example/envtorch-python:1",
        name="python",
        replicas=3,
        resources=Resources(memory="1G", cpu=0.5),
    )
    deployment, service = provider.manifests()
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    assert deployment["spec"]["replicas"] == 3
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels == service["spec"]["selector"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/envtorch-python:1"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8000}
    caps = {"memory": "1024Mi", "cpu": "500m"}
    assert container["resources"] == {"requests": caps, "limits": caps}
    assert container["securityContext"] == {"capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}}
    assert service["spec"]["ports"][0]["targetPort"] == 8000
    assert provider.service_url == "http://python.default.svc:8000"
    assert (
        "resources"
        not in KubernetesProvider("x").manifests()[0]["spec"]["template"]["spec"]["containers"][0]
    )


def test_with_a_token_the_pods_take_it_from_a_secret_and_are_ready_on_their_port(monkeypatch):
    monkeypatch.setenv("ENVTORCH_TOKEN", "tenant-secret")
    secret, deployment, service = KubernetesProvider("envtorch-echo", name="echo").manifests()
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "echo-token")
    assert base64.b64decode(secret["data"]["token"]) == b"tenant-secret"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {
            "name": "ENVTORCH_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "echo-token", "key": "token"}},
        }
    ]
    assert "tenant-secret" not in repr(deployment) + repr(service)
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8000}
    assert "httpGet" not in container["readinessProbe"]


def test_the_generated_pods_run_under_podman_kube_play(python_math_image, tmp_path, monkeypatch):
    if shutil.which("podman") is None:
        pytest.skip("needs podman to play the manifests")
    monkeypatch.setenv("ENVTORCH_TOKEN", f"tenant-{uuid.uuid4().hex}")
    name = f"envtorch-test-{uuid.uuid4().hex[:8]}"
    provider = KubernetesProvider(
        python_math_image, name=name, replicas=2, resources=Resources(memory="512M", cpu=1)
    )
    secret, deployment, service = provider.manifests()
    ports = [free_port(), free_port()]
    manifest = tmp_path / "envtorch.yaml"
    manifest.write_text(yaml.safe_dump_all([*pods_of(deployment, ports, secret), service]))
    played = podman("kube", "play", "--network", "slirp4netns", str(manifest))
    try:
        assert played.returncode == 0, played.stderr
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        assert wait_until(lambda: all(healthy(url) for url in urls), timeout=60)
        for url in urls:
            with pytest.raises(urllib.error.HTTPError, match="401"):
                urllib.request.urlopen(f"{url}/health", timeout=10)
        for replica, url in enumerate(urls):
            with EnvClient(url, PythonEnv) as env:
                env.reset(task={"question": f"{replica} + 40", "answer": replica + 40})
                observation = env.step(CodeAction(code=f"{replica} + 40"))
                assert (observation.value, observation.reward) == (replica + 40, 1.0)
        inspected = podman("inspect", f"{name}-0-server", "--format", "{{.HostConfig.Memory}}")
        assert inspected.stdout.strip() == str(512 * 2**20)
    finally:
        down = podman("kube", "down", str(manifest))
    assert down.returncode == 0, down.stderr
    for replica in range(2):
        assert podman("pod", "exists", f"{name}-{replica}").returncode == 1


def test_without_a_cluster_start_says_what_it_needs(monkeypatch, tmp_path):
    pytest.importorskip("kubernetes", reason="needs the kubernetes extra")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-config"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ProviderError, match="no Kubernetes cluster is configured"):
        KubernetesProvider("envtorch-echo").start()


def test_a_cluster_runs_scales_and_serves_the_pods():
    pytest.importorskip("kubernetes", reason="needs the kubernetes extra")
    config = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
    if not config.is_file() or not os.environ.get(CLUSTER_IMAGE):
        pytest.skip(
            f"needs a Kubernetes cluster: KUBECONFIG or ~/.kube/config naming one whose pods "
            f"this machine reaches at their IPs, and {CLUSTER_IMAGE} an image of "
            f"`envtorch build python-math` that its nodes can pull"
        )
    name = f"envtorch-test-{uuid.uuid4().hex[:8]}"
    with KubernetesProvider(os.environ[CLUSTER_IMAGE], name=name, replicas=1) as cluster:
        assert len(cluster.urls()) == 1
        assert len(cluster.scale(2)) == 2
        for _ in range(2):
            with cluster.client(PythonEnv) as env:
                env.reset(task={"question": "1 + 1", "answer": 2})
                assert env.step(CodeAction(code="1 + 1")).reward == 1.0
