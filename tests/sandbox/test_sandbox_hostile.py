"""Hostile code: each attack stays in its session; the host and a bystander session are unharmed.

Every test here uses the `bystander` fixture: a session opened before the attack whose variables
and workspace file are checked after it. The attacks across sessions also run between the copies
of a fork and between a forked session and its copy (`ACROSS_FORKS`).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envtorch.sandbox import Sandbox, SandboxLimits
from envtorch.sandbox.bwrap import python_binds
from envtorch.sandbox.cgroups import CgroupTree
from envtorch.sandbox.guest.channel import frame_limit
from tests.sandbox.conftest import PAIRINGS
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)
ACROSS_FORKS = pytest.mark.parametrize("pairing", PAIRINGS, indirect=True)


@ACROSS_FORKS
def test_cannot_connect_to_a_listener_on_the_host(session, bystander):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "errors = []\n"
            "families = (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET)\n"
            "for family in families:\n"
            "    try:\n"
            "        socket.socket(family, socket.SOCK_DGRAM)\n"
            "    except OSError as error:\n"
            "        errors.append(error.errno)\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=1)"
        )
        result = session.execute(code)
        assert result.exception.type == "PermissionError"
        assert session.execute("errors").value == [1, 1, 1, 1]
        with pytest.raises(TimeoutError):
            listener.accept()


@ACROSS_FORKS
def test_sessions_cannot_reach_each_other_through_unix_sockets(sandbox, session, bystander):
    code = (
        "import socket\n"
        "try:\n"
        "    server = socket.socket(socket.AF_UNIX)\n"
        "    server.bind('\\0envtorch-test')\n"
        "    outcome = 'bound'\n"
        "except OSError as error:\n"
        "    outcome = error.errno\n"
        "outcome"
    )
    assert session.execute(code).value == 1
    assert bystander.execute(code.replace("bind", "connect")).value == 1


def test_pipes_within_a_session_still_work(session):
    code = (
        "import asyncio, multiprocessing, socket\n"
        "left, right = socket.socketpair()\n"
        "left.sendall(b'ping')\n"
        "reader, writer = multiprocessing.Pipe()\n"
        "writer.send('pong')\n"
        "asyncio.run(asyncio.sleep(0))\n"
        "right.recv(4).decode(), reader.recv()"
    )
    assert session.execute(code).value == ["ping", "pong"]


def test_cannot_write_outside_the_workspace(session, bystander):
    targets = ["/x", "/usr/x", "/opt/envtorch/guest/x", "/dev/x", f"{os.__file__}.x", "/proc/x"]
    code = (
        f"failures = []\nfor path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('owned')\n"
        "    except OSError as error:\n"
        "        failures.append(path)\n"
        "failures"
    )
    assert session.execute(code).value == targets
    assert not Path(f"{os.__file__}.x").exists()


@ACROSS_FORKS
def test_cannot_read_another_sessions_files(session, bystander):
    code = (
        "import os, glob\n"
        "found = glob.glob('/tmp/**', recursive=True) + glob.glob('/dev/shm/**', recursive=True)\n"
        "found, os.listdir('/proc')"
    )
    assert session.execute(code).value == [["/tmp/", "/dev/shm/"], []]


def test_cannot_read_host_files_or_environment(session, bystander, monkeypatch):
    monkeypatch.setenv("ENVTORCH_TEST_SECRET", "hunter2")
    fresh = session.execute(
        "import os\nsorted(os.environ), os.path.exists('/etc/passwd'), os.path.exists('/root'), "
        "os.path.exists('/proc/1/environ')"
    )
    names, passwd, root_home, proc = fresh.value
    assert "ENVTORCH_TEST_SECRET" not in names and not any("SECRET" in name for name in names)
    assert not passwd and not proc
    if root_home:
        bound = {
            Path(inside).parts[2]
            for inside in python_binds().values()
            if inside.startswith("/root/")
        }
        assert sorted(session.execute("os.listdir('/root')").value) == sorted(bound)


@ACROSS_FORKS
def test_cannot_gain_privileges_or_make_namespaces(session, bystander):
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "outcomes = [libc.unshare(0x10000000), libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)]\n"
        "try:\n"
        "    os.setuid(0)\n"
        "except OSError:\n"
        "    outcomes.append('setuid refused')\n"
        "outcomes, os.getuid(), os.path.exists('/proc/self/status')"
    )
    outcomes, uid, status = session.execute(code).value
    assert outcomes == [-1, -1, "setuid refused"]
    assert uid == 1000 and status is False


def test_fork_bomb_is_capped_and_contained(sandbox, bystander):
    session = sandbox.open()
    code = (
        "import os, time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        children += 1\n"
        "except OSError as error:\n"
        "    stopped = error.errno\n"
        "children"
    )
    result = session.execute(code, timeout=5)
    assert result.success, result.exception
    assert result.value < sandbox.limits.processes
    session.close()


def test_recursive_fork_bomb_is_killed_with_its_session(sandbox, bystander):
    session = sandbox.open()
    result = session.execute(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        timeout=0.5,
    )
    assert result.timed_out
    session.close()


def test_memory_hog_gets_a_memory_error_and_the_session_lives(session, bystander):
    result = session.execute("hog = bytearray(64 * 2**30)")
    assert result.exception.type == "MemoryError"
    growing = session.execute("chunks = []\nwhile True:\n    chunks.append(bytearray(2**26))")
    assert growing.exception.type == "MemoryError" or growing.killed
    if not growing.killed:
        assert session.execute("del chunks\n'recovered'").value == "recovered"


def test_memory_cap_kills_a_session_that_touches_too_much():
    limits = SandboxLimits(address_space=8 << 30, memory=128 << 20, kill_grace=0.5)
    with Sandbox(limits) as small:
        small.open().close()
        if not small.enforcement["memory"].startswith("cgroup"):
            pytest.skip(small.enforcement["memory"])
        with small.open() as session:
            result = session.execute(
                "block = bytearray(1 << 30)\nfor i in range(0, len(block), 4096):\n    block[i] = 1"
            )
            assert result.killed
            assert "memory" in result.exception.message


def test_busy_loop_hits_the_soft_timeout_and_keeps_state(session, bystander):
    session.execute("progress = 0")
    result = session.execute("while True:\n    progress += 1", timeout=0.3)
    assert result.timed_out and not result.killed
    assert session.execute("progress > 0").value is True


def test_c_level_loop_is_hard_killed(session, bystander):
    result = session.execute("sum(range(10**13))", timeout=0.3)
    assert result.killed and result.timed_out


def test_code_that_ignores_the_alarm_is_hard_killed(session, bystander):
    result = session.execute(
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
        timeout=0.3,
    )
    assert result.killed and result.timed_out


def test_code_that_swallows_the_timeout_is_hard_killed(session, bystander):
    code = (
        "while True:\n"
        "    try:\n"
        "        while True:\n"
        "            pass\n"
        "    except BaseException:\n"
        "        caught = True"
    )
    result = session.execute(code, timeout=0.3)
    assert result.killed


@ACROSS_FORKS
def test_cannot_kill_other_sessions_processes(session, bystander):
    code = (
        "import os, signal\n"
        "hits = 0\n"
        "for pid in range(2, 4096):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "        hits += 1\n"
        "    except OSError:\n"
        "        pass\n"
        "try:\n"
        "    os.kill(-1, signal.SIGKILL)\n"
        "except OSError:\n"
        "    pass\n"
        "hits"
    )
    assert session.execute(code).value == 0


def test_output_flood_is_truncated(session, bystander):
    result = session.execute(
        "import os, sys\n"
        "for _ in range(2000):\n"
        "    os.write(1, b'z' * 10000)\n"
        "    print('e' * 1000, file=sys.stderr)"
    )
    assert result.success
    assert "output truncated" in result.stdout and "output truncated" in result.stderr
    assert len(result.stdout) < 5000 and len(result.stderr) < 5000


def test_endless_output_stops_at_the_timeout_or_file_size_limit(session, bystander):
    result = session.execute("while True:\n    print('flood' * 1000)", timeout=1)
    assert not result.killed
    assert "output truncated" in result.stdout
    assert session.execute("print('quiet')").stdout == "quiet\n"


@ACROSS_FORKS
def test_garbage_frames_from_the_sandbox_kill_only_that_session(session, bystander):
    result = session.execute(
        "list_tools.__self__._sock.sendall(b'\\xff\\xff\\xff\\xff' + b'x' * 64)\n"
        "import time\n"
        "time.sleep(5)"
    )
    assert result.killed and "protocol" in result.exception.message


def test_malformed_json_from_the_sandbox_kills_only_that_session(session, bystander):
    result = session.execute(
        "list_tools.__self__._sock.sendall(b'\\x00\\x00\\x00\\x05{oops')\n"
        "import time\n"
        "time.sleep(5)"
    )
    assert result.killed and "protocol" in result.exception.message


def test_sessions_run_as_an_unprivileged_host_user(session):
    status = Path(f"/proc/{session.pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert real_uid != 0


def test_closing_a_session_ends_its_detached_processes(sandbox):
    marker = "4242.125"
    session = sandbox.open()
    session.execute(
        f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'], start_new_session=True)"
    )
    assert wait_until(lambda: _processes_running(marker))
    session.close()
    assert wait_until(lambda: not _processes_running(marker), timeout=5)


def _processes_running(marker):
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


def test_deeply_nested_frames_from_the_sandbox_kill_only_that_session(session, bystander):
    code = (
        "from guest.channel import HEADER\n"
        'body = b\'{"type":"result","id":1,"stdout":"","stderr":"","value":\'\n'
        "body += b'[' * 200000 + b']' * 200000 + b'}'\n"
        "list_tools.__self__._sock.sendall(HEADER.pack(len(body)) + body)\n"
        "import time\n"
        "time.sleep(5)"
    )
    result = session.execute(code)
    assert result.killed and "protocol" in result.exception.message


HOST_SCRIPT = """
import threading
from envtorch.sandbox import Sandbox
sandbox = Sandbox()
session = sandbox.open()
print(session.pid, flush=True)
threading.Thread(target=session.execute, args=("while True:\\n    pass",)).start()
threading.Event().wait()
"""


def test_a_killed_host_leaves_no_session_behind():
    host = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT], stdout=subprocess.PIPE, text=True)
    pid = int(host.stdout.readline())
    assert Path(f"/proc/{pid}").exists()
    host.kill()
    host.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{pid}").exists()
    with Sandbox() as sandbox:
        sandbox.open().close()
        left = list(Path("/sys/fs/cgroup").glob(f"**/envtorch-sandbox-{host.pid}-*"))
    assert not left


@ACROSS_FORKS
def test_a_group_kill_reaches_only_the_sessions_own_processes(sandbox, session, bystander):
    """Finding 1: `os.kill(0, 9)` once killed the zygote and every other running episode."""
    code = (
        "import os, signal, time\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.kill(0, signal.{signal})\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "'survived'"
    )
    for name in ("SIGSTOP", "SIGKILL"):
        assert session.execute(code.replace("{signal}", name)).value == "survived"
        assert bystander.execute("secret").value == "bystander data"
    with sandbox.open() as fresh:
        assert fresh.execute("6 * 7").value == 42
    assert sandbox._zygote.alive


@ACROSS_FORKS
def test_sessions_cannot_meet_on_an_abstract_datagram_address(sandbox, session, bystander):
    """Finding 2: a socketpair's datagram end, disconnected and bound to an abstract address,
    received another session's datagrams and then its workspace's directory fd."""
    listen = (
        "import ctypes, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "inbox, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "unspec = ctypes.c_ushort(socket.AF_UNSPEC)\n"
        "libc.connect(inbox.fileno(), ctypes.byref(unspec), ctypes.sizeof(unspec))\n"
        "inbox.bind('\\0envtorch-meeting-point')\n"
        "inbox.setblocking(False)"
    )
    send = (
        "import ctypes, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "outbox, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "unspec = ctypes.c_ushort(socket.AF_UNSPEC)\n"
        "libc.connect(outbox.fileno(), ctypes.byref(unspec), ctypes.sizeof(unspec))\n"
        "try:\n"
        "    outbox.sendto(b'psst', '\\0envtorch-meeting-point')\n"
        "    outcome = 'sent'\n"
        "except OSError as error:\n"
        "    outcome = error.errno\n"
        "outcome"
    )
    assert session.execute(listen).success
    assert bystander.execute(send).value != "sent"
    received = session.execute("try:\n    inbox.recv(16)\nexcept BlockingIOError:\n    None")
    assert received.success and received.value is None
    assert session.execute(send.replace("outbox", "loopback")).value == "sent"


@ACROSS_FORKS
def test_sessions_cannot_write_to_each_others_terminals(session, bystander):
    """Finding 2: sessions shared one devpts, so another session's pty was writable."""
    opened = session.execute("import os, pty\nmain, peer = pty.openpty()\nos.ttyname(peer)")
    assert opened.value == "/dev/pts/0"
    code = (
        "import os\n"
        "try:\n"
        "    os.write(os.open('/dev/pts/0', os.O_WRONLY | os.O_NOCTTY), b'injected')\n"
        "    outcome = 'written'\n"
        "except OSError as error:\n"
        "    outcome = error.errno\n"
        "outcome, sorted(os.listdir('/dev/pts'))"
    )
    outcome, entries = bystander.execute(code).value
    assert outcome != "written" and entries == ["ptmx"]
    assert session.execute("os.set_blocking(main, False)\nos.read(main, 64)").exception


def test_the_venv_root_is_invisible_inside(session, bystander):
    """Finding 7: a credential file in the venv's root was readable, and `pyvenv.cfg` named
    host paths. Only what Python needs to import is visible, host paths of the venv hidden."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment")
    credential = Path(sys.prefix, "envtorch-test-credential")
    credential.write_text("hunter2")
    try:
        code = (
            "import glob, os, sys\n"
            "seen = []\n"
            "for root, dirs, files in os.walk('/'):\n"
            "    seen += [os.path.join(root, name) for name in files\n"
            "             if name in ('envtorch-test-credential', 'pyvenv.cfg')]\n"
            "seen, sys.path"
        )
        seen, path = session.execute(code).value
    finally:
        credential.unlink()
    assert seen == []
    venv = os.path.realpath(sys.prefix)
    assert not any(entry.startswith(venv) for entry in path)
    assert session.execute("import msgspec\nmsgspec.__name__").value == "msgspec"


def test_closing_a_sandbox_ends_its_whole_process_tree_whatever_the_guest_did():
    with Sandbox() as sandbox:
        session = sandbox.open()
        session.execute(
            "import os, signal, subprocess\n"
            "stubborn = subprocess.Popen(['sleep', '4243.5'], start_new_session=True,\n"
            "                            preexec_fn=lambda: signal.signal(signal.SIGTERM, 1))\n"
            "stopped = subprocess.Popen(['sleep', '4243.5'])\n"
            "os.kill(stopped.pid, signal.SIGSTOP)"
        )
        zygote_pid = _parent_pid(session.pid)
        os.kill(zygote_pid, signal.SIGSTOP)
        tree = _descendants(sandbox._zygote._process.pid)
        assert len(tree) >= 5
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pid for pid in tree if Path(f"/proc/{pid}").exists()] == []


def _parent_pid(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _descendants(root):
    found, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            children = [int(child) for child in (task / "children").read_text().split()]
            found += children
            frontier += children
    return found


FORGE_RESULT = """
import sys, time
from guest.channel import HEADER
step = int(sys._getframe().f_code.co_filename.strip("<>").split()[1])
room = {room} - 4096
head = b'{{"type":"result","id":%d,"stderr":"","stdout":"' % step
body = head + b'x' * (room // 2) + b'","value":[' + b'[],' * (room // 6) + b'[]]}}'
list_tools.__self__._sock.sendall(HEADER.pack(len(body)) + body)
time.sleep(1)
"""


def test_a_forged_result_frame_is_capped_by_the_host(sandbox, session, bystander):
    """Finding 3: a result frame forged near the frame limit once grew the host by ~470 MiB."""
    limit = frame_limit(sandbox.limits.max_output)
    before = _resident_bytes()
    result = session.execute(FORGE_RESULT.format(room=limit))
    grown = _resident_bytes() - before
    assert len(result.stdout) < sandbox.limits.max_output + 256
    assert result.value.startswith("[value dropped:")
    assert grown < 32 << 20, f"the host grew by {grown >> 20} MiB"
    assert session.execute("'still serving'").value == "still serving"


def _resident_bytes():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_the_memory_budget_holds_for_all_processes_without_a_cgroup(monkeypatch):
    """Finding 4: without a writable cgroup one session held 2.2-2.9 GiB under a 256 MiB cap
    across forked children, since the address-space limit is per process."""
    monkeypatch.setattr(CgroupTree, "create", lambda owner, cpu: (None, "no writable cgroup: test"))
    limits = SandboxLimits(memory=256 << 20, kill_grace=0.5, timeout=20)
    with Sandbox(limits) as small, small.open() as bystander, small.open() as session:
        assert small.enforcement["memory"].startswith("host watchdog")
        bystander.execute("kept = 'safe'")
        within = session.execute(
            "block = bytearray(64 << 20)\nfor i in range(0, len(block), 4096):\n    block[i] = 1"
        )
        assert within.success and session.memory_in_use() >= 64 << 20
        result = session.execute(
            "import os, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        block = bytearray(200 << 20)\n"
            "        for i in range(0, len(block), 4096):\n"
            "            block[i] = 1\n"
            "        time.sleep(60)\n"
            "time.sleep(15)"
        )
        assert result.killed and "memory cap (256 MiB)" in result.exception.message
        assert bystander.execute("kept").value == "safe"
        with small.open() as fresh:
            assert fresh.execute("1 + 1").value == 2
