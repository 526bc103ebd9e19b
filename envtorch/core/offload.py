"""`Offload`: where an environment's next call runs, on the event loop or in a worker thread.

The server's sessions and the Collector both run blocking env calls from asyncio code; both ask
an `Offload` per env, so the choice is made in one place.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

INLINE_CALL_LIMIT = 0.001
"""Seconds a call of a `nonblocking` env may take on the event loop before it is threaded."""

QUICK_CALLS_BEFORE_INLINE = 16
"""Quick calls in a row that bring a `nonblocking` env from worker threads back to the loop."""


class Offload:
    """Runs one env's calls from asyncio code: awaited in a thread by `run_in_thread`, or inline.

    Only an env that declares `nonblocking = True` runs on the loop, which spares it a thread
    hop (40-90 us). Should one of its calls take longer than `INLINE_CALL_LIMIT` all the same,
    its next `QUICK_CALLS_BEFORE_INLINE` calls are threaded, so a mistaken declaration stalls
    the loop for one call at a time, not for every call. `run_in_thread(call)` runs `call` in
    the caller's thread of choice and returns an awaitable of its result.
    """

    __slots__ = ("_run_in_thread", "_threaded_calls_left", "nonblocking")

    def __init__(
        self, nonblocking: bool, run_in_thread: Callable[[Callable[[], Any]], Awaitable[Any]]
    ) -> None:
        self.nonblocking = nonblocking
        self._run_in_thread = run_in_thread
        self._threaded_calls_left = 0

    async def __call__(self, call: Callable[[], T]) -> T:
        """Run `call` where it belongs and return its result (or raise what it raised)."""
        if self.inline:
            start = time.perf_counter()
            try:
                return call()
            finally:
                self.record(time.perf_counter() - start)
        timed: tuple[T, float] = await self._run_in_thread(partial(_timed, call))
        result, seconds = timed
        self.record(seconds)
        return result

    @property
    def inline(self) -> bool:
        """True when the next call should run on the event loop."""
        return self.nonblocking and not self._threaded_calls_left

    def record(self, seconds: float) -> None:
        """Note how long a call took: thread the next calls after a slow one."""
        if seconds > INLINE_CALL_LIMIT:
            self._threaded_calls_left = QUICK_CALLS_BEFORE_INLINE
        elif self._threaded_calls_left:
            self._threaded_calls_left -= 1


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and how many seconds it took (raising as it raises)."""
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start
