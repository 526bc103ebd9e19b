"""The host's side of forking a session: the gate that lets a fork's system calls through, the
checks that each copy is confined like a fresh session, and the freeze of the forked process.

A fork leaves the session's process behind as a frozen template: it is stopped, its other
processes are killed, and the session goes on in one of the copies. Nothing that could still run
the agent's code can then see the copies, whose pid namespaces nest inside the template's. The
templates of a family live until its last session closes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import platform
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from envtorch.sandbox.errors import SandboxUnavailable
from envtorch.sandbox.guest.confine import SESSION_NAMESPACES

NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101
FLAG_CONTINUE = 1
NOTIFICATION = struct.Struct("=QII iIQ 6Q")
RESPONSE = struct.Struct("=QqiI")
COPY_MOUNTS = 3
FREEZE_TIMEOUT = 5.0
PROCMAP_QUERY = 0xC0686611
PROCMAP_QUERY_SIZE = 104
"""The size of `struct procmap_query`, which starts with its size and the query's flags."""
WRITABLE_SHARED_OR_NEXT = 0x02 | 0x08 | 0x10
"""PROCMAP_QUERY_VMA_WRITABLE | PROCMAP_QUERY_VMA_SHARED | PROCMAP_QUERY_COVERING_OR_NEXT_VMA."""
NAMESPACES = ("pid", "user", "mnt", "net", "ipc", "uts")
SYSCALLS = {
    "x86_64": {"clone": 56, "mount": 165},
    "aarch64": {"clone": 220, "mount": 40},
    "riscv64": {"clone": 220, "mount": 40},
    "ppc64le": {"clone": 120, "mount": 21},
}.get(platform.machine(), {})


class Family:
    """The sessions descending from one opened session: their shared seccomp listener, the frozen
    templates their forks left behind, and how many of them are still open."""

    def __init__(self, listener: int, sandbox_level: int) -> None:
        self.listener = listener
        self.sandbox_level = sandbox_level
        self.lock = threading.Lock()
        self._templates: list[tuple[int, Callable[[], None]]] = []
        self._members = 1
        self._count_lock = threading.Lock()

    def join(self) -> None:
        """One more open session belongs to the family."""
        with self._count_lock:
            self._members += 1

    def keep_template(self, pidfd: int, release: Callable[[], None]) -> None:
        """Keep a frozen process until the family ends; `release` then frees its resources."""
        with self._count_lock:
            self._templates.append((pidfd, release))

    def leave(self) -> None:
        """One session closed; the last one to close ends the templates and the listener."""
        with self._count_lock:
            self._members -= 1
            if self._members > 0:
                return
            templates, self._templates = self._templates, []
        for pidfd, release in templates:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.close(pidfd)
            release()
        os.close(self.listener)


class Gate:
    """Answers the seccomp notifications of a family while one of its sessions forks.

    It lets through exactly what `count` copies of process `parent` need: `count` clones into
    new namespaces by `parent`'s main thread, then `COPY_MOUNTS` mounts by each of its new
    children, once `map_user` has mapped the session user in all of them. Everything else is
    refused with EPERM.
    """

    def __init__(
        self,
        family: Family,
        parent: int,
        count: int,
        map_user: Callable[[int, list[int]], None],
    ) -> None:
        self._family = family
        self._parent = parent
        self._clones_left = count
        self._count = count
        self._map_user = map_user
        self._mounts_left: dict[int, int] = {}
        self._held: list[int] = []
        self._failure: str | None = None
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="envtorch-fork-gate")

    def __enter__(self) -> Gate:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.write(self._wake_write, b"x")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)

    @property
    def failure(self) -> str | None:
        """Why the copies could not be let through, if something failed."""
        return self._failure

    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self._family.listener, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while True:
            ready = dict(poller.poll())
            if self._wake_read in ready:
                return
            self._answer_one()

    def _answer_one(self) -> None:
        buffer = bytearray(NOTIFICATION.size)
        try:
            fcntl.ioctl(self._family.listener, NOTIF_RECV, buffer, True)
        except OSError:
            return
        request, pid, _, number, _, _, flags, *_ = NOTIFICATION.unpack(buffer)
        if number == SYSCALLS.get("clone") and self._may_clone(pid, flags):
            self._clones_left -= 1
            _respond(self._family.listener, request, allow=True)
        elif number == SYSCALLS.get("mount") and self._is_new_copy(pid):
            self._pass_mount(request, pid)
        else:
            _respond(self._family.listener, request, allow=False)

    def _may_clone(self, pid: int, flags: int) -> bool:
        expected = SESSION_NAMESPACES | signal.SIGCHLD
        return pid == self._parent and flags == expected and self._clones_left > 0

    def _is_new_copy(self, pid: int) -> bool:
        if pid in self._mounts_left:
            return True
        if len(self._mounts_left) >= self._count or parent_of(pid) != self._parent:
            return False
        self._mounts_left[pid] = COPY_MOUNTS
        return True

    def _pass_mount(self, request: int, pid: int) -> None:
        """Hold each copy's first mount until every copy is there and mapped, then let mounts
        through up to `COPY_MOUNTS` per copy."""
        if self._mounts_left[pid] <= 0 or self._failure is not None:
            _respond(self._family.listener, request, allow=False)
            return
        self._mounts_left[pid] -= 1
        if self._mounts_left[pid] < COPY_MOUNTS - 1:
            _respond(self._family.listener, request, allow=True)
            return
        self._held.append(request)
        if len(self._held) < self._count:
            return
        try:
            self._map_user(self._parent, list(self._mounts_left))
        except SandboxUnavailable as error:
            self._failure = str(error)
        for held in self._held:
            _respond(self._family.listener, held, allow=self._failure is None)
        self._held = []


def _respond(listener: int, request: int, *, allow: bool) -> None:
    if allow:
        response = RESPONSE.pack(request, 0, 0, FLAG_CONTINUE)
    else:
        response = RESPONSE.pack(request, 0, -errno.EPERM, 0)
    with contextlib.suppress(OSError):
        fcntl.ioctl(listener, NOTIF_SEND, bytearray(response), True)


def parent_of(pid: int) -> int:
    """The parent pid of `pid`, or 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def namespace_pids(pid: int) -> list[int]:
    """`pid` as each pid namespace from ours down to its own sees it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(field) for field in line.split()[1:]]
    raise SandboxUnavailable(f"the kernel does not report the pid namespaces of {pid}")


def refuse_shared_memory(pid: int) -> None:
    """Refuse to fork a session whose copies would share memory."""
    if _has_shared_mapping(pid):
        raise SandboxUnavailable(
            "the session maps writable shared memory (mmap with MAP_SHARED, or shared state "
            "of multiprocessing); its copies would share it, so it cannot fork"
        )


def check_confined(parent: int, copies: list[int]) -> None:
    """Refuse copies that share anything with `parent` or each other that two fresh sessions
    would not: a namespace, a process group, a working directory, an open file or socket, a
    shared mapping; or that kept a capability."""
    if len(set(copies)) != len(copies):
        raise SandboxUnavailable("two copies of the fork answered from the same process")
    seen: dict[str, set[str]] = {kind: {_namespace(parent, kind)} for kind in NAMESPACES}
    files = _open_files(parent)
    workspaces = {os.stat(f"/proc/{parent}/cwd").st_dev}
    for pid in copies:
        if parent_of(pid) != parent:
            raise SandboxUnavailable(f"process {pid} is not a copy made by the forked session")
        if not _leads_own_session(pid) or _holds_capabilities(pid):
            raise SandboxUnavailable("a copy kept its capabilities or its parent's process group")
        for kind in NAMESPACES:
            namespace = _namespace(pid, kind)
            if namespace in seen[kind]:
                raise SandboxUnavailable(f"a copy shares its {kind} namespace")
            seen[kind].add(namespace)
        own = _open_files(pid)
        if own & files:
            raise SandboxUnavailable("a copy shares an open file or socket")
        files |= own
        workspace = os.stat(f"/proc/{pid}/cwd").st_dev
        if workspace in workspaces:
            raise SandboxUnavailable("a copy shares its workspace")
        workspaces.add(workspace)
        refuse_shared_memory(pid)


def _leads_own_session(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[2]) == pid and int(stat[3]) == pid


def _holds_capabilities(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("CapEff:", "CapPrm:")) and int(line.split()[1], 16) != 0:
            return True
    return False


def _namespace(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _open_files(pid: int) -> set[tuple[int, int]]:
    """The identities of the files and sockets `pid` holds open, `/dev/null` left out."""
    found = set()
    directory = f"/proc/{pid}/fd"
    for name in os.listdir(directory):
        path = f"{directory}/{name}"
        with contextlib.suppress(OSError):
            if os.readlink(path) == "/dev/null":
                continue
            info = os.stat(path)
            found.add((info.st_dev, info.st_ino))
    return found


def _has_shared_mapping(pid: int) -> bool:
    """Whether `pid` maps memory that is writable and shared (read-only files do not count)."""
    with open(f"/proc/{pid}/maps", "rb") as maps:
        found = _query_writable_and_shared(maps.fileno())
        if found is not None:
            return found
        return any(_writable_and_shared(line.split(maxsplit=2)[1]) for line in maps)


def _query_writable_and_shared(maps: int) -> bool | None:
    """Ask the kernel for the first writable and shared mapping in one `PROCMAP_QUERY` ioctl
    on an open maps file (Linux 6.11 and later), without printing the maps as text; None where
    the kernel lacks the ioctl."""
    query = bytearray(PROCMAP_QUERY_SIZE)
    struct.pack_into("=QQ", query, 0, PROCMAP_QUERY_SIZE, WRITABLE_SHARED_OR_NEXT)
    try:
        fcntl.ioctl(maps, PROCMAP_QUERY, query, True)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return False
        if error.errno in (errno.ENOTTY, errno.EINVAL):
            return None
        raise
    return True


def _writable_and_shared(permissions: bytes) -> bool:
    return permissions[1:2] == b"w" and permissions[3:4] == b"s"


def freeze(pidfd: int, pid: int, keep: Iterable[int]) -> None:
    """Stop process `pid` for good and kill every other process of its pid namespace but the
    copies in `keep` and what runs inside them."""
    signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
    deadline = time.monotonic() + FREEZE_TIMEOUT
    keep = set(keep)
    while True:
        others = [other for other in _tree(pid, keep) if _state(other) not in "XZ"]
        for other in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(other, signal.SIGKILL)
        if not others and _state(pid) in "TtXZ":
            return
        if time.monotonic() > deadline:
            raise SandboxUnavailable("the forked session did not stop")
        os.sched_yield()


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat.rsplit(")", 1)[1].split()[0]


def _tree(root: int, keep: set[int]) -> list[int]:
    """The descendants of `root`, without the processes in `keep` and theirs."""
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    for child in map(int, children):
                        if child not in keep:
                            found.append(child)
                            frontier.append(child)
    return found
