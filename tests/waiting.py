"""Waiting in tests for something another thread or process does: `wait_until(predicate)`.

Import it as `from tests.waiting import gone, wait_until` (pytest puts the repository root on
`sys.path`).
"""

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Call `predicate` every 20 ms until it is true; False if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def gone(pid: int) -> bool:
    """True when `pid` no longer runs (a zombie waiting for its reaper counts as gone; a process
    that ends between opening its stat file and reading it makes the read fail with ESRCH)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True
