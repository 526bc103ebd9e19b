"""The Python blocks of a Markdown page, run in order the way a reader would run them."""

import re
import textwrap
from pathlib import Path

PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    """Every ```python block of `page`, dedented and padded with blank lines so that a traceback
    names the line of the page."""
    text = page.read_text()
    return [
        "\n" * text.count("\n", 0, match.start(2)) + textwrap.dedent(match.group(2))
        for match in PYTHON_BLOCK.finditer(text)
    ]


def run_blocks(blocks: list[str], page: Path) -> dict:
    """Runs `blocks` one after another in one namespace, as one reader's session, and returns it."""
    namespace: dict = {"__name__": page.stem}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    return namespace
