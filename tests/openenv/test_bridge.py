"""OpenEnv `Environment` classes served by `envtorch serve`: many sessions, driven by both sides."""

import subprocess
import sys

import pytest

from envtorch.client import EnvClient
from envtorch.core import ValidationError
from tests.openenv import peers

pytestmark = pytest.mark.timeout(1200)

TARGET = "server.echo_env_environment:EchoEnvironment"


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory):
    """The echo environment `openenv init` writes (OpenEnv 0.3.0, in the test venv)."""
    return peers.scaffold("0.3.0", tmp_path_factory.mktemp("openenv"))


@pytest.fixture(scope="module")
def served(scaffold):
    server = subprocess.Popen(
        [sys.executable, "-m", "envtorch", "serve", TARGET, "--port", "0"],
        cwd=scaffold,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith("envtorch serving on "), server.stderr.read()
        yield line.split()[-1]
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_envtorch_clients_drive_an_openenv_environment_in_many_sessions(served):
    with EnvClient(served) as first, EnvClient(served) as second:
        first.reset(seed=1)
        second.reset()
        assert first.step(first.action_type(message="one")).echoed_message == "one"
        assert second.step(second.action_type(message="two!")).message_length == 4
        assert first.state.step_count == 1
        with pytest.raises(ValidationError, match="message"):
            first.step(first.action_type(message=5))


def test_openenv_clients_drive_the_served_openenv_environment(openenv_version, served, scaffold):
    report = peers.run_clients(
        openenv_version, served, "generic,generated", {"message": "hi"}, folder=scaffold.parent
    )
    generic = {name: result for name, result in report["generic"].items()}
    assert generic["step"]["value"]["observation"]["echoed_message"] == "hi"
    assert generic["step_model"]["ok"], generic["step_model"]
    assert generic["reset_kwargs"]["ok"], generic["reset_kwargs"]
    generated = report["generated"]
    assert generated["step"]["value"]["observation"]["echoed_message"] == "scaffold"
    assert generated["state"]["value"]["step_count"] == 1
