from envtorch.core.placement import INLINE_CALL_LIMIT, QUICK_CALLS_BEFORE_INLINE, CallPlacement


def test_blocking_envs_are_always_threaded():
    placement = CallPlacement(nonblocking=False)
    placement.record(0.0)
    assert not placement.inline


def test_a_slow_call_threads_the_next_calls_until_enough_quick_ones():
    placement = CallPlacement(nonblocking=True)
    assert placement.inline
    placement.record(INLINE_CALL_LIMIT * 5)
    for _ in range(QUICK_CALLS_BEFORE_INLINE):
        assert not placement.inline
        placement.record(0.0)
    assert placement.inline
