"""`envtorch eval TASK --policy module:function --episodes N`: score a policy on a task."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this subcommand to the `envtorch` parser."""
    parser = subparsers.add_parser(
        "eval",
        help="run a policy on a task and score it against the task's threshold",
        description="Play N episodes of TASK with a policy, print each episode's score and the "
        "task's metric against its threshold, and write the trajectories to a JSONL file. Run "
        "the same command again to resume: finished episodes are not played again; a file "
        "written with another task, policy, seed or --max-steps is refused. An env with no step "
        "budget or time limit of its own needs --max-steps. Exit status: 0 passed, 1 failed, "
        "2 error.",
    )
    parser.add_argument(
        "target",
        metavar="TASK",
        help="what envtorch.make takes: a task id (digits-classification), task.yaml, or any env",
    )
    parser.add_argument(
        "--policy",
        required=True,
        metavar="MODULE:FUNCTION",
        help="a Collector policy: list[PolicyInput] -> list[action] (the current folder counts)",
    )
    parser.add_argument("--episodes", type=int, default=1, help="episodes to play (default: 1)")
    parser.add_argument(
        "--output",
        help="JSONL file of the trajectories, appended to and resumed from "
        "(default: eval-TASK.jsonl in the current folder)",
    )
    parser.add_argument("--seed", type=int, default=0, help="episode k resets with SEED + k")
    parser.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="end each episode after N steps, replacing the env's own step budget (default: "
        "the env's; required when the env has neither a step budget nor a time limit)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; return its exit code."""
    from pathlib import Path

    from envtorch.collect import PolicyError
    from envtorch.core import EnvtorchError
    from envtorch.evaluation import evaluate
    from envtorch.registry import load

    output = args.output or f"eval-{Path(args.target).stem}.jsonl"
    try:
        policy = load(args.policy)
        report = evaluate(
            args.target,
            policy,
            episodes=args.episodes,
            output=output,
            seed=args.seed,
            max_steps=args.max_steps,
        )
    except (EnvtorchError, ValueError) as error:
        kind = "policy error" if isinstance(error, PolicyError) else "error"
        print(f"envtorch eval: {kind}: {error}", file=sys.stderr)
        return 2
    _print(report)
    return 0 if report.passed else 1


def _print(report) -> None:  # type: ignore[no-untyped-def]
    metric = report.evaluation.metric
    print(f"{'episode':>7}  {'steps':>5}  {'reward':>8}  {metric:>12}  note")
    for episode in report.episodes:
        reward = "-" if episode.reward is None else f"{episode.reward:.4f}"
        score = "-" if episode.score is None else f"{episode.score:.6g}"
        print(f"{episode.episode:>7}  {episode.steps:>5}  {reward:>8}  {score:>12}  {episode.note}")
    better = "higher" if report.evaluation.definition.higher_is_better else "lower"
    mean = "undefined" if report.score is None else f"{report.score:.6g}"
    threshold = report.evaluation.threshold
    against = (
        "no threshold" if threshold is None else f"threshold {threshold:g} ({better} is better)"
    )
    missing = sum(episode.score is None for episode in report.episodes)
    why = f", {missing} episode(s) without a score" if missing else ""
    verdict = "PASS" if report.passed else "FAIL"
    print(f"{metric}: {mean} over {len(report.episodes)} episode(s){why}; {against}: {verdict}")
    print(f"trajectories: {report.output} ({report.resumed} episode(s) resumed from it)")
