"""Tools for agents: plain Python callables, and MCP servers' tools turned into them.

`MCPToolset([MCPServer(...), ...]).tools()` gives one callable per MCP tool, and
`shared_toolset(...)` the one toolset per process that per-episode environments should share.
The `mcp` SDK (the `envtorch[mcp]` extra) is imported only when a toolset connects.
"""

from envtorch.tools.mcp_toolset import MCPServer, MCPToolset, ToolError, shared_toolset
from envtorch.tools.schema import python_name, schema_function

__all__ = [
    "MCPServer",
    "MCPToolset",
    "ToolError",
    "python_name",
    "schema_function",
    "shared_toolset",
]
