import pytest

from tests.providers.containers import engine
from tests.test_readme import BLOCKS, README, in_containers

pytestmark = pytest.mark.timeout(300)


def test_the_readme_deploy_example_runs_in_containers(python_math_image):
    """A client from an image, then two containers feeding one collector, as the README has it.

    The README's image name stays tagged after the test: removing it could pull it from under
    another suite running on the same engine; it moves with the next build."""
    engine().images.get(python_math_image).tag("envtorch-python-math")
    namespace: dict = {"__name__": "readme"}
    try:
        for block in filter(in_containers, BLOCKS):
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        for server in namespace.get("servers", []):
            server.stop()
    assert namespace["reward"] == 1.0
    assert namespace["rewards"] == [1.0] * 8 and len(set(namespace["urls"])) == 2
