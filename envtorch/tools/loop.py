"""An asyncio event loop running in a daemon thread, for synchronous code that needs async I/O.

```python
background = BackgroundLoop("my-loop")
background.run(asyncio.sleep(0.1, "done"), timeout=5)   # "done", from any other thread
background.stop()
```
Coroutines submitted from any number of threads run concurrently on the one loop, so async
resources opened there (sessions, connections) can live as long as the loop does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

_JOIN_SECONDS = 10.0


class LoopStopped(RuntimeError):
    """The background loop was stopped before the coroutine finished (or was ever submitted)."""


class BackgroundLoop:
    """A new event loop, run in a daemon thread named `name` until `stop()`.

    `loop` and `thread` are the asyncio loop and its thread. `run` waits for a coroutine from
    another thread; `stop` ends the loop once, from any thread, including the loop's own.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=_run_until_stopped, args=(self.loop,), name=name, daemon=True
        )
        self._lock = threading.Lock()
        self._stopped = False
        self._last: asyncio.Task[None] | None = None
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run `coroutine` on the loop and return its result or raise its exception.

        Call it from any thread but the loop's own. After `timeout` seconds the coroutine is
        cancelled and `TimeoutError` raised. `LoopStopped` when the loop stops first.
        """
        with self._lock:
            if self._stopped:
                coroutine.close()
                raise LoopStopped("the background loop is stopped")
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise
        except concurrent.futures.CancelledError:
            raise LoopStopped("the background loop stopped before the coroutine finished") from None

    def stop(self, last: Coroutine[Any, Any, Any] | None = None, timeout: float = 30.0) -> None:
        """Run `last` (when given, for up to `timeout` s), then stop the loop and end the thread.

        Tasks still pending are cancelled and awaited, and the loop is closed. Idempotent. On the
        loop's own thread (a finalizer the garbage collector ran there, say) it cannot wait for
        itself: `last` then runs as a task there and the loop stops when it is done.
        """
        with self._lock:
            if self._stopped:
                if last is not None:
                    last.close()
                return
            self._stopped = True
        if threading.current_thread() is self.thread:
            self._last = self.loop.create_task(self._stop_after(last))
            return
        try:
            if last is not None:
                asyncio.run_coroutine_threadsafe(last, self.loop).result(timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=_JOIN_SECONDS)

    async def _stop_after(self, last: Coroutine[Any, Any, Any] | None) -> None:
        try:
            if last is not None:
                await last
        finally:
            self.loop.stop()


def _run_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """The thread's body: run until stopped, then cancel what is left and close the loop."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
