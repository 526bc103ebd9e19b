"""The documentation site builds in strict mode, its API reference covers every export, and every
Python block of its pages runs as written, page by page."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import envtorch
from envtorch.cli import SUBCOMMANDS
from tests.markdown_blocks import python_blocks, run_blocks

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES_WITH_CODE = sorted(page for page in DOCS.rglob("*.md") if python_blocks(page))

pytestmark = pytest.mark.timeout(180)


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=170,
    )


def test_the_site_builds_in_strict_mode(tmp_path):
    built = _mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "reference" / "index.html").exists()
    command_line = (tmp_path / "site" / "cli" / "index.html").read_text()
    for name in SUBCOMMANDS:
        assert f"usage: envtorch {name}" in command_line, f"the command line page lacks {name}"


def test_a_broken_link_or_a_page_missing_from_the_nav_fails_the_strict_build(tmp_path):
    """The site's own `validation` settings, on a two-page site with one of each fault."""
    ours = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the guide](guide.md).\n")
    (tmp_path / "docs" / "orphan.md").write_text("# Not in the nav\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "site_name": "faults",
                "strict": ours["strict"],
                "validation": ours["validation"],
                "nav": ["index.md"],
            }
        )
    )
    built = _mkdocs_build(config, tmp_path / "site")
    assert built.returncode != 0
    assert "guide.md" in built.stderr and "orphan.md" in built.stderr


def test_the_api_reference_documents_every_export_where_it_is_defined():
    reference = re.findall(r"^::: (\S+)$", (DOCS / "reference.md").read_text(), re.M)
    exported = {}
    for name in envtorch.__all__:
        value = getattr(envtorch, name)
        exported[f"{value.__module__}.{value.__qualname__}"] = name
    missing = sorted(set(exported) - set(reference))
    assert not missing, f"add `::: PATH` to docs/reference.md for each of {missing}"
    assert sorted(reference) == sorted(exported)


def test_the_command_line_page_names_every_subcommand():
    page = (DOCS / "cli.md").read_text()
    assert [name for name in SUBCOMMANDS if f"`envtorch {name}" not in page] == []


def test_the_docs_have_code_to_run():
    assert len(PAGES_WITH_CODE) >= 5


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda page: str(page.relative_to(DOCS)))
def test_the_python_blocks_of_a_page_run_in_order(page, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)
    if "RayProvider" in page.read_text():
        monkeypatch.setenv("RAY_ADDRESS", request.getfixturevalue("ray_head"))
    run_blocks(python_blocks(page), page)
