import json

import pytest

from envtorch import make
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.taskfile import TaskFile, TaskFileError

SPEC = """
id: echo-short
name: Short echoes
description: Say something short.
env: echo
max_steps: 2
timeouts: {episode: 30}
evaluation: {metric: success_rate, threshold: 0.5}
dataset: {path: tasks.jsonl}
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC)
    (tmp_path / "tasks.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    return path


def test_make_a_task_file_enforces_the_step_budget(spec_file):
    env = make(spec_file)
    assert isinstance(env, EchoEnv)
    assert env.max_steps == 2 and env.time_limit == 30
    env.reset()
    env.step(EchoAction(message="a"))
    last = env.step(EchoAction(message="b"))
    assert last.done and last.truncated


def test_spec_fields_and_tasks(spec_file):
    spec = TaskFile.load(spec_file)
    assert spec.name == "Short echoes" and spec.env == "echo"
    assert list(spec.load_tasks()) == [{"prompt": "hi"}]
    assert spec.evaluation.score([1.0, 0.0, 2.0, 0.0]) == 0.5
    assert spec.evaluation.passed([1.0, 0.0])
    assert not spec.evaluation.passed([0.0, 0.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\n", "missing required field `env`"),
        (
            "id: x\nenv: echo\nmax_steps: many\n",
            "Expected `int | null`, got `str` - at `max_steps`",
        ),
        ("id: x\nenv: echo\ntimeouts: {stepp: 3}\n", "unknown key `stepp` - at `timeouts`"),
        ("id: x\nenv: echo\nevaluation: {metric: accuracy}\n", "at `evaluation.metric`"),
        ("- just a list\n", "expected a mapping of keys at the top level"),
        ("id: [unclosed\n", "not valid YAML"),
    ],
)
def test_validation_errors_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TaskFileError) as raised:
        TaskFile.load(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)


def test_missing_file(tmp_path):
    with pytest.raises(TaskFileError, match="cannot read the task file"):
        TaskFile.load(tmp_path / "absent.yaml")


def test_budgets_an_env_cannot_enforce_are_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("id: x\nenv: echo\nresources: {memory_mb: 256}\n")
    with pytest.raises(TaskFileError, match="cannot enforce memory_mb"):
        make(path)


def _spec_with_dataset(tmp_path, dataset):
    path = tmp_path / "spec.yaml"
    path.write_text(f"id: x\nenv: echo\ndataset: {dataset}\n")
    return path


def test_dataset_needs_exactly_one_source(tmp_path):
    with pytest.raises(TaskFileError, match="exactly one of `path`, `name` or `generator`"):
        TaskFile.load(_spec_with_dataset(tmp_path, "{path: a.jsonl, name: gsm8k}"))
    with pytest.raises(TaskFileError, match="exactly one"):
        TaskFile.load(_spec_with_dataset(tmp_path, "{split: train}"))


def test_tasks_from_a_generator_and_yaml_and_json(tmp_path):
    spec = TaskFile.load(
        _spec_with_dataset(
            tmp_path, "{generator: 'envtorch.envs.math:math_tasks', kwargs: {size: 3}}"
        )
    )
    assert len(spec.load_tasks()) == 3
    (tmp_path / "t.yaml").write_text("- {prompt: a}\n- {prompt: b}\n")
    assert TaskFile.load(_spec_with_dataset(tmp_path, "{path: t.yaml}")).load_tasks() == [
        {"prompt": "a"},
        {"prompt": "b"},
    ]
    (tmp_path / "t.json").write_text('[{"prompt": "c"}]')
    assert TaskFile.load(_spec_with_dataset(tmp_path, "{path: t.json}")).load_tasks() == [
        {"prompt": "c"}
    ]


def test_unreadable_task_files_name_the_file(tmp_path):
    with pytest.raises(TaskFileError, match="missing.jsonl: cannot read the tasks"):
        TaskFile.load(_spec_with_dataset(tmp_path, "{path: missing.jsonl}")).load_tasks()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TaskFileError, match="bad.json: not a list of tasks"):
        TaskFile.load(_spec_with_dataset(tmp_path, "{path: bad.json}")).load_tasks()
