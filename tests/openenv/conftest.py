import pytest

from tests.openenv import peers


@pytest.fixture(scope="session", params=peers.VERSIONS)
def openenv_version(request):
    """Each published OpenEnv version, its interpreter ready (the 0.10 venv is made once)."""
    try:
        peers.python(request.param)
    except peers.PeerUnavailable as error:
        pytest.skip(f"OpenEnv {request.param} needs a venv with it installed: {error}")
    return request.param
