"""Research tasks with scripted agents: train and pass, look for the test labels, submit garbage."""

import gzip
import json
import os
import site

import pytest

from envtorch import CannotFork, make
from envtorch.envs.python import PythonEnv
from envtorch.envs.research import ResearchAction
from envtorch.envs.research.data import load_splits
from envtorch.evaluation import evaluate
from envtorch.registry import task_file_of
from tests.envs.research.agents import garbage, svm_trainer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def digits():
    env = make("digits-classification")
    yield env
    env.close()


def test_a_scripted_agent_trains_validates_submits_and_passes_the_threshold(tmp_path):
    report = evaluate(
        "digits-classification", svm_trainer, episodes=1, output=tmp_path / "run.jsonl"
    )
    [episode] = report.episodes
    threshold = task_file_of("digits-classification").evaluation.threshold
    assert report.passed and episode.score > threshold and episode.steps == 3
    row = json.loads((tmp_path / "run.jsonl").read_text())
    training, validation, submission = [*row["steps"][1:], {"observation": row["last_observation"]}]
    assert training["action"]["training"] is True
    assert validation["observation"]["metadata"]["validation"]["split"] == "validation"
    metadata = submission["observation"]["metadata"]
    assert metadata["split"] == "test" and metadata["score"] == episode.score
    assert episode.reward == pytest.approx(episode.score / metadata["baseline_score"])
    assert row["done"] and not row["truncated"]


def _needles(dataset_file: str, rows: int) -> list[str]:
    """Lines of a dataset file of scikit-learn's that hold test rows' features and labels."""
    import sklearn.datasets

    splits = load_splits("digits")
    test_lines = splits.files["test.csv"].splitlines()[1 : rows + 1]
    labels = list(splits.labels["test"].values())[:rows]
    needles = [
        ",".join([*line.split(",")[1:], str(int(label))])
        for line, label in zip(test_lines, labels, strict=True)
    ]
    with gzip.open(f"{sklearn.datasets.__path__[0]}/data/{dataset_file}", "rt") as file:
        present = file.read()
    assert all(needle in present for needle in needles), "the needles must be real rows"
    return needles


SEARCH = """
import gzip, os
needles = [needle.encode() for needle in {needles!r}]
labels = {labels!r}.encode()
found, searched = [], 0
for top in {roots!r}:
    for folder, subfolders, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith((".csv", ".gz", ".txt", ".data", ".json", ".npy", ".npz")):
                continue
            try:
                with open(path, "rb") as file:
                    data = file.read(20 << 20)
                if name.endswith(".gz"):
                    data = gzip.decompress(data)
            except Exception:
                continue
            searched += 1
            if labels in data or any(needle in data for needle in needles):
                found.append(path)
try:
    from sklearn.datasets import load_digits
    load_digits()
    found.append("load_digits()")
except Exception:
    pass
own = {{"needles", "labels", "found", "data"}}
found += [
    name for name, value in dict(globals()).items()
    if name not in own and labels in repr(value).encode()
]
(found, searched)
"""


def test_an_agent_searching_the_sandbox_finds_no_test_labels(digits):
    """The search finds the labels where the dataset is not hidden (a plain PythonEnv, whose
    sandbox shows scikit-learn's files), and nothing in a research episode's sandbox."""
    labels = ",".join(str(int(label)) for label in load_splits("digits").labels["test"].values())
    needles = _needles("digits.csv.gz", 5)
    everywhere = ["/tmp", "/opt", "/usr/share", "/usr/local", "/etc", "/home", "/root", "/var"]
    digits.reset()
    code = SEARCH.format(needles=needles, labels=labels, roots=everywhere)
    found, searched = digits.step(ResearchAction(code=code, training=True)).value
    assert found == [] and searched > 100
    import sklearn

    datasets = "/opt/envtorch/site-packages/sklearn/datasets"
    assert sklearn.__file__.startswith(os.path.realpath(site.getsitepackages()[0]))
    with PythonEnv(step_timeout=120) as plain:
        plain.reset()
        code = SEARCH.format(needles=needles, labels=labels, roots=[datasets])
        found, _ = plain.step(type(plain).action_type(code=code)).value
    assert any(path.endswith("digits.csv.gz") for path in found) and "load_digits()" in found


def test_garbage_gets_the_lowest_reward_and_says_why(tmp_path):
    report = evaluate("digits-classification", garbage, episodes=1, output=tmp_path / "g.jsonl")
    [episode] = report.episodes
    assert episode.reward == 0.0 and episode.score is None and not report.passed
    assert "line 2: target 'cat' is not a number" in episode.note
    row = json.loads((tmp_path / "g.jsonl").read_text())
    last = row["last_observation"]
    assert last["done"] and last["reward"] == 0.0
    assert "SubmissionError: submission.csv line 2" in last["exception"]["message"]


@pytest.mark.parametrize(
    ("submission", "message"),
    [
        (None, "there is no submission.csv in the workspace"),
        ("id,label\n", "must start with the header 'id,target'"),
        ("id,target\n0,1\n0,2\n", "line 3: id 0 appears twice"),
        ("id,target\n0,inf\n", "line 2: target 'inf' is not finite"),
        ("id,target\n0,1,2\n", "line 2: expected 2 fields"),
        ("id,target\n0,1\n", "lacks predictions for"),
    ],
)
def test_validate_names_what_is_wrong_and_the_episode_goes_on(digits, submission, message):
    digits.reset()
    if submission is not None:
        digits.step(ResearchAction(code=f"file_write('submission.csv', {submission!r})"))
    observation = digits.step(ResearchAction(code="validate()"))
    assert message in observation.exception.message and not observation.done


def test_submit_works_once_and_a_symlink_is_not_followed(digits):
    digits.reset()
    refused = digits.step(
        ResearchAction(code="import os\nos.symlink('/etc/passwd', 'submission.csv')\nvalidate()")
    )
    assert "Too many levels of symbolic links" in refused.exception.message
    baseline = "os.remove('submission.csv')\nimport runpy\nrunpy.run_path('baseline.py')\n"
    baseline += "first = submit()\nsubmit()"
    observation = digits.step(ResearchAction(code=baseline, training=True))
    assert "submit() was already called" in observation.exception.message
    assert observation.done and observation.reward == 1.0
    assert observation.metadata["score"] == digits.baseline_score


def test_a_research_episode_says_it_cannot_fork(digits):
    digits.reset()
    with pytest.raises(CannotFork, match="validate\\(\\) and submit\\(\\)"):
        digits.fork(1)


def test_the_budget_running_out_scores_the_submission_as_it_is():
    with make("diabetes-regression", max_steps=1) as env:
        env.reset()
        observation = env.step(
            ResearchAction(code="import runpy\nrunpy.run_path('baseline.py')", training=True)
        )
    assert observation.done and observation.truncated and observation.reward == 1.0
    assert observation.metadata["submitted"] == "when the budget ran out"


def test_the_short_and_the_long_timeout():
    with make("breast-cancer-detection", step_timeout=0.5, training_timeout=5) as env:
        env.reset()
        short = env.step(ResearchAction(code="import time\ntime.sleep(1)\n'slept'"))
        long = env.step(ResearchAction(code="import time\ntime.sleep(1)\n'slept'", training=True))
    assert short.timed_out and not short.killed and long.value == "slept"
