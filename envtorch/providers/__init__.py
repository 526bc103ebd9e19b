"""Start and stop environment servers. `LocalProcessProvider` runs one as a local child process,
`DockerProvider` in a container."""

from envtorch.providers.docker import DockerProvider
from envtorch.providers.local import LocalProcessProvider, ProviderError

__all__ = ["DockerProvider", "LocalProcessProvider", "ProviderError"]
