"""MkDocs hook: the command-line page shows each `envtorch COMMAND --help` as the parser prints it,
so the page cannot drift from the code."""

import argparse
import functools

from envtorch.cli import build_parser

MARKER = "<!-- envtorch commands -->"
HELP_WIDTH = 100


def on_page_markdown(markdown, page, config, files):
    """Replace the marker with one section per subcommand."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _commands())


def _commands():
    parser = build_parser()
    subcommands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    sections = []
    for name, subparser in sorted(subcommands.choices.items()):
        subparser.formatter_class = functools.partial(argparse.HelpFormatter, width=HELP_WIDTH)
        sections.append(f"## envtorch {name}\n\n```text\n{subparser.format_help()}```\n")
    return "\n".join(sections)
