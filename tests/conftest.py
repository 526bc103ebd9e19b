"""Fixtures shared across test folders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests import raycluster


def _examples_without_deadline() -> None:
    """Hypothesis checks what code does, not how fast: its 200 ms deadline per example failed
    test_generated_dataclasses_round_trip at load 15 (364 ms once, 0.09 ms on the rerun)."""
    settings.register_profile("shared-cores", deadline=None)
    settings.load_profile("shared-cores")


_examples_without_deadline()


@pytest.fixture(scope="session")
def ray_head() -> Iterator[str]:
    """The address of a real local Ray head bound to 127.0.0.1, shared by the xdist workers;
    the tests using it skip, saying why, where ray is missing or the head cannot start.

    This process joins it with the head's environment, or Ray would take 127.0.0.1 for the
    machine's own address and look for the head there."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in raycluster.RAY_ENV.items():
            patch.setenv(name, value)
        try:
            with raycluster.shared_head() as address:
                yield address
        except raycluster.HeadUnavailable as why:
            pytest.skip(f"no local Ray head: {why}")
