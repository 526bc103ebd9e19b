"""Host reads of a session's workspace (hostile files), hidden paths, and CPU caps."""

import dataclasses
import os
import site

import pytest

from envtorch.sandbox import Sandbox, SessionDead
from tests.sandbox.conftest import TEST_LIMITS

pytestmark = pytest.mark.timeout(60)

PLANT = """
import os
open("plain.csv", "w").write("id,target\\n1,2\\n")
os.makedirs("folder", exist_ok=True)
open("folder/inner.txt", "w").write("inside")
os.symlink("/etc/hostname", "link")
os.symlink("/etc", "folder_link")
os.mkfifo("fifo")
open("big", "w").write("x" * 5000)
"""


def test_the_host_reads_workspace_files_and_refuses_what_is_hostile(sandbox):
    with sandbox.open() as session:
        assert session.execute(PLANT).success
        assert session.read_file("plain.csv", 100) == b"id,target\n1,2\n"
        assert session.read_file("folder/inner.txt", 100) == b"inside"
        refusals = {
            "link": "Too many levels of symbolic links",
            "folder_link/hostname": "Not a directory",
            "fifo": "is not a regular file",
            "big": "is larger than 4096 bytes",
            "../etc/hostname": "is not a path inside the workspace",
            "/etc/hostname": "is not a path inside the workspace",
        }
        for path, message in refusals.items():
            with pytest.raises(ValueError, match=message):
                session.read_file(path, 4096)
        with pytest.raises(FileNotFoundError, match="does not exist in the workspace"):
            session.read_file("absent.csv", 100)
        with sandbox.open() as other, pytest.raises(FileNotFoundError):
            other.read_file("plain.csv", 100)
    with pytest.raises(SessionDead):
        session.read_file("plain.csv", 100)


def test_a_tool_reads_the_workspace_while_the_session_waits():
    def read_back() -> str:
        return session.read_file("note.txt", 100).decode()

    with Sandbox(TEST_LIMITS) as sandbox, sandbox.open(tools={"read_back": read_back}) as session:
        result = session.execute("open('note.txt', 'w').write('hello')\nread_back()")
        assert result.value == "hello"


def test_hidden_paths_are_empty_and_read_only_inside():
    packages = os.path.realpath(site.getsitepackages()[0])
    secret = next(
        os.path.join(packages, name, "")
        for name in sorted(os.listdir(packages))
        if os.path.isdir(os.path.join(packages, name)) and os.listdir(os.path.join(packages, name))
    ).rstrip("/")
    name = os.path.basename(secret)
    limits = dataclasses.replace(TEST_LIMITS, hidden=(secret,))
    with Sandbox(limits) as sandbox, sandbox.open() as session:
        listed = session.execute(f"import os\nos.listdir('/opt/envtorch/site-packages/{name}')")
        assert listed.value == []
        written = session.execute(f"open('/opt/envtorch/site-packages/{name}/x', 'w')")
        assert "Read-only file system" in written.exception.message


SPIN_TWO_PROCESSES = """
import os, time, resource
children = []
for _ in range(2):
    child = os.fork()
    if child == 0:
        start = time.time()
        while time.time() - start < 1.0:
            pass
        os._exit(0)
    children.append(child)
for child in children:
    os.waitpid(child, 0)
(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime, os.environ["OMP_NUM_THREADS"])
"""


def test_a_cpu_cap_holds_two_busy_processes_to_half_a_cpu():
    limits = dataclasses.replace(TEST_LIMITS, cpus=0.5)
    with Sandbox(limits) as sandbox, sandbox.open() as session:
        used, threads = session.execute(SPIN_TWO_PROCESSES).value
        assert threads == "1"
        if not sandbox.enforcement["cpus"].startswith("cgroup"):
            pytest.skip(sandbox.enforcement["cpus"])
        assert used < 0.9, f"two processes spinning for 1 s under 0.5 CPUs used {used:.2f} s"
