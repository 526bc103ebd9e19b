"""The limits a server keeps for its sessions; light to import, so the CLI can show the defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ServerLimits:
    """How many sessions a server holds and how long and how large their traffic may be.

    - `max_sessions`: concurrent sessions; one more gets a `server_full` error.
    - `idle_timeout`: seconds without a message after which the reaper closes a session
      (`None` turns the reaper off).
    - `call_timeout`: seconds one env call (`reset`, `step`, `state`, `render`) may take. A call
      that takes longer gets a `timeout` error; its env is discarded and closed once the call
      returns, and the session's next `reset` builds a fresh env from the factory.
    - `max_message_bytes`: the largest request accepted, in bytes (a WebSocket text message's
      as UTF-8); a larger one gets `message_too_large` and its session goes on. A WebSocket
      message over four times the limit is not read at all: the connection closes with code
      1009 (message too big), and a session that lives with its connection ends with it.
    - `max_connections`: open connections, WebSockets included, and at most a quarter of the
      process's file-descriptor limit. When that many are open, a new connection closes the
      one that has waited longest for its request headers, or gets a 503 `server_full` when
      none is waiting. (`envtorch serve` raises its soft fd limit to the hard limit.)
    - `handshake_timeout`: seconds a connection may take to send complete request headers,
      from its accept and after each response; then it is closed.
    """

    max_sessions: int = 1024
    idle_timeout: float | None = 300.0
    call_timeout: float = 60.0
    max_message_bytes: int = 1 << 20
    max_connections: int = 2048
    handshake_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions}")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be positive or None, got {self.idle_timeout}")
        if self.call_timeout <= 0:
            raise ValueError(f"call_timeout must be positive, got {self.call_timeout}")
        if self.max_message_bytes < 1024:
            raise ValueError(
                f"max_message_bytes must be at least 1024, got {self.max_message_bytes}"
            )
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")
        if self.handshake_timeout <= 0:
            raise ValueError(f"handshake_timeout must be positive, got {self.handshake_timeout}")
