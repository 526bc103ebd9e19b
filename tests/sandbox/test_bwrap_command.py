import sys

import pytest

from envtorch.sandbox import SandboxUnavailable, bwrap


def test_a_venv_under_tmp_is_bound_elsewhere_and_started_from_there(monkeypatch):
    monkeypatch.setattr(sys, "prefix", "/tmp/project/.venv")
    monkeypatch.setattr(sys, "executable", "/tmp/project/.venv/bin/python")
    binds = bwrap.python_binds()
    assert binds["/tmp/project/.venv"] == bwrap.RELOCATED_VENV
    assert all(not inside.startswith("/tmp") for inside in binds.values())
    assert bwrap.interpreter() == f"{bwrap.RELOCATED_VENV}/bin/python"
    command = bwrap.command("bwrap", 3)
    assert f"{bwrap.RELOCATED_VENV}/bin/python" in command
    index = command.index("/tmp/project/.venv")
    assert command[index - 1 : index + 2] == [
        "--ro-bind",
        "/tmp/project/.venv",
        bwrap.RELOCATED_VENV,
    ]


def test_a_venv_elsewhere_keeps_its_path(monkeypatch):
    monkeypatch.setattr(sys, "prefix", "/srv/app/.venv")
    monkeypatch.setattr(sys, "executable", "/srv/app/.venv/bin/python")
    assert bwrap.python_binds()["/srv/app/.venv"] == "/srv/app/.venv"
    assert bwrap.interpreter() == "/srv/app/.venv/bin/python"


def test_a_base_python_under_tmp_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(sys, "base_prefix", "/tmp/python")
    with pytest.raises(SandboxUnavailable, match="lives under /tmp"):
        bwrap.python_binds()
