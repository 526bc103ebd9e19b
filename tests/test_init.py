import os
import subprocess
import sys
import tomllib

import pytest

from envtorch.cli import main
from envtorch.cli.init import scaffold


def _envtorch_check(root):
    """`envtorch check` on the scaffolded env, with the envtorch this test imports."""
    pythonpath = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "envtorch", "check", "number_guess.environment:NumberGuessEnv"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"},
    )


def test_init_output_passes_its_own_tests_and_the_checker(tmp_path, capsys):
    root = tmp_path / "number-guess"
    assert main(["init", "number guess", "--directory", str(root)]) == 0
    assert "created" in capsys.readouterr().out
    expected = {
        "pyproject.toml",
        "README.md",
        "Dockerfile",
        "number_guess/__init__.py",
        "number_guess/environment.py",
        "tests/test_environment.py",
    }
    assert {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} == expected
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    check = _envtorch_check(root)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (
        'number-guess = "number_guess.environment:NumberGuessEnv"'
        in (root / "pyproject.toml").read_text()
    )
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["envtorch"]


def test_the_checker_catches_the_scaffold_with_its_secret_unhidden(tmp_path):
    root = scaffold("number guess", tmp_path / "number-guess")
    environment = root / "number_guess" / "environment.py"
    hidden = "secret: int = hidden(default=0)"
    assert hidden in environment.read_text()
    environment.write_text(environment.read_text().replace(hidden, "secret: int = 0"))
    check = _envtorch_check(root)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "hidden state: state.secret changes with the seed" in check.stdout


def test_init_refuses_bad_names_and_existing_folders(tmp_path):
    with pytest.raises(ValueError, match="start with a letter"):
        scaffold("9lives", tmp_path / "a")
    with pytest.raises(ValueError, match="keyword"):
        scaffold("class", tmp_path / "b")
    scaffold("ok", tmp_path / "c")
    with pytest.raises(ValueError, match="not empty"):
        scaffold("ok", tmp_path / "c")
