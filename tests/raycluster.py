"""A real local Ray head for the tests, shared by the pytest-xdist workers of one run.

The first worker that asks starts `ray start --head` bound to 127.0.0.1 with a temp dir of its
own (a head that fails to start, or whose start is interrupted, is killed at once); the others
find its address in a state file. Each worker counts itself in under a file lock and out at the
end of its session; the last one out stops the head by killing, by pid, every process running
with the head's temp dir and their descendants (the head ignores SIGTERM), so nothing is left.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}


class HeadUnavailable(Exception):
    """No Ray head can run here; the message says why."""


def run_folder() -> Path:
    """The folder this test run's head lives in, the same for every xdist worker of the run."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"solo{os.getpid()}")
    return Path(tempfile.gettempdir()) / f"etray-{run[:10]}"


@contextmanager
def shared_head() -> Iterator[str]:
    """The address of the run's Ray head, started if this is the first user; stopped on exit
    if this was the last."""
    folder = run_folder()
    with _locked(folder):
        state = _read_state(folder)
        if state is None or not _alive(state["pid"]):
            stop_head(folder)
            folder.mkdir()
            try:
                state = {"address": _start_head(folder), "pid": _gcs_pid(folder), "users": 0}
            except BaseException:
                stop_head(folder)
                raise
        state["users"] += 1
        _write_state(folder, state)
    try:
        yield state["address"]
    finally:
        with _locked(folder):
            state = _read_state(folder) or {"users": 1}
            state["users"] -= 1
            if state["users"] > 0:
                _write_state(folder, state)
            else:
                stop_head(folder)


def stop_head(folder: Path) -> None:
    """Kill every process of the head in `folder` by pid until none is left, then remove it."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while pids := head_pids(folder):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Ray head processes {pids} outlived SIGKILL for {STOP_TIMEOUT} s")
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    shutil.rmtree(folder, ignore_errors=True)


def head_pids(folder: Path) -> list[int]:
    """The live processes of the head in `folder`: those whose command line names its temp dir
    (its daemons), and their descendants (workers, actors and what they started)."""
    marker = str(folder / "ray").encode()
    parents: dict[int, int] = {}
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] in ("Z", "X"):
                continue
            parents[int(entry.name)] = int(stat[1])
            if marker in (entry / "cmdline").read_bytes():
                roots.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return [pid for pid in parents if _descends(pid, set(roots), parents)]


def _descends(pid: int, roots: set[int], parents: dict[int, int]) -> bool:
    """True when `pid` is one of `roots` or a descendant of one."""
    for _ in range(64):
        if pid in roots:
            return True
        if pid not in parents:
            return False
        pid = parents[pid]
    return False


def _start_head(folder: Path) -> str:
    """Start a head on 127.0.0.1; its address, or `HeadUnavailable` saying why not."""
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        raise HeadUnavailable("ray is not installed: pip install 'envtorch[ray]'")
    port, dashboard_port, agent_port = _free_ports(3)
    command = [
        str(ray),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        f"--dashboard-port={dashboard_port}",
        f"--dashboard-agent-listen-port={agent_port}",
        "--disable-usage-stats",
        f"--temp-dir={folder / 'ray'}",
    ]
    try:
        started = subprocess.run(
            command,
            env={**os.environ, **RAY_ENV},
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise HeadUnavailable(f"ray start did not return within {START_TIMEOUT:g} s") from None
    if started.returncode != 0:
        raise HeadUnavailable(f"ray start failed: {started.stderr[-2000:]}")
    return f"127.0.0.1:{port}"


def _gcs_pid(folder: Path) -> int:
    """The pid of the head's GCS server: while it lives, the head does."""
    for pid in head_pids(folder):
        if b"gcs_server" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise HeadUnavailable("ray start returned but its GCS server is not running")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_state(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "head.json").read_text())
    except FileNotFoundError:
        return None


def _write_state(folder: Path, state: dict) -> None:
    (folder / "head.json").write_text(json.dumps(state))


def _alive(pid: int) -> bool:
    entry = Path(f"/proc/{pid}")
    return entry.exists() and not _zombie(entry)


def _zombie(entry: Path) -> bool:
    try:
        return (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True
