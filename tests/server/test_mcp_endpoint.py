import asyncio
import json
from functools import partial

import httpx
import mcp
import pytest
from websockets.sync.client import connect

from envtorch.envs.echo import EchoEnv
from envtorch.envs.python import CodeAction, PythonEnv
from envtorch.server import ServerLimits, create_app, serve_in_thread

pytestmark = pytest.mark.timeout(90)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def fail(reason: str) -> str:
    """Raise with the reason given."""
    raise ValueError(reason)


@pytest.fixture(scope="module")
def python_server():
    factory = partial(PythonEnv, tools=[add, fail], step_timeout=5.0)
    app = create_app(factory, limits=ServerLimits(max_sessions=4))
    with serve_in_thread(app) as url:
        yield url, app.state.sessions


def rpc(url, method, params=None, request_id=1, headers=None):
    body = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        body["params"] = params
    return httpx.post(f"{url}/mcp", json=body, headers=headers, timeout=30)


async def sdk_session(url, work):
    async with mcp.Client(f"{url}/mcp") as client:
        return await work(client)


def test_the_official_sdk_client_lists_and_calls_host_and_file_tools(python_server):
    url, sessions = python_server

    async def work(client):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        added = await client.call_tool("add", {"a": 2, "b": 40})
        written = await client.call_tool("file_write", {"path": "notes/a.txt", "content": "hi"})
        read = await client.call_tool("file_read", {"path": "notes/a.txt"})
        listed = await client.call_tool("list_files", {})
        failed = await client.call_tool("fail", {"reason": "on purpose"})
        return tools, added, written, read, listed, failed

    tools, added, written, read, listed, failed = asyncio.run(sdk_session(url, work))
    assert {"add", "fail", "file_read", "file_write", "list_files"} <= set(tools)
    assert tools["add"].description == "Add two integers."
    assert tools["add"].input_schema["properties"] == {
        "a": {"type": "integer"},
        "b": {"type": "integer"},
    }
    assert tools["add"].input_schema["required"] == ["a", "b"]
    assert added.content[0].text == "42" and not added.is_error
    assert written.content[0].text == "2"
    assert read.content[0].text == "hi"
    assert json.loads(listed.content[0].text) == ["notes/a.txt"]
    assert failed.is_error and "ValueError: on purpose" in failed.content[0].text
    assert sessions.sessions == {}


def test_an_mcp_session_is_a_server_session_steppable_over_http(python_server):
    url, sessions = python_server
    reply = rpc(url, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
    session_id = reply.headers["mcp-session-id"]
    assert reply.json()["result"]["protocolVersion"] == "2025-06-18"
    headers = {"Mcp-Session-Id": session_id}
    call = {"name": "file_write", "arguments": {"path": "x.txt", "content": "shared"}}
    assert rpc(url, "tools/call", call, headers=headers).json()["result"]["data"] == 6
    step = httpx.post(
        f"{url}/step",
        json={"session_id": session_id, "action": {"code": "open('x.txt').read()"}},
        timeout=30,
    )
    assert step.json()["metadata"]["value"] == "shared"
    assert httpx.delete(f"{url}/mcp", headers=headers).status_code == 200
    assert session_id not in sessions.sessions
    gone = rpc(url, "tools/list", headers=headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == -32602


def test_openenv_session_methods_and_session_id_params(python_server):
    url, sessions = python_server
    session_id = rpc(url, "openenv/session/create", {}).json()["result"]["session_id"]
    assert session_id in sessions.sessions
    listed = rpc(url, "tools/list", {"session_id": session_id}).json()["result"]["tools"]
    assert "add" in {tool["name"] for tool in listed}
    called = rpc(
        url, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}, "session_id": session_id}
    )
    assert called.json()["result"]["data"] == 3
    closed = rpc(url, "openenv/session/close", {"session_id": session_id}).json()["result"]
    assert closed == {"session_id": session_id, "closed": True}
    unknown = rpc(url, "tools/list", {"session_id": session_id}).json()
    assert unknown["error"]["code"] == -32602 and "unknown session" in unknown["error"]["message"]


def test_a_websocket_attached_to_an_mcp_session_leaves_it_open(python_server):
    """As OpenEnv's MCPToolClient does: create a session over /mcp, attach /ws?session_id to
    it, close the socket; the session lives on for the MCP client (and a later socket)."""
    url, sessions = python_server
    session_id = rpc(url, "openenv/session/create", {}).json()["result"]["session_id"]
    ws = f"{url.replace('http', 'ws')}/ws?session_id={session_id}"
    for code in ("x = 41", "x + 1"):
        with connect(ws) as socket:
            socket.send(json.dumps({"type": "step", "data": {"code": code}}))
            reply = json.loads(socket.recv(timeout=30))
            socket.send(json.dumps({"type": "close"}))
            assert json.loads(socket.recv(timeout=30))["type"] == "closed"
        assert session_id in sessions.sessions
    assert reply["data"]["metadata"]["value"] == 42
    listed = rpc(url, "tools/list", {"session_id": session_id}).json()["result"]["tools"]
    assert "add" in {tool["name"] for tool in listed}
    rpc(url, "openenv/session/close", {"session_id": session_id})
    assert session_id not in sessions.sessions


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, -32600),
        ([{"jsonrpc": "2.0", "method": "ping", "id": 1}], -32600),
        ({"jsonrpc": "2.0", "method": "server/discover", "id": 1}, -32601),
        ({"jsonrpc": "2.0", "method": "tools/call", "id": 1, "params": {"name": "nope"}}, -32602),
        ({"jsonrpc": "2.0", "method": "tools/call", "id": 1, "params": []}, -32602),
        ({"jsonrpc": "2.0", "method": "tools/call", "id": {}, "params": {}}, -32600),
    ],
)
def test_bad_requests_get_json_rpc_errors(python_server, body, code):
    url, sessions = python_server
    reply = httpx.post(f"{url}/mcp", json=body, timeout=30)
    assert reply.status_code == 200
    assert reply.json()["jsonrpc"] == "2.0" and reply.json()["error"]["code"] == code
    assert sessions.sessions == {}


def test_not_json_notifications_and_other_methods(python_server):
    url, _ = python_server
    broken = httpx.post(f"{url}/mcp", content=b"{nope", timeout=30)
    assert broken.json()["error"]["code"] == -32700
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(f"{url}/mcp", json=notification, timeout=30).status_code == 202
    assert httpx.get(f"{url}/mcp", timeout=30).status_code == 405
    assert rpc(url, "ping").json()["result"] == {}
    too_large = httpx.post(f"{url}/mcp", content=b" " * (2 << 20), timeout=30)
    assert too_large.status_code == 413


def test_tools_call_refuses_arguments_of_the_wrong_json_type(python_server):
    url, sessions = python_server

    def call(name, arguments):
        return rpc(url, "tools/call", {"name": name, "arguments": arguments}).json()["result"]

    wrong = call("add", {"a": "2", "b": 40})
    assert wrong["isError"]
    assert wrong["content"][0]["text"] == "TypeError: add() argument 'a' must be int, not str"
    path = call("file_read", {"path": 5})
    assert path["isError"] and "argument 'path' must be str, not int" in path["content"][0]["text"]
    assert call("add", {"a": True, "b": 1})["isError"]
    assert call("add", {"a": 2, "b": 40})["content"][0]["text"] == "42"
    assert sessions.sessions == {}


def test_a_file_tool_without_an_episode_says_reset_first():
    env = PythonEnv()
    try:
        with pytest.raises(Exception, match="reset"):
            env.tools()["file_read"]("a.txt")
        env.reset()
        env.step(CodeAction(code="open('a.txt', 'w').write('x')"))
        assert env.tools()["file_read"]("a.txt") == "x"
    finally:
        env.close()


def test_an_env_without_tools_lists_none_and_a_full_server_says_so():
    app = create_app(EchoEnv, limits=ServerLimits(max_sessions=1))
    with serve_in_thread(app) as url:
        assert rpc(url, "tools/list").json()["result"] == {"tools": []}
        assert "result" in rpc(url, "openenv/session/create").json()
        full = rpc(url, "openenv/session/create").json()
        assert full["error"]["code"] == -32000 and "server_full" in full["error"]["message"]
