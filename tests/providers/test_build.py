from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from envtorch.cli import main
from envtorch.cli.init import scaffold
from envtorch.client import EnvClient
from envtorch.providers import ProviderError
from envtorch.providers.image import DEFAULT_BASE, _copy_module_of, build_image, dockerfile
from tests.providers.containers import base_image, shared_image

pytestmark = pytest.mark.timeout(300)


def test_the_dockerfile_serves_its_target_on_8000_with_a_health_check():
    text = dockerfile("python-math", base="localhost/base:1")
    assert text.startswith("ARG BASE=localhost/base:1\nFROM ${BASE}\n")
    assert 'CMD ["python3", "-m", "envtorch", "serve", "python-math", "--host", "0.0.0.0"' in text
    assert "HEALTHCHECK" in text and "http://127.0.0.1:8000/health" in text
    assert dockerfile("echo").startswith(f"ARG BASE={DEFAULT_BASE}\n")


def test_an_init_package_builds_with_its_own_dockerfile_and_serves(capsys):
    def build(tag: str) -> None:
        with tempfile.TemporaryDirectory() as folder:
            root = scaffold("number guess", Path(folder, "number-guess"))
            assert (root / "Dockerfile").read_text() == dockerfile("number-guess")
            arguments = ["build", str(root), "--tag", tag, "--base", base_image()]
            assert main(arguments) == 0, capsys.readouterr().out

    tag = shared_image("number-guess", build)
    with EnvClient.from_docker_image(tag) as env:
        assert env.reset(seed=1).hint == "guess a number between 0 and 100"
        assert env.step(env.action_type(guess=50)).hint in ("higher", "lower", "right")


def test_a_package_that_registers_no_env_is_refused(tmp_path):
    root = scaffold("number guess", tmp_path / "number-guess")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().split("[project.entry-points")[0])
    with pytest.raises(ProviderError, match=r"registers no environment: add one under"):
        build_image(str(root))


def test_a_bad_envtorch_source_is_one_line_and_exit_1(tmp_path, capsys):
    assert main(["build", "echo", "--envtorch", str(tmp_path)]) == 1
    assert "is neither an envtorch wheel nor a checkout" in capsys.readouterr().out


def test_a_module_target_brings_its_top_level_module_or_package(tmp_path, monkeypatch):
    source = tmp_path / "source"
    (source / "games_pkg" / "inner").mkdir(parents=True)
    (source / "games_pkg" / "__init__.py").write_text("")
    (source / "games_pkg" / "inner" / "env.py").write_text("class MyEnv: ...\n")
    (source / "single_env.py").write_text("class MyEnv: ...\n")
    monkeypatch.syspath_prepend(str(source))
    site = tmp_path / "site"
    (site / "envtorch").mkdir(parents=True)
    _copy_module_of("games_pkg.inner.env:MyEnv", site)
    _copy_module_of("single_env:MyEnv", site)
    _copy_module_of("envtorch.envs.echo:EchoEnv", site)
    _copy_module_of("echo", site)
    assert (site / "games_pkg" / "inner" / "env.py").is_file()
    assert (site / "single_env.py").is_file()
    assert sorted(path.name for path in site.iterdir()) == [
        "envtorch",
        "games_pkg",
        "single_env.py",
    ]
    with pytest.raises(ProviderError, match="cannot find the module 'no_such_module'"):
        _copy_module_of("no_such_module:Env", site)
