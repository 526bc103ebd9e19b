"""A sandboxed session as the host sees it: execute code, serve tool calls, kill if needed."""

from __future__ import annotations

import contextlib
import inspect
import keyword
import os
import signal
import socket
import stat
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import msgspec

from envtorch.core.jsontypes import check_arguments, signature_of
from envtorch.sandbox import forking, watchdog
from envtorch.sandbox.cgroups import CgroupTree
from envtorch.sandbox.errors import SandboxUnavailable, SessionDead
from envtorch.sandbox.guest.channel import (
    MARKER_ROOM,
    ChannelError,
    ErrorInfo,
    Execute,
    Fork,
    Forked,
    FrameReader,
    Hello,
    Result,
    Setup,
    ToolCall,
    ToolReturn,
    ToolSpec,
    capped,
    frame_limit,
    pack,
    pack_json,
    receive_with_fds,
)
from envtorch.sandbox.guest.confine import WORKSPACE
from envtorch.sandbox.limits import MiB, SandboxLimits
from envtorch.sandbox.results import ExceptionInfo, ExecutionResult

if TYPE_CHECKING:
    from envtorch.sandbox.zygote import Zygote

HELLO_TIMEOUT = 10.0
FORK_TIMEOUT = 10.0
CAPTURE_LINKS = {1: "/memfd:stdout", 2: "/memfd:stderr"}
RESERVED_NAMES = frozenset({"list_tools"})
_UCRED = struct.Struct("iII")
_session_messages = msgspec.json.Decoder(Hello | ToolCall | Result | Forked)

Tool = Callable[..., Any]


Signatures = dict[str, inspect.Signature | None]


def tool_specs(tools: Mapping[str, Tool]) -> tuple[list[ToolSpec], Signatures]:
    """Validate host tools and describe them, reading each one's signature once: for the
    sandbox a name, a signature text and a docstring each; for the host the signatures their
    arguments are checked against (`envtorch.core.jsontypes.check_arguments`)."""
    specs = []
    signatures: Signatures = {}
    for name, tool in tools.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"tool name {name!r} is not a Python identifier")
        if name in RESERVED_NAMES or name.startswith("__"):
            raise ValueError(f"tool name {name!r} is reserved")
        if not callable(tool):
            raise TypeError(f"tool {name!r} is not callable: {tool!r}")
        signature = signatures[name] = signature_of(tool)
        text = "(*args, **kwargs)" if signature is None else str(signature)
        specs.append(ToolSpec(name=name, signature=text, doc=inspect.getdoc(tool) or ""))
    return specs, signatures


class SandboxSession:
    """One persistent Python namespace in its own confined process tree.

    Created by `Sandbox.open()`, which gives it `tools` and their `specs` and `signatures` from
    `tool_specs`.
    `execute()` may be called from any thread; calls on one session run one at a time, and
    different sessions run in parallel. Tools run on the host, in the thread that called
    `execute()`. `fork(n)` gives `n` independent copies of the session as it is now. `close()` is
    idempotent and safe from any thread.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        tools: Mapping[str, Tool],
        specs: list[ToolSpec],
        signatures: Signatures,
        limits: SandboxLimits,
        cgroups: CgroupTree | None,
        key: str,
        zygote: Zygote,
        adopt: Callable[[SandboxSession], None],
        family: forking.Family | None = None,
    ) -> None:
        self._sock = sock
        self._tools = dict(tools)
        self._signatures = signatures
        self._limits = limits
        self._cgroups = cgroups
        self._key = key
        self._zygote = zygote
        self._adopt = adopt
        self._family = family
        self._forks = 0
        self._groups: list[Path] = []
        self._reader = FrameReader(sock, _session_messages, frame_limit(limits.max_output))
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pidfd: int | None = None
        self._dead_reason: str | None = None
        self._request_id = 0
        try:
            self._pid = self._receive_hello(time.monotonic() + HELLO_TIMEOUT)
            self._pidfd = os.pidfd_open(self._pid)
            if cgroups is not None:
                self._groups = cgroups.add_session(
                    key,
                    self._pid,
                    memory=limits.memory,
                    processes=limits.processes,
                    cpus=limits.cpus,
                )
            if specs:
                self._sock.sendall(pack(Setup(tools=specs)))
        except (OSError, EOFError, ChannelError) as error:
            self._kill("the session failed to start")
            raise SandboxUnavailable(f"the session failed to start: {error}") from error
        except BaseException:
            self._kill("the session failed to start")
            raise

    def _receive_hello(self, deadline: float) -> int:
        """Read the session's hello, the host pid the kernel attached to it and, from a new
        session, its seccomp listener, which founds the session's family."""
        self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
        space = socket.CMSG_SPACE(_UCRED.size) + socket.CMSG_SPACE(4)
        data, ancillary, _, _ = self._sock.recvmsg(1 << 12, space, socket.MSG_CMSG_CLOEXEC)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
        pid, listener = 0, None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _UCRED.unpack_from(payload)[0]
            elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                listener = int.from_bytes(payload[:4], sys.byteorder, signed=True)
        if listener is not None:
            self._found_family(listener, pid)
        if not data:
            raise SandboxUnavailable("the session exited while starting")
        self._reader.feed(data)
        hello = self._reader.read(deadline)
        if not isinstance(hello, Hello):
            raise SandboxUnavailable(f"the session sent {type(hello).__name__} before hello")
        if hello.error is not None:
            raise SandboxUnavailable(f"the session could not confine itself: {hello.error}")
        if pid <= 0:
            raise SandboxUnavailable("the kernel did not report the session's process id")
        if self._family is None:
            raise SandboxUnavailable("the session did not hand over its seccomp listener")
        return pid

    def _found_family(self, listener: int, pid: int) -> None:
        if self._family is not None or pid <= 0:
            os.close(listener)
            raise SandboxUnavailable("a forked copy sent a seccomp listener")
        self._family = forking.Family(listener, len(forking.namespace_pids(pid)) - 2)

    @property
    def pid(self) -> int:
        """The host pid of the session's pid 1; its pid namespace holds every other process."""
        return self._pid

    @property
    def alive(self) -> bool:
        """Whether the session can still execute code."""
        return self._dead_reason is None

    @property
    def tools(self) -> list[str]:
        """The names of the host tools this session's namespace can call."""
        return list(self._tools)

    def memory_in_use(self) -> int:
        """Bytes of anonymous memory resident in the session's processes together; 0 once dead."""
        return 0 if self._pidfd is None else watchdog.memory_in_use(self._pid)

    def enforce_memory_cap(self) -> None:
        """Kill the session if its processes together hold more than `SandboxLimits.memory`.

        The sandbox's watchdog calls this where no cgroup caps memory; an execution in progress
        then returns `killed=True` saying so.
        """
        if self.memory_in_use() > self._limits.memory:
            self._kill(self._memory_cap_reason())

    def _memory_cap_reason(self) -> str:
        return f"the session exceeded its memory cap ({self._limits.memory // MiB} MiB)"

    def execute(self, code: str, *, timeout: float | None = None) -> ExecutionResult:
        """Run `code` in the session's namespace and return what happened.

        The soft `timeout` (default `SandboxLimits.timeout`) raises inside the code and keeps
        the namespace; if the code has not stopped `SandboxLimits.kill_grace` seconds later, the
        session is killed and the result says `killed=True`. Raises `SessionDead` on a closed or
        killed session.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        timeout = self._limits.timeout if timeout is None else float(timeout)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        with self._lock:
            self._require_alive()
            started = time.perf_counter()
            deadline = time.monotonic() + timeout + self._limits.kill_grace
            self._request_id += 1
            try:
                self._send(Execute(id=self._request_id, code=code, timeout=timeout), deadline)
                result = self._await_result(self._request_id, deadline)
            except TimeoutError:
                return self._killed(started, "the code ignored the soft timeout", timed_out=True)
            except ChannelError as error:
                return self._killed(started, f"the session broke the protocol: {error}")
            except (EOFError, OSError):
                return self._killed(started, self._death_reason())
            except Exception as error:
                return self._killed(started, f"the session failed unexpectedly: {error!r}")
            return _result(result, time.perf_counter() - started, self._limits.max_output)

    def read_file(self, path: str, limit: int) -> bytes:
        """The bytes of a regular file in the session's workspace, read from the host.

        Safe to call from a host tool while the session waits for it. What the session wrote is
        hostile input: `path` must stay inside the workspace, no symbolic link is followed, and a
        FIFO, a device or a file larger than `limit` bytes is refused with a `ValueError`.
        Raises `FileNotFoundError` for a missing file and `SessionDead` for a dead session.
        """
        parts = PurePosixPath(path).parts
        if not parts or parts[0] == "/" or ".." in parts:
            raise ValueError(f"{path!r} is not a path inside the workspace")
        directory = self._open_workspace()
        try:
            for part in parts[:-1]:
                directory = _open_below(directory, part, os.O_DIRECTORY, path)
            file = _open_below(directory, parts[-1], os.O_NONBLOCK | os.O_NOCTTY, path)
        finally:
            os.close(directory)
        try:
            if not stat.S_ISREG(os.fstat(file).st_mode):
                raise ValueError(f"{path!r} is not a regular file")
            data = _read_at_most(file, limit + 1)
        finally:
            os.close(file)
        if len(data) > limit:
            raise ValueError(f"{path!r} is larger than {limit} bytes")
        return data

    def _open_workspace(self) -> int:
        """A descriptor of the workspace as the session sees it, checked to belong to the session.

        The session is checked alive after the open, under the lock that `_kill` takes before
        closing its pidfd: its pid cannot have been reused by another process in between.
        """
        with self._state_lock:
            if self._pidfd is None:
                raise SessionDead(f"{self._dead_reason}; open a new session")
            root = os.open(f"/proc/{self._pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                signal.pidfd_send_signal(self._pidfd, 0)
                return _open_below(root, WORKSPACE.lstrip("/"), os.O_DIRECTORY, WORKSPACE)
            except ProcessLookupError:
                raise SessionDead("the session's process died; open a new session") from None
            finally:
                os.close(root)

    def bind_tools(self, tools: Mapping[str, Tool]) -> None:
        """Have this session's namespace call `tools` from now on: the host functions behind its
        tool names, which must be the names it has. A fork's copies call the same host functions
        as the session they came from until they bind their own."""
        if set(tools) != set(self._tools):
            raise ValueError(
                f"bind_tools needs the session's tool names {sorted(self._tools)}, "
                f"got {sorted(tools)}"
            )
        self._signatures = tool_specs(tools)[1]
        self._tools = dict(tools)

    def fork(self, count: int) -> list[SandboxSession]:
        """`count` new sessions that go on from this one as it is now: its namespace and
        everything its interpreter holds, and its workspace's files.

        Each copy is confined like a fresh session: its own user, pid, mount, network, ipc and
        uts namespaces, process group, workspace and devpts, so that no copy can see, signal or
        reach this session or another copy. A fork copies the interpreter as `os.fork()` does:
        the session's other processes do not carry over, and open files and sockets point at
        `/dev/null` in the copies. This session goes on in a further copy of its own; the
        process it forked from stays frozen until the last session of the family closes.

        Raises `SandboxUnavailable` when the session cannot fork (shared memory, the process
        limit of `SandboxLimits.processes`, forks nested more than about 30 deep); it lives on
        if the failure came before any copy ran, and is closed otherwise.
        """
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        self._require_alive()
        family = self._family
        assert family is not None
        with self._lock, family.lock:
            self._require_alive()
            forking.refuse_shared_memory(self._pid)
            copies = self._fork_copies(count + 1, family)
            try:
                forking.check_confined(self._pid, [copy.pid for copy in copies])
                assert self._pidfd is not None
                forking.freeze(self._pidfd, self._pid, [copy.pid for copy in copies])
            except BaseException:
                for copy in copies:
                    copy.close()
                self._kill("the session failed while forking")
                raise
            self._go_on_in(copies[0], family)
        for copy in copies[1:]:
            self._adopt(copy)
        return copies[1:]

    def _fork_copies(self, count: int, family: forking.Family) -> list[SandboxSession]:
        """Have the session fork `count` copies and greet each; kills them all if one fails."""
        deadline = time.monotonic() + FORK_TIMEOUT
        copies: list[SandboxSession] = []
        sockets: list[socket.socket] = []
        with forking.Gate(family, self._pid, count, self._map_user) as gate:
            try:
                self._send(Fork(count=count), deadline)
                forked, fds = receive_with_fds(self._sock, self._reader, deadline, count)
                sockets = [socket.socket(fileno=fd) for fd in fds]
                self._check_forked(forked, len(fds), count)
                for sock in sockets:
                    family.join()
                    copies.append(self._copy_on(sock))
            except SandboxUnavailable as error:
                self._abandon_fork(copies, sockets)
                raise SandboxUnavailable(gate.failure or str(error)) from None
            except (OSError, EOFError, ChannelError, TimeoutError) as error:
                self._abandon_fork(copies, sockets)
                raise SandboxUnavailable(f"the session failed while forking: {error}") from None
        return copies

    def _check_forked(self, forked: Any, received: int, count: int) -> None:
        if isinstance(forked, Forked) and forked.error is not None and received == 0:
            raise SandboxUnavailable(f"the session could not fork: {_fork_error(forked.error)}")
        if not isinstance(forked, Forked) or forked.count != count or received != count:
            self._kill("the session broke the protocol while forking")
            raise SandboxUnavailable("the session broke the protocol while forking")

    def _copy_on(self, sock: socket.socket) -> SandboxSession:
        self._forks += 1
        return SandboxSession(
            sock,
            tools=self._tools,
            specs=[],
            signatures=self._signatures,
            limits=self._limits,
            cgroups=self._cgroups,
            key=f"{self._key}.{self._forks}",
            zygote=self._zygote,
            adopt=self._adopt,
            family=self._family,
        )

    def _abandon_fork(self, copies: list[SandboxSession], sockets: list[socket.socket]) -> None:
        """A fork failed after copies may have run: they and the session end."""
        for copy in copies:
            copy.close()
        for sock in sockets[len(copies) :]:
            sock.close()
        if copies or len(sockets) > len(copies):
            self._kill("the session failed while forking")

    def _map_user(self, parent: int, copies: list[int]) -> None:
        """Have the zygote map the session user in the copies' new user namespaces."""
        assert self._family is not None
        level = self._family.sandbox_level
        self._zygote.map_user(
            forking.namespace_pids(parent)[level],
            [forking.namespace_pids(copy)[level] for copy in copies],
        )

    def _go_on_in(self, copy: SandboxSession, family: forking.Family) -> None:
        """Continue in `copy`'s process; the forked one becomes a template of the family."""
        assert self._pidfd is not None
        groups, cgroups = self._groups, self._cgroups
        family.keep_template(self._pidfd, lambda: cgroups.release(groups) if cgroups else None)
        self._sock.close()
        self._sock, self._reader, self._pid = copy._sock, copy._reader, copy._pid
        self._pidfd, self._groups, self._key = copy._pidfd, copy._groups, copy._key
        self._forks = 0
        copy._pidfd, copy._groups, copy._family = None, [], None
        copy._dead_reason = "merged into the session it was forked from"
        family.leave()

    def _send(self, message: Any, deadline: float) -> None:
        self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
        self._sock.sendall(pack(message))

    def _await_result(self, request_id: int, deadline: float) -> Result:
        while True:
            message = self._reader.read(deadline)
            if isinstance(message, ToolCall):
                self._send(self._run_tool(message), deadline)
            elif isinstance(message, Result) and message.id == request_id:
                return message

    def _run_tool(self, call: ToolCall) -> ToolReturn:
        """Call a host tool for the sandbox, its arguments checked against its annotations
        (`envtorch.core.jsontypes`); its errors travel back as values."""
        tool = self._tools.get(call.name)
        if tool is None:
            message = f"no tool named {call.name!r} is registered for this session"
            return ToolReturn(id=call.id, error=ErrorInfo(type="NameError", message=message))
        try:
            check_arguments(call.name, self._signatures.get(call.name), call.args, call.kwargs)
            value = tool(*call.args, **call.kwargs)
            pack_json(value)
        except Exception as error:
            info = ErrorInfo(type=type(error).__name__, message=str(error))
            return ToolReturn(id=call.id, error=info)
        return ToolReturn(id=call.id, value=value)

    def _require_alive(self) -> None:
        if self._dead_reason is not None:
            raise SessionDead(f"{self._dead_reason}; open a new session")

    def _death_reason(self) -> str:
        if self._dead_reason is not None:
            return self._dead_reason
        if self._cgroups is not None and self._groups and self._cgroups.out_of_memory(self._groups):
            return self._memory_cap_reason()
        return "the session's process died (a crash, os._exit, or its CPU time limit)"

    def _killed(self, started: float, reason: str, *, timed_out: bool = False) -> ExecutionResult:
        stdout, stderr = self._partial_output(1), self._partial_output(2)
        self._kill(reason)
        return ExecutionResult(
            stdout=stdout,
            stderr=stderr,
            exception=ExceptionInfo(type="SessionKilled", message=f"{reason}; session killed"),
            success=False,
            duration=time.perf_counter() - started,
            timed_out=timed_out,
            killed=True,
        )

    def _partial_output(self, fd: int) -> str:
        """What a session about to be killed wrote to its capture file `fd` so far, if anything.

        Only the session's own memory file is read (never a pipe or FIFO that could block), and
        never more than `SandboxLimits.max_output` bytes.
        """
        if self._pidfd is None:
            return ""
        link = f"/proc/{self._pid}/fd/{fd}"
        try:
            if not os.readlink(link).startswith(CAPTURE_LINKS[fd]):
                return ""
            capture = os.open(link, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return ""
        try:
            data = os.pread(capture, self._limits.max_output, 0)
            size = os.fstat(capture).st_size
        except OSError:
            return ""
        finally:
            os.close(capture)
        text = data.decode("utf-8", errors="replace")
        if size > len(data):
            text += f"\n[... output truncated: {size - len(data)} more bytes]"
        return text

    def _kill(self, reason: str) -> None:
        """End the session's whole process tree: killing its pid 1 ends its pid namespace."""
        with self._state_lock:
            if self._dead_reason is None:
                self._dead_reason = reason
            pidfd, self._pidfd = self._pidfd, None
            groups, self._groups = self._groups, []
            family, self._family = self._family, None
        if pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            os.close(pidfd)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        if self._cgroups is not None and groups:
            self._cgroups.release(groups)
        if family is not None:
            family.leave()

    def close(self) -> None:
        """End the session and everything it started. Idempotent."""
        self._kill("the session was closed")
        with self._lock:
            self._sock.close()

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_below(directory: int, name: str, flags: int, path: str) -> int:
    """Open `name` in `directory` without following a symbolic link."""
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=directory)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path!r} does not exist in the workspace") from None
    except OSError as error:
        raise ValueError(f"{path!r} cannot be read: {error.strerror} at {name!r}") from None


def _read_at_most(fd: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _fork_error(error: str) -> str:
    """The session's reason, with the way out where the kernel's limits were hit."""
    if "No space left" in error or "Too many users" in error:
        return f"{error}; forks nest at most about 30 deep: fork from a shallower episode"
    if "Resource temporarily unavailable" in error:
        return f"{error}; the family reached SandboxLimits.processes: close some copies"
    return error


def _result(result: Result, duration: float, max_output: int) -> ExecutionResult:
    """What the host keeps of a session's result: every field capped, whatever the session sent.

    The session is the attacker's code, so its own caps are not trusted: text fields are cut to
    `max_output` characters (beyond a truncation marker the session may have added), and the
    value is decoded only when it is small enough.
    """
    limit = max_output + MARKER_ROOM
    exception = None
    if result.exception is not None:
        exception = ExceptionInfo(
            type=capped(result.exception.type, limit, "type name"),
            message=capped(result.exception.message, limit, "message"),
            traceback=capped(result.exception.traceback, limit, "traceback"),
        )
    return ExecutionResult(
        stdout=capped(result.stdout, limit, "stdout"),
        stderr=capped(result.stderr, limit, "stderr"),
        value=_value(result.value, max_output),
        exception=exception,
        success=exception is None,
        duration=duration,
        timed_out=result.timed_out,
    )


def _value(raw: msgspec.Raw, max_output: int) -> Any:
    """A result's value as JSON data within `max_output` bytes, a string cut to `max_output`
    characters, or a note saying why it was dropped; never more."""
    body = bytes(raw)
    if len(body) > max_output and not body.startswith(b'"'):
        return f"[value dropped: {len(body)} bytes of JSON exceed the {max_output}-byte limit]"
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return "[value dropped: malformed JSON]"
    if isinstance(value, str):
        return capped(value, max_output + MARKER_ROOM, "value")
    return value
