"""Scripted agents for research tasks: Collector policies (one input at a time under eval)."""

from envtorch.envs.research import ResearchAction

TRAIN_AN_SVM = """
import numpy as np
from sklearn.svm import SVC

train = np.loadtxt("train.csv", delimiter=",", skiprows=1)
validation = np.loadtxt("validation.csv", delimiter=",", skiprows=1)
test = np.loadtxt("test.csv", delimiter=",", skiprows=1)
model = SVC(gamma=0.001).fit(train[:, 1:-1], train[:, -1])
rows = [(validation[:, 0], validation[:, 1:-1]), (test[:, 0], test[:, 1:])]
with open("submission.csv", "w") as file:
    file.write("id,target\\n")
    for ids, features in rows:
        for row, digit in zip(ids, model.predict(features)):
            file.write(f"{int(row)},{int(digit)}\\n")
validate()
"""


def svm_trainer(inputs):
    """Looks at the files, trains an SVM as a training step, validates, then submits."""
    scripts = ["sorted(list_files())", TRAIN_AN_SVM, "submit()"]
    return [
        ResearchAction(code=scripts[len(item.history)], training=len(item.history) == 1)
        for item in inputs
    ]


def garbage(inputs):
    """Submits a file that is not predictions at all."""
    return [
        ResearchAction(code="file_write('submission.csv', 'id,target\\n0,cat\\n')\nsubmit()")
        for _ in inputs
    ]


def baseline_unless_interrupted(inputs):
    """Runs the baseline, but breaks after episode 0 while a file `interrupt` is in the current
    folder: a run interrupted once, then resumed with the same policy."""
    from pathlib import Path

    from envtorch.envs.research import baseline_policy

    if Path("interrupt").exists() and any(item.episode > 0 for item in inputs):
        raise RuntimeError("interrupted")
    return baseline_policy(inputs)
