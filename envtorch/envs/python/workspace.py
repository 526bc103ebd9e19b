"""File tools for the agent's workspace.

This module's source is executed inside every sandbox session (never on the host), so the tools
can only touch what the session itself can: its private `/tmp` workspace. It uses the standard
library only and leaves just the tools and the extended `list_tools` in the namespace.
"""


def _install_workspace_tools(namespace: dict) -> None:
    import os

    workspace = os.path.realpath(os.getcwd())
    host_list_tools = namespace["list_tools"]

    def inside_workspace(path: str) -> str:
        """The real path of `path` within the workspace; PermissionError when it leads outside."""
        real = os.path.realpath(os.path.join(workspace, path))
        if real != workspace and not real.startswith(workspace + os.sep):
            raise PermissionError(f"{path!r} is outside the workspace {workspace}")
        return real

    def file_read(path: str) -> str:
        """Read a text file of the workspace and return its content."""
        with open(inside_workspace(path), encoding="utf-8") as file:
            return file.read()

    def file_write(path: str, content: str) -> int:
        """Write text to a workspace file, creating folders; return the characters written."""
        target = inside_workspace(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as file:
            return file.write(content)

    def list_files(path: str = ".") -> list:
        """The files below a folder of the workspace, as sorted paths relative to that folder."""
        root = inside_workspace(path)
        found = []
        for folder, _, names in os.walk(root):
            found += [os.path.relpath(os.path.join(folder, name), root) for name in names]
        return sorted(found)

    file_tools = [file_read, file_write, list_files]

    def list_tools() -> str:
        """The tools available in this session, as Python stubs with their docstrings."""
        import inspect

        stubs = [
            f'def {tool.__name__}{inspect.signature(tool)}:\n    """{inspect.getdoc(tool)}"""'
            for tool in file_tools
        ]
        host = host_list_tools()
        return "\n\n".join([*stubs, host] if host else stubs)

    for tool in [*file_tools, list_tools]:
        tool.__qualname__ = tool.__name__
        namespace[tool.__name__] = tool
