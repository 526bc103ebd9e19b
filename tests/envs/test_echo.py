import pytest

from envtorch import make
from envtorch.envs.echo import EchoAction, EchoEnv


def test_echo_episode():
    env = make("echo", max_steps=2, render_mode="ansi")
    assert isinstance(env, EchoEnv)
    env.reset(seed=0)
    observation = env.step(EchoAction(message="Hello, World!"))
    assert observation.echoed_message == "Hello, World!"
    assert observation.message_length == 13
    assert observation.reward == pytest.approx(1.3)
    assert env.render() == "[echo] step 1: 'Hello, World!'\n"
    assert env.step(EchoAction(message="")).reward == 0.0
    assert env.episode_over
