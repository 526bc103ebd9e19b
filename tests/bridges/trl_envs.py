"""`python-math` that writes down what it saw, served in the TRL bridge's tests."""

import json
import threading
from pathlib import Path
from typing import Any

from envtorch.envs.math import AnswerReward
from envtorch.envs.python import CodeAction, CodeObservation, PythonEnv

_WRITING = threading.Lock()


class RecordingMathEnv(PythonEnv):
    """`make("python-math", max_steps=2)` appending each reset's task and each step's reward,
    with the episode's id, as JSON lines to the file `record`."""

    def __init__(self, *, record: str, **kwargs: Any) -> None:
        super().__init__(transform=AnswerReward(), max_steps=2, **kwargs)
        self.record = Path(record)

    def reset(self, *, seed: int | None = None, task: Any = None) -> CodeObservation:
        observation = super().reset(seed=seed, task=task)
        self._write({"episode": self.state.episode_id, "task": task})
        return observation

    def step(self, action: CodeAction) -> CodeObservation:
        observation = super().step(action)
        self._write({"episode": self.state.episode_id, "reward": observation.reward})
        return observation

    def _write(self, entry: dict[str, Any]) -> None:
        with _WRITING, self.record.open("a") as file:
            file.write(json.dumps(entry) + "\n")
