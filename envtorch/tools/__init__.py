"""Tools for agents: plain Python callables, and MCP servers' tools turned into them.

`MCPToolset([MCPServer(...), ...]).tools()` gives one callable per MCP tool, and
`shared_toolset(...)` the one toolset per process that per-episode environments should share.
The `mcp` SDK (the `envtorch[mcp]` extra) is imported only when a toolset connects.
"""

from envtorch.tools.functions import python_name, schema_function
from envtorch.tools.servers import MCPServer
from envtorch.tools.toolset import MCPToolset, ToolError, shared_toolset

__all__ = [
    "MCPServer",
    "MCPToolset",
    "ToolError",
    "python_name",
    "schema_function",
    "shared_toolset",
]
