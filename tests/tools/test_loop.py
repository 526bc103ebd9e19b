import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from envtorch.tools.loop import BackgroundLoop, LoopStopped

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def background():
    background = BackgroundLoop("test-loop")
    yield background
    background.stop()


async def thread_name_after(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return threading.current_thread().name


def test_run_returns_the_result_from_the_loop_thread(background):
    assert background.thread.daemon
    assert background.run(thread_name_after(0)) == "test-loop"


def test_coroutines_from_many_threads_run_concurrently(background):
    with ThreadPoolExecutor(8) as pool:
        names = list(
            pool.map(lambda _: background.run(thread_name_after(0.2), timeout=1.5), range(8))
        )
    assert names == ["test-loop"] * 8


def test_a_timeout_cancels_the_coroutine(background):
    cancelled = threading.Event()

    async def forever():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        background.run(forever(), timeout=0.1)
    assert cancelled.wait(5)
    assert background.run(thread_name_after(0)) == "test-loop"


def test_an_exception_propagates_and_the_loop_lives_on(background):
    async def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        background.run(fail())
    assert background.run(thread_name_after(0)) == "test-loop"


def test_stop_runs_the_last_coroutine_then_ends_the_thread():
    background = BackgroundLoop("test-loop")
    finished = []

    async def last():
        await asyncio.sleep(0.1)
        finished.append(True)

    background.stop(last())
    background.stop()
    assert finished == [True]
    assert not background.thread.is_alive()
    assert background.loop.is_closed()
    with pytest.raises(LoopStopped):
        background.run(thread_name_after(0))


def test_stop_cancels_running_coroutines():
    background = BackgroundLoop("test-loop")
    started = threading.Event()

    async def forever():
        started.set()
        await asyncio.sleep(60)

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(background.run, forever())
        assert started.wait(5)
        background.stop()
        with pytest.raises(LoopStopped):
            waiting.result(5)
    assert not background.thread.is_alive()


def test_stop_from_the_loop_thread_runs_the_last_coroutine_then_stops():
    background = BackgroundLoop("test-loop")
    finished = threading.Event()

    async def last():
        finished.set()

    background.loop.call_soon_threadsafe(background.stop, last())
    background.thread.join(5)
    assert finished.is_set()
    assert not background.thread.is_alive()
    assert background.loop.is_closed()
