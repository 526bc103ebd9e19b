"""Fixtures shared across test folders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import raycluster


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
