"""Fixtures for the sandbox tests: one warm sandbox per module, fresh sessions per test."""

import pytest

from envtorch.sandbox import Sandbox, SandboxLimits

TEST_LIMITS = SandboxLimits(
    address_space=2 << 30,
    memory=512 << 20,
    processes=32,
    workspace_size=64 << 20,
    timeout=10.0,
    kill_grace=1.5,
    max_output=4096,
)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(TEST_LIMITS) as shared:
        yield shared


@pytest.fixture
def session(sandbox):
    with sandbox.open() as fresh:
        yield fresh


@pytest.fixture
def bystander(sandbox):
    """A session opened before an attack that must come out of it unharmed."""
    with sandbox.open() as other:
        other.execute("secret = 'bystander data'\nopen('/tmp/mine.txt', 'w').write(secret)")
        yield other
        result = other.execute("secret + '|' + open('/tmp/mine.txt').read()")
        assert result.success, result.exception
        assert result.value == "bystander data|bystander data"
