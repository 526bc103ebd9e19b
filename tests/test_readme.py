"""Every Python block of the README runs as written, in order, with only the core installed."""

import sys
from pathlib import Path

import pytest

from envtorch.env_checker import check_env
from tests.markdown_blocks import python_blocks, run_blocks

README = Path(__file__).parents[1] / "README.md"
BLOCKS = python_blocks(README)
EXTRAS = ("datasets", "torch", "mcp", "reasoning_gym")

pytestmark = pytest.mark.timeout(120)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 6


def _research(block: str) -> bool:
    """A block of the research section, which needs the `research` extra: scipy looks torch up
    in `sys.modules` and breaks where the extras are blocked as below."""
    return "envtorch.envs.research" in block


def _ray(block: str) -> bool:
    """A block of the Ray section, which needs the `ray` extra and a Ray head."""
    return "RayProvider" in block


def in_containers(block: str) -> bool:
    """A block of the Deploy section that runs containers (tests/providers runs it under podman)."""
    return "DockerProvider" in block


def test_readme_examples_run_in_order_without_the_extras(monkeypatch):
    for extra in EXTRAS:
        monkeypatch.setitem(sys.modules, extra, None)
    namespace = run_blocks(
        [b for b in BLOCKS if not _research(b) and not _ray(b) and not in_containers(b)], README
    )
    assert namespace["obs"].value == 4_900_000
    assert namespace["obs"].reward == 1.0
    assert namespace["batch"].rewards() == [1.0, 0.0] * 4
    assert namespace["reward"] == 1.0
    assert "kind: Deployment" in namespace["manifests"]


def test_the_readme_research_example_runs_with_the_research_extra():
    namespace = run_blocks([block for block in BLOCKS if _research(block)], README)
    assert namespace["obs"].reward == 1.0 and namespace["obs"].done


def test_the_readme_ray_example_runs_on_a_ray_head(ray_head, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    namespace = run_blocks([block for block in BLOCKS if _ray(block)], README)
    assert namespace["values"] == [42] * 8
    assert namespace["cluster"].servers == []


def test_the_readme_guess_env_passes_the_checker():
    namespace = run_blocks([next(b for b in BLOCKS if "class GuessEnv" in b)], README)
    assert len(check_env(namespace["GuessEnv"]).passed) == 10
