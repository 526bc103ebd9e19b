"""The echo environment: it returns the message it receives, rewarded by its length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envtorch.core import Action, Environment, Observation, State


@dataclass(kw_only=True)
class EchoAction(Action):
    """A message to echo."""

    message: str


@dataclass(kw_only=True)
class EchoObservation(Observation):
    """The echoed message and its length."""

    echoed_message: str = ""
    message_length: int = 0


class EchoEnv(Environment[EchoAction, EchoObservation, State]):
    """Echoes each message back; the reward is 0.1 per character ("Hello, World!" gives 1.3).

    The smallest complete environment, useful to test servers, clients and collectors.
    """

    action_type = EchoAction
    observation_type = EchoObservation
    state_type = State
    metadata = {
        "name": "echo",
        "description": "Echoes each message back, rewarded by its length.",
        "render_modes": ["ansi"],
    }

    nonblocking = True
    reward_per_character = 0.1

    def _reset(self, *, seed: int | None, task: Any) -> EchoObservation:
        self._last_message = ""
        return EchoObservation(echoed_message="")

    def _step(self, action: EchoAction) -> EchoObservation:
        self._last_message = action.message
        return EchoObservation(
            echoed_message=action.message,
            message_length=len(action.message),
            reward=round(len(action.message) * self.reward_per_character, 10),
        )

    def _render(self) -> str:
        return f"[echo] step {self.state.step_count}: {self._last_message!r}\n"
