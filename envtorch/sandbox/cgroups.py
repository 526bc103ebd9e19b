"""Per-session pids, memory and CPU caps through a cgroup, where one is writable (v1 or v2).

Each sandbox gets a parent group nested under this process's own cgroup, and each session a child
group there with `processes` and `memory` caps, and a CPU quota when the sandbox asks for one and
the cpu controller is writable too. Where no writable cgroup with the pids and memory controllers
exists, `CgroupTree.create` returns None with the reason, and the rlimits alone apply.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD = 100_000
"""Microseconds of the CPU quota's period: `cpus` CPUs may run `cpus * CPU_PERIOD` of each."""
_sandbox_numbers = itertools.count()


@dataclass
class CgroupTree:
    """The cgroup directories of one sandbox: one parent per controller (one for v2)."""

    parents: list[Path]
    version: int
    cpu: str = "not asked for"
    """How sessions' CPU use is capped: "cgroup vN cpu quota", or why it is not."""
    _pending: list[Path] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, owner: str, *, cpu: bool = False) -> tuple[CgroupTree | None, str]:
        """A writable tree named after `owner`, or None and why cgroup caps are skipped.

        With `cpu` the tree also takes the cpu controller where it is writable; `tree.cpu` says
        whether it could.
        """
        name = f"envtorch-{owner}-{os.getpid()}-{next(_sandbox_numbers)}"
        reasons = []
        for make in (_v2_parents, _v1_parents):
            try:
                parents, version = make(name)
            except OSError as error:
                reasons.append(str(error))
                continue
            for parent in parents:
                _remove_orphans(parent.parent)
            tree = cls(parents, version)
            if cpu:
                tree._take_cpu_controller(name)
            return tree, f"cgroup v{version} pids and memory caps on"
        return None, "cgroup caps skipped (no writable cgroup): " + "; ".join(reasons)

    def _take_cpu_controller(self, name: str) -> None:
        """Add the cpu controller to the tree (v2) or a parent in its hierarchy (v1), if allowed."""
        try:
            if self.version == 2:
                _write(self.parents[0] / "cgroup.subtree_control", "+cpu")
            else:
                self.parents.append(_v1_parent("cpu", name))
        except OSError as error:
            self.cpu = f"no CPU quota (the cpu controller is not writable: {error})"
            return
        self.cpu = f"cgroup v{self.version} cpu quota"

    @property
    def caps_cpu(self) -> bool:
        """Whether sessions' groups can take a CPU quota."""
        return self.cpu.startswith("cgroup")

    def add_session(
        self, key: str, pid: int, *, memory: int, processes: int, cpus: float | None = None
    ) -> list[Path]:
        """Create the session's groups with its caps and move process `pid` into them.

        `cpus` becomes a CPU quota where the tree took the cpu controller.
        """
        groups = [parent / key for parent in self.parents]
        for group in groups:
            group.mkdir()
        quota = None if cpus is None or not self.caps_cpu else max(1000, int(cpus * CPU_PERIOD))
        if self.version == 2:
            _write(groups[0] / "pids.max", processes)
            _write(groups[0] / "memory.max", memory)
            with contextlib.suppress(OSError):
                _write(groups[0] / "memory.swap.max", 0)
            if quota is not None:
                _write(groups[0] / "cpu.max", f"{quota} {CPU_PERIOD}")
        else:
            _write(groups[0] / "pids.max", processes)
            _write(groups[1] / "memory.limit_in_bytes", memory)
            with contextlib.suppress(OSError):
                _write(groups[1] / "memory.memsw.limit_in_bytes", memory)
            if quota is not None:
                _write(groups[2] / "cpu.cfs_period_us", CPU_PERIOD)
                _write(groups[2] / "cpu.cfs_quota_us", quota)
        for group in groups:
            _write(group / "cgroup.procs", pid)
        return groups

    def out_of_memory(self, groups: list[Path]) -> bool:
        """Whether the kernel killed a process of these groups for exceeding the memory cap."""
        events = (
            groups[0] / "memory.events" if self.version == 2 else groups[1] / "memory.oom_control"
        )
        try:
            lines = events.read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split(maxsplit=1) for line in lines if " " in line)
        return int(counts.get("oom_kill", "0")) > 0

    def release(self, groups: list[Path]) -> None:
        """Remove a killed session's groups now, or later once its processes are gone."""
        with self._lock:
            self._pending = [group for group in [*self._pending, *groups] if not remove(group)]

    def close(self, wait: float = 5.0) -> None:
        """Remove every group of this sandbox, waiting up to `wait` seconds for dying processes."""
        deadline = time.monotonic() + wait
        groups = [child for parent in self.parents for child in parent.iterdir() if child.is_dir()]
        for group in [*groups, *self.parents]:
            while not remove(group) and time.monotonic() < deadline:
                time.sleep(0.01)


def remove(group: Path) -> bool:
    """Remove an empty cgroup; False while processes still live in it."""
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _remove_orphans(base: Path) -> None:
    """Remove the empty trees that sandboxes of processes now dead left behind (a crash, a kill)."""
    for tree in base.glob("envtorch-*-*-*"):
        owner_pid = tree.name.rsplit("-", 2)[-2]
        if not owner_pid.isdigit() or Path(f"/proc/{owner_pid}").exists():
            continue
        for child in tree.iterdir():
            if child.is_dir():
                remove(child)
        remove(tree)


def _write(path: Path, value: int | str) -> None:
    with open(path, "w") as file:
        file.write(str(value))


def _own_path(controller: str) -> str:
    """This process's cgroup path in the hierarchy of `controller` ("" is the v2 hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise OSError(f"this process has no {controller or 'v2'} cgroup")


def _v1_parents(name: str) -> tuple[list[Path], int]:
    return [_v1_parent(controller, name) for controller in ("pids", "memory")], 1


def _v1_parent(controller: str, name: str) -> Path:
    mount = ROOT / controller
    if not (mount / "cgroup.procs").exists():
        raise OSError(f"no cgroup v1 {controller} controller at {mount}")
    parent = mount / _own_path(controller).lstrip("/") / name
    parent.mkdir()
    return parent


def _v2_parents(name: str) -> tuple[list[Path], int]:
    mount = next((path for path in (ROOT, ROOT / "unified") if _is_cgroup2(path)), None)
    if mount is None:
        raise OSError("no cgroup v2 hierarchy")
    base = mount / _own_path("").lstrip("/")
    available = (base / "cgroup.subtree_control").read_text().split()
    if not {"pids", "memory"} <= set(available):
        raise OSError(f"cgroup v2 at {base} does not delegate the pids and memory controllers")
    parent = base / name
    parent.mkdir()
    try:
        _write(parent / "cgroup.subtree_control", "+pids +memory")
    except OSError:
        remove(parent)
        raise
    return [parent], 2


def _is_cgroup2(path: Path) -> bool:
    return (path / "cgroup.controllers").exists() and (path / "cgroup.subtree_control").exists()
