"""`Sandbox`: a warm zygote for one limits profile, and the sessions it forks."""

from __future__ import annotations

import itertools
import socket
import threading
import weakref
from collections.abc import Mapping

from envtorch.sandbox.bwrap import thread_pool_size
from envtorch.sandbox.cgroups import CgroupTree
from envtorch.sandbox.errors import SandboxUnavailable
from envtorch.sandbox.limits import SandboxLimits
from envtorch.sandbox.session import SandboxSession, Tool, tool_specs
from envtorch.sandbox.watchdog import start_watchdog
from envtorch.sandbox.zygote import Zygote


class Sandbox:
    """Isolated, persistent Python sessions without Docker, all under one `SandboxLimits` profile.

    The zygote (a Python inside bubblewrap with the standard library loaded) starts on the first
    `open()`; each session is a process forked from it into its own user, mount and pid
    namespaces, with a private `/tmp`, no network, a seccomp filter, rlimits, an unprivileged
    uid, and pids and memory caps. `enforcement` says how each limit is enforced on this
    machine: memory by a cgroup where one is writable, else by a host-side watchdog over each
    session's processes. `open()` is thread-safe; `close()` ends the zygote and every session.

    `prelude` is Python source that runs in every new session's namespace before its first
    step, compiled once in the zygote: helpers every session should have cost nothing per open.
    A prelude that raises makes `open()` fail with its error.

        with Sandbox() as sandbox, sandbox.open(tools={"add": add}) as session:
            session.execute("x = add(1, 2)")
            session.execute("x * 10").value   # 30
    """

    def __init__(self, limits: SandboxLimits | None = None, *, prelude: str = "") -> None:
        self.limits = limits or SandboxLimits()
        self.prelude = prelude
        self.enforcement: dict[str, str] = {}
        self._lock = threading.Lock()
        self._zygote: Zygote | None = None
        self._set_aside: list[Zygote] = []
        self._cgroups: CgroupTree | None = None
        self._cgroups_tried = False
        self._watchdog: threading.Event | None = None
        self._sessions: weakref.WeakSet[SandboxSession] = weakref.WeakSet()
        self._numbers = itertools.count()
        self._closed = False

    def open(self, tools: Mapping[str, Tool] | None = None) -> SandboxSession:
        """A new session whose namespace holds a stub for each host tool in `tools`.

        Raises `SandboxUnavailable` with the reason and the fix when sessions cannot be confined
        on this machine.
        """
        tools = dict(tools or {})
        specs, signatures = tool_specs(tools)
        zygote, sock = self._spawn()
        session = SandboxSession(
            sock,
            tools=tools,
            specs=specs,
            signatures=signatures,
            limits=self.limits,
            cgroups=self._cgroups,
            key=f"session-{next(self._numbers)}",
            zygote=zygote,
            adopt=self._adopt,
        )
        self._adopt(session)
        return session

    def _adopt(self, session: SandboxSession) -> None:
        """Count `session` (new or forked) among this sandbox's, or close it if this one is."""
        with self._lock:
            if not self._closed:
                self._sessions.add(session)
                return
        session.close()
        raise SandboxUnavailable("this Sandbox was closed; create a new one")

    def _spawn(self) -> tuple[Zygote, socket.socket]:
        """A running zygote and a new session socket from it, restarting it once if it died."""
        zygote = self._running_zygote()
        try:
            return zygote, zygote.spawn()
        except SandboxUnavailable:
            if zygote.alive:
                raise
        zygote = self._running_zygote()
        return zygote, zygote.spawn()

    def _running_zygote(self) -> Zygote:
        """The zygote to ask for a session: a fresh one when the last died or fell out of step.

        One out of step but alive is set aside, not stopped, so the sessions it forked live on
        until `close()`.
        """
        with self._lock:
            if self._closed:
                raise SandboxUnavailable("this Sandbox was closed; create a new one")
            if self._zygote is not None and not self._zygote.alive:
                self._zygote.close()
                self._zygote = None
            if self._zygote is not None and not self._zygote.in_step:
                self._set_aside.append(self._zygote)
                self._zygote = None
            if self._zygote is None:
                self._zygote = Zygote(self.limits, self.prelude)
                if not self._cgroups_tried:
                    self._cgroups_tried = True
                    self._cap_memory()
            return self._zygote

    def _cap_memory(self) -> None:
        """Cap each session's pids and memory through a cgroup, else watch its memory from here."""
        self._cgroups, note = CgroupTree.create("sandbox", cpu=self.limits.cpus is not None)
        if self._cgroups is None:
            self._watchdog = start_watchdog(self, lambda: list(self._sessions))
        self.enforcement = _enforcement(self._cgroups, note, self.limits)

    def close(self) -> None:
        """Close every session and stop the zygote. Idempotent."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions)
            zygotes = [zygote for zygote in (*self._set_aside, self._zygote) if zygote is not None]
            self._zygote, self._set_aside = None, []
            cgroups, self._cgroups = self._cgroups, None
            if self._watchdog is not None:
                self._watchdog.set()
        for session in sessions:
            session.close()
        for zygote in zygotes:
            zygote.close()
        if cgroups is not None:
            cgroups.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _enforcement(cgroups: CgroupTree | None, note: str, limits: SandboxLimits) -> dict[str, str]:
    """How each `SandboxLimits` field is enforced, given the cgroup tree (or why there is none)."""
    processes = "RLIMIT_NPROC in each session's own user namespace"
    threads = f"thread pools of OpenMP, OpenBLAS and MKL sized to {thread_pool_size(limits)}"
    if cgroups is not None:
        memory = f"cgroup v{cgroups.version}"
        processes = f"{memory} and {processes}"
        cpus = f"{cgroups.cpu}; {threads}"
    else:
        memory = f"host watchdog over each session's processes ({note})"
        cpus = f"no CPU quota ({note}); {threads}"
    return {
        "cpus": cpus if limits.cpus is not None else threads,
        "hidden": "an empty read-only mount over each path",
        "memory": memory,
        "processes": processes,
        "address_space": "RLIMIT_AS of each process",
        "cpu_time": "RLIMIT_CPU of each process",
        "file_size": "RLIMIT_FSIZE",
        "open_files": "RLIMIT_NOFILE",
        "workspace_size": "size of the private tmpfs /tmp and /dev/shm",
        "timeout": "a soft alarm in the session, then a kill after kill_grace",
        "max_output": "the host cuts every field of a result",
    }
