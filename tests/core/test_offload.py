import asyncio
import threading

from envtorch.core.offload import INLINE_CALL_LIMIT, QUICK_CALLS_BEFORE_INLINE, Offload


def in_a_thread(call):
    return asyncio.get_running_loop().run_in_executor(None, call)


def offload(nonblocking: bool) -> Offload:
    return Offload(nonblocking, in_a_thread)


def test_blocking_envs_are_always_threaded():
    calls = offload(nonblocking=False)
    calls.record(0.0)
    assert not calls.inline


def test_a_slow_call_threads_the_next_calls_until_enough_quick_ones():
    calls = offload(nonblocking=True)
    assert calls.inline
    calls.record(INLINE_CALL_LIMIT * 5)
    for _ in range(QUICK_CALLS_BEFORE_INLINE):
        assert not calls.inline
        calls.record(0.0)
    assert calls.inline


def test_calls_run_where_the_offload_places_them_and_errors_pass_through():
    async def threads_of_calls():
        blocking, nonblocking = offload(nonblocking=False), offload(nonblocking=True)
        threads = [
            await blocking(threading.current_thread),
            await nonblocking(threading.current_thread),
        ]
        for each in (blocking, nonblocking):
            try:
                await each(lambda: 1 / 0)
            except ZeroDivisionError:
                threads.append("raised")
        return threads

    threads = asyncio.run(threads_of_calls())
    assert threads[0] is not threading.main_thread()
    assert threads[1] is threading.main_thread()
    assert threads[2:] == ["raised", "raised"]
