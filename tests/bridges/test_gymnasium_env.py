"""A Gymnasium env as an envtorch env: made by id or wrapped, checked, served, driven by both
clients, collected, its frames rendered remotely, `terminated`/`truncated` kept apart."""

import asyncio
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

from envtorch import (
    AsyncEnvClient,
    Collector,
    EnvClient,
    ValidationError,
    check_env,
    from_gymnasium,
    make,
)
from envtorch.bridges.gymnasium import GymnasiumEnv
from envtorch.client import ServerError
from envtorch.registry import UnknownEnvironment
from envtorch.server import create_app, serve_in_thread
from tests.bridges.gymnasium_toys import GRID_ID, GridEnv

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def grid(**kwargs) -> GymnasiumEnv:
    return make(f"gymnasium:{GRID_ID}", **kwargs)


@pytest.fixture(scope="module")
def grid_url():
    with serve_in_thread(create_app(lambda: grid(render_mode="rgb_array"))) as url:
        yield url


def test_an_id_makes_an_envtorch_env_that_passes_the_checker():
    env = make("gymnasium:CartPole-v1")
    assert isinstance(env, GymnasiumEnv)
    assert type(env).__name__ == "CartPoleV1Env"
    assert env.action_type.__name__ == "CartPoleV1Action"
    observation = env.reset(seed=0)
    raw = gymnasium.make("CartPole-v1")
    expected, _ = raw.reset(seed=0)
    np.testing.assert_array_equal(observation.observation, expected)
    observation = env.step(env.action_type(action=1))
    np.testing.assert_array_equal(observation.observation, raw.step(1)[0])
    assert observation.reward == 1.0 and observation.done is False
    report = check_env(lambda **kwargs: make("gymnasium:CartPole-v1", **kwargs))
    assert len(report.passed) == 10


def test_an_env_with_every_supported_space_passes_the_checker():
    assert len(check_env(grid, task={"start": [1, 1]}).passed) == 10


def test_the_same_env_gets_the_same_classes_each_time():
    first, second = grid(), from_gymnasium(GridEnv())
    assert type(grid()) is type(first)
    assert type(second) is not type(first)
    assert type(second).__name__ == "GridEnvEnv"


def test_the_task_is_reset_options_and_info_is_metadata():
    env = grid()
    observation = env.reset(seed=3, task={"start": [2, 1]})
    assert observation.observation["cell"] == 7
    assert observation.metadata["start"].tolist() == [2, 1]
    assert env.state.task == {"start": [2, 1]}
    with pytest.raises(TypeError, match="reset options, a dict or None; got str"):
        env.reset(task="go")


def test_terminated_is_done_and_truncated_is_done_and_truncated():
    env = grid()
    env.reset(task={"start": [3, 4]})
    observation = env.step(env.action_type(action={"move": 0, "note": ""}))
    assert (observation.done, observation.truncated, observation.reward) == (True, False, -1.0)
    env.reset(task={"start": [0, 0]})
    for _ in range(8):
        observation = env.step(env.action_type(action={"move": 2, "note": "w"}))
    assert (observation.done, observation.truncated) == (True, True)
    assert observation.metadata == {"moves": 8}


def test_the_envtorch_budget_truncates_too():
    env = make("gymnasium:CartPole-v1", max_steps=2)
    env.reset(seed=0)
    env.step(env.action_type(action=0))
    assert env.step(env.action_type(action=1)).truncated is True


def test_an_action_of_the_wrong_type_is_a_validation_error():
    env = grid()
    env.reset(seed=0)
    with pytest.raises(ValidationError, match="is no action of Dict"):
        env.step(env.action_type(action={"note": "no move"}))


def test_rgb_array_frames_and_the_human_mode_is_refused():
    env = grid(render_mode="rgb_array")
    env.reset(task={"start": [1, 2]})
    frame = env.render()
    assert frame.shape == (5, 5, 3) and frame[2, 1].tolist() == [255, 255, 255]
    assert type(env).metadata["render_modes"] == ["rgb_array", "ansi"]
    with pytest.raises(ValueError, match="render_mode 'human' is not supported"):
        make("gymnasium:CartPole-v1", render_mode="human")


def test_from_gymnasium_takes_only_gymnasium_envs():
    with pytest.raises(TypeError, match="takes a gymnasium.Env, got EchoEnv"):
        from_gymnasium(make("echo"))
    with pytest.raises(UnknownEnvironment, match="Gymnasium has no env 'NoSuchEnv-v0'"):
        make("gymnasium:NoSuchEnv-v0")


def test_the_sync_client_drives_a_served_gymnasium_env(grid_url):
    with EnvClient(grid_url) as env:
        observation = env.reset(seed=0, task={"start": [3, 4]})
        assert observation.observation["position"] == [3.0, 4.0]
        assert observation.metadata == {"start": [3, 4]}
        assert np.asarray(env.render()).shape == (5, 5, 3)
        with pytest.raises(ValidationError, match="move"):
            env.step(env.action_type(action={"move": 7, "note": ""}))
        observation = env.step(env.action_type(action={"move": 0, "note": "east"}))
        assert observation.observation["note"] == "east"
        assert observation.observation["last"] == [0, -1.0]
        assert (observation.done, observation.truncated, observation.reward) == (True, False, -1.0)
        assert np.asarray(env.render(), dtype=np.uint8)[4, 4].tolist() == [255, 255, 255]


def test_the_async_client_drives_a_served_gymnasium_env(grid_url):
    async def episode() -> list[bool]:
        async with AsyncEnvClient(grid_url) as env:
            await env.reset(task={"start": [0, 0]})
            ended = []
            for _ in range(8):
                observation = await env.step(env.action_type(action={"move": 3, "note": ""}))
                ended.append(observation.truncated)
            frame = await env.render()
            assert isinstance(frame, np.ndarray) and frame[0, 0].tolist() == [255, 255, 255]
            return ended

    assert asyncio.run(episode()) == [False] * 7 + [True]


def test_the_collector_collects_gymnasium_episodes_locally_and_remotely(grid_url):
    env_type = type(grid())

    def east_then_south(inputs):
        return [
            env_type.action_type(action={"move": 0 if len(item.history) < 4 else 1, "note": ""})
            for item in inputs
        ]

    def rewards(envs) -> list[float]:
        tasks = [{"start": [0, 0]}, {"start": [2, 2]}]
        collector = Collector(
            envs, east_then_south, tasks=tasks, group_size=2, batch_size=4, total=4, seed=0
        )
        return sorted(trajectory.reward for batch in collector for trajectory in batch)

    assert rewards(grid) == [-8.0, -8.0, -6.0, -6.0]
    assert rewards(lambda: AsyncEnvClient(grid_url, env_type)) == [-8.0, -8.0, -6.0, -6.0]


def test_envtorch_check_takes_gymnasium_ids():
    result = subprocess.run(
        [sys.executable, "-m", "envtorch", "check", "gymnasium:CartPole-v1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CartPoleV1Env passed 10 checks" in result.stdout


def test_envtorch_serve_takes_a_gymnasium_id_and_repeated_keyword_arguments():
    """A module path in the id (`gymnasium:module:ID`) registers a project's own env first."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envtorch",
            "serve",
            f"gymnasium:tests.bridges.gymnasium_toys:{GRID_ID}",
            "--port",
            "0",
            "--kwarg",
            "render_mode=rgb_array",
            "--kwarg",
            "max_steps=2",
            "--kwarg",
            "limit=5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().removeprefix("envtorch serving on ").strip()
        with EnvClient(url) as env:
            env.reset(task={"start": [0, 0]})
            assert np.asarray(env.render(), dtype=np.uint8)[0, 0].tolist() == [255, 255, 255]
            assert env.step(env.action_type(action={"move": 0, "note": ""})).done is False
            last = env.step(env.action_type(action={"move": 0, "note": ""}))
            assert (last.done, last.truncated) == (True, True)
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_serve_reads_keyword_arguments_as_json_or_text():
    from envtorch.cli.serve import keyword_arguments

    assert keyword_arguments(["max_steps=3", "render_mode=rgb_array", "a=[1, 2]", "b=x=y"]) == {
        "max_steps": 3,
        "render_mode": "rgb_array",
        "a": [1, 2],
        "b": "x=y",
    }
    result = subprocess.run(
        [sys.executable, "-m", "envtorch", "serve", "echo", "--kwarg", "oops"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "envtorch serve: error: --kwarg takes NAME=VALUE, got 'oops'"


def test_a_server_error_from_the_env_leaves_the_session_usable(grid_url):
    with EnvClient(grid_url) as env:
        with pytest.raises(ServerError, match="reset options"):
            env.reset(task="not options")
        assert env.reset(task={"start": [1, 1]}).observation["cell"] == 6


def test_without_gymnasium_the_error_names_the_extra():
    script = (
        "import sys; sys.modules['gymnasium'] = None\n"
        "from envtorch.core import MissingDependency\n"
        "import envtorch\n"
        "try:\n"
        "    envtorch.to_gymnasium\n"
        "except MissingDependency as missing:\n"
        "    print(missing)\n"
        "from envtorch.cli import main\n"
        "sys.exit(main(['serve', 'gymnasium:CartPole-v1']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    message = "the Gymnasium bridge needs gymnasium: pip install 'envtorch[gymnasium]'"
    assert result.stdout.strip() == message
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("envtorch serve: error: ") and line.endswith(message)
    assert result.returncode == 2


def test_envtorch_imports_gymnasium_only_when_a_bridge_is_used():
    script = (
        "import sys, envtorch\n"
        "envtorch.make('echo')\n"
        "print('gymnasium' in sys.modules)\n"
        "envtorch.make('gymnasium:CartPole-v1')\n"
        "print('gymnasium' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "True"]
