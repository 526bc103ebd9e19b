"""Container images for the provider tests, built once and shared by every xdist worker.

`./dev test` runs podman's Docker-compatible socket as root and exports `DOCKER_HOST` and
`ENVTORCH_TEST_BASE_IMAGE` (a Debian base made with mmdebstrap); elsewhere these tests skip.
An image is tagged by a hash of envtorch's sources, so a later run reuses it; older tags of the
same image made over an hour ago are removed when a new one is built.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDS = (
    "needs a container engine: DOCKER_HOST naming podman's or Docker's socket and "
    "ENVTORCH_TEST_BASE_IMAGE a base image with Python (./dev test sets both up as root)"
)


def engine():
    """The docker SDK's client on `DOCKER_HOST`, or a skip saying what the test needs."""
    docker = pytest.importorskip("docker", reason="needs the docker extra")
    if not os.environ.get("DOCKER_HOST") or not os.environ.get("ENVTORCH_TEST_BASE_IMAGE"):
        pytest.skip(NEEDS)
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as error:
        pytest.skip(f"{NEEDS}; {error}")
    return client


def base_image() -> str:
    """The base image the tests build on."""
    return os.environ["ENVTORCH_TEST_BASE_IMAGE"]


def shared_image(name: str, build: Callable[[str], object]) -> str:
    """The tag of test image `name`, calling `build(tag)` under a machine-wide lock if no image
    of this source tree has it yet."""
    client = engine()
    tag = f"envtorch-test-{name}:{_fingerprint(client)}"
    with _lock(name):
        if not client.images.list(name=tag):
            build(tag)
            _remove_older_tags(client, name, tag)
    return tag


def failing_image() -> str:
    """An image whose command prints a line and exits with status 3 (built in a second)."""
    client = engine()
    tag = "envtorch-test-failing:latest"
    dockerfile = (
        f"FROM {base_image()}\n"
        'CMD ["python3", "-c", "print(\'no env served here\'); raise SystemExit(3)"]\n'
    )
    with _lock("failing"):
        if not client.images.list(name=tag):
            client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    return tag


def containers_of(image: str) -> list:
    """Every container, running or not, made from `image`."""
    return engine().containers.list(all=True, filters={"ancestor": image})


@contextlib.contextmanager
def _lock(name: str):
    """A machine-wide lock on building test image `name`."""
    with open(Path(tempfile.gettempdir(), f"envtorch-test-image-{name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fingerprint(client) -> str:
    """A hash of envtorch's sources, its pyproject and the base image's id."""
    digest = hashlib.sha256(client.images.get(base_image()).id.encode())
    for path in sorted([ROOT / "pyproject.toml", *(ROOT / "envtorch").rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _remove_older_tags(client, name: str, keep: str) -> None:
    """Untag the other builds of test image `name` made over an hour ago (a suite of another
    source tree running now on this engine may still use a recent one)."""
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for image in client.images.list(name=f"envtorch-test-{name}"):
        created = datetime.fromisoformat(image.attrs["Created"][:19]).replace(tzinfo=UTC)
        for tag in image.tags:
            if not tag.endswith(keep) and created < hour_ago:
                with contextlib.suppress(Exception):
                    client.images.remove(tag)
