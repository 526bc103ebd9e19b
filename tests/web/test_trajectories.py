"""Reading trajectory files for the viewer: what a real collection writes, saved datasets, and
files with lines that are not trajectories."""

from __future__ import annotations

import json

import pytest

from envtorch import Collector
from envtorch.core.transforms import RewardSum
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.web.trajectories import Query, TrajectoryFile, TrajectoryFileError
from tests.web.trajectories import write_run


def long_message(observation, action, state) -> float:
    return float(len(action.message) > 2)


def collect_to(path, total: int = 12) -> list:
    """Collect `total` echo episodes in batches of 4, appending each batch to `path`."""

    def policy(inputs):
        return [EchoAction(message="x" * (item.episode % 4 + 1)) for item in inputs]

    collector = Collector(
        lambda: EchoEnv(max_steps=2, transform=RewardSum({"long": long_message})),
        policy,
        tasks=[{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}],
        group_size=2,
        batch_size=4,
        total=total,
        seed=0,
        progress=False,
    )
    batches = []
    for batch in collector:
        batch.append_jsonl(path)
        batches.append(batch)
    return batches


def test_a_collection_appended_batch_by_batch_reads_back(tmp_path):
    path = tmp_path / "run.jsonl"
    batches = collect_to(path)
    trajectories = TrajectoryFile(path)
    assert trajectories.problems == []
    written = [trajectory for batch in batches for trajectory in batch]
    assert [(s.group, s.episode, s.batch) for s in trajectories.summaries] == [
        (t.group, t.episode, t.batch) for t in written
    ]
    assert [s.batch for s in trajectories.summaries] == [0] * 4 + [1] * 4 + [2] * 4
    first = trajectories.summaries[0]
    assert first.reward == pytest.approx(written[0].reward)
    assert first.steps == 2 and first.truncated and first.failure is None
    assert first.terms == {"long": 0.0}
    assert trajectories.summaries[3].terms == {"long": 2.0}
    row = trajectories.row(3)
    assert row["steps"][1]["action"] == {"message": "xxxx"}
    assert row["last_observation"]["metadata"]["reward_terms"] == {"long": 1.0}
    points = trajectories.batches()
    assert [point["batch"] for point in points] == [0, 1, 2]
    assert points[0]["mean_reward"] == pytest.approx(sum(t.reward for t in written[:4]) / 4)
    assert points[0]["terms"] == {"long": 1.0}


def test_queries_filter_sort_and_page(tmp_path):
    trajectories = TrajectoryFile(write_run(tmp_path / "run.jsonl", 200))
    total, page = trajectories.select(Query(failed=True))
    assert total == 3 and [s.index for s in page] == [5, 102, 199]
    assert all(s.reward is None for s in page)
    total, page = trajectories.select(Query(group=3))
    assert total == 8 and {s.group for s in page} == {3}
    total, page = trajectories.select(Query(min_reward=0.5, min_steps=3, max_steps=3))
    assert total == len([i for i in range(200) if i % 2 == 0 and i % 3 == 2 and i % 97 != 5])
    total, page = trajectories.select(Query(sort="reward", descending=True, offset=10, limit=5))
    assert total == 200 and len(page) == 5 and all(s.reward == 1.0 for s in page)
    _, page = trajectories.select(Query(sort="reward", offset=0, limit=2))
    assert [s.reward for s in page] == [None, None]
    assert trajectories.group(3) == list(range(24, 32))
    with pytest.raises(IndexError, match="the file holds 200"):
        trajectories.row(200)


def test_lines_that_are_not_trajectories_are_named_and_the_rest_is_kept(tmp_path):
    path = write_run(tmp_path / "run.jsonl", 3)
    with path.open("a") as file:
        file.write("{not json\n")
        file.write(json.dumps([1, 2]) + "\n")
        file.write(json.dumps({"group": "seven", "episode": 1}) + "\n")
        file.write("[" * 100_000 + "\n")
        file.write("\n")
    write_run(path, 2)
    trajectories = TrajectoryFile(path)
    assert len(trajectories.summaries) == 5
    assert [problem.split(":")[0] for problem in trajectories.problems] == [
        "line 4",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert "expected a JSON object" in trajectories.problems[1]
    assert "group is not an integer" in trajectories.problems[2]
    assert trajectories.row(4)["episode"] == 1


def test_a_saved_dataset_reads_like_the_jsonl(tmp_path):
    pytest.importorskip("datasets")
    batches = collect_to(tmp_path / "run.jsonl", total=8)
    folder = tmp_path / "dataset"
    rows = [row for batch in batches for row in batch.to_dataset().to_list()]
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    from_dataset = TrajectoryFile(folder)
    from_jsonl = TrajectoryFile(tmp_path / "run.jsonl")
    assert from_dataset.summaries == from_jsonl.summaries
    steps = [(step["action"], step["reward"]) for step in from_dataset.row(5)["steps"]]
    assert steps == [(step["action"], step["reward"]) for step in from_jsonl.row(5)["steps"]]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(
        str(tmp_path / "splits")
    )
    with pytest.raises(TrajectoryFileError, match="give the folder of one split"):
        TrajectoryFile(tmp_path / "splits")


def test_a_missing_file_or_a_folder_that_is_no_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(TrajectoryFileError, match="no such file or directory"):
        TrajectoryFile(tmp_path / "absent.jsonl")
    pytest.importorskip("datasets")
    with pytest.raises(TrajectoryFileError, match="not a dataset saved with save_to_disk"):
        TrajectoryFile(tmp_path)
