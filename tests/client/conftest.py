from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from envtorch.core import Action, Environment, Observation, State
from envtorch.server import ServerLimits, create_app, serve_in_thread


@dataclass(kw_only=True)
class NoteAction(Action):
    note: str
    sleep: float = 0.0
    fail: bool = False


@dataclass(kw_only=True)
class NoteObservation(Observation):
    note: str = ""
    count: int = 0


@dataclass(kw_only=True)
class NoteState(State):
    notes: list[str] | None = None


class NoteEnv(Environment[NoteAction, NoteObservation, NoteState]):
    """Keeps the notes of its episode; the episode ends at the note "end"."""

    action_type = NoteAction
    observation_type = NoteObservation
    state_type = NoteState
    metadata = {"name": "notes", "render_modes": ["ansi"]}

    def _reset(self, *, seed: int | None, task: Any) -> NoteObservation:
        self.state.notes = []
        return NoteObservation(note=str(task))

    def _step(self, action: NoteAction) -> NoteObservation:
        if action.sleep:
            time.sleep(action.sleep)
        if action.fail:
            raise ValueError("asked to fail")
        self.state.notes.append(action.note)
        done = action.note == "end"
        return NoteObservation(
            note=action.note, count=len(self.state.notes), done=done, truncated=done, reward=0.5
        )

    def _render(self) -> str:
        return " ".join(self.state.notes)


@pytest.fixture(scope="module")
def url():
    app = create_app(lambda: NoteEnv(render_mode="ansi"), limits=ServerLimits(call_timeout=5.0))
    with serve_in_thread(app) as server_url:
        yield server_url


@pytest.fixture
def env_type():
    return NoteEnv
