"""The owner's rule: no `#` comments in the package, pragmas and shebangs aside."""

import io
import tokenize
from pathlib import Path

import envtorch

PACKAGE = Path(envtorch.__file__).parent
ALLOWED = ("#!", "# type:", "# noqa", "# pragma", "# pyright:", "# mypy:")


def _comments(path: Path) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [
        f"{path.relative_to(PACKAGE.parent)}:{token.start[0]}: {token.string}"
        for token in tokens
        if token.type == tokenize.COMMENT and not token.string.startswith(ALLOWED)
    ]


def test_package_has_no_comments():
    found = [line for path in sorted(PACKAGE.rglob("*.py")) for line in _comments(path)]
    assert not found, "comments found (turn them into well-named functions):\n" + "\n".join(found)


def test_the_check_sees_comments(tmp_path):
    sample = PACKAGE / "__init__.py"
    commented = tmp_path / "sample.py"
    commented.write_text(sample.read_text() + "\nx = 1  # explain x\n")
    tokens = tokenize.generate_tokens(io.StringIO(commented.read_text()).readline)
    assert any(token.type == tokenize.COMMENT for token in tokens)
