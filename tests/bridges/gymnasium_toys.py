"""A small Gymnasium env using every supported space, registered as `envtorch-tests/Grid-v0`."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

SIZE = 5


class GridEnv(gymnasium.Env):
    """Walk a 5x5 grid to its far corner: -1 per move, terminated there, truncated at 8 moves.

    The observation is a `Dict` of every supported space; the action a `Dict` of a move and a
    note. `reset(options={"start": [x, y]})` picks the start, else the seed does. `rgb_array`
    frames are 5x5 pixels, the walker white.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}
    moves = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])

    def __init__(self, render_mode: str | None = None, limit: int = 8) -> None:
        self.render_mode = render_mode
        self.limit = limit
        self.observation_space = spaces.Dict(
            {
                "position": spaces.Box(0, SIZE - 1, (2,), np.float32),
                "cell": spaces.Discrete(SIZE * SIZE),
                "visits": spaces.MultiDiscrete([SIZE + 4, SIZE + 4]),
                "walls": spaces.MultiBinary(4),
                "note": spaces.Text(5, min_length=0),
                "last": spaces.Tuple(
                    (spaces.Discrete(5, start=-1), spaces.Box(-1.0, 0.0, (), np.float64))
                ),
            }
        )
        self.action_space = spaces.Dict(
            {"move": spaces.Discrete(4), "note": spaces.Text(5, min_length=0)}
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        start = (options or {}).get("start")
        if start is None:
            start = self.np_random.integers(0, SIZE - 1, size=2)
        self.position = np.array(start, dtype=np.int64)
        self.moves_made = 0
        self.note = ""
        self.last_move = -1
        return self._observation(0.0), {"start": self.position.copy()}

    def step(self, action: dict[str, Any]):
        self.moves_made += 1
        self.last_move = int(action["move"])
        self.note = action["note"]
        self.position = np.clip(self.position + self.moves[self.last_move], 0, SIZE - 1)
        terminated = bool((self.position == SIZE - 1).all())
        truncated = self.moves_made >= self.limit
        return self._observation(-1.0), -1.0, terminated, truncated, {"moves": self.moves_made}

    def render(self):
        if self.render_mode == "ansi":
            return f"at {self.position.tolist()}\n"
        frame = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        frame[self.position[1], self.position[0]] = 255
        return frame

    def _observation(self, reward: float):
        x, y = self.position
        return {
            "position": self.position.astype(np.float32),
            "cell": int(y * SIZE + x),
            "visits": np.array([self.moves_made, self.moves_made]),
            "walls": np.array([x == SIZE - 1, y == SIZE - 1, x == 0, y == 0], dtype=np.int8),
            "note": self.note,
            "last": (self.last_move, np.float64(reward)),
        }


GRID_ID = "envtorch-tests/Grid-v0"
if GRID_ID not in gymnasium.registry:
    gymnasium.register(GRID_ID, entry_point=GridEnv)
