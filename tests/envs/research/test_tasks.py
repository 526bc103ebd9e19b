"""The built-in research tasks: registered by id, baselines reproduced, served, checked."""

import json

import pytest

from envtorch.cli import main
from envtorch.client import EnvClient
from envtorch.envs.research import ResearchAction, ResearchEnv, baseline_policy
from envtorch.evaluation import evaluate
from envtorch.providers import LocalProcessProvider
from envtorch.registry import RESEARCH_TASKS, registered, task_file_of

pytestmark = pytest.mark.timeout(120)
TASKS = ["digits-classification", "diabetes-regression", "breast-cancer-detection"]


def test_every_task_file_is_registered_under_its_id_and_listed(capsys):
    files = sorted(RESEARCH_TASKS.glob("*.yaml"))
    assert sorted(path.stem for path in files) == sorted(TASKS)
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for path in files:
        assert task_file_of(path.stem).id == path.stem and path.stem in registered()
        assert f"{path.stem} " in listed
    metrics = {task_file_of(task).evaluation.metric for task in TASKS}
    assert metrics == {"accuracy", "rmse", "roc_auc"}


@pytest.mark.parametrize("task", TASKS)
def test_the_baseline_script_reproduces_the_recorded_score(task, tmp_path):
    recorded = task_file_of(task).baseline.score
    report = evaluate(task, baseline_policy, episodes=1, output=tmp_path / "baseline.jsonl")
    [episode] = report.episodes
    assert episode.score == pytest.approx(recorded, rel=1e-9) and episode.reward == 1.0


def test_check_takes_a_task_id_and_a_task_file(capsys):
    assert main(["check", "breast-cancer-detection"]) == 0
    assert main(["check", str(RESEARCH_TASKS / "diabetes-regression.yaml")]) == 0
    assert "ResearchEnv passed" in capsys.readouterr().out


def test_a_served_task_stops_an_episode_over_its_memory_cap_and_lives_on(tmp_path):
    task = tmp_path / "small.yaml"
    text = (RESEARCH_TASKS / "digits-classification.yaml").read_text()
    task.write_text(
        text.replace("memory: 1G", "memory: 200M").replace(
            "[digits-classification/", f"[{RESEARCH_TASKS}/digits-classification/"
        )
    )
    with LocalProcessProvider(str(task)) as server:
        greedy, bystander = EnvClient(server.url, ResearchEnv), EnvClient(server.url, ResearchEnv)
        bystander.reset()
        bystander.step(ResearchAction(code="kept = 'safe'"))
        greedy.reset()
        observation = greedy.step(
            ResearchAction(code="import numpy\nhog = numpy.ones(400 << 17)\nhog.sum()")
        )
        assert observation.killed and observation.done and observation.truncated
        assert "exceeded its memory cap (200 MiB)" in observation.exception.message
        assert bystander.step(ResearchAction(code="kept")).value == "safe"
        greedy.reset()
        assert greedy.step(ResearchAction(code="6 * 7")).value == 42
        greedy.close()
        bystander.close()


def test_eval_prints_scores_passes_or_fails_and_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "run.jsonl"
    policy = "tests.envs.research.agents:baseline_unless_interrupted"
    arguments = ["eval", "diabetes-regression", "--episodes", "2", "--output", str(output)]
    (tmp_path / "interrupt").touch()
    assert main([*arguments, "--policy", policy]) == 2
    assert "policy error" in capsys.readouterr().err
    assert [json.loads(line)["episode"] for line in output.read_text().splitlines()] == [0]
    (tmp_path / "interrupt").unlink()
    assert main([*arguments, "--policy", policy]) == 1
    printed = capsys.readouterr().out
    assert "rmse: 52.8185 over 2 episode(s); threshold 52 (lower is better): FAIL" in printed
    assert "(1 episode(s) resumed from it)" in printed
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["episode"] for row in rows] == [0, 1]
