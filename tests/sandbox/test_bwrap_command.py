import sys

import pytest

from envtorch.sandbox import SandboxUnavailable, bwrap


def test_a_venv_shows_only_its_site_packages_at_a_neutral_path(monkeypatch, tmp_path):
    venv = tmp_path / "project" / ".venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setattr(bwrap.site, "getsitepackages", lambda: [str(site)])
    binds = bwrap.python_binds()
    assert binds[str(site)] == bwrap.SITE_PACKAGES
    assert not any(str(venv) in inside for inside in binds.values())
    assert str(venv) not in binds
    assert bwrap.interpreter() == bwrap.os.path.realpath(sys._base_executable)
    command = bwrap.command("bwrap", 3, 4, bwrap.SandboxLimits())
    assert command[-1] == bwrap.SITE_PACKAGES
    assert f"PYTHONPATH={bwrap.SITE_PACKAGES}" in "=".join(command)


def test_every_site_packages_directory_gets_its_own_path(monkeypatch, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.setattr(bwrap.site, "getsitepackages", lambda: [str(first), str(second)])
    assert bwrap.site_packages_inside() == [bwrap.SITE_PACKAGES, f"{bwrap.SITE_PACKAGES}-1"]
    assert bwrap.python_binds()[str(second)] == f"{bwrap.SITE_PACKAGES}-1"


def test_a_base_python_under_tmp_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(sys, "_base_executable", "/tmp/python/bin/python3")
    with pytest.raises(SandboxUnavailable, match="lives under /tmp"):
        bwrap.python_binds()
