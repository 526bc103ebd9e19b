"""`PythonGameEnv`: CodeAct on a game: its tools in a Python namespace, the game host-side."""

from __future__ import annotations

import copy
from typing import Any, Self

from envtorch.core import to_builtins
from envtorch.envs.games import drawing
from envtorch.envs.games.match import Match, Opponent
from envtorch.envs.games.opponents import random_opponent
from envtorch.envs.python import CodeAction, CodeObservation, PythonEnv
from envtorch.sandbox import SandboxSession

SHOWN_AFTER_A_MOVE = ("view", "legal_moves", "history", "reward", "done", "error")


class PythonGameEnv(PythonEnv):
    """An OpenSpiel game played from code: `legal_moves()`, `play(move)` and `board()` are tools in
    a sandboxed `PythonEnv` namespace, so an agent can reason about a position in Python.

    The policy plays `seat`; `opponent` plays the others on the host (see `OpenSpielEnv`). The
    game itself stays on the host: the namespace only holds the tools, which answer with what
    the policy's seat may see. A step's reward is what its `play()` calls earned; the episode
    ends with the game. The `ansi` render shows the episode's code and outputs, then the board.
    """

    metadata = {
        "name": "python-game",
        "description": "CodeAct on an OpenSpiel game: legal_moves(), play(move), board().",
        "render_modes": ["ansi"],
    }

    def __init__(
        self,
        game: str = "tic_tac_toe",
        *,
        seat: int = 0,
        opponent: Opponent = random_opponent,
        **kwargs: Any,
    ) -> None:
        self.match = Match(game, seat=seat, opponent=opponent)
        self._earned = 0.0
        super().__init__(tools=self._game_tools(), **kwargs)

    def _reset(self, *, seed: int | None, task: Any) -> CodeObservation:
        self.match.start(self.rng)
        observation = super()._reset(seed=seed, task=task)
        observation.prompt = (
            f"You play seat {self.match.seat} of {self.match.name}; the environment plays the "
            "other seats. In Python, legal_moves() lists your moves by name, play(move) plays one "
            "and returns what you see after the others replied (view, legal_moves, history, "
            "reward, done, error), and board() shows the game as text. The episode ends with "
            f"the game.\n\n{drawing.ansi(self.match)}"
        )
        return observation

    def _step(self, action: CodeAction) -> CodeObservation:
        self._earned = 0.0
        observation = super()._step(action)
        observation.reward = self._earned
        if self.match.over:
            observation.done = True
        return observation

    def _twin_on(self, session: SandboxSession) -> Self:
        """A copy going on in `session` with its own game, and tools that play it."""
        twin = super()._twin_on(session)
        twin.rng, twin.match = copy.deepcopy((self.rng, self.match))
        twin.host_tools = twin._game_tools()
        session.bind_tools(twin._session_tools())
        return twin

    def _render(self) -> str:
        return super()._render() + drawing.ansi(self.match)

    def _game_tools(self) -> dict[str, Any]:
        match = self.match

        def legal_moves() -> list[str]:
            """The moves you may play now, by name."""
            return [] if match.over else match.legal_moves()

        def play(move: str) -> dict[str, Any]:
            """Play `move` (a name from legal_moves()); the other seats reply. Returns your
            view, legal_moves, history, reward, done, and error (a refused move changes nothing).
            """
            observation = match.play(move)
            self._earned += observation.reward or 0.0
            seen = to_builtins(observation)
            return {name: seen[name] for name in SHOWN_AFTER_A_MOVE}

        def board() -> str:
            """The game as you see it, as text: the board or your cards, the history, your moves."""
            return drawing.ansi(match)

        return {"legal_moves": legal_moves, "play": play, "board": board}
