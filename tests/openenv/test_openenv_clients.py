"""OpenEnv's own clients (0.3.0 and 0.10.0) drive envtorch servers, changing nothing."""

import json
import subprocess
from functools import partial
from pathlib import Path

import pytest

from envtorch.envs.echo import EchoEnv
from envtorch.envs.python import PythonEnv
from envtorch.server import create_app, serve_in_thread
from tests.openenv import peers

pytestmark = pytest.mark.timeout(1200)

CODE = {"code": "x = 6 * 7\nprint(x)"}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture(scope="module")
def echo_url():
    with serve_in_thread(create_app(EchoEnv)) as url:
        yield url


@pytest.fixture(scope="module")
def python_url():
    with serve_in_thread(create_app(partial(PythonEnv, tools=[add]))) as url:
        yield url


@pytest.fixture(scope="module")
def echo_report(openenv_version, echo_url):
    scenarios = "generic,generic_async"
    return peers.run_clients(openenv_version, echo_url, scenarios, {"message": "hi"})


@pytest.fixture(scope="module")
def python_report(openenv_version, python_url):
    return peers.run_clients(openenv_version, python_url, "generic,coding,mcp", CODE)


def values(report):
    failed = {name: result["error"] for name, result in report.items() if not result["ok"]}
    assert failed == {}
    return {name: result["value"] for name, result in report.items()}


def test_generic_client_resets_steps_and_reads_state(echo_report):
    generic = values(echo_report["generic"])
    assert generic["reset"]["observation"]["echoed_message"] == ""
    assert generic["step"]["observation"]["echoed_message"] == "hi"
    assert generic["step"]["reward"] == pytest.approx(0.2)
    assert generic["step_model"]["observation"]["echoed_message"] == "hi"
    assert generic["state"]["step_count"] == 2


def test_async_generic_client(echo_report):
    generic = values(echo_report["generic_async"])
    assert generic["step"]["observation"]["message_length"] == 2
    assert generic["state"]["step_count"] == 1


def test_a_coding_env_shaped_client_drives_the_python_env(python_report):
    coding = values(python_report["coding"])
    assert coding["step"]["observation"]["stdout"] == "42\n"
    assert coding["step"]["observation"]["exit_code"] == 0
    assert coding["fail"]["observation"]["exit_code"] == 1
    assert coding["fail"]["observation"]["metadata"]["exception"]["type"] == "ZeroDivisionError"
    assert coding["state"]["step_count"] == 2


def test_generic_client_on_the_python_env(python_report):
    generic = values(python_report["generic"])
    assert generic["step"]["observation"]["stdout"] == "42\n"


def test_mcp_tool_client_lists_and_calls_the_env_tools(python_report):
    mcp = values(python_report["mcp"])
    assert {"add", "file_read", "file_write", "list_files"} <= set(mcp["list_tools"])
    assert mcp["call_tool"] == 42


@pytest.mark.parametrize("server", ["echo_url", "python_url"])
def test_openenv_validate_url_passes_every_criterion(openenv_version, server, request):
    url = request.getfixturevalue(server)
    openenv = str(Path(peers.python(openenv_version)).parent / "openenv")
    done = subprocess.run(
        [openenv, "validate", "--url", url, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout[done.stdout.index("{") :])
    failed = [c for c in report["criteria"] if not c.get("passed")]
    assert failed == [] and report["mode"] == "simulation"
