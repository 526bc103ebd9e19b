"""bench/scale.py's ramp, small: every episode answered with its own reply (no timings)."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from bench import scale

pytestmark = pytest.mark.timeout(300)


def test_a_small_ramp_answers_every_episode_with_its_own_replies(capsys):
    args = argparse.Namespace(levels="4,40", seconds=2.0, think=0.5)
    levels = asyncio.run(scale.ramp(args))
    assert [level.episodes for level in levels] == [4, 40]
    for level in levels:
        assert level.errors == []
        assert level.answered == set(range(level.episodes))
        assert level.pss_bytes > 0 and level.fds > 0
    assert "answered" in capsys.readouterr().out
