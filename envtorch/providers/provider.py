"""`Provider`: what every provider shares. `ProviderError` when a server cannot be started, and
`healthy(url)`, the check each one waits on."""

from __future__ import annotations

import http.client
from typing import Any, Self
from urllib.parse import urlsplit

from envtorch.core import EnvtorchError
from envtorch.wire import auth_headers


class ProviderError(EnvtorchError):
    """The environment server could not be started."""


class Provider:
    """Starts environment servers somewhere, says where they are, and stops them, leaving
    nothing behind. Used as a context manager, it starts on entry and stops on exit."""

    def start(self) -> Any:
        """Start the server or servers and return where they serve."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop what `start()` started. Idempotent."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def healthy(url: str) -> bool:
    """True once the server at `url` answers `/health` (with the token it shares with us)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1.0)
    try:
        connection.request("GET", "/health", headers=auth_headers())
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
