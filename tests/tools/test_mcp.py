import gc
import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envtorch.tools import MCPServer, MCPToolset, ToolError, shared_toolset

pytestmark = pytest.mark.timeout(60)

SERVER_SCRIPT = Path(__file__).with_name("mcp_server.py")
REPO = Path(__file__).resolve().parents[2]


def stdio_server(name: str = "local") -> MCPServer:
    return MCPServer(name, command=sys.executable, args=[str(SERVER_SCRIPT)])


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def stdio_toolset():
    toolset = MCPToolset([stdio_server()], timeout=20)
    yield toolset
    toolset.close()


@pytest.fixture(scope="module")
def http_toolset(http_server):
    toolset = MCPToolset([MCPServer("remote", url=http_server.url)], timeout=20)
    yield toolset
    toolset.close()


@pytest.fixture(params=["stdio", "http"])
def tools(request):
    return request.getfixturevalue(f"{request.param}_toolset").tools()


def test_tools_have_signatures_from_their_schemas(tools):
    assert str(inspect.signature(tools["add"])) == "(a: int, b: int) -> int"
    assert str(inspect.signature(tools["greet"])) == "(name: str, punctuation: str = '!') -> str"
    assert str(inspect.signature(tools["stats"])) == "(values: list) -> dict"
    assert str(inspect.signature(tools["shout_text"])) == "(text: str)"
    assert str(inspect.signature(tools["pid"])) == "() -> int"


def test_tools_have_docstrings_with_an_args_section(tools):
    assert tools["add"].__doc__ == "Add two integers.\n\nArgs:\n    a (int)\n    b (int)"
    assert tools["greet"].__doc__.startswith("Greet someone by name.\n\nArgs:\n")
    assert "punctuation (str, optional): Defaults to '!'." in tools["greet"].__doc__


def test_tool_names_are_identifiers(tools):
    assert "shout_text" in tools
    assert all(name.isidentifier() and tool.__name__ == name for name, tool in tools.items())


def test_calls_return_json_values(tools):
    assert tools["add"](2, 3) == 5
    assert tools["add"](b=3, a=2) == 5
    assert tools["greet"]("Ann") == "Hello, Ann!"
    assert tools["greet"]("Ann", punctuation="?") == "Hello, Ann?"
    assert tools["greet"]("Ann", None) == "Hello, Ann!"
    assert tools["stats"]((1, 2, 6)) == {"mean": 3.0, "max": 6.0}
    assert tools["shout_text"]("quiet") == "QUIET"
    assert tools["nap"](0) == 0


def test_a_tool_error_raises_with_the_servers_message(tools):
    with pytest.raises(ToolError, match="'fail' of server .* failed: .*disk on fire"):
        tools["fail"]("disk on fire")
    assert tools["add"](1, 1) == 2


def test_bad_arguments_raise_type_errors_before_calling(tools):
    with pytest.raises(TypeError, match="missing a required argument: 'b'"):
        tools["add"](1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        tools["add"](1, 2, c=3)
    with pytest.raises(TypeError, match="too many positional arguments"):
        tools["add"](1, 2, 3)
    with pytest.raises(TypeError, match="argument 'b' must be int, not str"):
        tools["add"](1, "2")
    with pytest.raises(TypeError, match="argument 'a' must be int, not bool"):
        tools["add"](True, 2)


def test_one_session_serves_many_calls(stdio_toolset):
    tools = stdio_toolset.tools()
    pids = {tools["pid"]() for _ in range(20)}
    assert len(pids) == 1
    assert stdio_toolset.tools()["pid"] is tools["pid"]


def test_concurrent_calls_from_many_threads(tools):
    add = tools["add"]

    def work(i):
        return [add(i, j) for j in range(4)]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(work, range(32)))
    assert results == [[i + j for j in range(4)] for i in range(32)]


def test_headers_reach_an_http_server(http_server):
    server = MCPServer("remote", url=http_server.url, headers={"X-Token": "s3cret"})
    with MCPToolset([server], timeout=20) as toolset:
        assert toolset.tools()["header"]("x-token") == "s3cret"


def test_names_shared_by_servers_get_the_server_prefix(http_server):
    servers = [MCPServer("a", url=http_server.url), MCPServer("b", url=http_server.url)]
    with MCPToolset(servers, timeout=20) as toolset:
        tools = toolset.tools()
        assert {"a_add", "b_add", "a_shout_text", "b_shout_text"} <= set(tools)
        assert "add" not in tools
        assert tools["b_add"](1, 2) == 3


def test_a_slow_call_times_out_and_the_session_lives_on(http_server):
    with MCPToolset([MCPServer("remote", url=http_server.url)], timeout=0.5) as toolset:
        tools = toolset.tools()
        with pytest.raises(ToolError, match="'nap' of server 'remote' timed out after 0.5 s"):
            tools["nap"](5)
        assert tools["add"](2, 2) == 4


def test_a_dead_stdio_server_is_restarted_once():
    with MCPToolset([stdio_server()], timeout=20) as toolset:
        tools = toolset.tools()
        first = tools["pid"]()
        os.kill(first, signal.SIGKILL)
        assert tools["add"](2, 5) == 7
        second = tools["pid"]()
        assert second != first
        assert gone(first)
    assert gone(second)


def test_a_restarted_http_server_is_reconnected(start_http_server):
    server = start_http_server()
    with MCPToolset([MCPServer("remote", url=server.url)], timeout=20) as toolset:
        tools = toolset.tools()
        assert tools["add"](1, 2) == 3
        server.stop()
        with pytest.raises(ToolError, match="unreachable"):
            tools["add"](1, 2)
        start_http_server(server.port)
        assert tools["add"](3, 4) == 7


def loop_threads() -> set:
    return {t for t in threading.enumerate() if t.name == "envtorch-mcp" and t.is_alive()}


def test_close_stops_the_server_and_the_thread():
    before = loop_threads()
    toolset = MCPToolset([stdio_server()], timeout=20)
    add = toolset.tools()["add"]
    pid = toolset.tools()["pid"]()
    toolset.close()
    toolset.close()
    assert gone(pid)
    assert loop_threads() == before
    with pytest.raises(ToolError, match="closed"):
        add(1, 2)
    with pytest.raises(ToolError, match="closed"):
        toolset.tools()


def test_garbage_collection_closes_a_dropped_toolset():
    toolset = MCPToolset([stdio_server()], timeout=20)
    tools = toolset.tools()
    pid = tools["pid"]()
    del toolset, tools
    gc.collect()
    assert gone(pid)


def test_a_close_run_on_the_loop_thread_does_not_deadlock(http_server):
    before = loop_threads()
    toolset = MCPToolset([MCPServer("remote", url=http_server.url)], timeout=20)
    add = toolset.tools()["add"]
    loop_thread = (loop_threads() - before).pop()
    toolset._connections.background.loop.call_soon_threadsafe(toolset.close)
    loop_thread.join(timeout=30)
    assert not loop_thread.is_alive()
    with pytest.raises(ToolError, match="closed"):
        add(1, 2)


def test_interpreter_exit_closes_a_forgotten_toolset(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from envtorch.tools import MCPServer, MCPToolset
        server = MCPServer("s", command=sys.executable, args=[{str(SERVER_SCRIPT)!r}])
        toolset = MCPToolset([server])
        print(toolset.tools()["pid"](), flush=True)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    assert gone(int(run.stdout.strip()))


def test_unreachable_servers_raise_a_clear_error(start_http_server):
    missing = MCPServer("missing", command="/nonexistent/mcp-server")
    with (
        MCPToolset([missing], timeout=20) as toolset,
        pytest.raises(ToolError, match="cannot connect to MCP server missing: .*nonexistent"),
    ):
        toolset.tools()
    port = start_http_server().port
    wrong_path = MCPServer("down", url=f"http://127.0.0.1:{port}/nope")
    with (
        MCPToolset([wrong_path], timeout=20) as toolset,
        pytest.raises(ToolError, match="cannot connect to MCP server down"),
    ):
        toolset.tools()


def test_server_configs_are_validated():
    with pytest.raises(ValueError, match="exactly one of command"):
        MCPServer("x")
    with pytest.raises(ValueError, match="exactly one of command"):
        MCPServer("x", command="python", url="http://127.0.0.1/mcp")
    with pytest.raises(ValueError, match="identifier"):
        MCPServer("my server", command="python")
    with pytest.raises(ValueError, match="http"):
        MCPServer("x", url="ftp://example.com")
    with pytest.raises(ValueError, match="stdio only"):
        MCPServer("x", url="http://127.0.0.1/mcp", args=["a"])
    with pytest.raises(ValueError, match="url= servers only"):
        MCPServer("x", command="python", headers={"a": "b"})
    with pytest.raises(ValueError, match="unique"):
        MCPToolset([stdio_server(), stdio_server()])


def test_equal_configs_share_one_toolset_per_process(http_server):
    first = shared_toolset([MCPServer("remote", url=http_server.url)])
    again = shared_toolset([MCPServer("remote", url=http_server.url)])
    other = shared_toolset([MCPServer("remote", url=http_server.url)], timeout=5)
    assert first is again
    assert other is not first
    assert first.tools()["add"](1, 2) == 3
    first.close()
    other.close()
    replacement = shared_toolset([MCPServer("remote", url=http_server.url)])
    assert replacement is not first
    assert replacement.tools()["add"](2, 2) == 4
    replacement.close()


def test_importing_envtorch_does_not_import_mcp():
    code = "import sys, envtorch, envtorch.tools; print('mcp' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.stdout.strip() == "False", run.stderr
