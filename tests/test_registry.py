import os
import subprocess
import sys
from pathlib import Path

import pytest

import envtorch
from envtorch import make, register, registry
from envtorch.envs.echo import EchoEnv
from envtorch.registry import EnvSpec, UnknownEnvironment, registered, resolve


def test_make_builtin_with_overrides():
    env = make("echo", max_steps=3)
    assert isinstance(env, EchoEnv) and env.max_steps == 3


def test_register_with_default_budget_and_kwargs():
    register("echo-short", "envtorch.envs.echo:EchoEnv", max_steps=1, render_mode="ansi")
    env = make("echo-short")
    assert env.max_steps == 1 and env.render_mode == "ansi"
    assert make("echo-short", max_steps=4).max_steps == 4
    assert "echo-short" in registered()


def test_an_env_made_from_an_id_carries_its_spec():
    env = make("python-math", step_timeout=5.0)
    assert env.spec == EnvSpec(
        id="python-math",
        entry_point="envtorch.envs.python:python_math",
        kwargs={"max_steps": 4, "step_timeout": 5.0},
    )
    env.close()
    assert EchoEnv().spec is None
    assert make("envtorch.envs.echo:EchoEnv").spec is None


def test_make_finds_a_module_in_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "here_echo.py").write_text(
        "from envtorch.envs.echo import EchoEnv\n\n\nclass HereEcho(EchoEnv):\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", ".")])
    env = make("here_echo:HereEcho", max_steps=2)
    assert type(env).__name__ == "HereEcho" and env.max_steps == 2


def test_prefixed_targets_go_to_their_factory_imported_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "prefixed_envs.py").write_text(
        "from envtorch.envs.echo import EchoEnv\n\n\n"
        "def named_echo(name, **kwargs):\n"
        "    env = EchoEnv(**kwargs)\n"
        "    env.name = name\n"
        "    return env\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.PREFIXES, "tiny", "prefixed_envs:named_echo")
    assert "prefixed_envs" not in sys.modules
    env = make("tiny:Loud-v1", max_steps=3)
    assert isinstance(env, EchoEnv) and env.name == "Loud-v1" and env.max_steps == 3
    sys.modules.pop("prefixed_envs")


def test_make_builds_a_task_file_with_its_budgets(tmp_path):
    path = tmp_path / "short.yml"
    path.write_text("id: short\nenv: echo\nmax_steps: 2\nenv_kwargs: {render_mode: ansi}\n")
    env = make(str(path), max_steps=3)
    assert isinstance(env, EchoEnv) and env.max_steps == 3 and env.render_mode == "ansi"
    assert make(path).spec.kwargs == {"render_mode": "ansi", "max_steps": 2}


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


def test_list_shows_registered_ids_and_prefixes(monkeypatch, capsys):
    from envtorch.cli import main

    monkeypatch.setitem(registry.PREFIXES, "tiny", "prefixed_envs:named_echo")
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["echo", "envtorch.envs.echo:EchoEnv"] for line in lines)
    assert lines[-1].split() == ["tiny:NAME", "prefixed_envs:named_echo"]


def test_check_takes_a_task_file(tmp_path, capsys):
    from envtorch.cli import main

    path = tmp_path / "short.yaml"
    path.write_text("id: short\nenv: echo\nmax_steps: 2\n")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "EchoEnv passed 10 checks"
