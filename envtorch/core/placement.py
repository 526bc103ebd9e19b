"""Where an environment's next call runs: on the event loop, or in a worker thread."""

from __future__ import annotations

INLINE_CALL_LIMIT = 0.001
"""Seconds a call of a `nonblocking` env may take on the event loop before it is threaded."""

QUICK_CALLS_BEFORE_INLINE = 16
"""Quick calls in a row that bring a `nonblocking` env from worker threads back to the loop."""


class CallPlacement:
    """Decides, call by call, whether an env runs on the event loop or in a worker thread.

    Only an env that declares `nonblocking = True` runs on the loop, which spares it a thread
    hop (40-90 us). Should one of its calls take longer than `INLINE_CALL_LIMIT` all the same,
    its next `QUICK_CALLS_BEFORE_INLINE` calls are threaded, so a mistaken declaration stalls
    the loop for one call at a time, not for every call. Report each call's duration to `record`.
    """

    __slots__ = ("_threaded_calls_left", "nonblocking")

    def __init__(self, nonblocking: bool) -> None:
        self.nonblocking = nonblocking
        self._threaded_calls_left = 0

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
