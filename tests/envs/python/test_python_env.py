import os
import subprocess
import sys
from pathlib import Path

import pytest

from envtorch import Compose, ResetNeeded, make
from envtorch.core import encode
from envtorch.env_checker import check_env
from envtorch.envs.math import AnswerReward
from envtorch.envs.python import (
    CodeAction,
    CodeObservation,
    CodeSafetyPenalty,
    PythonEnv,
)
from envtorch.tools import MCPServer

pytestmark = pytest.mark.timeout(90)

MCP_SERVER_SCRIPT = Path(__file__).parents[2] / "tools" / "mcp_server.py"


def run(env, code):
    return env.step(CodeAction(code=code))


@pytest.fixture
def env():
    environment = PythonEnv(render_mode="ansi", step_timeout=2.0)
    environment.reset(seed=0)
    yield environment
    environment.close()


def test_make_python_is_a_working_sandboxed_env():
    with make("python") as env:
        assert isinstance(env, PythonEnv)
        observation = env.reset()
        assert isinstance(observation, CodeObservation) and observation.success
        assert run(env, "import os\nos.getcwd()").value == "/tmp"
        assert run(env, "os.environ.get('HOME')").value != os.environ.get("HOME")


def test_names_and_functions_persist_across_steps(env):
    run(env, "x = 20\ndef double(v):\n    return 2 * v + bonus\nbonus = 2")
    observation = run(env, "double(x)")
    assert observation.value == 42
    assert env.state.step_count == 2


def test_stdout_stderr_value_and_exceptions(env):
    observation = run(env, "import sys\nprint('out')\nprint('err', file=sys.stderr)\n{'a': [1]}")
    assert observation.stdout == "out\n" and observation.stderr == "err\n"
    assert observation.value == {"a": [1]}
    failed = run(env, "1 / 0")
    assert not failed.success and failed.exception.type == "ZeroDivisionError"
    assert "1 / 0" in failed.exception.traceback
    syntax = run(env, "def broken(:")
    assert syntax.exception.type == "SyntaxError" and not syntax.done
    assert run(env, "x = 5\nx").value == 5


def test_each_reset_is_a_fresh_namespace_in_a_fresh_process(env):
    run(env, "secret = 1\nopen('note.txt', 'w').write('kept')")
    env.reset()
    assert run(env, "'secret' in globals()").value is False
    assert run(env, "list_files()").value == []


def test_soft_timeout_keeps_the_namespace(env):
    run(env, "kept = 'yes'")
    observation = run(env, "while True:\n    pass")
    assert observation.timed_out and not observation.killed and not observation.done
    assert run(env, "kept").value == "yes"


def test_hard_kill_ends_the_episode_and_reset_recovers():
    with PythonEnv(step_timeout=0.3) as env:
        env.reset()
        observation = run(env, "sum(range(10**13))")
        assert observation.killed and observation.done and observation.truncated
        assert not observation.success
        with pytest.raises(ResetNeeded):
            run(env, "1")
        env.reset()
        assert run(env, "1 + 1").value == 2


def test_host_tools_chain_in_one_action():
    calls = []

    def lookup(city: str) -> dict:
        """Look up a city's population."""
        calls.append(city)
        return {"paris": 2_100_000, "rome": 2_800_000}[city]

    def convert(amount: float, rate: float = 1.0) -> float:
        """Convert an amount at a rate."""
        return amount * rate

    with PythonEnv(tools=[lookup, convert]) as env:
        env.reset()
        observation = run(env, "sum(convert(lookup(c), rate=0.001) for c in ['paris', 'rome'])")
        assert observation.value == pytest.approx(4900.0)
        assert calls == ["paris", "rome"]
        missing = run(env, "lookup('oslo')")
        assert missing.exception.type == "KeyError"
        tools = run(env, "print(list_tools())").stdout
        assert "def lookup(city: str) -> dict:" in tools
        assert "Convert an amount at a rate." in tools
        assert "def file_read(path" in tools


def test_tools_reach_no_host_object():
    host_secret = "host-only-object"

    def echo(text: str) -> str:
        """Echo text."""
        return text

    with PythonEnv(tools={"echo": echo}) as env:
        env.reset()
        code = (
            "import gc\n"
            "names = {type(o).__name__ for o in gc.get_objects()}\n"
            "globs = set(echo.__globals__)\n"
            "cells = [c.cell_contents for c in (echo.__closure__ or ())]\n"
            "[n for n in ('PythonEnv', 'SandboxSession', 'Sandbox') if n in names],"
            " 'host_secret' in globs, repr(cells)"
        )
        found, leaked, cells = run(env, code).value
        assert found == [] and leaked is False
        assert host_secret not in cells and "PythonEnv" not in cells
        assert run(env, "echo(object())").exception.type == "TypeError"


def test_file_tools_stay_in_the_workspace(env, tmp_path):
    observation = run(
        env,
        "file_write('notes/a.txt', 'hello')\nprint(list_files())\nfile_read('notes/a.txt')",
    )
    assert observation.value == "hello" and "notes/a.txt" in observation.stdout
    for path in ["../etc/passwd", "/etc/passwd", "/proc/1/environ"]:
        escaped = run(env, f"file_read({path!r})")
        assert escaped.exception.type == "PermissionError", path
    run(env, "import os\nos.symlink('/etc', 'link')")
    assert run(env, "file_read('link/hostname')").exception.type == "PermissionError"
    run(env, f"file_write({str(tmp_path / 'y')!r}, 'x')")
    assert not (tmp_path / "y").exists()


def test_math_task_reward_and_the_answer_stays_hidden():
    answer = 987654321
    task = {"question": "What is 987654320 + 1?", "answer": answer}
    with PythonEnv(transform=AnswerReward(), max_steps=3) as env:
        observations = [env.reset(task=task)]
        assert observations[0].prompt == task["question"]
        observations.append(run(env, "987654320 + 2"))
        assert observations[-1].reward == 0.0 and not observations[-1].done
        observations.append(run(env, "print('my guess is', 12)"))
        assert observations[-1].reward == 0.0
        assert all(str(answer) not in encode(o).decode() for o in observations)
        right = run(env, "987654320 + 1")
        assert right.reward == 1.0 and right.done and not right.truncated


def test_safety_penalty_on_hostile_code():
    transform = Compose([CodeSafetyPenalty(penalty=0.5)])
    with PythonEnv(transform=transform) as env:
        env.reset()
        hostile = run(env, "import subprocess\nsubprocess.run(['id'])")
        assert hostile.reward == -0.5 and hostile.metadata["safety_findings"]
        assert run(env, "sum(range(10))").reward == 0.0


def test_render_shows_the_episode_so_far(env):
    run(env, "print('hi')\n6 * 7")
    run(env, "1 / 0")
    assert env.render() == (
        f"[python] episode {env.state.episode_id}: 2 step(s), reward 0\n"
        "--- step 1: reward none\n"
        ">>> print('hi')\n"
        ">>> 6 * 7\n"
        "hi\n"
        "42\n"
        "--- step 2: reward none\n"
        ">>> 1 / 0\n"
        "ZeroDivisionError: division by zero\n"
    )


def test_render_shows_rewards_and_the_end():
    with PythonEnv(render_mode="ansi", transform=AnswerReward(), max_steps=2) as env:
        env.reset(task={"question": "6 * 7?", "answer": "42"})
        run(env, "6 * 6")
        run(env, "6 * 7")
        assert env.render() == (
            f"[python] episode {env.state.episode_id}: 2 step(s), reward 1\n"
            "--- step 1: reward 0\n>>> 6 * 6\n36\n"
            "--- step 2: reward 1, done\n>>> 6 * 7\n42\n"
        )


def test_the_checker_passes():
    check_env(PythonEnv)


def test_seeded_reset_is_deterministic():
    values = []
    for _ in range(2):
        with PythonEnv() as env:
            env.reset(seed=7)
            values.append(run(env, "import random\nrandom.random()").value)
    assert values[0] == values[1]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="step_timeout"):
        PythonEnv(step_timeout=0)
    with pytest.raises(ValueError, match="not a Python identifier"):
        PythonEnv(tools=[lambda x: x])
    with pytest.raises(ValueError, match="share a name"):
        PythonEnv(tools=[len, len])
    with pytest.raises(ValueError, match="workspace tools"):
        PythonEnv(tools={"file_read": len})
    with pytest.raises(ValueError, match="memory_mb"):
        PythonEnv(memory_mb=1)


@pytest.fixture(scope="module")
def mcp_http_url():
    process = subprocess.Popen(
        [sys.executable, str(MCP_SERVER_SCRIPT), "http", "0"], stdout=subprocess.PIPE, text=True
    )
    announced = process.stdout.readline().split()
    assert announced[:1] == ["PORT"], announced
    yield f"http://127.0.0.1:{announced[1]}/mcp"
    process.kill()
    process.wait()
    process.stdout.close()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_tools_become_callables_in_the_namespace(transport, request):
    if transport == "stdio":
        server = MCPServer("local", command=sys.executable, args=[str(MCP_SERVER_SCRIPT)])
    else:
        server = MCPServer("remote", url=request.getfixturevalue("mcp_http_url"))
    with PythonEnv(mcp_servers=[server]) as env:
        env.reset()
        observation = run(env, "total = add(2, 3)\ngreet('Ada') + ' ' + str(add(total, 10))")
        assert observation.value == "Hello, Ada! 15"
        assert run(env, "fail('nope')").exception is not None
        assert "Add two integers." in run(env, "print(list_tools())").stdout
        first_pid = run(env, "pid()").value
        env.reset()
        assert run(env, "pid()").value == first_pid


def test_mcp_names_never_hide_builtins_or_the_env_tools():
    from envtorch.envs.python.environment import _namespace_name

    assert _namespace_name("add") == "add"
    assert _namespace_name("print") == "mcp_print"
    assert _namespace_name("list_tools") == "mcp_list_tools"
    assert _namespace_name("file_read") == "mcp_file_read"
    assert _namespace_name("__secret") == "mcp___secret"


def test_fork_goes_on_from_the_namespace_files_rng_steps_and_task():
    with PythonEnv(step_timeout=5.0) as env:
        env.reset(seed=1, task={"question": "q", "answer": 42})
        run(env, "import random\ntotal = 40\nopen('/tmp/notes.txt', 'w').write('draft')")
        copies = env.fork(2)
        try:
            draws = [run(each, "random.random()").value for each in (env, *copies)]
            assert len(set(draws)) == 1
            host_draws = {each.rng.random() for each in (env, *copies)}
            assert len(host_draws) == 1
            for offset, each in enumerate(copies, start=1):
                assert each.state.task == {"question": "q", "answer": 42}
                assert each.state.step_count == 2
                assert each.state.episode_id != env.state.episode_id
                run(each, f"total += {offset}\nopen('/tmp/notes.txt', 'a').write('+{offset}')")
            outcomes = [
                run(each, "total, open('/tmp/notes.txt').read()").value for each in (env, *copies)
            ]
            assert outcomes == [[40, "draft"], [41, "draft+1"], [42, "draft+2"]]
            assert [len(each._steps) for each in (env, *copies)] == [3, 4, 4]
        finally:
            for each in copies:
                each.close()


def test_fork_before_reset_says_so():
    with PythonEnv() as env, pytest.raises(ResetNeeded):
        env.fork(1)
