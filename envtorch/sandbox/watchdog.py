"""The memory budget of a session where no cgroup caps it: a host-side watchdog over its processes.

A session's processes all live in its own pid namespace, whose pid 1 reaps every orphan, so its
process tree from the host's side is exactly the session. Each pass sums the anonymous resident
memory (what the session's processes allocated, not the files they map) of every process of each
session's tree and kills a session over `SandboxLimits.memory`. The watchdog sleeps at least
`PERIOD` and four times as long as its last pass took, so it costs at most a fifth of a core.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Protocol

PERIOD = 0.05
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Watched(Protocol):
    """What the watchdog needs of a session."""

    def enforce_memory_cap(self) -> None: ...


def start_watchdog(owner: object, sessions: Callable[[], Iterable[Watched]]) -> threading.Event:
    """Watch the sessions that `sessions()` lists until the returned event is set or `owner` is
    garbage collected."""
    stop = threading.Event()
    alive = weakref.ref(owner)
    thread = threading.Thread(
        target=_watch, args=(alive, sessions, stop), name="envtorch-memory-watchdog", daemon=True
    )
    thread.start()
    return stop


def _watch(
    alive: weakref.ref, sessions: Callable[[], Iterable[Watched]], stop: threading.Event
) -> None:
    pause = PERIOD
    while not stop.wait(pause) and alive() is not None:
        started = time.monotonic()
        for session in list(sessions()):
            session.enforce_memory_cap()
        pause = max(PERIOD, 4 * (time.monotonic() - started))


def memory_in_use(root: int) -> int:
    """Bytes of anonymous memory resident in process `root` and all its descendants."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                fields = statm.read().split()
        except OSError:
            continue
        total += (int(fields[1]) - int(fields[2])) * PAGE_SIZE
    return total


def process_tree(root: int) -> list[int]:
    """Process `root` and its descendants, as /proc shows them now; vanished ones are skipped."""
    found, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", "rb") as children_file:
                    children = [int(child) for child in children_file.read().split()]
            except OSError:
                continue
            found += children
            frontier += children
    return found
