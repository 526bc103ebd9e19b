"""A missing optional package is one clear line naming the extra, never a traceback."""

import subprocess
import sys

import pytest

from envtorch.collect import Batch
from envtorch.core import MissingDependency
from envtorch.core.extras import import_optional
from envtorch.envs.math import reasoning_gym_tasks
from envtorch.taskfile import DatasetRef, TaskFile
from envtorch.tools import MCPServer, MCPToolset

NEEDS_AN_EXTRA = """
from envtorch.envs.math import MathEnv, reasoning_gym_tasks


def make_env():
    reasoning_gym_tasks("basic_arithmetic", 4)
    return MathEnv()
"""


def test_the_helper_names_the_extra_and_the_caller(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependency) as missing:
        import_optional("datasets", extra="datasets", needed_by="this test")
    assert str(missing.value) == "this test needs datasets: pip install 'envtorch[datasets]'"
    assert isinstance(missing.value, ImportError)
    assert import_optional("json", extra="none", needed_by="this test") is sys.modules["json"]


@pytest.mark.parametrize(
    ("package", "extra", "call"),
    [
        ("datasets", "datasets", lambda: Batch([]).to_dataset()),
        ("reasoning_gym", "math", lambda: reasoning_gym_tasks("basic_arithmetic", 4)),
        ("mcp", "mcp", lambda: MCPToolset([MCPServer("files", command="true")]).tools()),
        (
            "datasets",
            "datasets",
            lambda: TaskFile(id="t", env="echo", dataset=DatasetRef(name="gsm8k")).load_tasks(),
        ),
    ],
)
def test_every_optional_package_goes_through_the_helper(monkeypatch, package, extra, call):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(MissingDependency, match=rf"pip install 'envtorch\[{extra}\]'$"):
        call()


def test_the_command_line_says_it_in_one_line(tmp_path):
    (tmp_path / "needs_an_extra.py").write_text(NEEDS_AN_EXTRA)
    script = (
        "import sys; sys.modules['reasoning_gym'] = None\n"
        "from envtorch.cli import main\n"
        "sys.exit(main(['check', 'needs_an_extra:make_env']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    assert output.splitlines() == [
        "error: reasoning_gym_tasks() needs reasoning_gym: pip install 'envtorch[math]'"
    ]
