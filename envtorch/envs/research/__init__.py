"""ML research tasks in MLGym's model: CodeAct in a sandboxed workspace with training data, a
baseline to beat, and `validate()` / `submit()` scored on held-out labels.

The built-in tasks are task files in `tasks/`, registered by id (`make("digits-classification")`,
`envtorch eval digits-classification --policy ...`). scikit-learn comes with the `research` extra.
"""

from typing import Any

from envtorch.envs.research.environment import ResearchAction, ResearchEnv
from envtorch.envs.research.submission import SubmissionError


def baseline_policy(inputs: list[Any]) -> list[ResearchAction]:
    """A policy that runs the task's baseline script as a training step, then submits: it
    reproduces the baseline's score (`envtorch eval TASK --policy
    envtorch.envs.research:baseline_policy`)."""
    actions = []
    for item in inputs:
        if item.history:
            actions.append(ResearchAction(code="submit()"))
            continue
        script = item.first_observation.metadata["baseline_script"]
        code = f"import runpy\nrunpy.run_path({script!r}, run_name='__main__')\nNone"
        actions.append(ResearchAction(code=code, training=True))
    return actions


__all__ = ["ResearchAction", "ResearchEnv", "SubmissionError", "baseline_policy"]
