import subprocess
import sys

import envtorch


def test_every_public_name_resolves():
    for name in envtorch.__all__:
        assert getattr(envtorch, name) is not None, name


def test_the_errors_a_user_catches_are_at_the_top_level():
    from envtorch import PolicyInput, SandboxUnavailable, ServerError, UnknownEnvironment

    assert all(
        issubclass(error, envtorch.EnvtorchError)
        for error in (SandboxUnavailable, ServerError, UnknownEnvironment)
    )
    assert PolicyInput.__module__ == "envtorch.collect.collector"


def test_concrete_environments_live_in_their_own_modules():
    from_envs = [
        name
        for name in envtorch.__all__
        if getattr(getattr(envtorch, name), "__module__", "").startswith("envtorch.envs")
    ]
    assert from_envs == []
    assert "EchoAction" not in dir(envtorch) and "CodeAction" not in dir(envtorch)


def test_unknown_names_raise_attribute_error():
    try:
        envtorch.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_import_stays_light():
    code = (
        "import sys, envtorch\n"
        "heavy = {'fastapi', 'uvicorn', 'websockets', 'mcp', 'torch', 'datasets', 'yaml',"
        " 'envtorch.sandbox', 'envtorch.client', 'envtorch.collect', 'envtorch.server'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
