"""The limits of a sandbox profile: what every session of one `Sandbox` may use."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, kw_only=True)
class SandboxLimits:
    """Resource limits and timeouts of every session of a sandbox.

    `address_space`, `cpu_time` (seconds), `file_size`, `open_files` and `processes` are rlimits
    of each session (processes counts every process the session runs). `memory` and `processes`
    are also enforced through a cgroup where one is writable. `workspace_size` bounds the private
    tmpfs `/tmp`. `timeout` is the default soft timeout of one execution; `kill_grace` is how long
    after it the host waits before killing the session. `max_output` caps stdout, stderr and the
    repr of a value, and the type, message and traceback of an exception, each. The captures of
    stdout and stderr are files under `file_size` too: code that writes more than that to one in
    an execution gets `OSError` (File too large) at that write, and what it wrote before comes
    back cut to `max_output`.

    `cpus` caps the CPU time of a session's processes together at that many CPUs, through a
    cgroup's CPU quota where one is writable; in every case it sizes the thread pools of
    numerical libraries (OpenMP, OpenBLAS, MKL), which otherwise take one thread per core of the
    machine. `hidden` are host paths inside the bound Python installation, such as a package's
    data folder, that sessions see as empty and read-only: data a task keeps from the agent.
    """

    address_space: int = 4 * GiB
    memory: int = 1 * GiB
    cpu_time: int = 3600
    file_size: int = 64 * MiB
    open_files: int = 256
    processes: int = 64
    workspace_size: int = 256 * MiB
    timeout: float = 30.0
    kill_grace: float = 2.0
    max_output: int = 64 * 1024
    cpus: float | None = None
    hidden: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("address_space", "memory", "cpu_time", "file_size", "open_files"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"SandboxLimits.{name} must be positive, got {getattr(self, name)}"
                )
        if self.processes < 2:
            raise ValueError(f"SandboxLimits.processes must be at least 2, got {self.processes}")
        if self.workspace_size < MiB:
            raise ValueError(
                f"SandboxLimits.workspace_size must be at least 1 MiB, got {self.workspace_size}"
            )
        if self.timeout <= 0 or self.kill_grace < 0:
            raise ValueError(
                "SandboxLimits.timeout must be positive and SandboxLimits.kill_grace not negative"
            )
        if self.cpus is not None and self.cpus <= 0:
            raise ValueError(f"SandboxLimits.cpus must be positive or None, got {self.cpus}")
        relative = [path for path in self.hidden if not path.startswith("/")]
        if relative:
            raise ValueError(f"SandboxLimits.hidden takes absolute paths, got {relative}")
        if self.max_output < 256:
            raise ValueError(
                f"SandboxLimits.max_output must be at least 256, got {self.max_output}"
            )
