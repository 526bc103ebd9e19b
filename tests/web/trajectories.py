"""Trajectory files for the viewer's tests, written by `Batch.append_jsonl` as a collector's
user would."""

from pathlib import Path

from envtorch.collect import Batch, Step, Trajectory
from envtorch.envs.python import CodeAction, CodeObservation


def observation(stdout: str, correct: float | None = None) -> CodeObservation:
    metadata = {} if correct is None else {"reward_terms": {"correct": correct, "format": 0.5}}
    return CodeObservation(stdout=stdout, reward=correct, metadata=metadata)


def trajectory(episode: int, group_size: int, batch_size: int) -> Trajectory:
    """Episode `episode`: one to three steps printing numbers; every 97th fails; reward 1 when
    `episode` is even."""
    group = episode // group_size
    turns = 1 + episode % 3
    correct = 1.0 if episode % 2 == 0 else 0.0
    steps = [
        Step(
            observation=observation(f"step {turn} of episode {episode}")
            if turn
            else observation(""),
            action=CodeAction(code=f"print('step {turn + 1} of episode {episode}')"),
            reward=correct if turn == turns - 1 else 0.0,
        )
        for turn in range(turns)
    ]
    failed = episode % 97 == 5
    return Trajectory(
        task={"question": f"task {group}", "answer": group},
        group=group,
        episode=episode,
        batch=episode // batch_size,
        steps=steps,
        last_observation=None
        if failed
        else observation(f"step {turns} of episode {episode}", correct),
        done=not failed,
        failure="env.step raised OSError: gone" if failed else None,
    )


def write_run(path: Path, episodes: int, group_size: int = 8, batch_size: int = 64) -> Path:
    """A JSONL file of `episodes` trajectories, appended batch by batch."""
    for start in range(0, episodes, batch_size):
        end = min(start + batch_size, episodes)
        Batch(
            trajectory(episode, group_size, batch_size) for episode in range(start, end)
        ).append_jsonl(path)
    return path
