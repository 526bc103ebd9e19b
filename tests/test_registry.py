import os
import subprocess
import sys
from pathlib import Path

import pytest

import envtorch
from envtorch import make, register
from envtorch.envs.echo import EchoEnv
from envtorch.registry import UnknownEnvironment, registered, resolve


def test_make_builtin_with_overrides():
    env = make("echo", max_steps=3)
    assert isinstance(env, EchoEnv) and env.max_steps == 3


def test_register_with_default_budget_and_kwargs():
    register("echo-short", "envtorch.envs.echo:EchoEnv", max_steps=1, render_mode="ansi")
    env = make("echo-short")
    assert env.max_steps == 1 and env.render_mode == "ansi"
    assert make("echo-short", max_steps=4).max_steps == 4
    assert "echo-short" in registered()


def test_unknown_id_lists_known_ones():
    with pytest.raises(UnknownEnvironment, match="no environment registered as 'nope'.*echo"):
        make("nope")


def test_resolve_module_targets():
    assert resolve("envtorch.envs.echo:EchoEnv") is EchoEnv
    assert isinstance(resolve("echo")(), EchoEnv)
    with pytest.raises(UnknownEnvironment, match="cannot import"):
        resolve("no_such_module:Env")
    with pytest.raises(UnknownEnvironment, match="has no attribute"):
        resolve("envtorch.envs.echo:Missing")


def test_the_envtorch_command_finds_a_module_in_the_current_folder(tmp_path):
    command = Path(sys.executable).with_name("envtorch")
    assert command.exists(), f"no envtorch console script beside {sys.executable}"
    (tmp_path / "my_echo.py").write_text(
        "from envtorch.envs.echo import EchoEnv\n\n\nclass MyEcho(EchoEnv):\n    pass\n"
    )
    package_root = str(Path(envtorch.__file__).parents[1])
    result = subprocess.run(
        [str(command), "check", "my_echo:MyEcho"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": package_root},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout.splitlines()[-1]


def test_register_validates_entry_points():
    with pytest.raises(ValueError, match="module:attribute"):
        register("bad", "envtorch.envs.echo.EchoEnv")
    with pytest.raises(TypeError):
        register("bad", 3)


def test_entry_point_discovery(tmp_path, monkeypatch):
    from envtorch import registry

    package = tmp_path / "tiny_envs"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from envtorch.envs.echo import EchoEnv\n\n\nclass TinyEnv(EchoEnv):\n    pass\n"
    )
    info = tmp_path / "tiny_envs-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-envs\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[envtorch.envs]\ntiny = tiny_envs:TinyEnv\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    env = make("tiny")
    assert type(env).__name__ == "TinyEnv"
    assert "tiny" in registered()
