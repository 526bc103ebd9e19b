import asyncio
import threading

from envtorch.core.offload import INLINE_CALL_LIMIT, QUICK_CALLS_BEFORE_INLINE, Offload


def in_a_thread(call):
    return asyncio.get_running_loop().run_in_executor(None, call)


def offload(nonblocking: bool) -> Offload:
    return Offload(nonblocking, in_a_thread)


def test_blocking_envs_are_always_threaded():
    placement = offload(nonblocking=False)
    placement.record(0.0)
    assert not placement.inline


def test_a_slow_call_threads_the_next_calls_until_enough_quick_ones():
    placement = offload(nonblocking=True)
    assert placement.inline
    placement.record(INLINE_CALL_LIMIT * 5)
    for _ in range(QUICK_CALLS_BEFORE_INLINE):
        assert not placement.inline
        placement.record(0.0)
    assert placement.inline


def test_calls_run_where_the_offload_places_them_and_errors_pass_through():
    async def threads_of_calls():
        blocking, nonblocking = offload(nonblocking=False), offload(nonblocking=True)
        threads = [
            await blocking(threading.current_thread),
            await nonblocking(threading.current_thread),
        ]
        for placement in (blocking, nonblocking):
            try:
                await placement(lambda: 1 / 0)
            except ZeroDivisionError:
                threads.append("raised")
        return threads

    threads = asyncio.run(threads_of_calls())
    assert threads[0] is not threading.main_thread()
    assert threads[1] is threading.main_thread()
    assert threads[2:] == ["raised", "raised"]
