"""Fixtures for the sandbox tests: one warm sandbox per module, fresh sessions per test.

A test that takes `session` and `bystander` may parametrize `pairing` (indirectly) to run the
same attack between two copies of one fork, or between a forked session and its copy.
"""

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


FRESH = "fresh sessions"
COPIES = "two copies of a fork"
PARENT_ATTACKS = "the forked session attacks its copy"
COPY_ATTACKS = "a copy attacks the forked session"
PAIRINGS = [FRESH, COPIES, PARENT_ATTACKS, COPY_ATTACKS]


@pytest.fixture
def pairing(request):
    """How `session` (the attacker) and `bystander` are related; fresh sessions by default."""
    return getattr(request, "param", FRESH)


@pytest.fixture
def forked_pair(sandbox, pairing):
    """The attacker and the bystander, both from one session that forked."""
    parent = sandbox.open()
    parent.execute("inherited = 'from before the fork'")
    copies = parent.fork(2 if pairing == COPIES else 1)
    pair = {
        COPIES: copies,
        PARENT_ATTACKS: [parent, copies[0]],
        COPY_ATTACKS: [copies[0], parent],
    }[pairing]
    yield pair
    for each in (parent, *copies):
        each.close()


@pytest.fixture
def session(request, sandbox, pairing):
    if pairing != FRESH:
        yield request.getfixturevalue("forked_pair")[0]
        return
    with sandbox.open() as fresh:
        yield fresh


@pytest.fixture
def bystander(request, sandbox, pairing):
    """A session opened before an attack that must come out of it unharmed."""
    other = request.getfixturevalue("forked_pair")[1] if pairing != FRESH else sandbox.open()
    with other:
        other.execute("secret = 'bystander data'\nopen('/tmp/mine.txt', 'w').write(secret)")
        yield other
        result = other.execute("secret + '|' + open('/tmp/mine.txt').read()")
        assert result.success, result.exception
        assert result.value == "bystander data|bystander data"
