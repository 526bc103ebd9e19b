"""Start and stop environment servers. `LocalProcessProvider` runs one as a local child process,
`DockerProvider` in a container, `KubernetesProvider` as a Deployment in a cluster, and
`RayProvider` many as Ray actors. Their SDKs (extras `docker`, `kubernetes`, `ray`) are imported
on first use."""

from envtorch.providers.docker import DockerProvider
from envtorch.providers.kubernetes import KubernetesProvider
from envtorch.providers.local import LocalProcessProvider
from envtorch.providers.provider import Provider, ProviderError
from envtorch.providers.ray import RayProvider

__all__ = [
    "DockerProvider",
    "KubernetesProvider",
    "LocalProcessProvider",
    "Provider",
    "ProviderError",
    "RayProvider",
]
