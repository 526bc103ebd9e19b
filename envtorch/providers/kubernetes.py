"""`KubernetesProvider`: an env server image as a Deployment and a Service in a Kubernetes cluster.

The manifests are plain dicts (`manifests()`), so they can be read, saved or run without a cluster
(`podman kube play` runs the Deployment); `start()` applies them through the official
`kubernetes` client, with the configuration `kubectl` uses (or the pod's own, inside a cluster).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from envtorch.core.extras import import_optional
from envtorch.providers.docker import SANDBOX_CAPABILITIES
from envtorch.providers.image import SERVER_PORT
from envtorch.providers.provider import Provider, ProviderError
from envtorch.wire import TOKEN_VARIABLE

if TYPE_CHECKING:
    from envtorch.taskfile import Resources


class KubernetesProvider(Provider):
    """Run `replicas` pods of `image` (an image `envtorch build` made) behind a Service.

    Each pod is ready once `/health` answers; its container requests and is capped at
    `resources` (a task file's `Resources`) and holds the capabilities the sandbox needs
    (`SANDBOX_CAPABILITIES`). With `ENVTORCH_TOKEN` set here, the token goes to the pods in a
    Secret (`NAME-token`), so every pod requires it, as `client()` sends it; a pod is then ready
    once its port accepts connections, since a probe cannot send the token without writing it
    into the Deployment. `client()` opens a session on the next ready pod in turn, at its pod
    IP, so it works where pod IPs are routable (a trainer running in the cluster); `service_url`
    is the Service's in-cluster address, where each WebSocket also stays on one pod.

        with KubernetesProvider("registry.example/envtorch-python:1", replicas=8) as cluster:
            collector = Collector(lambda: cluster.client(PythonEnv), policy, tasks)
    """

    def __init__(
        self,
        image: str,
        *,
        name: str = "envtorch",
        replicas: int = 1,
        namespace: str = "default",
        resources: Resources | None = None,
        startup_timeout: float = 300.0,
    ) -> None:
        if not isinstance(replicas, int) or replicas < 0:
            raise ValueError(f"replicas must be a non-negative integer, got {replicas!r}")
        self.image = image
        self.name = name
        self.replicas = replicas
        self.namespace = namespace
        self.resources = resources
        self.startup_timeout = startup_timeout
        self._apis: tuple[Any, Any] | None = None
        self._turns = itertools.count()
        self._turn_lock = threading.Lock()

    @property
    def service_url(self) -> str:
        """The Service's address inside the cluster."""
        return f"http://{self.name}.{self.namespace}.svc:{SERVER_PORT}"

    def manifests(self) -> list[dict[str, Any]]:
        """The Deployment and the Service, as the Kubernetes API takes them, after the Secret
        holding `ENVTORCH_TOKEN` when it is set here (its data is the token in base64: keep
        saved manifests private)."""
        token = os.environ.get(TOKEN_VARIABLE)
        secret = [self._secret(token)] if token else []
        return [*secret, self._deployment(token_secret=bool(token)), self._service()]

    def start(self) -> list[str]:
        """Create the Deployment and the Service; wait until every pod is ready; return their
        URLs."""
        if self._apis is not None:
            raise ProviderError(f"{self!r} is already started")
        self._apis = _apis()
        try:
            for manifest in self.manifests():
                _create(self._apis, self.namespace, manifest)
            return self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def scale(self, replicas: int) -> list[str]:
        """Run `replicas` pods; wait until they are ready; return their URLs."""
        if self._apis is None:
            raise ProviderError(f"{self!r} is not started; call start() first")
        self.replicas = replicas
        apps, _ = self._apis
        body = {"spec": {"replicas": replicas}}
        apps.patch_namespaced_deployment_scale(self.name, self.namespace, body)
        return self._wait_until_ready()

    def urls(self) -> list[str]:
        """The URLs of the pods that are ready now, at their pod IPs."""
        if self._apis is None:
            raise ProviderError(f"{self!r} is not started; call start() first")
        _, core = self._apis
        pods = core.list_namespaced_pod(self.namespace, label_selector=f"app={self.name}")
        return sorted(
            f"http://{pod.status.pod_ip}:{SERVER_PORT}" for pod in pods.items if _ready(pod)
        )

    def client(self, env_type: Any = None, **options: Any) -> Any:
        """An `EnvClient` on the next ready pod in turn (`options` as for `EnvClient`)."""
        from envtorch.client import EnvClient

        urls = self.urls()
        if not urls:
            raise ProviderError(f"no pod of {self.name} is ready")
        with self._turn_lock:
            turn = next(self._turns)
        return EnvClient(urls[turn % len(urls)], env_type, **options)

    def stop(self) -> None:
        """Delete the Deployment (and so its pods), the Service and the token's Secret.
        Idempotent."""
        apis, self._apis = self._apis, None
        if apis is None:
            return
        apps, core = apis
        with contextlib.suppress(Exception):
            apps.delete_namespaced_deployment(self.name, self.namespace)
        with contextlib.suppress(Exception):
            core.delete_namespaced_service(self.name, self.namespace)
        with contextlib.suppress(Exception):
            core.delete_namespaced_secret(self._secret_name, self.namespace)

    def __repr__(self) -> str:
        return f"KubernetesProvider({self.image!r}, name={self.name!r}, replicas={self.replicas})"

    @property
    def _secret_name(self) -> str:
        return f"{self.name}-token"

    def _secret(self, token: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self._secret_name, "labels": {"app": self.name}},
            "type": "Opaque",
            "data": {"token": base64.b64encode(token.encode()).decode("ascii")},
        }

    def _deployment(self, token_secret: bool) -> dict[str, Any]:
        labels = {"app": self.name}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [self._container(token_secret)]},
                },
            },
        }

    def _container(self, token_secret: bool) -> dict[str, Any]:
        probe = (
            {"tcpSocket": {"port": SERVER_PORT}}
            if token_secret
            else {"httpGet": {"path": "/health", "port": SERVER_PORT}}
        )
        container: dict[str, Any] = {
            "name": "server",
            "image": self.image,
            "ports": [{"containerPort": SERVER_PORT, "name": "http"}],
            "readinessProbe": {**probe, "periodSeconds": 2, "failureThreshold": 3},
            "securityContext": {"capabilities": {"add": list(SANDBOX_CAPABILITIES)}},
        }
        if token_secret:
            reference = {"secretKeyRef": {"name": self._secret_name, "key": "token"}}
            container["env"] = [{"name": TOKEN_VARIABLE, "valueFrom": reference}]
        caps = self._resource_caps()
        if caps:
            container["resources"] = {"requests": caps, "limits": caps}
        return container

    def _resource_caps(self) -> dict[str, str]:
        caps = {}
        if self.resources is not None and self.resources.memory_mb is not None:
            caps["memory"] = f"{self.resources.memory_mb}Mi"
        if self.resources is not None and self.resources.cpu is not None:
            caps["cpu"] = f"{round(self.resources.cpu * 1000)}m"
        return caps

    def _service(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": self.name, "labels": {"app": self.name}},
            "spec": {
                "selector": {"app": self.name},
                "ports": [{"name": "http", "port": SERVER_PORT, "targetPort": SERVER_PORT}],
            },
        }

    def _wait_until_ready(self) -> list[str]:
        deadline = time.monotonic() + self.startup_timeout
        while len(urls := self.urls()) != self.replicas:
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"{len(urls)} of {self.replicas} pods of {self.name} were ready after "
                    f"{self.startup_timeout:g} s; see kubectl describe deployment {self.name}"
                )
            time.sleep(1.0)
        return urls


def _apis() -> tuple[Any, Any]:
    """The apps and core API clients, configured as kubectl is, or from inside a pod."""
    kubernetes = import_optional("kubernetes", extra="kubernetes", needed_by="KubernetesProvider")
    try:
        kubernetes.config.load_kube_config()
    except Exception:
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException as error:
            raise ProviderError(
                f"no Kubernetes cluster is configured: set KUBECONFIG or ~/.kube/config, or run "
                f"in a pod ({error})"
            ) from None
    return kubernetes.client.AppsV1Api(), kubernetes.client.CoreV1Api()


def _create(apis: tuple[Any, Any], namespace: str, manifest: dict[str, Any]) -> None:
    """Create `manifest` (a Secret, a Deployment or a Service) in `namespace`."""
    apps, core = apis
    create = {
        "Secret": core.create_namespaced_secret,
        "Deployment": apps.create_namespaced_deployment,
        "Service": core.create_namespaced_service,
    }[manifest["kind"]]
    create(namespace, manifest)


def _ready(pod: Any) -> bool:
    """True when the pod runs, has an IP, and its Ready condition holds."""
    conditions = pod.status.conditions or []
    return bool(pod.status.pod_ip) and any(
        condition.type == "Ready" and condition.status == "True" for condition in conditions
    )
