"""How to reach an MCP server: `MCPServer`, a stdio command or a streamable HTTP URL, validated."""

from __future__ import annotations

import keyword
from dataclasses import KW_ONLY, dataclass, field


@dataclass
class MCPServer:
    """How to reach one MCP server: a `command` run over stdio, or a streamable HTTP `url`.

    ```python
    MCPServer("files", command="npx", args=["-y", "@modelcontextprotocol/server-filesystem", "."])
    MCPServer("search", url="https://example.com/mcp", headers={"Authorization": "Bearer ..."})
    ```
    `name` is an identifier; it qualifies tool names that collide across servers. A stdio
    server's `env` is added to the minimal environment the SDK passes on (PATH, HOME, USER, ...),
    and it starts in `cwd` when given.
    """

    name: str
    _: KW_ONLY
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"MCPServer name must be a Python identifier, got {self.name!r}")
        if keyword.iskeyword(self.name):
            raise ValueError(f"MCPServer name must not be a Python keyword, got {self.name!r}")
        if (self.command is None) == (self.url is None):
            raise ValueError(
                f"MCPServer {self.name!r} needs exactly one of command= (stdio) or url= (HTTP)"
            )
        if self.url is not None:
            self._check_http()
        elif self.headers:
            raise ValueError(f"MCPServer {self.name!r}: headers= applies to url= servers only")
        if not all(isinstance(arg, str) for arg in self.args):
            raise TypeError(f"MCPServer {self.name!r}: args must be strings, got {self.args!r}")

    def _check_http(self) -> None:
        assert self.url is not None
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCPServer {self.name!r}: url must start with http(s)://")
        if self.args or self.env or self.cwd:
            raise ValueError(f"MCPServer {self.name!r}: args, env and cwd apply to stdio only")
