"""`OpenSpielEnv`: any OpenSpiel game, moves by name, each seat seeing only what it may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envtorch.core import Action, Environment, State, hidden
from envtorch.envs.games import drawing
from envtorch.envs.games.match import GameObservation, Match, Opponent
from envtorch.envs.games.opponents import random_opponent


@dataclass(kw_only=True)
class GameMove(Action):
    """A move by name, as a player would write it: `"Bet"`, `"e4"`, `"Nf3"` or `"e2e4"`."""

    move: str


@dataclass(kw_only=True)
class GameState(State):
    """The game being played and the policy's seat (None when it plays them all).

    `actions` is the whole game as OpenSpiel numbers its actions, deals included: hidden, so it
    never leaves the server, and enough to replay the game with pyspiel.
    """

    game: str = ""
    seat: int | None = None
    actions: list[int] = hidden(default_factory=list)


class OpenSpielEnv(Environment[GameMove, GameObservation, GameState]):
    """An OpenSpiel game (`OpenSpielEnv("kuhn_poker")`, `make("openspiel:chess")`), held by the env.

    Each observation is what the seat to act may see: its view (OpenSpiel's information state or
    observation string), its legal moves by name, the history of the moves it could see, whose
    turn it is. Chance is drawn from the env's seeded rng, so `reset(seed=...)` replays a deal.

    With `seat=None` the policy plays every seat and each observation says which player acts;
    `reward` is the mover's and `rewards` every seat's. With `seat=N` the policy plays seat N and
    `opponent` plays the others here, next to the game: `random_opponent`, `scripted(...)`, or
    any callable from a `GameObservation` and the env's rng to a move name, so a remote policy
    never sees their cards. An illegal or malformed move comes back as an observation with
    `error` set and the legal moves; the game does not change. (Over the wire, a `move` that is
    not a string is refused before it reaches the game, as any action that does not fit its
    type.)

    Renders show the viewing seat's side only: `ansi` is a text table, `rgb_array` a picture (a
    board for chess, tic-tac-toe and connect four, the table for other games).
    """

    action_type = GameMove
    observation_type = GameObservation
    state_type = GameState
    metadata = {
        "name": "openspiel",
        "description": "OpenSpiel games with hidden information kept by the environment.",
        "render_modes": ["ansi", "rgb_array"],
    }
    nonblocking = True

    def __init__(
        self,
        game: str,
        *,
        seat: int | None = None,
        opponent: Opponent = random_opponent,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.match = Match(game, seat=seat, opponent=opponent)

    def _reset(self, *, seed: int | None, task: Any) -> GameObservation:
        self.state.game = self.match.name
        self.state.seat = self.match.seat
        observation = self.match.start(self.rng)
        self.state.actions = self.match.actions
        return observation

    def _step(self, action: GameMove) -> GameObservation:
        return self.match.play(action.move)

    def _render(self) -> Any:
        if self.render_mode == "ansi":
            return drawing.ansi(self.match)
        return drawing.image(self.match)

    def __repr__(self) -> str:
        return f"OpenSpielEnv({self.match.name!r}, seat={self.match.seat})"
