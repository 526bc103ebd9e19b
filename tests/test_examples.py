"""The examples run as written."""

import re

import pytest

from examples import echo_episode, grpo_rollouts, train_grpo

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
    groups_with_signal = int(re.search(r"(\d+) of 8 groups have non-zero advantages", out)[1])
    assert groups_with_signal >= 6


def test_train_grpo_learns_from_the_served_envs_rewards(tmp_path, capsys):
    pytest.importorskip("torch", reason="the example trains a torch policy")
    plot = tmp_path / "rewards.svg"
    rewards = train_grpo.train(iterations=20, plot=plot)
    assert len(rewards) == 20 and capsys.readouterr().out.count("mean reward") == 20
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.2, rewards
    svg = plot.read_text()
    assert svg.startswith("<svg") and svg.count(",") - svg.count('", "') >= 20
