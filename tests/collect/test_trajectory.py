import json
import statistics

import pytest

from envtorch.collect import Batch, Collector, PolicyOutput, Step, Trajectory
from envtorch.envs.echo import EchoAction, EchoEnv, EchoObservation

pytestmark = pytest.mark.timeout(60)


def finished(group, episode, *rewards, failure=None):
    steps = [Step(observation=None, action=None, reward=reward) for reward in rewards]
    return Trajectory(task=None, group=group, episode=episode, steps=steps, failure=failure)


def test_reward_sums_steps_and_counts_a_missing_reward_as_zero():
    assert finished(0, 0, 1.0, None, 0.5).reward == 1.5
    assert finished(0, 0).reward == 0.0


def test_a_failed_trajectory_has_no_reward():
    trajectory = finished(0, 0, 1.0, failure="env.step raised EOFError: server gone")
    assert trajectory.failed and trajectory.reward is None


def test_group_relative_advantages():
    batch = Batch(
        [finished(0, 0, 1.0), finished(0, 1, 0.0), finished(1, 2, 3.0), finished(1, 3, 3.0)]
    )
    spread = statistics.pstdev([1.0, 0.0])
    assert batch.advantages() == pytest.approx(
        [0.5 / (spread + 1e-4), -0.5 / (spread + 1e-4), 0.0, 0.0]
    )
    assert batch.advantages(scale=False) == pytest.approx([0.5, -0.5, 0.0, 0.0])
    assert batch.rewards() == [1.0, 0.0, 3.0, 3.0]


def test_helpers_refuse_failures_instead_of_counting_zero():
    batch = Batch([finished(0, 0, 1.0), finished(0, 1, failure="policy raised KeyError: 'x'")])
    for helper in (batch.rewards, batch.advantages):
        with pytest.raises(ValueError, match="use batch.completed"):
            helper()
    assert batch.completed().rewards() == [1.0]
    assert [t.failure for t in batch.failures()] == ["policy raised KeyError: 'x'"]
    assert isinstance(batch.completed(), Batch)


def test_rewards_make_a_tensor():
    torch = pytest.importorskip("torch")
    batch = Batch([finished(0, 0, 1.0), finished(0, 1, 0.25)])
    assert torch.tensor(batch.rewards()).tolist() == [1.0, 0.25]


def test_to_dataset_round_trip():
    pytest.importorskip("datasets")

    def policy(inputs):
        return [EchoAction(message="x" * (item.episode + 1)) for item in inputs]

    collector = Collector(
        lambda: EchoEnv(max_steps=2),
        policy,
        tasks=[{"prompt": "a"}, {"prompt": "b"}],
        group_size=2,
        batch_size=4,
        cycle=False,
        seed=0,
        progress=False,
    )
    (batch,) = list(collector)
    dataset = batch.to_dataset()
    assert len(dataset) == 4
    for row, trajectory in zip(dataset, batch, strict=True):
        assert row["task"] == trajectory.task
        assert (row["group"], row["episode"]) == (trajectory.group, trajectory.episode)
        assert row["reward"] == pytest.approx(trajectory.reward)
        assert (row["done"], row["truncated"], row["failure"]) == (True, True, None)
        actions = [EchoAction(**step["action"]) for step in row["steps"]]
        assert actions == [step.action for step in trajectory.steps]
        observations = [EchoObservation(**step["observation"]) for step in row["steps"]]
        assert observations == [step.observation for step in trajectory.steps]


def test_to_dataset_carries_the_policy_data_of_each_step():
    pytest.importorskip("datasets")

    def policy(inputs):
        return [
            PolicyOutput(
                EchoAction(message="hi"),
                {
                    "token_ids": [7, 8, item.episode],
                    "logprobs": [-0.5, -1.5, -0.25],
                    "text": "hi",
                    "mask": [1, 1, 0],
                },
            )
            for item in inputs
        ]

    collector = Collector(
        lambda: EchoEnv(max_steps=2), policy, tasks=["a"], group_size=2, cycle=False
    )
    (batch,) = list(collector)
    rows = batch.to_dataset().to_list()
    assert [step["policy_data"]["token_ids"] for step in rows[1]["steps"]] == [[7, 8, 1]] * 2
    assert rows[0]["steps"][0]["policy_data"] == {
        "token_ids": [7, 8, 0],
        "logprobs": [-0.5, -1.5, -0.25],
        "text": "hi",
        "mask": [1, 1, 0],
    }
    assert rows[0]["steps"][0]["action"] == {"message": "hi"}


def test_to_dataset_keeps_failures_visible():
    pytest.importorskip("datasets")
    batch = Batch([finished(0, 0, 1.0), finished(0, 1, 2.0, failure="env.reset raised OSError")])
    rows = batch.to_dataset().to_list()
    assert [(row["reward"], row["failure"]) for row in rows] == [
        (1.0, None),
        (None, "env.reset raised OSError"),
    ]


def test_append_jsonl_keeps_every_batch_with_its_number_and_last_observation(tmp_path):
    def policy(inputs):
        return [EchoAction(message="x" * (item.episode + 1)) for item in inputs]

    collector = Collector(
        lambda: EchoEnv(max_steps=2),
        policy,
        tasks=[{"prompt": "a"}, {"prompt": "b"}],
        group_size=2,
        batch_size=2,
        cycle=False,
        seed=0,
        progress=False,
    )
    path = tmp_path / "run.jsonl"
    batches = list(collector)
    for batch in batches:
        batch.append_jsonl(path)
    assert [[trajectory.batch for trajectory in batch] for batch in batches] == [[0, 0], [1, 1]]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(row["group"], row["episode"], row["batch"]) for row in rows] == [
        (0, 0, 0),
        (0, 1, 0),
        (1, 2, 1),
        (1, 3, 1),
    ]
    last = batches[1][1].last_observation
    assert rows[3]["last_observation"] == {**vars(last)}
    assert rows[3]["steps"][1]["action"] == {"message": "xxxx"}
    assert rows[3]["reward"] == pytest.approx(batches[1][1].reward)
