"""Confinement of the zygote and of each session, applied from inside the bubblewrap sandbox.

The zygote gives up root (if bubblewrap ran it as root) so that per-process limits hold. Each
session then enters its own user, mount, pid, ipc, uts and network namespaces and its own
session and process group, mounts a private tmpfs on `/tmp` (its workspace) and `/dev/shm` and
its own devpts instance, hides `/proc`, and finally takes rlimits, drops every capability and
loads a seccomp filter before any agent code runs.

A forked copy of a session redoes the same steps from inside the session: the seccomp filter
hands the two system calls that need it (a `clone` into new namespaces carrying `FORK_MARK`, and
a `mount` with exactly `COPY_MOUNT_FLAGS`) to the host, which lets them through only for the
copies of a fork it asked for and refuses them otherwise.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import select
import signal
import socket

import pyseccomp

from .channel import Config

NOBODY = 65534
SESSION_UID = 1000
WORKSPACE = "/tmp"

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
SESSION_NAMESPACES = (
    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET
)
ANY_NAMESPACE = SESSION_NAMESPACES | CLONE_NEWCGROUP

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SILENT = 0x8000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
FORK_MARK = 0x656E76746F726368
"""Argument 2 of a copy's `clone` (the parent tid pointer, unused without CLONE_PARENT_SETTID)."""
COPY_MOUNT_FLAGS = MS_NOSUID | MS_SILENT
"""The flags of every mount a copy makes; the filter refuses any other mount outright."""
TIOCSTI = 0x5412

DENIED_SYSCALLS = (
    "unshare",
    "setns",
    "umount2",
    "pivot_root",
    "chroot",
    "ptrace",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "process_vm_readv",
    "process_vm_writev",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "quotactl",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "vhangup",
    "pidfd_getfd",
    "kcmp",
    "fanotify_init",
    "lookup_dcookie",
    "uselib",
    "nfsservctl",
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc_holding_gil = ctypes.PyDLL(None, use_errno=True)
_libc_holding_gil.syscall.restype = ctypes.c_long
_python = ctypes.pythonapi
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120}.get(platform.machine())
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358}.get(
    platform.machine()
)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def drop_root() -> None:
    """Become `nobody` when bubblewrap ran the zygote as root: RLIMIT_NPROC is ignored for root."""
    if os.getuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def build_filter() -> bytes:
    """The seccomp filter of every session as a BPF program, compiled once in the zygote.

    Everything is allowed except new sockets, new namespaces, mounts, tracing, kernel keyrings,
    modules, BPF, io_uring and similar. Only `socketpair(AF_UNIX)` makes sockets, which keeps
    pipes between a session's own processes (multiprocessing, asyncio) working while no socket
    can be bound or connected: not to the network, and not to another session through an
    abstract unix address. `clone3` answers ENOSYS so that the C library falls back to `clone`,
    whose flags the filter can inspect. The two calls a forked copy needs go to the host
    (`FORK_MARK`, `COPY_MOUNT_FLAGS`), which refuses them outside a fork it asked for.
    """
    sandbox_filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    deny = pyseccomp.ERRNO(errno.EPERM)
    ask_host = pyseccomp.NOTIFY
    sandbox_filter.add_rule(deny, "socket")
    sandbox_filter.add_rule(deny, "socketpair", pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX))
    for name in DENIED_SYSCALLS:
        _deny_if_known(sandbox_filter, deny, name)
    _deny_if_known(sandbox_filter, pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    unmarked = pyseccomp.Arg(2, pyseccomp.NE, FORK_MARK)
    marked = pyseccomp.Arg(2, pyseccomp.EQ, FORK_MARK)
    for flag in _bits(ANY_NAMESPACE):
        new_namespace = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag)
        sandbox_filter.add_rule(deny, "clone", new_namespace, unmarked)
        sandbox_filter.add_rule(ask_host, "clone", new_namespace, marked)
    sandbox_filter.add_rule(deny, "mount", pyseccomp.Arg(3, pyseccomp.NE, COPY_MOUNT_FLAGS))
    sandbox_filter.add_rule(ask_host, "mount", pyseccomp.Arg(3, pyseccomp.EQ, COPY_MOUNT_FLAGS))
    sandbox_filter.add_rule(
        deny, "ioctl", pyseccomp.Arg(1, pyseccomp.MASKED_EQ, 0xFFFFFFFF, TIOCSTI)
    )
    return _compile(sandbox_filter)


def _compile(sandbox_filter: pyseccomp.SyscallFilter) -> bytes:
    fd = os.memfd_create("seccomp")
    try:
        with open(fd, "w+b", closefd=False) as file:
            sandbox_filter.export_bpf(file)
        return os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)


def _deny_if_known(sandbox_filter: pyseccomp.SyscallFilter, action: int, name: str) -> None:
    """Add a rule unless this architecture or libseccomp does not know the system call."""
    try:
        sandbox_filter.add_rule(action, name)
    except (OSError, ValueError, RuntimeError):
        return


def _bits(mask: int) -> list[int]:
    return [1 << bit for bit in range(mask.bit_length()) if mask >> bit & 1]


def lead_own_process_group() -> None:
    """Start a new session and process group, so that a group signal (`kill(0, ...)`) reaches
    only this session's own processes, never the zygote or another session."""
    os.setsid()


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when the thread that forked it ends."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def closed(read_end: int) -> bool:
    """Whether every writer of a pipe is gone (the pipe hangs up); closes `read_end`."""
    poller = select.poll()
    poller.register(read_end, select.POLLIN)
    hung_up = any(events & select.POLLHUP for _, events in poller.poll(0))
    os.close(read_end)
    return hung_up


def probe_namespaces() -> str | None:
    """Try what every session needs (new namespaces and the mounts) in a throwaway child."""
    read_end, write_end = os.pipe()
    uid, gid = os.getuid(), os.getgid()
    try:
        pid = fork_into_namespaces()
    except OSError as error:
        return str(error)
    if pid == 0:
        os.close(read_end)
        try:
            enter_namespaces(uid, gid, workspace_size=1 << 20)
        except OSError as error:
            os.write(write_end, str(error).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        message = reader.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return message or None


def fork_into_namespaces(mark: int = 0) -> int:
    """`os.fork()` into new user, mount, pid, ipc, uts and network namespaces, in one `clone`.

    The child is pid 1 of its pid namespace, so killing it ends every process the session ever
    starts. The interpreter's fork hooks run around the raw system call exactly as `os.fork()`
    runs them; the GIL stays held throughout (ctypes.pythonapi and `_libc_holding_gil` are
    PyDLLs), as it does in `os.fork()`. A confined session passes `FORK_MARK` as `mark`.
    """
    if _SYS_CLONE is None:
        raise OSError(errno.ENOSYS, f"no clone system call known for {platform.machine()}")
    _python.PyOS_BeforeFork()
    pid = _libc_holding_gil.syscall(
        ctypes.c_long(_SYS_CLONE),
        ctypes.c_long(SESSION_NAMESPACES | signal.SIGCHLD),
        ctypes.c_long(0),
        ctypes.c_long(mark),
        ctypes.c_long(0),
        ctypes.c_long(0),
    )
    if pid == 0:
        _python.PyOS_AfterFork_Child()
        return 0
    code = ctypes.get_errno()
    _python.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(code, f"clone(new namespaces): {os.strerror(code)}")
    return pid


def enter_namespaces(uid: int, gid: int, workspace_size: int) -> None:
    """Map the session user to the zygote's (`uid`, `gid`), then make the private mounts.

    The devpts instance is the session's own: `/dev/ptmx` (bubblewrap's link to `pts/ptmx`)
    opens terminals no other session can see.
    """
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{SESSION_UID} {uid} 1")
    _write("/proc/self/gid_map", f"{SESSION_UID} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    options = f"size={workspace_size},mode=0755"
    _mount("tmpfs", WORKSPACE, "tmpfs", MS_NOSUID | MS_NODEV, options)
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, options)
    _mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666")


def mount_copy_workspace(workspace_size: int) -> None:
    """A forked copy's own mounts, each let through by the host: a fresh tmpfs on `/tmp` and
    `/dev/shm` and a devpts instance of its own. The session's `/tmp` stays reachable only
    through a directory descriptor opened before."""
    options = f"size={workspace_size},mode=0755"
    for target, fstype, data in (
        (WORKSPACE, "tmpfs", options),
        ("/dev/shm", "tmpfs", options),
        ("/dev/pts", "devpts", "newinstance,ptmxmode=0666"),
    ):
        _mount(fstype, target, fstype, COPY_MOUNT_FLAGS, data)


def map_session_user(pid: int) -> None:
    """Map the session user of a copy's new user namespace, from its parent's user namespace
    (the writer of an id map must live there) through this process's `/proc`."""
    _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/uid_map", f"{SESSION_UID} {SESSION_UID} 1")
    _write(f"/proc/{pid}/gid_map", f"{SESSION_UID} {SESSION_UID} 1")


def join_user_namespace(pidfd: int) -> None:
    """Enter the user namespace of the process behind `pidfd`."""
    _check(_libc.setns(pidfd, CLONE_NEWUSER), "setns(user namespace)")


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, options: str | None
) -> None:
    def raw(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    result = _libc.mount(raw(source), raw(target), raw(fstype), flags, raw(options))
    _check(result, f"mount {target}")


def restrict(program: bytes, config: Config) -> int:
    """Apply the profile's rlimits, drop every capability and load the seccomp filter: the last
    setup step. Returns the filter's listener, which the host alone may hold."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for limit, value in (
        (resource.RLIMIT_AS, config.address_space),
        (resource.RLIMIT_CPU, config.cpu_time),
        (resource.RLIMIT_FSIZE, config.file_size),
        (resource.RLIMIT_NOFILE, config.open_files),
        (resource.RLIMIT_NPROC, config.processes),
    ):
        resource.setrlimit(limit, (value, value))
    drop_capabilities()
    return _load_filter(program)


def _load_filter(program: bytes) -> int:
    """Install a compiled seccomp program and return its listener; no_new_privs first, as the
    kernel requires."""
    if _SYS_SECCOMP is None:
        raise OSError(errno.ENOSYS, f"no seccomp system call known for {platform.machine()}")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    listener = _libc.syscall(
        _SYS_SECCOMP,
        SECCOMP_SET_MODE_FILTER,
        SECCOMP_FILTER_FLAG_NEW_LISTENER,
        ctypes.byref(fprog),
    )
    if listener < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(code)}")
    return int(listener)


def drop_capabilities() -> None:
    """Give up every capability, those a new user namespace brought included."""
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
