"""Render frames on the wire: an array goes as shape, dtype and base64 bytes, and comes back."""

import base64
import json

import numpy
import pytest

from envtorch import wire
from envtorch.core import codec


def sent(frame):
    """The render reply's data as the other side parses it."""
    return json.loads(codec.encode(wire.render_reply(frame)))["data"]


@pytest.mark.parametrize(
    "array",
    [
        numpy.arange(2 * 3 * 3, dtype=numpy.uint8).reshape(2, 3, 3),
        numpy.linspace(-1, 1, 12, dtype=numpy.float32).reshape(3, 4),
        numpy.array([[True, False]]),
        numpy.arange(24, dtype=">i4").reshape(2, 3, 4)[:, ::2],
        numpy.zeros((0, 5), dtype=numpy.int64),
    ],
)
def test_an_array_frame_round_trips(array):
    data = sent(array)
    assert set(data["frame"]) == {"shape", "dtype", "data"}
    assert data["frame"]["shape"] == list(array.shape)
    received = wire.frame_of(data)
    assert received.dtype == array.dtype and received.shape == array.shape
    assert (received == array).all() and received.flags.writeable


def test_an_rgb_frame_is_base64_of_its_bytes():
    frame = numpy.full((2, 2, 3), 200, dtype=numpy.uint8)
    assert sent(frame)["frame"] == {
        "shape": [2, 2, 3],
        "dtype": "uint8",
        "data": base64.b64encode(bytes([200] * 12)).decode(),
    }


@pytest.mark.parametrize("frame", [None, "board\n", {"score": 3}, [1, 2]])
def test_other_frames_go_as_they_are(frame):
    assert wire.frame_of(sent(frame)) == frame


@pytest.mark.parametrize(
    "frame",
    [
        {"shape": [2], "dtype": "uint8", "data": "AAAA"},
        {"shape": [1], "dtype": "object", "data": "AAAAAAAAAAA="},
        {"shape": [1], "dtype": "no such type", "data": "AA=="},
        {"shape": [1], "dtype": "uint8", "data": "not base64!"},
        {"shape": "1", "dtype": "uint8", "data": "AA=="},
    ],
)
def test_a_broken_array_frame_is_an_invalid_reply(frame):
    with pytest.raises(wire.ServerError) as error:
        wire.frame_of({"frame": frame})
    assert error.value.code == wire.INVALID_REPLY
