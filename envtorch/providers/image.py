"""`build_image`: a container image serving an environment, built from the envtorch running here.

envtorch and the environment's package are installed into the image's system site-packages by
this machine's pip (from the local checkout or a wheel, never from PyPI for envtorch itself), so
the base image needs only Python; the sandbox, which clears `PYTHONPATH`, finds them there.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from envtorch.providers.provider import ProviderError

SERVER_PORT = 8000
"""The port the server listens on inside an image that `envtorch build` made."""
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
DEFAULT_BASE = f"python:{PYTHON_VERSION}-slim"
SITE = ".envtorch-site"
"""The folder of the build context holding the packages the image installs."""

_INSTALL = (
    "import shutil, site, sys; "
    "found = '%d.%d' % sys.version_info[:2]; "
    "found == '{python}' or sys.exit('envtorch build installed packages for Python {python}; "
    "this base has Python ' + found); "
    f"shutil.copytree('/tmp/{SITE}', site.getsitepackages()[0], dirs_exist_ok=True); "
    f"shutil.rmtree('/tmp/{SITE}')"
)
_HEALTH = (
    "import urllib.request as request, envtorch.wire as wire; "
    f"request.urlopen(request.Request('http://127.0.0.1:{SERVER_PORT}/health', "
    "headers=wire.auth_headers()), timeout=4)"
)
_SERVE = ["python3", "-m", "envtorch", "serve", "{target}", "--host", "0.0.0.0"]
DOCKERFILE = f"""\
ARG BASE={{base}}
FROM ${{{{BASE}}}}
COPY {SITE} /tmp/{SITE}
RUN python3 -c "{_INSTALL}"
EXPOSE {SERVER_PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s CMD ["python3", "-c", "{_HEALTH}"]
CMD {json.dumps([*_SERVE, "--port", str(SERVER_PORT)])}
"""
_SKIPPED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist", "*.egg-info")


def dockerfile(target: str, base: str = DEFAULT_BASE) -> str:
    """The Dockerfile of an image serving `target` (what `envtorch serve` takes) on port 8000.

    Its build context holds `.envtorch-site`, the packages `build_image` installed for it.
    """
    return DOCKERFILE.format(target=target, base=base, python=PYTHON_VERSION)


def build_image(
    target: str,
    *,
    tag: str | None = None,
    base: str = DEFAULT_BASE,
    envtorch_source: str | Path | None = None,
) -> str:
    """Build an image serving `target` and return its tag (default `envtorch-NAME`).

    `target` is a registered environment (`echo`), a `module:Class` whose top-level module is
    copied in, or the folder of an `envtorch init` package (its Dockerfile is used, and its first
    `envtorch.envs` entry point is served). `base` is an image with the same Python minor
    version as this one. `envtorch_source` is a checkout or a wheel of envtorch; by default the
    checkout this envtorch runs from.
    """
    package = Path(target) if Path(target, "pyproject.toml").is_file() else None
    served = _package_env_id(package) if package else target
    tag = tag or f"envtorch-{_image_name(served)}"
    with tempfile.TemporaryDirectory(prefix="envtorch-build-") as folder:
        context = Path(folder, "context")
        if package:
            shutil.copytree(package, context, ignore=_SKIPPED)
        else:
            context.mkdir()
        requirements = [_copied(_envtorch_source(envtorch_source), Path(folder, "envtorch"))]
        if package:
            requirements.append(_copied(package, Path(folder, "package")))
        _pip_install(requirements, context / SITE)
        if not package:
            _copy_module_of(target, context / SITE)
        if not (context / "Dockerfile").is_file():
            (context / "Dockerfile").write_text(dockerfile(served, base))
        _build(context, tag, base)
    return tag


def _package_env_id(package: Path) -> str:
    """The first environment an `envtorch init` package registers (`envtorch.envs` entry points)."""
    project = tomllib.loads((package / "pyproject.toml").read_text()).get("project", {})
    entry_points = project.get("entry-points", {}).get("envtorch.envs", {})
    if not entry_points:
        raise ProviderError(
            f"{package / 'pyproject.toml'} registers no environment: add one under "
            '[project.entry-points."envtorch.envs"], as `envtorch init` does'
        )
    return str(next(iter(entry_points)))


def _image_name(target: str) -> str:
    """A name an image may take, from a target: `mymod:MyEnv` gives `mymod-myenv`."""
    return re.sub(r"[^a-z0-9.]+", "-", target.lower()).strip("-.") or "env"


def _envtorch_source(source: str | Path | None) -> Path:
    """The checkout or wheel pip installs envtorch from."""
    if source is not None:
        path = Path(source).resolve()
        if (path.is_file() and path.suffix == ".whl") or (path / "pyproject.toml").is_file():
            return path
        raise ProviderError(f"{source} is neither an envtorch wheel nor a checkout")
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "envtorch").is_dir():
        return checkout
    raise ProviderError(
        "this envtorch is not a checkout (pip install -e); give envtorch build "
        "--envtorch PATH, a checkout or wheel of envtorch"
    )


def _copied(source: Path, destination: Path) -> str:
    """A copy of a source tree (a wheel as it is), so that pip builds outside the original and
    several builds of one checkout can run at once."""
    if source.is_file():
        return str(source)
    shutil.copytree(source, destination, ignore=_SKIPPED)
    return str(destination)


def _pip_install(requirements: list[str], site: Path) -> None:
    """Install `requirements` and their dependencies into `site` with this machine's pip."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
    command += ["--disable-pip-version-check", "--target", str(site), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        raise ProviderError(
            f"pip could not install {' '.join(requirements)} for the image:\n"
            f"{result.stdout}{result.stderr}"
        )


def _copy_module_of(target: str, site: Path) -> None:
    """Copy the top-level module of a `module:Class` target into `site`, unless installed there."""
    module = target.partition(":")[0].split(".")[0]
    if ":" not in target or (site / module).exists() or (site / f"{module}.py").exists():
        return
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ProviderError(f"cannot find the module {module!r} of {target!r} from here")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:
        shutil.copytree(origin.parent, site / module, ignore=_SKIPPED)
    else:
        shutil.copy2(origin, site / origin.name)


def _build(context: Path, tag: str, base: str) -> None:
    """Build the image in `context`; a failure is a `ProviderError` with the build's log."""
    from envtorch.providers.docker import docker_client

    engine = docker_client()
    try:
        engine.images.build(
            path=str(context), tag=tag, buildargs={"BASE": base}, rm=True, forcerm=True
        )
    except Exception as error:
        log = "".join(
            str(line.get("stream") or line.get("error") or "")
            for line in getattr(error, "build_log", [])
        )
        raise ProviderError(f"building {tag} failed: {error}\n{log}") from None
