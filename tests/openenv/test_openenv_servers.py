"""envtorch's clients drive OpenEnv's own servers (0.3.0 and 0.10.0): its reference echo_env (an
MCP environment) and coding_env, served as OpenEnv documents it, without Docker.

The handshake settles the dialect: OpenEnv's servers ignore the subprotocol our clients offer, so
the clients send no request ids (OpenEnv's models reject an `id`, so any request carrying one
would fail) and reset keywords as OpenEnv takes them.
"""

import asyncio
from dataclasses import dataclass

import pytest

from envtorch.client import AsyncEnvClient, ConnectionLost, EnvClient
from envtorch.core import Action, Observation, State
from tests.openenv import peers

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def echo_url(openenv_version):
    with peers.upstream_server(openenv_version, "echo_env") as url:
        yield url


@pytest.fixture(scope="module")
def coding_url(openenv_version):
    with peers.upstream_server(openenv_version, "coding_env") as url:
        yield url


@dataclass(kw_only=True)
class CodeAction(Action):
    code: str


@dataclass(kw_only=True)
class CodeObservation(Observation):
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


@dataclass(kw_only=True)
class CodeState(State):
    last_exit_code: int = 0


class CodingTypes:
    """coding_env's types as envtorch dataclasses, for a typed client."""

    action_type = CodeAction
    observation_type = CodeObservation
    state_type = CodeState


def test_a_client_without_env_type_drives_the_mcp_echo_env(echo_url):
    with EnvClient(echo_url, timeout=30) as env:
        first = env.reset(seed=3, task={"episode_id": "ep-42", "unknown_keyword": 1})
        assert first.done is False and first.tool_name is None
        call = env.action_type(tool_name="echo_message", arguments={"message": "hi"})
        observation = env.step(call)
        assert observation.tool_name == "echo_message" and observation.error is None
        assert observation.result["data"] == "hi"
        state = env.state
        assert (state.episode_id, state.step_count) == ("ep-42", 1)


def test_the_async_client_drives_the_mcp_echo_env(echo_url):
    async def run():
        async with AsyncEnvClient(echo_url, timeout=30) as env:
            await env.reset()
            call = env.action_type(tool_name="echo_with_length", arguments={"message": "four"})
            observation = await env.step(call)
            return observation.result["data"], (await env.state()).step_count

    assert asyncio.run(run()) == ({"message": "four", "length": 4}, 1)


def test_a_state_with_fields_its_schema_does_not_name_decodes(coding_url):
    """OpenEnv's State allows extra fields: coding_env's `last_exit_code` is not in /schema."""
    with EnvClient(coding_url, timeout=30) as env:
        env.reset()
        printed = env.step(env.action_type(code="print(6 * 7)"))
        assert printed.stdout.strip() == "42" and printed.exit_code == 0
        failed = env.step(env.action_type(code="1 / 0"))
        assert failed.exit_code == 1 and "division by zero" in failed.stderr
        state = env.state
        assert state.last_exit_code == 1 and state.step_count == 2


def test_a_typed_client_drives_the_coding_env(coding_url):
    with EnvClient(coding_url, CodingTypes, timeout=30) as env:
        assert isinstance(env.reset(), CodeObservation)
        observation = env.step(CodeAction(code="x = 20 + 22\nprint(x)"))
        assert observation.stdout.strip() == "42" and observation.reward is not None
        assert env.state == CodeState(episode_id=env.state.episode_id, step_count=1)


def test_a_task_that_is_no_mapping_of_reset_keywords_is_refused_before_sending(coding_url):
    with EnvClient(coding_url, CodingTypes, timeout=30) as env:
        with pytest.raises(TypeError, match="mapping"):
            env.reset(task="What is 6 * 7?")
        assert env.reset().exit_code == 0


def test_without_request_ids_a_timed_out_call_closes_the_connection(coding_url):
    """A late reply could not be told from the next request's, so the client gives up the
    connection instead of handing a stale observation to the next call."""
    with EnvClient(coding_url, CodingTypes, timeout=0.5) as env:
        env.reset()
        with pytest.raises(TimeoutError, match="request ids"):
            env.step(CodeAction(code="import time\ntime.sleep(2)"))
        with pytest.raises(ConnectionLost):
            env.step(CodeAction(code="1"))
