"""Typed clients for envtorch servers: `EnvClient` (sync) and `AsyncEnvClient` (asyncio)."""

from envtorch.client.aio import AsyncEnvClient
from envtorch.client.sync import EnvClient
from envtorch.wire import ConnectionLost, ServerError

__all__ = ["AsyncEnvClient", "ConnectionLost", "EnvClient", "ServerError"]
