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
    status, reply = request(url, "POST", "/reset", {"seed": 1, "task": "t"})
    assert status == 200 and reply["type"] == "observation"
    session_id = reply["session_id"]
    status, reply = request(
        url, "POST", "/step", {"session_id": session_id, "action": {"text": "a"}}
    )
    assert reply["data"]["observation"]["text"] == "a"
    status, reply = request(url, "GET", f"/state?session_id={session_id}")
    assert reply["data"]["step_count"] == 1 and "task" not in reply["data"]
    status, reply = request(url, "GET", f"/render?session_id={session_id}")
    assert status == 200 and reply["type"] == "render" and reply["data"]["frame"] is None
    status, other = request(url, "POST", "/reset", {})
    assert other["session_id"] != session_id
    status, reply = request(url, "POST", "/close", {"session_id": session_id})
    assert status == 200 and reply["type"] == "closed"
    status, reply = request(url, "GET", f"/state?session_id={session_id}")
    assert status == 404 and reply["data"]["code"] == "unknown_session"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/reset", b"{oops", 400, "invalid_json"),
        ("POST", "/reset", {"seed": "one"}, 400, "invalid_message"),
        ("POST", "/step", {"session_id": "nope", "action": {}}, 404, "unknown_session"),
        ("POST", "/step", {"action": {}}, 400, "invalid_message"),
        ("GET", "/state", None, 400, "invalid_message"),
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
