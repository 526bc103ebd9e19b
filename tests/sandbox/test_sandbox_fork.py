"""Forking a session: copies go on from its state, independently, and the forked process freezes.

Attacks between copies run in test_sandbox_hostile.py (`ACROSS_FORKS`).
"""

import signal
from pathlib import Path

import pytest

from envtorch.sandbox import SandboxUnavailable, SessionDead
from envtorch.sandbox.forking import SYSCALLS, check_confined
from envtorch.sandbox.guest.confine import FORK_MARK, SESSION_NAMESPACES
from tests.waiting import gone, wait_until

pytestmark = pytest.mark.timeout(60)

SETUP = """
import os, random
random.seed(7)
counter = 10
def bump():
    global counter
    counter += 1
    return counter
os.makedirs('/tmp/data/nested')
open('/tmp/data/nested/notes.txt', 'w').write('kept')
os.chmod('/tmp/data/nested/notes.txt', 0o600)
os.symlink('data/nested/notes.txt', '/tmp/link')
"""
STATE = (
    "(bump(), random.random(), open('/tmp/link').read(), "
    "oct(os.stat('/tmp/data/nested/notes.txt').st_mode & 0o777))"
)


def test_copies_go_on_from_the_namespace_workspace_and_rng(session):
    session.execute(SETUP)
    copies = session.fork(3)
    try:
        outcomes = [each.execute(STATE).value for each in (session, *copies)]
        assert len({repr(outcome) for outcome in outcomes}) == 1
        assert outcomes[0][0] == 11 and outcomes[0][2:] == ["kept", "0o600"]
    finally:
        for copy in copies:
            copy.close()


def test_copies_are_independent_after_the_fork(session):
    session.execute("items = []")
    first, second = session.fork(2)
    try:
        first.execute("items.append('first')\nopen('/tmp/only-first', 'w').write('x')")
        second.execute("items.append('second')")
        session.execute("items.append('parent')")
        check = "import os\nitems, os.path.exists('/tmp/only-first')"
        assert first.execute(check).value == [["first"], True]
        assert second.execute(check).value == [["second"], False]
        assert session.execute(check).value == [["parent"], False]
    finally:
        first.close()
        second.close()


def test_the_forked_process_freezes_and_its_other_processes_end(session):
    marker = "4244.25"
    session.execute(f"import subprocess\nsleeper = subprocess.Popen(['sleep', '{marker}'])")
    before = session.pid
    assert wait_until(lambda: _running(marker), timeout=10)
    (copy,) = session.fork(1)
    try:
        assert session.pid != before and copy.pid != before
        assert _state(before) == "T"
        assert wait_until(lambda: not _running(marker), timeout=10)
        assert session.execute("sleeper.poll() is None").success
    finally:
        copy.close()


def test_closing_the_whole_family_ends_every_process(sandbox):
    session = sandbox.open()
    root = session.pid
    copies = session.fork(2)
    grandchildren = copies[0].fork(1)
    family = [session, *copies, *grandchildren]
    pids = [root] + [each.pid for each in family]
    for each in family[:-1]:
        each.close()
    assert Path(f"/proc/{root}").exists()
    family[-1].close()
    assert wait_until(lambda: all(gone(pid) for pid in pids), timeout=10)


def test_a_fork_of_a_fork_keeps_the_state(session):
    session.execute("depth = 0")
    (child,) = session.fork(1)
    child.execute("depth += 1")
    (grandchild,) = child.fork(1)
    try:
        assert grandchild.execute("depth + 1").value == 2
        assert child.execute("depth").value == 1
        assert session.execute("depth").value == 0
    finally:
        child.close()
        grandchild.close()


def test_open_files_and_sockets_point_at_dev_null_after_a_fork(session):
    session.execute("import socket\nkept = open('/tmp/f', 'w')\nleft, right = socket.socketpair()")
    (copy,) = session.fork(1)
    try:
        for each in (session, copy):
            assert each.execute("kept.write('x')\nkept.flush()\nopen('/tmp/f').read()").value == ""
            assert each.execute("left.send(b'x')").exception.type == "OSError"
            assert each.execute("kept.close()\nleft.close()\n'closed'").value == "closed"
    finally:
        copy.close()


def test_tools_work_in_copies(sandbox):
    calls = []
    with sandbox.open(tools={"record": calls.append}) as session:
        (copy,) = session.fork(1)
        with copy:
            copy.execute("record('from the copy')")
            session.execute("record('from the parent')")
    assert calls == ["from the copy", "from the parent"]


def test_writable_shared_memory_refuses_to_fork_and_the_session_lives(session):
    session.execute("import mmap\nshared = mmap.mmap(-1, 4096)\nshared[:2] = b'hi'")
    with pytest.raises(SandboxUnavailable, match="shared memory"):
        session.fork(1)
    assert session.execute("bytes(shared[:2])").success


def test_the_fork_gate_refuses_agent_code(session):
    clone = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"flags = {SESSION_NAMESPACES | signal.SIGCHLD}\n"
        f"outcome = libc.syscall({SYSCALLS['clone']}, flags, 0, {FORK_MARK}, 0, 0)\n"
        "outcome, ctypes.get_errno()"
    )
    mount = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.mount(b'none', b'/tmp', b'tmpfs', 0x8002, None)"
    )
    for code in (clone, mount):
        result = session.execute(code, timeout=1)
        assert result.timed_out or result.value in (-1, [-1, 1]), result
        assert not result.killed
    assert session.execute("'alive'").value == "alive"
    (copy,) = session.fork(1)
    copy.close()


def test_fork_counts_and_closed_sessions(sandbox):
    session = sandbox.open()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            session.fork(bad)
    session.close()
    with pytest.raises(SessionDead):
        session.fork(1)


def _state(pid):
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _running(marker):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            named = entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes()
            if named and _state(int(entry.name)) not in "ZX":
                found.append(entry.name)
        except OSError:
            continue
    return found


def test_the_host_refuses_a_process_that_is_not_a_confined_copy(sandbox, session):
    with sandbox.open() as stranger:
        with pytest.raises(SandboxUnavailable, match="not a copy"):
            check_confined(session.pid, [stranger.pid])
        with pytest.raises(SandboxUnavailable, match="same process"):
            check_confined(session.pid, [stranger.pid, stranger.pid])
