"""Typed clients for envtorch servers: `EnvClient` (sync) and `AsyncEnvClient` (asyncio)."""

from envtorch.client.aio import AsyncEnvClient
from envtorch.client.protocol import ConnectionLost, ServerError
from envtorch.client.sync import EnvClient

__all__ = ["AsyncEnvClient", "ConnectionLost", "EnvClient", "ServerError"]
