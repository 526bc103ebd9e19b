import pytest

from envtorch import EchoEnv, make, register
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


def test_register_validates_entry_points():
    with pytest.raises(ValueError, match="module:attribute"):
        register("bad", "envtorch.envs.echo.EchoEnv")
    with pytest.raises(TypeError):
        register("bad", 3)
