"""`envtorch init NAME`: scaffold a new environment package that passes `envtorch check`."""

from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "{title}: an envtorch environment."
requires-python = ">=3.11"
dependencies = ["envtorch"]

[project.entry-points."envtorch.envs"]
{env_id} = "{package}.environment:{env_class}"

[tool.setuptools.packages.find]
include = ["{package}*"]

[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]
"""

INIT = '''\
"""{title}: an envtorch environment."""

from {package}.environment import (
    {action_class},
    {env_class},
    {observation_class},
    {state_class},
)

__all__ = ["{action_class}", "{env_class}", "{observation_class}", "{state_class}"]
'''

ENVIRONMENT = '''\
"""The {title} environment: guess the hidden number in as few steps as possible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envtorch import Action, Environment, Observation, State, hidden


@dataclass(kw_only=True)
class {action_class}(Action):
    """A guess of the hidden number."""

    guess: int


@dataclass(kw_only=True)
class {observation_class}(Observation):
    """Whether the hidden number is higher or lower than the last guess."""

    hint: str = ""


@dataclass(kw_only=True)
class {state_class}(State):
    """The hidden number stays here, on the environment's side: a server never sends it."""

    secret: int = hidden(default=0)


class {env_class}(Environment[{action_class}, {observation_class}, {state_class}]):
    """Guess a number between 0 and `high`; reward 1.0 for the right guess."""

    action_type = {action_class}
    observation_type = {observation_class}
    state_type = {state_class}
    metadata = {{
        "name": "{env_id}",
        "description": "Guess the hidden number.",
        "render_modes": ["ansi"],
    }}

    def __init__(self, *, high: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.high = high

    def _reset(self, *, seed: int | None, task: Any) -> {observation_class}:
        self.state.secret = self.rng.randint(0, self.high)
        return {observation_class}(hint=f"guess a number between 0 and {{self.high}}")

    def _step(self, action: {action_class}) -> {observation_class}:
        if action.guess == self.state.secret:
            return {observation_class}(hint="right", reward=1.0, done=True)
        hint = "higher" if action.guess < self.state.secret else "lower"
        return {observation_class}(hint=hint, reward=0.0)

    def _render(self) -> str:
        return f"{env_id}: step {{self.state.step_count}}\\n"
'''

TESTS = """\
from envtorch import EnvClient
from envtorch.env_checker import check_env
from envtorch.server import create_app, serve_in_thread

from {package} import {action_class}, {env_class}


def test_contract():
    check_env({env_class})


def test_the_secret_never_leaves_the_server():
    served = []

    def serve_env():
        served.append({env_class}())
        return served[-1]

    with serve_in_thread(create_app(serve_env)) as url, EnvClient(url, {env_class}) as env:
        observations = [env.reset(seed=1)]
        states = [env.state]
        for guess in (0, 1, 2):
            observations.append(env.step({action_class}(guess=guess)))
            states.append(env.state)
        secret = served[-1].state.secret
    assert 3 < secret < served[-1].high, "pick a seed whose secret is no other number here"
    for state in states:
        assert state.secret == 0 and secret not in vars(state).values()
    for observation in observations:
        assert str(secret) not in observation.hint.split()


def test_binary_search_finds_the_number():
    env = {env_class}(max_steps=20)
    observation = env.reset(seed=1)
    low, high = 0, env.high
    while not observation.done:
        guess = (low + high) // 2
        observation = env.step({action_class}(guess=guess))
        if observation.hint == "higher":
            low = guess + 1
        elif observation.hint == "lower":
            high = guess - 1
    assert observation.reward == 1.0 and not observation.truncated
"""

README = """\
# {title}

An [envtorch](https://pypi.org/project/envtorch/) environment, found by `envtorch.make("{env_id}")`
once installed (`pip install -e .`).

    pip install -e . pytest && pytest
    envtorch check {env_id}
    envtorch serve {env_id}

`envtorch build .` makes a container image of it from the Dockerfile here (the envtorch it runs
installs itself and this package into the image; see envtorch's Deploy section), and
`EnvClient.from_docker_image("envtorch-{env_id}")` runs it.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser("init", help="scaffold a new environment package")
    parser.add_argument("name", help="the environment's name, e.g. number-guess")
    parser.add_argument(
        "--directory", type=Path, default=None, help="where to create it (default: ./NAME)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return its exit code."""
    try:
        root = scaffold(args.name, args.directory)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    print(f"created {root}; next: cd {root} && pip install -e . && pytest")
    return 0


def scaffold(name: str, directory: Path | None = None) -> Path:
    """Write a new environment package for `name` and return its folder."""
    from envtorch.providers.image import dockerfile

    names = _names(name)
    root = directory if directory is not None else Path(names["distribution"])
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} already exists and is not empty")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{names['package']}/__init__.py": INIT,
        f"{names['package']}/environment.py": ENVIRONMENT,
        "tests/test_environment.py": TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**names))
    (root / "Dockerfile").write_text(dockerfile(names["env_id"]))
    return root


def _names(name: str) -> dict[str, str]:
    """Every spelling of the environment's name that the templates need."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name) if word]
    if not words or not words[0][0].isalpha():
        raise ValueError(f"{name!r} is not a usable name: start with a letter")
    package = "_".join(word.lower() for word in words)
    if keyword.iskeyword(package):
        raise ValueError(f"{name!r} is a Python keyword")
    camel = "".join(word[:1].upper() + word[1:] for word in words)
    return {
        "package": package,
        "distribution": "-".join(word.lower() for word in words),
        "env_id": "-".join(word.lower() for word in words),
        "title": " ".join(words).capitalize(),
        "env_class": f"{camel}Env",
        "action_class": f"{camel}Action",
        "observation_class": f"{camel}Observation",
        "state_class": f"{camel}State",
    }
