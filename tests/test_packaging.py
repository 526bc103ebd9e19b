"""The package as a user gets it: `python -m build` makes a wheel and an sdist that pass
`twine check`, and the wheel installs in a fresh virtual environment where `envtorch demo` runs.

One build and one venv, made from a copy of the checkout so that nothing is written beside the
source other tests read. pip reaches the package index for the dependencies, through its cache.
"""

import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".artifacts", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "site"
)

pytestmark = pytest.mark.timeout(600)


def _run(command: list, **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=540, **options)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _build(tmp_path: Path) -> tuple[Path, Path]:
    """The wheel and the sdist `python -m build` makes of a copy of the checkout."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)])
    (wheel,) = dist.glob("envtorch-*.whl")
    (sdist,) = dist.glob("envtorch-*.tar.gz")
    return wheel, sdist


def _wheel_metadata(wheel: Path) -> tuple[list[str], str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
        return names, archive.read(metadata).decode()


def test_the_wheel_and_sdist_pass_twine_and_the_wheel_runs_the_demo_in_a_fresh_venv(tmp_path):
    wheel, sdist = _build(tmp_path)
    _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])

    names, metadata = _wheel_metadata(wheel)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert "envtorch/py.typed" in names
    assert "envtorch/web/static/play.html" in names
    assert "envtorch/envs/research/tasks/digits-classification.yaml" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "Classifier: Typing :: Typed" in metadata
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Project-URL: " in metadata
    assert f"## {version}" in metadata, "the long description carries the changelog entry"
    with tarfile.open(sdist) as archive:
        top = Path(f"envtorch-{version}")
        members = {
            Path(name).relative_to(top).as_posix()
            for name in archive.getnames()
            if name != top.name
        }
    assert {"CHANGELOG.md", "LICENSE", "README.md", "envtorch/py.typed"} <= members
    assert not any(member.startswith("tests/") for member in members)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    _run([*pip, "install", "--quiet", "--no-compile", "--disable-pip-version-check", str(wheel)])
    demo = _run(
        [str(venv / "bin" / "envtorch"), "demo", "--tasks", "8", "--group-size", "2"], cwd=tmp_path
    )
    assert "episodes                           16" in demo.stdout
    assert "failed (infrastructure)             0" in demo.stdout
