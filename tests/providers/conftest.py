import pytest

from envtorch.providers.image import build_image
from tests.providers.containers import base_image, shared_image


@pytest.fixture(scope="session")
def python_math_image() -> str:
    """An image of `envtorch build python-math` on the test base, shared by every worker."""
    return shared_image(
        "python-math", lambda tag: build_image("python-math", tag=tag, base=base_image())
    )
