"""Start and stop environment servers. `LocalProcessProvider` runs one as a local child process."""

from envtorch.providers.local import LocalProcessProvider, ProviderError

__all__ = ["LocalProcessProvider", "ProviderError"]
