import json

import pytest

from envtorch import make
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.python import CodeAction
from envtorch.taskfile import TaskFile, TaskFileError

SPEC = """
id: echo-short
name: Short echoes
description: Say something short.
env: echo
max_steps: 2
timeout: 30
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
    rows = [{"reward": reward, "failure": None} for reward in (1.0, 0.0, 2.0, 0.0)]
    scores = [spec.evaluation.episode_score(row) for row in rows]
    assert scores == [1.0, 0.0, 1.0, 0.0] and spec.evaluation.score(scores) == 0.5
    assert spec.evaluation.passed(scores[:2]) and not spec.evaluation.passed(scores[1:2])
    assert not spec.evaluation.passed([*scores, None])


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("id: x\n", "", "missing required field `env`"),
        (
            "id: x\nenv: echo\nmax_steps: many\n",
            ":3",
            "Expected `int | null`, got `str` - at `max_steps`",
        ),
        ("id: x\nenv: echo\ntimeouts: {step: 3}\n", ":3", "unknown key `timeouts`"),
        ("id: x\nenv: echo\nresources:\n  cpu: 1\n  disk: 3\n", ":5", "unknown key `disk`"),
        ("id: x\nenv: echo\nevaluation: {metric: accurcy}\n", ":3", "unknown metric 'accurcy'"),
        ("id: x\nenv: echo\nresources: {memory: 512}\n", ":3", "with a unit, like 512M"),
        ("- just a list\n", "", "expected a mapping of keys at the top level"),
        ("id: [unclosed\n", "", "not valid YAML"),
    ],
)
def test_validation_errors_name_file_line_and_key(tmp_path, text, where, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TaskFileError) as raised:
        TaskFile.load(path)
    assert str(raised.value).startswith(f"{path}{where}: ")
    assert message in str(raised.value)


def test_missing_file(tmp_path):
    with pytest.raises(TaskFileError, match="cannot read the task file"):
        TaskFile.load(tmp_path / "absent.yaml")


def test_budgets_an_env_cannot_enforce_are_refused_with_file_and_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("id: x\nenv: echo\nresources:\n  memory: 256M\n")
    with pytest.raises(TaskFileError, match=f"^{path}:4: `resources.memory` env 'echo' cannot"):
        make(path)
    path.write_text("id: x\nenv: python\nenv_kwargs:\n  color: red\n")
    with pytest.raises(TaskFileError, match=f"^{path}:4: `env_kwargs.color` env 'python' takes no"):
        make(path)


def test_a_gpu_request_is_refused_clearly(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("id: x\nenv: python\nresources: {memory: 1G, gpu: 1}\n")
    with pytest.raises(TaskFileError) as raised:
        make(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:3: `resources.gpu` asks for 1 GPU(s), but ")
    assert "a container provider with GPUs is needed" in message


def test_resources_become_sandbox_caps_and_the_timeout_ends_the_episode(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(
        "id: x\nenv: python\ntimeout: 1.5\nstep_timeout: 10\nresources: {memory: 1.5G, cpu: 0.5}\n"
    )
    env = make(path)
    limits = env._limits
    assert limits.memory == 1536 << 20 and limits.cpus == 0.5 and env.step_timeout == 10
    env.reset()
    observation = env.step(CodeAction(code="import time\ntime.sleep(5)"))
    assert observation.timed_out and observation.done and observation.truncated
    env.close()


def test_serving_a_task_file_raises_the_call_timeout_to_its_longest_step(tmp_path):
    from envtorch.cli.serve import CALL_TIMEOUT_MARGIN, _call_timeout
    from envtorch.server import ServerLimits

    path = tmp_path / "spec.yaml"
    path.write_text("id: x\nenv: python\nstep_timeout: 200\n")
    assert _call_timeout(TaskFile.load(path)) == 200 + CALL_TIMEOUT_MARGIN
    assert _call_timeout(None) == ServerLimits().call_timeout


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
