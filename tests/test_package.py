import subprocess
import sys

import envtorch


def test_every_public_name_resolves():
    for name in envtorch.__all__:
        assert getattr(envtorch, name) is not None, name


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
        "heavy = {'fastapi', 'uvicorn', 'websockets', 'mcp', 'torch', 'datasets', 'yaml'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
