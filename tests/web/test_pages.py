"""The `/web` page's files on every server, and the bearer token a browser sends as a WebSocket
subprotocol (no browser needed here)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from envtorch.envs.echo import EchoEnv
from envtorch.server import create_app, serve_in_thread
from envtorch.wire import SUBPROTOCOL, bearer_protocol

pytestmark = pytest.mark.timeout(60)


def fetch(url: str, path: str, method: str = "GET", headers: dict | None = None):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_page_and_its_files_are_served_with_a_strict_policy():
    with serve_in_thread(create_app(EchoEnv)) as url:
        status, headers, _ = fetch(url, "/web")
        assert status == 308 and headers["location"] == "/web/"
        status, headers, body = fetch(url, "/web/")
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert b'<script src="play.js" defer></script>' in body
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        for name, kind in [("play.js", "text/javascript"), ("style.css", "text/css")]:
            status, headers, _ = fetch(url, f"/web/{name}")
            assert status == 200 and headers["content-type"].startswith(kind)
        assert fetch(url, "/web/secrets.py")[0] == 404
        assert fetch(url, "/web/%2e%2e%2fschema")[0] == 404


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


def test_a_browser_sends_the_token_as_a_subprotocol(monkeypatch):
    token = "s3cret token/+é"
    monkeypatch.setenv("ENVTORCH_TOKEN", token)
    with serve_in_thread(create_app(EchoEnv)) as url:
        assert fetch(url, "/web/")[0] == 200
        assert fetch(url, "/web/play.js")[0] == 200
        assert fetch(url, "/schema")[0] == 401
        assert fetch(url, "/web/", method="POST")[0] == 405

        offered = [SUBPROTOCOL, bearer_protocol(token)]
        with connect(ws_url(url), subprotocols=offered) as socket:
            assert socket.subprotocol == SUBPROTOCOL
            socket.send(json.dumps({"type": "reset", "id": 1}))
            assert json.loads(socket.recv(timeout=10))["type"] == "observation"


@pytest.mark.parametrize(
    "offered",
    [
        [SUBPROTOCOL, bearer_protocol("wrong")],
        [bearer_protocol("s3cret")],
        [SUBPROTOCOL, "s3cret", "Bearer"],
    ],
)
def test_a_wrong_or_incomplete_subprotocol_token_is_refused(monkeypatch, offered):
    monkeypatch.setenv("ENVTORCH_TOKEN", "s3cret")
    with serve_in_thread(create_app(EchoEnv)) as url:
        with connect(ws_url(url), subprotocols=offered) as refused:
            assert refused.subprotocol is None
            reply = json.loads(refused.recv(timeout=10))
        assert reply["data"]["code"] == "unauthorized"
