"""The README's Python examples run as written, but for the collector sketch."""

import re
from pathlib import Path

import pytest

from envtorch.checker import check_env

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
RUNNABLE = [block for block in BLOCKS if "my_batched_policy" not in block]

pytestmark = pytest.mark.timeout(120)


def test_the_readme_has_examples():
    assert len(RUNNABLE) >= 5


def test_readme_examples_run_in_order():
    namespace: dict = {}
    for block in RUNNABLE:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["obs"].value == 4_900_000
    assert namespace["obs"].reward == 1.0


def test_the_readme_guess_env_passes_the_checker():
    namespace: dict = {}
    exec(
        compile(next(b for b in RUNNABLE if "class GuessEnv" in b), str(README), "exec"), namespace
    )
    assert len(check_env(namespace["GuessEnv"]).passed) == 10
