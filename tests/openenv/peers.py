"""OpenEnv's published versions as peers: an interpreter with each, their servers, their clients.

openenv-core 0.3.0 is in the test extra (it shares the `mcp` 2 line with envtorch). openenv 0.10.0
pins `mcp` 1 and installs the same `openenv` import package, so it cannot share the test venv: it
gets a venv of its own inside `.venv/peers`, made by the first test that needs it (under a file
lock, as pytest-xdist's workers ask at once) and reused while the test venv's packages stay the
same. That venv is layered on the test venv (`_make_venv`), so it installs only what differs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CLIENT_SCRIPT = HERE / "openenv_client.py"
UPSTREAM = HERE / "upstream"
VERSIONS = ("0.3.0", "0.10.0")
_PACKAGE = {"0.3.0": "openenv-core", "0.10.0": "openenv"}


class PeerUnavailable(Exception):
    """This OpenEnv version cannot be installed here; the message says why."""


def python(version: str) -> str:
    """An interpreter that imports OpenEnv `version`."""
    package = _PACKAGE[version]
    try:
        if metadata.version(package) == version:
            return sys.executable
    except metadata.PackageNotFoundError:
        pass
    venv = Path(sys.prefix) / "peers" / f"openenv-{version}"
    stamp = venv / ".installed"
    venv.parent.mkdir(exist_ok=True)
    with open(venv.parent / f".openenv-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint = _packages_fingerprint()
        if not stamp.exists() or stamp.read_text() != fingerprint:
            _make_venv(venv, f"{package}=={version}")
            stamp.write_text(fingerprint)
    return str(venv / "bin" / "python")


def _make_venv(venv: Path, requirement: str) -> None:
    """A venv whose `.pth` file puts the test venv's site-packages after its own, so pip sees
    what is installed there and installs only what `requirement` needs otherwise (openenv 0.10.0:
    `mcp` 1, `fastmcp` 3 and a dozen small packages, instead of gradio's whole tree). What pip
    installs lands in the new venv, ahead on `sys.path`; pip leaves the test venv alone, as it
    lies outside the environment being installed into."""
    base = getattr(sys, "_base_executable", sys.executable)
    peer = venv / "bin" / "python"
    layered = sysconfig.get_paths()["purelib"]
    own = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    _run([base, "-m", "venv", "--clear", "--without-pip", str(venv)])
    Path(own, "_layered_on_the_test_venv.pth").write_text(layered + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(peer), "install", "-q", requirement])


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise PeerUnavailable(f"{' '.join(command)} failed: {done.stderr[-2000:]}")


def _packages_fingerprint() -> str:
    """A digest of the test venv's installed distributions, which a layered venv builds on."""
    names = sorted(path.name for path in Path(sysconfig.get_paths()["purelib"]).glob("*-info"))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def scaffold(version: str, folder: Path, name: str = "echo_env") -> Path:
    """The environment `openenv init NAME` makes with OpenEnv `version`, in `folder`."""
    bin_dir = Path(python(version)).parent
    subprocess.run(
        [str(bin_dir / "openenv"), "init", name],
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder / name


@contextmanager
def openenv_server(version: str, folder: Path, app: str) -> Iterator[str]:
    """OpenEnv `version` serving `app` (`module:attribute`, run from `folder`) with uvicorn, as
    OpenEnv documents it without Docker; yields its base URL."""
    command = [python(version), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        command, cwd=folder, stderr=subprocess.PIPE, text=True, env=_quiet_env()
    )
    try:
        yield _announced_url(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_UPSTREAM_APPS = {
    "echo_env": (UPSTREAM / "echo_env", "server.app:app"),
    "coding_env": (UPSTREAM, "coding_env.server.app:app"),
}


def upstream_server(version: str, name: str) -> Any:
    """OpenEnv's reference `echo_env` or `coding_env` (copied in `upstream/`) served by OpenEnv
    `version` the way their Dockerfiles run them, without Docker; a context giving its URL."""
    folder, app = _UPSTREAM_APPS[name]
    return openenv_server(version, folder, app)


def _announced_url(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        found = re.search(r"running on (http://[\d.]+:\d+)", line)
        if found:
            return found.group(1)
    raise RuntimeError("the OpenEnv server did not start:\n" + "".join(seen[-40:]))


def run_clients(
    version: str, url: str, scenarios: str, action: dict, folder: Path | None = None
) -> dict:
    """Run `openenv_client.py SCENARIOS URL ACTION` under OpenEnv `version`; its JSON report."""
    done = subprocess.run(
        [python(version), str(CLIENT_SCRIPT), scenarios, url, json.dumps(action)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env=_quiet_env(),
    )
    if done.returncode != 0:
        raise AssertionError(f"{scenarios} under OpenEnv {version}:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
