"""JSON nested deeper than the decoder can follow is an `invalid_json` reply, never a crash."""

from __future__ import annotations

import http.client
import json
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from envtorch.core import Action, Environment, Observation, State

pytestmark = pytest.mark.timeout(60)

DEPTH = 20_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def request(url: str, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    payload = body if isinstance(body, str) else json.dumps(body)
    connection.request(method, path, body=payload)
    response = connection.getresponse()
    status, data = response.status, json.loads(response.read())
    connection.close()
    return status, data


@dataclass(kw_only=True)
class TreeAction(Action):
    tree: Any = None


@dataclass(kw_only=True)
class TreeObservation(Observation):
    tree: Any = None


class TreeEnv(Environment[TreeAction, TreeObservation, State]):
    """Returns whatever tree it is given, so a deep request becomes an equally deep reply."""

    action_type = TreeAction
    observation_type = TreeObservation
    state_type = State

    def _reset(self, *, seed: int | None, task: Any) -> TreeObservation:
        return TreeObservation(tree=task)

    def _step(self, action: TreeAction) -> TreeObservation:
        return TreeObservation(tree=action.tree)


class InlineTreeEnv(TreeEnv):
    """TreeEnv run on the event loop, where the stack is deeper than in a worker thread."""

    nonblocking = True


@pytest.fixture
def deep_url(serve) -> str:
    return serve(max_message_bytes=1 << 20)


def assert_invalid_json(reply: dict[str, Any]) -> None:
    assert reply["type"] == "error", reply
    assert reply["data"]["code"] == "invalid_json"
    assert "nested too deeply" in reply["data"]["message"]


def assert_alive(ws) -> None:
    assert ws.ask({"type": "reset", "id": 1})["type"] == "observation"
    step = ws.ask({"type": "step", "data": {"text": "alive"}, "id": 2})
    assert step["data"]["observation"]["text"] == "alive"


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"reset","data":{"task":' + nested(DEPTH) + "}}",
        '{"type":"step","data":{"text":' + nested(DEPTH) + "}}",
        '{"type":"step","data":{"text":"x","extra":{"a":' + nested(DEPTH) + "}}}",
        '{"type":"step","unknown":' + nested(DEPTH) + "}",
    ],
    ids=["reset-task", "action-field", "unknown-action-field", "unknown-message-field"],
)
def test_a_deep_websocket_message_gets_invalid_json_and_the_session_lives_on(
    deep_url, socket, frame
):
    ws = socket(deep_url)
    assert_alive(ws)
    assert_invalid_json(ws.ask(frame))
    assert_alive(ws)


@pytest.mark.parametrize("path", ["/reset", "/step"])
def test_a_deep_http_body_gets_400_with_the_envelope(deep_url, path):
    status, reply = request(deep_url, "POST", path, '{"task":' + nested(DEPTH) + "}")
    assert status == 400
    assert_invalid_json(reply)
    assert reply["session_id"] is None


def test_a_deep_http_action_gets_400_and_the_session_lives_on(deep_url):
    status, reply = request(deep_url, "POST", "/reset", {})
    session_id = reply["session_id"]
    body = '{"session_id":"' + session_id + '","action":{"text":' + nested(DEPTH) + "}}"
    status, reply = request(deep_url, "POST", "/step", body)
    assert status == 400
    assert_invalid_json(reply)
    status, reply = request(
        deep_url, "POST", "/step", {"session_id": session_id, "action": {"text": "alive"}}
    )
    assert status == 200 and reply["observation"]["text"] == "alive"


def depths_around_the_recursion_limit() -> range:
    """From comfortably decodable to certainly not, whatever the recursion limit is."""
    limit = sys.getrecursionlimit()
    return range(limit - 150, limit + 10, 3)


def kind_of(reply: str) -> str:
    """The type and error code of a reply too deep for this process to parse whole."""
    kind = reply.split(",", 1)[0]
    if kind == '{"type":"error"':
        return json.loads(reply)["data"]["code"]
    assert kind == '{"type":"observation"', reply[:200]
    return "observation"


@pytest.mark.parametrize("env_type", [InlineTreeEnv, TreeEnv], ids=["inline", "threaded"])
def test_every_depth_near_the_limit_gets_a_well_formed_websocket_reply(serve, socket, env_type):
    ws = socket(serve(env_type, max_message_bytes=1 << 20)).connection
    kinds = set()
    for depth in depths_around_the_recursion_limit():
        ws.send('{"type":"reset"}')
        assert kind_of(ws.recv(timeout=10)) == "observation"
        ws.send('{"type":"step","data":{"tree":' + nested(depth) + "}}")
        kinds.add(kind_of(ws.recv(timeout=10)))
    assert "observation" in kinds and "invalid_json" in kinds


def test_every_depth_near_the_limit_gets_a_well_formed_http_reply(serve):
    url = serve(TreeEnv, max_message_bytes=1 << 20)
    _, reply = request(url, "POST", "/reset", {})
    parts = urlsplit(url)
    statuses = set()
    for depth in depths_around_the_recursion_limit():
        body = '{"session_id":"' + reply["session_id"] + '","action":{"tree":' + nested(depth)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("POST", "/step", body=body + "}}")
        response = connection.getresponse()
        body = response.read().decode()
        connection.close()
        assert body.startswith('{"observation"' if response.status == 200 else '{"type":"error"')
        assert response.status in (200, 400)
        statuses.add(response.status)
    assert statuses == {200, 400}
