"""`to_gymnasium`: envtorch envs and clients as `gymnasium.Env`s that pass Gymnasium's checker
and work under its wrappers and vector envs, in-process and over the wire."""

import copy
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers import RecordEpisodeStatistics, TimeLimit

from envtorch import AsyncEnvClient, EnvClient, LocalProcessProvider, make, to_gymnasium
from envtorch.bridges.gymnasium import GymnasiumAdapter
from envtorch.envs.echo import EchoEnv
from envtorch.server import create_app, serve_in_thread
from tests.bridges.gymnasium_toys import GRID_ID

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def cartpole_url():
    with LocalProcessProvider("gymnasium:CartPole-v1") as server:
        yield server.url


@pytest.fixture(scope="module")
def echo_url():
    with serve_in_thread(create_app(EchoEnv)) as url:
        yield url


def checked(env: gymnasium.Env) -> list[str]:
    """Run Gymnasium's checker; return the warnings it gave, which are not failures."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    return [str(warning.message) for warning in caught]


def test_echo_passes_gymnasiums_checker_with_its_spaces_from_its_types():
    env = to_gymnasium(EchoEnv(render_mode="ansi"))
    assert isinstance(env, gymnasium.Env)
    assert isinstance(env.action_space, spaces.Text)
    assert set(env.observation_space.spaces) == {"echoed_message", "message_length"}
    assert env.render_mode == "ansi" and env.metadata["render_modes"] == ["ansi"]
    assert env.spec.id == "envtorch/echo"
    assert all("render fps" in warning for warning in checked(env))
    observation, info = env.reset(seed=0)
    assert observation == {"echoed_message": "", "message_length": np.array(0)}
    assert info == {}
    observation, reward, terminated, truncated, info = env.step("Hello, World!")
    assert observation["echoed_message"] == "Hello, World!"
    assert (reward, terminated, truncated) == (1.3, False, False)
    assert env.render() == "[echo] step 1: 'Hello, World!'\n"


def test_a_served_gymnasium_env_comes_back_with_its_exact_spaces(cartpole_url):
    raw = gymnasium.make("CartPole-v1")
    with EnvClient(cartpole_url) as client:
        env = to_gymnasium(client)
        assert env.action_space == raw.action_space
        assert env.observation_space == raw.observation_space
        assert env.render_mode is None
        assert env.metadata == {"render_modes": [], "render_fps": 50}
        assert env.spec.id == "envtorch/CartPole-v1"
        checked(env)
        observation, _ = env.reset(seed=7)
        expected, _ = raw.reset(seed=7)
        assert observation.dtype == np.float32
        np.testing.assert_array_equal(observation, expected)
        for action in [0, 1, 1, 0, 1]:
            observation, *_ = env.step(action)
            expected, *_ = raw.step(action)
            np.testing.assert_array_equal(observation, expected)
        env.close()


def test_a_client_spec_makes_new_sessions_in_the_servers_render_mode(cartpole_url):
    """A served env renders in the mode it was served with (`--kwarg render_mode=...`)."""
    with EnvClient(cartpole_url) as client:
        spec = to_gymnasium(client).spec
    again = gymnasium.make(spec)
    assert again.unwrapped.env is not client
    assert again.reset(seed=0)[0].shape == (4,)
    again.close()
    with pytest.raises(ValueError, match="render_mode=None; it cannot render in 'ansi'"):
        gymnasium.make(spec, render_mode="ansi")


def test_terminated_and_truncated_stay_apart():
    env = to_gymnasium(make("gymnasium:CartPole-v1", max_steps=3))
    env.reset(seed=0)
    results = [env.step(0)[2:4] for _ in range(3)]
    assert results == [(False, False), (False, False), (False, True)]
    grid = to_gymnasium(make(f"gymnasium:{GRID_ID}"))
    grid.reset(options={"start": [3, 4]})
    _, reward, terminated, truncated, info = grid.step({"move": 0, "note": ""})
    assert (reward, terminated, truncated, info) == (-1.0, True, False, {"moves": 1})


def test_every_supported_space_round_trips_in_process():
    env = to_gymnasium(make(f"gymnasium:{GRID_ID}", render_mode="rgb_array"))
    assert env.observation_space == gymnasium.make(GRID_ID).observation_space
    assert env.action_space == gymnasium.make(GRID_ID).action_space
    checked(env)
    observation, info = env.reset(seed=1, options={"start": [1, 3]})
    assert env.observation_space.contains(observation)
    assert info["start"].tolist() == [1, 3]


def test_time_limit_and_episode_statistics_wrap_it(echo_url):
    with EnvClient(echo_url) as client:
        env = RecordEpisodeStatistics(TimeLimit(to_gymnasium(client), max_episode_steps=3))
        env.reset(seed=0)
        results = [env.step("abc") for _ in range(3)]
        assert [result[3] for result in results] == [False, False, True]
        assert results[-1][4]["episode"]["r"] == pytest.approx(0.9)
        assert results[-1][4]["episode"]["l"] == 3
        assert env.spec.max_episode_steps == 3


def test_a_sync_vector_env_steps_and_resets_them(cartpole_url):
    vector = SyncVectorEnv(
        [
            lambda: to_gymnasium(EnvClient(cartpole_url)),
            lambda: to_gymnasium(make("gymnasium:CartPole-v1")),
        ]
    )
    observations, _ = vector.reset(seed=[3, 3])
    np.testing.assert_array_equal(observations[0], observations[1])
    ends = 0
    for _ in range(40):
        observations, _, terminated, _, _ = vector.step(np.array([0, 0]))
        np.testing.assert_array_equal(observations[0], observations[1])
        ends += int(terminated[0])
    assert ends >= 2
    vector.close()
    texts = SyncVectorEnv([lambda: to_gymnasium(EchoEnv()) for _ in range(2)])
    texts.reset(seed=0)
    observations, rewards, *_ = texts.step(("hi", "there"))
    assert observations["echoed_message"] == ("hi", "there")
    assert rewards.tolist() == [0.2, 0.5]
    texts.close()


def test_the_spec_survives_the_copies_wrappers_make():
    env = to_gymnasium(make("gymnasium:CartPole-v1", max_steps=5))
    spec = copy.deepcopy(env.spec)
    again = spec.make()
    assert isinstance(again.unwrapped, GymnasiumAdapter)
    assert again.unwrapped.env.max_steps == 5
    assert (
        to_gymnasium(make("gymnasium:CartPole-v1")).spec.make(render_mode="rgb_array").render_mode
        == "rgb_array"
    )


def test_only_synchronous_envs_and_clients(echo_url):
    with pytest.raises(TypeError, match="use EnvClient, not AsyncEnvClient"):
        to_gymnasium(AsyncEnvClient(echo_url, EchoEnv))
    with pytest.raises(TypeError, match="takes an envtorch Environment or an EnvClient, got str"):
        to_gymnasium("echo")
