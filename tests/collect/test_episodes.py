import pytest

from envtorch.collect import Collector
from envtorch.collect.episodes import Episode, episodes
from envtorch.envs.math import MathAnswer, MathEnv, math_tasks

pytestmark = pytest.mark.timeout(60)

ROWS = [{"question": f"What is {n} + {n}?", "answer": str(2 * n)} for n in range(6)]
SOLUTIONS = {row["question"]: row["answer"] for row in ROWS}


def solve(inputs):
    return [MathAnswer(answer=SOLUTIONS[item.observation.question]) for item in inputs]


def collected_tasks(tasks, **kwargs):
    collector = Collector(MathEnv, solve, tasks, batch_size=6, progress=False, **kwargs)
    batches = list(collector)
    trajectories = [t for batch in batches for t in batch]
    assert all(t.reward == 1.0 for t in trajectories)
    return [t.task for t in trajectories]


def test_tasks_from_a_list():
    assert collected_tasks(ROWS, cycle=False, seed=0) == ROWS


def test_tasks_from_a_datasets_dataset():
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_list(ROWS)
    assert collected_tasks(dataset, total=12, seed=0) == ROWS + ROWS


def test_tasks_from_a_torch_dataloader_are_unbatched():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(ROWS, batch_size=4)
    assert collected_tasks(loader, cycle=False, seed=0) == ROWS


def test_a_dataloader_with_worker_processes_cycles():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(ROWS, batch_size=4, num_workers=1)
    assert collected_tasks(loader, total=12, seed=0) == ROWS + ROWS


def test_tensor_columns_of_a_dataloader_become_plain_values():
    torch = pytest.importorskip("torch")
    rows = [{"question": row["question"], "answer": int(row["answer"])} for row in ROWS]
    loader = torch.utils.data.DataLoader(rows, batch_size=4)
    tasks = collected_tasks(loader, cycle=False, seed=0)
    assert tasks == rows
    assert all(type(task["answer"]) is int for task in tasks)


def test_tuple_rows_of_a_dataloader_come_back_as_tuples():
    torch = pytest.importorskip("torch")
    pairs = [(row["question"], row["answer"]) for row in ROWS]
    loader = torch.utils.data.DataLoader(pairs, batch_size=4)
    collector = Collector(
        _TupleMath, solve, loader, batch_size=6, cycle=False, seed=0, progress=False
    )
    assert [t.task for batch in collector for t in batch] == pairs


class _TupleMath(MathEnv):
    def reset(self, *, seed=None, task=None):
        return super().reset(seed=seed, task={"question": task[0], "answer": task[1]})


def test_a_dataloader_with_its_own_collate_gives_rows_unchanged():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(ROWS, batch_size=4, collate_fn=list)
    assert collected_tasks(loader, cycle=False, seed=0) == ROWS


def test_an_unbatched_dataloader_gives_rows_unchanged():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(ROWS, batch_size=None)
    assert collected_tasks(loader, cycle=False, seed=0) == ROWS


def test_built_in_math_tasks_feed_the_collector():
    tasks = math_tasks(8, seed=3)
    answers = {task["question"]: task["answer"] for task in tasks}
    collector = Collector(
        MathEnv,
        lambda inputs: [MathAnswer(answer=answers[i.observation.question]) for i in inputs],
        tasks,
        group_size=2,
        batch_size=16,
        cycle=False,
        progress=False,
    )
    (batch,) = list(collector)
    assert batch.rewards() == [1.0] * 16


def test_episodes_number_each_task_group_size_times_with_the_group_seed():
    planned = list(episodes(["a", "b"], group_size=2, cycle=False, total=None, seed=5))
    assert planned == [
        Episode(task="a", group=0, number=0, seed=5),
        Episode(task="a", group=0, number=1, seed=5),
        Episode(task="b", group=1, number=2, seed=6),
        Episode(task="b", group=1, number=3, seed=6),
    ]
    cycled = episodes(["a"], group_size=1, cycle=True, total=3, seed=None)
    assert [(e.task, e.number, e.seed) for e in cycled] == [
        ("a", 0, None),
        ("a", 1, None),
        ("a", 2, None),
    ]
