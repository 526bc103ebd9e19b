from __future__ import annotations

import asyncio
import socket

import pytest

from envtorch.client import AsyncEnvClient, ConnectionLost
from envtorch.envs.echo import EchoEnv

pytestmark = pytest.mark.timeout(60)

REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"


def read_until_closed(connection: socket.socket) -> None:
    """Return once the client closed its end; socket.timeout if it never does."""
    connection.settimeout(10)
    while connection.recv(4096):
        continue


@pytest.mark.parametrize("answer", [None, REFUSAL], ids=["silent", "refused"])
def test_an_async_client_closes_its_connection_when_the_handshake_fails(answer):
    async def connect_and_watch(listener: socket.socket) -> None:
        client = AsyncEnvClient(f"http://127.0.0.1:{listener.getsockname()[1]}", EchoEnv)
        client.timeout = 0.5
        connecting = asyncio.create_task(client.connect())
        connection, _ = await asyncio.to_thread(listener.accept)
        with connection:
            if answer is not None:
                await asyncio.to_thread(connection.recv, 4096)
                connection.sendall(answer)
            with pytest.raises(ConnectionLost) as failure:
                await connecting
            assert failure.value.code == "connection_failed"
            await asyncio.to_thread(read_until_closed, connection)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        asyncio.run(connect_and_watch(listener))
