"""`envtorch eval` and `evaluate`: a file resumes only its own run, and every episode ends."""

from __future__ import annotations

import json

import pytest

from envtorch.cli import main
from envtorch.collect import Batch, Trajectory
from envtorch.envs.echo import EchoAction
from envtorch.evaluation import evaluate

pytestmark = pytest.mark.timeout(60)

ECHO = ["eval", "echo", "--max-steps", "2"]


def says_hi(inputs):
    """Echoes "hi" at every step."""
    return [EchoAction(message="hi") for _ in inputs]


def never_runs(inputs):
    """Raises at every call: a policy that must never be asked on a refused resume."""
    raise RuntimeError("this policy never runs")


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_resumes_with_the_same_policy_and_seed(tmp_path, capsys):
    output = tmp_path / "run.jsonl"
    policy = "tests.test_evaluation:says_hi"
    arguments = [*ECHO, "--policy", policy, "--output", str(output)]
    assert main([*arguments, "--episodes", "1"]) == 0
    assert main([*arguments, "--episodes", "2"]) == 0
    assert "(1 episode(s) resumed from it)" in capsys.readouterr().out
    assert [row["episode"] for row in rows_of(output)] == [0, 1]
    assert rows_of(output)[0]["run"] == {
        "target": "echo",
        "policy": policy,
        "seed": 0,
        "max_steps": 2,
    }


def test_a_file_of_another_policy_or_seed_is_refused_and_kept(tmp_path, capsys):
    output = tmp_path / "run.jsonl"
    assert main([*ECHO, "--policy", "tests.test_evaluation:says_hi", "--output", str(output)]) == 0
    written = output.read_text()
    capsys.readouterr()
    other = [*ECHO, "--policy", "tests.test_evaluation:never_runs", "--seed", "99"]
    assert main([*other, "--output", str(output)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"envtorch eval: error: {output} holds another run (")
    assert "policy 'tests.test_evaluation:says_hi', now 'tests.test_evaluation:never_runs'" in line
    assert "seed 0, now 99" in line and "--output" in line
    assert output.read_text() == written


def test_another_step_budget_or_a_file_eval_did_not_write_is_refused(tmp_path):
    output = tmp_path / "run.jsonl"
    evaluate("echo", says_hi, episodes=1, output=output, max_steps=2)
    with pytest.raises(ValueError, match="max_steps 2, now 3"):
        evaluate("echo", says_hi, episodes=1, output=output, max_steps=3)
    collected = tmp_path / "collected.jsonl"
    Batch([Trajectory(task=None, group=0, episode=0)]).append_jsonl(collected)
    with pytest.raises(ValueError, match="envtorch eval did not write"):
        evaluate("echo", says_hi, episodes=1, output=collected, max_steps=2)


def test_an_env_that_never_ends_needs_max_steps(tmp_path, capsys):
    output = tmp_path / "run.jsonl"
    arguments = ["eval", "echo", "--policy", "tests.test_evaluation:says_hi"]
    assert main([*arguments, "--output", str(output)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("envtorch eval: error: echo has no step budget or time limit")
    assert "--max-steps N" in line and not output.exists()
    assert main([*arguments, "--output", str(output), "--max-steps", "3"]) == 0
    assert [len(row["steps"]) for row in rows_of(output)] == [3]
