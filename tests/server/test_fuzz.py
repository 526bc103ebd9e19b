"""Whatever arrives, the server answers with a well-formed reply and the session lives on."""

import json
import urllib.error
import urllib.request

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.timeout(120)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
kinds = st.sampled_from(["reset", "step", "state", "render", "fly", ""]) | st.text(max_size=6)
messages = st.fixed_dictionaries(
    {"type": kinds},
    optional={
        "data": json_values
        | st.fixed_dictionaries({}, optional={"text": json_values, "seed": json_values}),
        "id": json_values,
    },
)
frames = (
    messages.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=200)
)
REPLY_TYPES = {"observation", "state", "render", "forked", "closed", "error"}


def test_any_frame_gets_a_well_formed_reply_and_the_session_lives_on(socket):
    """The session lives on after anything but a `close`, which ends it and its connection
    as asked; the check then goes on over a new connection."""
    sockets = [socket()]

    @settings(max_examples=300, deadline=None)
    @given(frame=frames)
    @example(frame=json.dumps({"type": "close"}))
    def check(frame):
        ws = sockets[-1]
        reply = ws.ask(frame)
        assert reply["type"] in REPLY_TYPES, reply
        if reply["type"] == "error":
            assert set(reply["data"]) == {"message", "code"} and reply["data"]["message"]
        if reply["type"] == "closed":
            ws = socket()
            sockets.append(ws)
        ws.ask({"type": "reset"})
        step = ws.ask({"type": "step", "data": {"text": "alive"}})
        assert step["data"]["observation"]["text"] == "alive"

    check()


def test_http_endpoints_never_answer_500(url):
    @settings(max_examples=100, deadline=None)
    @given(body=st.binary(max_size=300) | messages.map(lambda m: json.dumps(m).encode()))
    def check(body):
        for path in ("/reset", "/step"):
            request = urllib.request.Request(url + path, data=body, method="POST")
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            assert status < 500, (path, body)

    check()
