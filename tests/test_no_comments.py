"""The owner's rule: no `#` comments in the package, pragmas and shebangs aside."""

import io
import tokenize
from pathlib import Path

import envtorch

PACKAGE = Path(envtorch.__file__).parent
ALLOWED = ("#!", "# type:", "# noqa", "# pragma", "# pyright:", "# mypy:")

COMMENTED = """\
def area(width, height):
    # multiply the sides
    return width * height  # in square metres
"""

PRAGMAS_AND_HASHES = '''\
#!/usr/bin/env python3
import os  # noqa: F401
value = compute()  # type: ignore[name-defined]
covered = False  # pragma: no cover
text = "# not a comment"
"""Nor is # this, in a docstring."""
'''


def comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every `#` comment in `source` that is not an allowed pragma or shebang."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [
        (token.start[0], token.string)
        for token in tokens
        if token.type == tokenize.COMMENT and not token.string.startswith(ALLOWED)
    ]


def test_the_check_finds_comments_on_their_own_line_and_after_code():
    assert comments(COMMENTED) == [(2, "# multiply the sides"), (3, "# in square metres")]


def test_the_check_allows_pragmas_shebangs_and_hashes_in_strings():
    assert comments(PRAGMAS_AND_HASHES) == []


def test_package_has_no_comments():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text in comments(path.read_text())
    ]
    assert not found, "comments found (turn them into well-named functions):\n" + "\n".join(found)
