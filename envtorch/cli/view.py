"""`envtorch view FILE`: browse the trajectories of a JSONL file or a saved dataset."""

from __future__ import annotations

import argparse
import sys

from envtorch.cli.listen import add_listen_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser(
        "view",
        help="browse trajectories in a web page",
        description="Serve a page to browse trajectories: a JSONL file that Batch.append_jsonl "
        "wrote, or a folder where a dataset from Batch.to_dataset() was saved (the datasets "
        "extra). Filter by group, batch, reward, failure and length, step through an episode, "
        "compare a group side by side, and plot the reward per batch.",
    )
    parser.add_argument("file", help="a .jsonl file of trajectories, or a saved dataset's folder")
    add_listen_arguments(parser, default_port=8001)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; a file that cannot be read is one line on stderr and status 2."""
    import uvicorn

    from envtorch.server.background import run_announcing
    from envtorch.web.trajectories import TrajectoryFile, TrajectoryFileError
    from envtorch.web.viewer import create_viewer_app

    try:
        trajectories = TrajectoryFile(args.file)
    except (TrajectoryFileError, OSError) as error:
        print(f"envtorch view: error: {error}", file=sys.stderr)
        return 2
    for problem in trajectories.problems[:5]:
        print(f"envtorch view: skipped {problem}", file=sys.stderr)
    if len(trajectories.problems) > 5:
        print(f"envtorch view: skipped {len(trajectories.problems)} lines in all", file=sys.stderr)
    app = create_viewer_app(trajectories)
    run_announcing(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level))
    return 0
