"""Forking a session: copy-on-write copies of its process, each confined like a fresh session.

The session clones itself once per copy into new user, mount, pid, ipc, uts and network
namespaces (`confine.fork_into_namespaces` with `confine.FORK_MARK`, which the seccomp filter
hands to the host). Each copy is pid 1 of its own pid namespace, leads its own session and
process group, mounts a fresh tmpfs on `/tmp` and `/dev/shm` and its own devpts (each mount let
through by the host once the zygote mapped the copy's user), copies the session's workspace into
its `/tmp`, points every inherited file descriptor at `/dev/null`, takes fresh output captures,
drops the capabilities its new user namespace gave it and greets the host on a socket of its own.
The seccomp filter and the rlimits carry over from the session unchanged, and so does the state
of the `random` module, which Python would otherwise reseed in a forked child.
"""

from __future__ import annotations

import os
import random
import resource
import select
import signal
import socket
import stat
from typing import Any

from . import confine
from .channel import Hello, pack


def fork_copies(count: int, workspace_size: int) -> socket.socket | list[socket.socket]:
    """Fork `count` confined copies.

    In the session, returns the host ends of the copies' sockets; in a copy, returns its own
    end, ready to serve once the caller has taken fresh output captures and said hello. If a
    clone fails, the copies made so far are killed and the error propagates in the session.
    Children of the session are reaped by the kernel from now on: the host freezes the session
    once its copies are up.
    """
    workspace = os.open(confine.WORKSPACE, os.O_RDONLY | os.O_DIRECTORY)
    rng_state = random.getstate()
    reap_children = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    host_ends: list[socket.socket] = []
    copies: list[int] = []
    for _ in range(count):
        host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            pid = confine.fork_into_namespaces(confine.FORK_MARK)
        except OSError:
            _abandon(copies, [*host_ends, host_end, guest_end], workspace, reap_children)
            raise
        if pid == 0:
            signal.signal(signal.SIGCHLD, reap_children)
            random.setstate(rng_state)
            for end in (*host_ends, host_end):
                end.close()
            try:
                _become_copy(guest_end, workspace, workspace_size)
            except BaseException as error:
                _report_and_exit(guest_end, error)
            return guest_end
        guest_end.close()
        host_ends.append(host_end)
        copies.append(pid)
    os.close(workspace)
    return host_ends


def _abandon(
    copies: list[int], sockets: list[socket.socket], workspace: int, reap_children: Any
) -> None:
    """Undo a fork that failed halfway: the copies made so far die, the session lives on."""
    for pid in copies:
        os.kill(pid, signal.SIGKILL)
    for sock in sockets:
        sock.close()
    os.close(workspace)
    signal.signal(signal.SIGCHLD, reap_children)


def _become_copy(sock: socket.socket, workspace: int, workspace_size: int) -> None:
    """Runs in a new copy: its own process group and mounts, the workspace copied, no
    descriptor shared with the session or another copy, no capability left."""
    confine.lead_own_process_group()
    confine.mount_copy_workspace(workspace_size)
    _copy_tree(_open_own_description(workspace), confine.WORKSPACE)
    os.chdir(confine.WORKSPACE)
    _point_inherited_descriptors_at_null(keep=sock.fileno())
    confine.drop_capabilities()


def _open_own_description(directory: int) -> int:
    """The directory open anew: copies reading one shared descriptor would share its offset."""
    try:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=directory)
    finally:
        os.close(directory)


def _report_and_exit(sock: socket.socket, error: BaseException) -> None:
    try:
        sock.sendall(pack(Hello(error=f"{type(error).__name__}: {error}")))
    finally:
        os._exit(1)


def _copy_tree(source_dir: int, target: str) -> None:
    """Copy the directory open as `source_dir` into `target`: files, directories, symlinks and
    their modes; closes `source_dir`."""
    try:
        with os.scandir(source_dir) as entries:
            listed = list(entries)
        for entry in listed:
            path = os.path.join(target, entry.name)
            mode = os.lstat(entry.name, dir_fd=source_dir).st_mode
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(entry.name, dir_fd=source_dir), path)
            elif stat.S_ISDIR(mode):
                os.mkdir(path, stat.S_IMODE(mode) | stat.S_IRWXU)
                child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=source_dir)
                _copy_tree(child, path)
                os.chmod(path, stat.S_IMODE(mode))
            elif stat.S_ISREG(mode):
                _copy_file(source_dir, entry.name, path, stat.S_IMODE(mode))
    finally:
        os.close(source_dir)


def _copy_file(source_dir: int, name: str, path: str, mode: int) -> None:
    source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=source_dir)
    try:
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            size = os.fstat(source).st_size
            copied = 0
            while copied < size:
                sent = os.sendfile(target, source, copied, size - copied)
                if sent == 0:
                    break
                copied += sent
        finally:
            os.close(target)
    finally:
        os.close(source)


def _point_inherited_descriptors_at_null(keep: int) -> None:
    """Every descriptor from 3 up but `keep` now refers to `/dev/null`: nothing the session had
    open (its socket, a workspace file, a pipe) stays shared, and Python objects still holding
    those numbers close `/dev/null` instead of a descriptor opened later."""
    inherited = [fd for fd in _open_descriptors(3) if fd != keep]
    null = os.open("/dev/null", os.O_RDWR)
    for fd in inherited:
        os.dup2(null, fd)
    os.close(null)


def _open_descriptors(first: int) -> list[int]:
    """The open descriptors from `first` up, found in one poll(2) over every number the
    descriptor limit allows, where a number not in use answers POLLNVAL."""
    numbers = range(first, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    poller = select.poll()
    for fd in numbers:
        poller.register(fd, 0)
    unused = {fd for fd, events in poller.poll(0) if events & select.POLLNVAL}
    return [fd for fd in numbers if fd not in unused]
