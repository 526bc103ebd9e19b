"""Start and stop environment servers. `LocalProcessProvider` runs one as a local child process,
`DockerProvider` in a container, `KubernetesProvider` as a Deployment in a cluster."""

from envtorch.providers.docker import DockerProvider
from envtorch.providers.kubernetes import KubernetesProvider
from envtorch.providers.local import LocalProcessProvider, ProviderError

__all__ = ["DockerProvider", "KubernetesProvider", "LocalProcessProvider", "ProviderError"]
