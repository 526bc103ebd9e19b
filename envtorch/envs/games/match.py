"""`Match`: one OpenSpiel game held host-side; `GameObservation`: what one seat may see of it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envtorch.core import Observation
from envtorch.envs.games.moves import CHANCE, LegalMoves, move_names
from envtorch.envs.games.spiel import load_game, pyspiel


@dataclass(kw_only=True)
class GameObservation(Observation):
    """What one seat may see: its own view, never another seat's private cards or the deck.

    `player` is the seat this observation is for: the seat to act, or once the game is over the
    seat that played last (the policy's seat when it plays one). `view` is OpenSpiel's information
    state string for that seat in a game of imperfect information (its cards, the bets so far),
    else its observation string (the board). `legal_moves` names the moves it may play.
    `history` lists the moves so far as `"SEAT: MOVE"` (`"chance: MOVE"` for a deal or a roll),
    with `?` for a move this seat could not tell apart from the alternatives when it was made.
    `rewards` holds every seat's reward for this step; `reward` is the one of the seat that moved
    (the policy's seat when it plays one). `error` says why a move was refused; the game did not
    change.
    """

    player: int = 0
    view: str = ""
    legal_moves: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    error: str = ""


Opponent = Callable[[GameObservation, random.Random], str]
"""A seat the environment plays: given what that seat may see and the env's seeded rng, a move."""


class Match:
    """One OpenSpiel game played host-side, move by move, by name.

    With `seat=None` the caller plays every seat; with a seat number it plays that seat and
    `opponent` plays the others. Chance (deals, dice) is drawn from the rng given to `start()`,
    so the same seeded rng replays the same deal. `over` says whether the game has ended;
    `actions` lists every action so far, chance included, as OpenSpiel numbers them: the whole
    game, kept as it goes (`start()` begins a new list).
    """

    def __init__(self, game: str, *, seat: int | None, opponent: Opponent) -> None:
        self.game = load_game(game)
        self.name = game
        game_type = self.game.get_type()
        self.short_name = game_type.short_name
        self.players = self.game.num_players()
        if seat is not None and not 0 <= seat < self.players:
            raise ValueError(f"seat must be None or 0..{self.players - 1} for {game}, got {seat!r}")
        if not callable(opponent):
            raise TypeError(f"opponent must be callable, got {opponent!r}")
        self.seat = seat
        self.opponent = opponent
        self.perfect_information = (
            game_type.information == pyspiel().GameType.Information.PERFECT_INFORMATION
        )
        self._rewards_at_the_end_only = (
            game_type.reward_model == pyspiel().GameType.RewardModel.TERMINAL
        )
        self._view = _view_function(game, game_type, self.perfect_information)
        self._names = move_names(game, self.game)
        self._everyone = frozenset(range(self.players))
        self._rng = random.Random()
        self.state: Any = None
        self.viewer = 0
        self.over = False
        self.actions: list[int] = []
        self._to_act = CHANCE
        self._returns: list[float] = []
        self._histories: list[list[str]] = []
        self._legal: LegalMoves | None = None

    def start(self, rng: random.Random) -> GameObservation:
        """Start a new game: deal with `rng`, let the opponents open, and observe."""
        self._rng = rng
        self.state = self.game.new_initial_state()
        self.actions = []
        self._histories = self._empty_histories()
        self._enter_position()
        self._advance()
        self._returns = self.state.returns()
        self.viewer = self._acting_seat(0 if self.seat is None else self.seat)
        return self.observe(self.viewer)

    def play(self, move: Any) -> GameObservation:
        """Play `move` for the seat to act, then chance and the opponents until the caller's turn.

        A move that is not legal, or a move after the end, is refused in `error`, changing nothing.
        """
        if self.over:
            return self._refused("the game is over")
        mover = self._to_act
        action = self._parse(move)
        if action is None:
            return self._refused(
                f"{_shown(move)} is not a legal move for player {mover}; "
                f"legal moves: {', '.join(self.legal_moves())}"
            )
        self._apply(action)
        self._advance()
        rewarded = mover if self.seat is None else self.seat
        rewards = self._rewards_since_last_move()
        self.viewer = self._acting_seat(rewarded)
        return self._observation(self.viewer, rewards, rewards[rewarded])

    def observe(self, player: int) -> GameObservation:
        """What `player` may see now; no seat has been rewarded yet."""
        return self._observation(player, [0.0] * self.players, None)

    def _observation(
        self, player: int, rewards: list[float], reward: float | None
    ) -> GameObservation:
        """What `player` may see now, with every seat's `rewards` and the `reward` of the step."""
        acting = not self.over and self._to_act == player
        view = self._view(self.state, player)
        return GameObservation(
            player=player,
            view=view,
            legal_moves=list(self._legal_moves(view).names) if acting else [],
            history=self.history(player),
            rewards=rewards,
            reward=reward,
            done=self.over,
        )

    def legal_moves(self) -> list[str]:
        """The names of the moves the seat to act may play."""
        return list(self._legal_moves().names)

    def history(self, player: int) -> list[str]:
        """The moves so far as `player` may see them, `?` for those it could not tell."""
        return list(self._histories[player])

    def _empty_histories(self) -> list[list[str]]:
        """One history per seat; in a game of perfect information every seat shares one."""
        if self.perfect_information:
            return [[]] * self.players
        return [[] for _ in range(self.players)]

    def _rewards_since_last_move(self) -> list[float]:
        """Every seat's reward since the caller's last move; in a game that only rewards at the
        end, nothing before then."""
        if self._rewards_at_the_end_only and not self.over:
            return [0.0] * self.players
        returns = self.state.returns()
        rewards = [after - before for after, before in zip(returns, self._returns, strict=True)]
        self._returns = returns
        return rewards

    def _acting_seat(self, last: int) -> int:
        """The seat whose view to show: the one to act, or `last` once the game is over."""
        return last if self.over else self._to_act

    def _advance(self) -> None:
        """Resolve chance, and let the opponents move, until the caller is to act or the end."""
        while not self.over:
            player = self._to_act
            if player == CHANCE:
                self._apply(self._chance_outcome())
            elif self.seat is not None and player != self.seat:
                self._apply(self._opponent_move(player))
            else:
                return

    def _chance_outcome(self) -> int:
        outcomes, probabilities = zip(*self.state.chance_outcomes(), strict=True)
        return int(self._rng.choices(outcomes, weights=probabilities)[0])

    def _opponent_move(self, player: int) -> int:
        move = self.opponent(self.observe(player), self._rng)
        action = self._parse(move)
        if action is None:
            raise ValueError(
                f"the opponent of seat {player} chose {_shown(move)}, which is not one of its "
                f"legal moves: {', '.join(self.legal_moves())}"
            )
        return action

    def _apply(self, action: int) -> None:
        if self.perfect_information:
            self._histories[0].append(self._entry(action))
        else:
            for history, entry in zip(self._histories, self._entries(action), strict=True):
                history.append(entry)
        self.state.apply_action(action)
        self.actions.append(action)
        self._enter_position()

    def _enter_position(self) -> None:
        """Read once what the new position is: over or not, and whose turn."""
        self.over = self.state.is_terminal()
        self._to_act = self.state.current_player()
        self._legal = None

    def _entries(self, action: int) -> tuple[str, ...]:
        """`action` as each seat's history shows it in a game of imperfect information:
        `"SEAT: MOVE"` to the seats that can tell it, `"SEAT: ?"` to the others; remembered per
        position."""
        key = (tuple(self.actions), action)
        entries = self._names.history_entries.get(key)
        if entries is None:
            seen_by = self._tell_apart(action, self._to_act)
            shown, unseen = self._entry(action), f"{_label(self._to_act)}: ?"
            entries = tuple(
                shown if player in seen_by else unseen for player in range(self.players)
            )
            self._names.history_entries.put(key, entries)
        return entries

    def _entry(self, action: int) -> str:
        """`action` by name, after the label of the seat that plays it."""
        actor = self._to_act
        return f"{_label(actor)}: {self._names.name(self.state, actor, action)}"

    def _tell_apart(self, action: int, actor: int) -> frozenset[int]:
        """The seats whose view after `action` differs from their view after each alternative:
        the actor, and the others who could tell the move."""
        if actor == CHANCE:
            alternatives = [outcome for outcome, _ in self.state.chance_outcomes()]
            seers: set[int] = set()
        else:
            alternatives = list(self.state.legal_actions())
            seers = {actor}
        children = {alternative: self.state.child(alternative) for alternative in alternatives}
        for player in self._everyone - seers:
            seen = self._view(children[action], player)
            if all(
                self._view(child, player) != seen
                for alternative, child in children.items()
                if alternative != action
            ):
                seers.add(player)
        return frozenset(seers)

    def _legal_moves(self, view: str | None = None) -> LegalMoves:
        """The legal moves of the seat to act by name, computed once per position; `view` is
        that seat's, when the caller has it already."""
        if self._legal is None:
            player = self._to_act
            seen = self._view(self.state, player) if view is None else view
            self._legal = self._names.legal(self.state, player, seen)
        return self._legal

    def _parse(self, move: Any) -> int | None:
        """The action `move` names: its exact name or alias (in chess `Nf3` besides `g1f3`), or
        the one legal move whose name or alias equals it ignoring case; None when it names no
        legal move."""
        if not isinstance(move, str):
            return None
        legal = self._legal_moves()
        text = move.strip()
        action = legal.action(text)
        if action is not None:
            return action
        aliases = self._names.aliases(self.state, self._to_act, legal)
        if text in aliases:
            return aliases[text]
        folded = {
            action
            for name, action in [*legal.named(), *aliases.items()]
            if name.casefold() == text.casefold()
        }
        return folded.pop() if len(folded) == 1 else None

    def _refused(self, reason: str) -> GameObservation:
        observation = self._observation(self.viewer, [0.0] * self.players, 0.0)
        observation.error = reason
        return observation


SHOWN_MOVE_LENGTH = 80
"""How many characters of a refused move its error repeats."""


def _shown(move: Any) -> str:
    """`repr(move)`, cut to `SHOWN_MOVE_LENGTH` characters."""
    text = repr(move)
    if len(text) <= SHOWN_MOVE_LENGTH:
        return text
    return f"{text[:SHOWN_MOVE_LENGTH]}... ({len(text)} characters)"


def _label(actor: int) -> str:
    """How histories name the seat that moved: its number, or `chance`."""
    return "chance" if actor == CHANCE else str(actor)


def _view_function(
    name: str, game_type: Any, perfect_information: bool
) -> Callable[[Any, int], str]:
    """How a seat sees the game: its information state (its cards and the bets so far) in a game
    of imperfect information, else its observation (the board)."""
    information_state = game_type.provides_information_state_string
    observation = game_type.provides_observation_string
    if information_state and not (perfect_information and observation):
        return lambda state, player: str(state.information_state_string(player))
    if observation:
        return lambda state, player: str(state.observation_string(player))
    raise ValueError(f"{name} describes no player's view as text, so it cannot be played here")
