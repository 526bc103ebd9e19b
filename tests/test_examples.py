"""The examples run as written."""

import pytest

from examples import echo_episode, grpo_rollouts

pytestmark = pytest.mark.timeout(120)


def test_echo_episode(capsys):
    echo_episode.main()
    assert "reward=1.3" in capsys.readouterr().out


def test_grpo_rollouts_over_the_wire(capsys):
    pytest.importorskip("datasets", reason="the example makes a dataset of each batch")
    grpo_rollouts.main()
    out = capsys.readouterr().out
    assert out.count("batch ") == 2 and out.count("group ") == 32
    assert "advantage +1.00" in out and "advantage -1.00" in out
