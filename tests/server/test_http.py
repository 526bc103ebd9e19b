from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from envtorch.envs.echo import EchoEnv
from envtorch.server import create_app, serve_in_thread

pytestmark = pytest.mark.timeout(60)


def request(url: str, method: str, path: str, body=None, headers=None):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    payload = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    connection.request(method, path, body=payload, headers=headers or {})
    response = connection.getresponse()
    status, data = response.status, json.loads(response.read())
    connection.close()
    return status, data


def test_health_schema_and_metadata(url):
    status, health = request(url, "GET", "/health")
    assert status == 200 and health["status"] == "healthy" and health["max_sessions"] == 1024
    status, schema = request(url, "GET", "/schema")
    assert set(schema) == {"action", "observation", "state"}
    assert set(schema["action"]["properties"]) == {"command", "text", "seconds"}
    status, metadata = request(url, "GET", "/metadata")
    assert metadata["name"] == "script"
    assert metadata["render_modes"] == ["ansi"]
    assert metadata["env_type"].endswith(":ScriptEnv")


def test_an_http_episode_with_explicit_session_ids(url):
    status, reply = request(url, "POST", "/reset", {"seed": 1, "task": "t", "episode_id": "e"})
    assert status == 200 and reply["observation"]["text"] == "t" and reply["done"] is False
    session_id = reply["session_id"]
    status, reply = request(
        url, "POST", "/step", {"session_id": session_id, "action": {"text": "a"}, "timeout_s": 5}
    )
    assert reply["observation"] == {"text": "a", "instance": 1, "metadata": {}}
    assert (reply["reward"], reply["done"], reply["truncated"]) == (None, False, False)
    status, reply = request(url, "GET", f"/state?session_id={session_id}")
    assert reply["step_count"] == 1 and "task" not in reply
    status, reply = request(url, "GET", f"/render?session_id={session_id}")
    assert status == 200 and reply == {"frame": None, "session_id": session_id}
    status, other = request(url, "POST", "/reset", {})
    assert other["session_id"] != session_id
    status, reply = request(url, "POST", "/close", {"session_id": session_id})
    assert status == 200 and reply == {"session_id": session_id}
    status, reply = request(url, "GET", f"/state?session_id={session_id}")
    assert status == 404 and reply["data"]["code"] == "unknown_session"


def test_stateless_step_and_state_use_a_passing_env_as_openenv_does(serve, script_envs):
    """OpenEnv's `POST /step` and `GET /state` without a session build a fresh env per
    request; ours reset a passing session's env first and close it after."""
    url = serve()
    status, reply = request(url, "POST", "/step", {"action": {"text": "once"}})
    assert status == 200 and reply["observation"]["text"] == "once"
    assert reply["session_id"] is None
    status, reply = request(url, "GET", "/state")
    assert status == 200 and reply["step_count"] == 0 and reply["session_id"] is None
    status, reply = request(url, "POST", "/step", {"action": {"text": 5}})
    assert status == 422 and reply["data"]["code"] == "invalid_action"
    passing = script_envs[1:]
    assert len(passing) == 3 and all(env.closed_at is not None for env in passing)
    assert request(url, "GET", "/health")[1]["sessions"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/reset", b"{oops", 400, "invalid_json"),
        ("POST", "/reset", {"seed": "one"}, 400, "invalid_message"),
        ("POST", "/step", {"session_id": "nope", "action": {}}, 404, "unknown_session"),
        ("POST", "/step", {"session_id": "x"}, 400, "invalid_message"),
        ("GET", "/render", None, 400, "invalid_message"),
        ("POST", "/reset", b"x" * 5000, 413, "message_too_large"),
        ("GET", "/nowhere", None, 404, "not_found"),
        ("DELETE", "/health", None, 405, "method_not_allowed"),
    ],
)
def test_bad_http_requests_get_coded_errors(url, method, path, body, status, code):
    got_status, reply = request(url, method, path, body)
    assert (got_status, reply["type"], reply["data"]["code"]) == (status, "error", code)


def test_http_step_errors_name_the_field_and_env_errors_are_not_500(url):
    _, reply = request(url, "POST", "/reset", {})
    session_id = reply["session_id"]
    status, reply = request(url, "POST", "/step", {"session_id": session_id, "action": {"text": 3}})
    assert status == 422 and "$.text" in reply["data"]["message"]
    status, reply = request(
        url, "POST", "/step", {"session_id": session_id, "action": {"command": "raise"}}
    )
    assert status == 422 and reply["data"]["code"] == "env_error"
    assert reply["session_id"] == session_id


def test_bearer_token_guards_every_endpoint(monkeypatch, socket):
    monkeypatch.setenv("ENVTORCH_TOKEN", "s3cret")
    with serve_in_thread(create_app(EchoEnv)) as url:
        for path in ("/health", "/schema", "/metadata"):
            status, reply = request(url, "GET", path)
            assert status == 401 and reply["data"]["code"] == "unauthorized"
        status, _ = request(url, "GET", "/health", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _ = request(url, "GET", "/health", headers={"Authorization": "Bearer s3cret"})
        assert status == 200
        for value, expected in [
            ("bearer s3cret", 200),
            ("BEARER  s3cret", 200),
            ("Basic s3cret", 401),
            ("Bearer s3cre", 401),
            ("s3cret", 401),
        ]:
            status, _ = request(url, "GET", "/health", headers={"Authorization": value})
            assert status == expected, value
        refused = socket(url)
        assert json.loads(refused.connection.recv(timeout=10))["data"]["code"] == "unauthorized"
        allowed = socket(url, headers={"Authorization": "Bearer s3cret"})
        assert allowed.ask({"type": "reset"})["type"] == "observation"


def test_shutdown_closes_every_env(script_env_type, script_envs, socket):
    with serve_in_thread(create_app(script_env_type)) as url:
        for _ in range(3):
            socket(url).ask({"type": "reset"})
        request(url, "POST", "/reset", {})
        started = time.monotonic()
    served = [env for env in script_envs if not env.episode_over]
    assert len(served) == 4
    assert all(env.closed_at is not None and env.closed_at >= started for env in served)
