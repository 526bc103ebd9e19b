from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.timeout(60)


def test_reset_and_step_replies_have_openenv_shape_and_echo_the_id(socket):
    ws = socket()
    reply = ws.ask({"type": "reset", "data": {"seed": 3, "task": "t"}, "id": 7})
    assert reply == {
        "type": "observation",
        "data": {
            "observation": {"text": "t", "instance": 1},
            "reward": None,
            "done": False,
            "truncated": False,
            "metadata": {},
        },
        "id": 7,
    }
    reply = ws.ask({"type": "step", "data": {"command": "finish", "text": "x"}, "id": "a"})
    assert reply["id"] == "a"
    assert reply["data"]["reward"] == 1.0 and reply["data"]["done"] is True
    assert reply["data"]["observation"]["text"] == "x"


def test_a_message_without_id_gets_a_reply_with_id_null(socket):
    ws = socket()
    assert ws.ask({"type": "reset", "data": {}})["type"] == "observation"
    reply = ws.ask({"type": "step", "data": {"text": "hi"}})
    assert reply["data"]["observation"]["text"] == "hi" and reply["id"] is None


def test_a_peer_offering_no_subprotocol_speaks_openenv_without_ids(socket):
    """The handshake settles the dialect: OpenEnv's peers offer no subprotocol, get none
    selected, and never see an `id` (their models reject it), even when a request had one."""
    ws = socket(openenv=True)
    assert ws.connection.subprotocol is None
    reply = ws.ask({"type": "reset", "data": {"seed": 1, "episode_id": "ep-1"}})
    assert reply == {
        "type": "observation",
        "data": {
            "observation": {"text": "None", "instance": 1, "metadata": {}},
            "reward": None,
            "done": False,
            "truncated": False,
            "metadata": {},
        },
    }
    assert "id" not in ws.ask({"type": "step", "data": {"text": "hi"}, "id": 3})
    state = ws.ask({"type": "state"})
    assert set(state) == {"type", "data"} and state["data"]["step_count"] == 1
    error = ws.ask({"type": "step", "data": {"text": 5}})
    assert error["type"] == "error" and "id" not in error
    assert "id" not in ws.ask("{not json")
    assert ws.ask({"type": "close"}) == {"type": "closed", "data": {}}


def test_render_and_close(socket, script_envs):
    ws = socket()
    assert ws.connection.subprotocol == "envtorch"
    ws.ask({"type": "reset"})
    ws.ask({"type": "step", "data": {}})
    assert ws.ask({"type": "render", "id": 1})["data"] == {"frame": None}
    assert ws.ask({"type": "close", "id": 2}) == {"type": "closed", "data": {}, "id": 2}
    assert script_envs[1].closed_at is not None


@pytest.mark.parametrize(
    ("message", "code", "words"),
    [
        ("{not json", "invalid_json", "JSON"),
        ("[1, 2]", "invalid_message", "object"),
        ({"data": {}}, "invalid_message", "type"),
        ({"type": "step", "data": [1]}, "invalid_message", "data"),
        ({"type": "fly"}, "unknown_type", "fly"),
        ({"type": "step", "data": {"text": 5}}, "invalid_action", "$.text"),
        ({"type": "step", "data": {"txet": "a"}}, "invalid_action", "txet"),
        ({"type": "reset", "data": {"seed": "x"}}, "invalid_message", "seed"),
        ("x" * 5000, "message_too_large", "4096"),
        ("\u20ac" * 2000, "message_too_large", "message of 6000 bytes"),
    ],
)
def test_malformed_messages_get_coded_errors_and_the_session_lives_on(socket, message, code, words):
    ws = socket()
    ws.ask({"type": "reset"})
    reply = ws.ask(message)
    assert reply["type"] == "error"
    assert reply["data"]["code"] == code
    assert words in reply["data"]["message"]
    assert ws.ask({"type": "step", "data": {"text": "still here"}})["type"] == "observation"


def test_error_keeps_the_id_when_it_can_be_read(socket):
    ws = socket()
    reply = ws.ask({"type": "step", "data": {"text": 1}, "id": 9})
    assert reply["id"] == 9 and reply["data"]["code"] == "invalid_action"
    assert socket().ask({"type": 3, "id": 4})["id"] == 4


def test_binary_frames_are_accepted(socket):
    ws = socket()
    assert ws.ask(json.dumps({"type": "reset"}).encode())["type"] == "observation"


def test_step_before_reset_and_after_done_need_reset(socket):
    ws = socket()
    reply = ws.ask({"type": "step", "data": {}})
    assert reply["data"]["code"] == "reset_needed"
    assert ws.ask({"type": "state"})["data"]["code"] == "reset_needed"
    ws.ask({"type": "reset"})
    ws.ask({"type": "step", "data": {"command": "finish"}})
    assert ws.ask({"type": "step", "data": {}})["data"]["code"] == "reset_needed"
    assert ws.ask({"type": "reset"})["type"] == "observation"


def test_numpy_values_in_an_observation_cross_the_wire_as_lists_and_numbers(socket):
    ws = socket()
    ws.ask({"type": "reset"})
    reply = ws.ask({"type": "step", "data": {"command": "arrays"}})
    assert reply["type"] == "observation"
    assert reply["data"]["reward"] == 0.5
    assert reply["data"]["metadata"] == {"grid": [[0, 1, 2], [3, 4, 5]], "mean": 2.5, "count": 6}


@pytest.mark.parametrize("command", ["raise", "exit", "unencodable"])
def test_env_exceptions_become_env_errors_and_the_server_survives(socket, command):
    ws = socket()
    ws.ask({"type": "reset"})
    reply = ws.ask({"type": "step", "data": {"command": command}, "id": 1})
    assert reply["data"]["code"] == "env_error"
    assert reply["id"] == 1
    assert ws.ask({"type": "state"})["type"] == "state"
    other = socket()
    assert other.ask({"type": "reset"})["type"] == "observation"


def test_a_slow_step_does_not_block_other_sessions(socket):
    slow, fast = socket(), socket()
    slow.ask({"type": "reset"})
    fast.ask({"type": "reset"})
    slow.connection.send(json.dumps({"type": "step", "data": {"command": "sleep", "seconds": 1.5}}))
    for _ in range(20):
        assert fast.ask({"type": "step", "data": {"text": "quick"}})["type"] == "observation"
    with pytest.raises(TimeoutError):
        slow.connection.recv(timeout=0.01)
    assert json.loads(slow.connection.recv(timeout=10))["type"] == "observation"


def test_a_timed_out_step_discards_the_env_and_reset_builds_a_fresh_one(socket, script_envs):
    ws = socket()
    ws.ask({"type": "reset"})
    stuck = script_envs[-1]
    reply = ws.ask({"type": "step", "data": {"command": "sleep", "seconds": 3.0}, "id": 5})
    assert reply["data"]["code"] == "timeout" and reply["id"] == 5
    after = ws.ask({"type": "step", "data": {}})
    assert after["data"]["code"] == "reset_needed"
    assert "timeout" in after["data"]["message"]
    fresh = ws.ask({"type": "reset"})
    assert fresh["data"]["observation"]["instance"] == stuck.number + 1
    assert ws.ask({"type": "step", "data": {"text": "ok"}})["type"] == "observation"
    deadline = time.monotonic() + 10
    while stuck.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stuck.closed_at is not None


def test_server_full_is_a_clear_error_and_a_slot_frees_on_close(serve, socket):
    small = serve(max_sessions=2)
    first, second = socket(small), socket(small)
    first.ask({"type": "reset"})
    second.ask({"type": "reset"})
    refused = socket(small)
    reply = json.loads(refused.connection.recv(timeout=10))
    assert reply["type"] == "error" and reply["data"]["code"] == "server_full"
    first.ask({"type": "close"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        third = socket(small)
        if third.ask({"type": "reset"})["type"] == "observation":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the closed session's slot was never freed")


def test_reaper_closes_an_abandoned_session(serve, socket, script_envs):
    fast_reaping = serve(idle_timeout=0.4)
    abandoned = socket(fast_reaping)
    abandoned.ask({"type": "reset"})
    env = script_envs[-1]
    deadline = time.monotonic() + 10
    while env.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.closed_at is not None
    reply = json.loads(abandoned.connection.recv(timeout=10))
    assert reply["data"]["code"] == "idle_timeout"
