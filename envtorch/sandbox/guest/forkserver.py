"""The fork server, called the zygote: a warm Python inside bubblewrap that forks one confined
session per request.

It reads its profile from the host, imports the standard library once, builds the seccomp filter
once, checks that sessions can be confined here, and then forks a session for every `Open`. The
session's socket goes back to the host with `SCM_RIGHTS`; from then on the host and the session
talk directly. The zygote exits when the host closes the control socket, which ends the sandbox.
"""

from __future__ import annotations

import array
import gc
import importlib
import linecache
import os
import signal
import socket
from types import CodeType

import msgspec

from . import confine
from .channel import (
    ChannelError,
    Config,
    FrameReader,
    Hello,
    Mapped,
    MapUser,
    Open,
    Opened,
    Ready,
    pack,
)
from .interpreter import Interpreter

PRELOADED = (
    "argparse",
    "base64",
    "bisect",
    "collections",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "inspect",
    "io",
    "itertools",
    "json",
    "math",
    "operator",
    "pathlib",
    "pprint",
    "random",
    "re",
    "statistics",
    "string",
    "subprocess",
    "textwrap",
    "typing",
    "unicodedata",
)
CONTROL_FRAME_LIMIT = 1 << 20
PRELUDE_FILE = "<prelude>"
_zygote_alive: list[int] = []


def main(control_fd: int) -> None:
    """Serve the host on the control socket `control_fd` until it closes it."""
    control = socket.socket(fileno=control_fd)
    reader = FrameReader(
        control, msgspec.json.Decoder(Config | Open | MapUser), CONTROL_FRAME_LIMIT
    )
    config = reader.read()
    if not isinstance(config, Config):
        raise ChannelError("the first control frame must be the sandbox configuration")
    confine.drop_root()
    _preload()
    prelude = _compiled_prelude(config.prelude)
    seccomp_program = confine.build_filter()
    error = confine.probe_namespaces()
    _zygote_alive.extend(os.pipe())
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap_children)
    control.sendall(pack(Ready(error=error)))
    if error is not None:
        return
    while True:
        try:
            message = reader.read()
        except EOFError:
            return
        if isinstance(message, Open):
            _fork_session(control, config, seccomp_program, prelude)
        elif isinstance(message, MapUser):
            control.sendall(pack(Mapped(error=_map_user(message))))


def _map_user(request: MapUser) -> str | None:
    """Map the session user of a fork's copies from a throwaway child that joins their parent's
    user namespace, the only place an id map may be written from; None on success."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            confine.join_user_namespace(os.pidfd_open(request.parent))
            for copy in request.copies:
                confine.map_session_user(copy)
        except OSError as error:
            os.write(write_end, str(error).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        message = reader.read().decode(errors="replace")
    return message or None


def _compiled_prelude(source: str) -> CodeType | None:
    """The host's prelude, compiled once here and run in each session's namespace."""
    if not source:
        return None
    linecache.cache[PRELUDE_FILE] = (len(source), None, source.splitlines(True), PRELUDE_FILE)
    return compile(source, PRELUDE_FILE, "exec", dont_inherit=True)


def _preload() -> None:
    for name in PRELOADED:
        importlib.import_module(name)


def _reap_children(signum: int, frame: object) -> None:
    """Collect ended sessions."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _fork_session(
    control: socket.socket, config: Config, seccomp_program: bytes, prelude: CodeType | None
) -> None:
    host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    uid, gid = os.getuid(), os.getgid()
    if confine.fork_into_namespaces() == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control.close()
        host_end.close()
        _become_session(guest_end, config, seccomp_program, prelude, (uid, gid))
    guest_end.close()
    fds = array.array("i", [host_end.fileno()])
    control.sendmsg([pack(Opened())], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    host_end.close()


def _become_session(
    sock: socket.socket,
    config: Config,
    seccomp_program: bytes,
    prelude: CodeType | None,
    zygote_ids: tuple[int, int],
) -> None:
    """Runs in the forked child (pid 1 of its namespace) and never returns: it confines itself,
    then serves the host.

    It dies with the zygote, and the zygote ends when the host closes the control socket or dies,
    so no session outlives its host.
    """
    try:
        os.close(_zygote_alive[1])
        confine.die_with_parent()
        confine.lead_own_process_group()
        if confine.closed(_zygote_alive[0]):
            os._exit(1)
        confine.enter_namespaces(*zygote_ids, workspace_size=config.workspace_size)
        os.chdir(confine.WORKSPACE)
        _close_fds_except(sock.fileno())
        interpreter = Interpreter(sock, config.max_output, config.workspace_size)
        if prelude is not None:
            exec(prelude, interpreter.namespace)
        listener = confine.restrict(seccomp_program, config)
        fds = array.array("i", [listener])
        sock.sendmsg([pack(Hello())], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        os.close(listener)
    except BaseException as error:
        _report_and_exit(sock, error)
    try:
        interpreter.serve()
    finally:
        os._exit(0)


def _close_fds_except(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)


def _report_and_exit(sock: socket.socket, error: BaseException) -> None:
    try:
        sock.sendall(pack(Hello(error=f"{type(error).__name__}: {error}")))
    finally:
        os._exit(1)
