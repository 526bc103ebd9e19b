"""How a game names its moves: OpenSpiel's own names, or long algebraic ones in chess."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, NamedTuple, TypeVar

from envtorch.envs.games.spiel import pyspiel

CHANCE = -1
"""OpenSpiel's player id of chance."""

REMEMBERED_POSITIONS = 20_000
"""How many positions a game remembers the legal moves' names of, and how many moves the history
entries of, in each process: Leduc poker has 936 positions and about 9,300 moves in context. A
game too large to repeat itself, such as connect four, fills it (at about 0.9 KiB a position,
18 MiB) with fewer lookups found than positions kept, and stops remembering."""

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")

HistoryKey = tuple[tuple[int, ...], int]
"""A move in context: the actions before it and its own."""


class LegalMoves(NamedTuple):
    """The legal moves of the seat to act: their names and their OpenSpiel actions, in order."""

    names: list[str]
    actions: list[int]

    def action(self, name: str) -> int | None:
        """The action of the move named exactly `name`; None when no legal move is."""
        try:
            return self.actions[self.names.index(name)]
        except ValueError:
            return None

    def named(self) -> list[tuple[str, int]]:
        """Each legal move's name with its action."""
        return list(zip(self.names, self.actions, strict=True))


class Memory(Generic[Key, Value]):
    """What a game remembers, up to `REMEMBERED_POSITIONS` values.

    Once full it starts over, unless fewer lookups found their value than it held: then it does
    not pay and it stops remembering for good (`active` turns False).
    """

    def __init__(self) -> None:
        self.active = True
        self._values: dict[Key, Value] = {}
        self._found = 0

    def get(self, key: Key) -> Value | None:
        """The value remembered for `key`, if any."""
        value = self._values.get(key)
        if value is not None:
            self._found += 1
        return value

    def put(self, key: Key, value: Value) -> None:
        """Remember `value` for `key`, while remembering pays."""
        if len(self._values) >= REMEMBERED_POSITIONS:
            self.active = self._found >= len(self._values)
            self._values.clear()
            self._found = 0
        if self.active:
            self._values[key] = value


class MoveNames:
    """The names of a game's moves: OpenSpiel's own (`state.action_to_string`).

    The legal moves' names are remembered per position, the acting seat's view, and reused when
    the position comes back with the same legal actions; a move's history entries, as each seat
    sees it, are remembered per move in context (see `Memory`). One `MoveNames` serves every match
    of a game in the process (`move_names`), and copies of a match share it: what it remembers is
    the game's, not an episode's.
    """

    def __init__(self) -> None:
        self._positions: Memory[tuple[int, str], LegalMoves] = Memory()
        self.history_entries: Memory[HistoryKey, tuple[str, ...]] = Memory()
        """The history entries of a move in context, one per seat."""

    def __deepcopy__(self, memo: dict[int, Any]) -> MoveNames:
        return self

    def legal(self, state: Any, player: int, view: str) -> LegalMoves:
        """The legal moves of `player`, who is to act and sees the position as `view`."""
        actions = state.legal_actions()
        key = (player, view)
        known = self._positions.get(key)
        if known is not None and known.actions == actions:
            return known
        legal = LegalMoves([self.name(state, player, action) for action in actions], actions)
        self._positions.put(key, legal)
        return legal

    def name(self, state: Any, player: int, action: int) -> str:
        """The name of `action`, which `player` may play now."""
        return str(state.action_to_string(player, action))

    def aliases(self, state: Any, player: int, legal: LegalMoves) -> dict[str, int]:
        """Other names `player` may give the `legal` moves; none but OpenSpiel's own here."""
        return {}


class LongAlgebraic(MoveNames):
    """Chess moves named as engines write them: `e2e4`, `e7e8q`, `e1g1`.

    A move's name is remembered per seat and action wherever the board cannot change it (all but
    a step onto the last rank, which may be a promotion, and castling in Chess960), so naming the
    legal moves costs a lookup each instead of OpenSpiel's 1-2 us for a standard algebraic name
    (`Nf3`).
    """

    def __init__(self, chess960: bool) -> None:
        super().__init__()
        self._chess960 = chess960
        self._fixed: dict[int, dict[int, str]] = {}

    def legal(self, state: Any, player: int, view: str) -> LegalMoves:
        actions = state.legal_actions()
        fixed = self._fixed.setdefault(player, {})
        try:
            return LegalMoves([fixed[action] for action in actions], actions)
        except KeyError:
            board = state.board()
            names = [fixed.get(action) or self._read(board, fixed, action) for action in actions]
            return LegalMoves(names, actions)

    def name(self, state: Any, player: int, action: int) -> str:
        if player == CHANCE:
            return super().name(state, player, action)
        fixed = self._fixed.setdefault(player, {})
        return fixed.get(action) or self._read(state.board(), fixed, action)

    def aliases(self, state: Any, player: int, legal: LegalMoves) -> dict[str, int]:
        """The legal moves by their standard algebraic names, OpenSpiel's own (`Nf3`, `Qh5+`,
        `e8=Q`, `O-O`), and as players also write them: without the check sign or `=` (`Qh5`,
        `e8Q`), castling with zeros (`0-0`)."""
        aliases = {}
        for action in legal.actions:
            standard = str(state.action_to_string(player, action))
            plain = standard.rstrip("+#").replace("=", "")
            aliases[standard] = aliases[plain] = action
            if plain.startswith("O-O"):
                aliases[plain.replace("O", "0")] = action
        return aliases

    def _read(self, board: Any, fixed: dict[int, str], action: int) -> str:
        """The name of `action` on `board`, remembered in `fixed` when no board can change it."""
        move = pyspiel().chess.action_to_move(action, board)
        name = str(move.to_lan(self._chess960, board))
        if not _may_promote(move) and not (self._chess960 and move.is_castling()):
            fixed[action] = name
        return name


def _may_promote(move: Any) -> bool:
    """Whether `move` steps onto its side's last rank from the rank before, straight or
    diagonally, as a pawn's promotion does."""
    chess = pyspiel().chess
    last = 7 if move.piece.color == chess.Color.WHITE else 0
    forward = move.to_square.y - move.from_square.y == (1 if last else -1)
    return move.to_square.y == last and forward and abs(move.to_square.x - move.from_square.x) <= 1


_shared: dict[str, MoveNames] = {}


def move_names(name: str, game: Any) -> MoveNames:
    """How the game loaded as `name` names its moves: long algebraic in chess, else OpenSpiel's
    own names; one `MoveNames` per game and process."""
    names = _shared.get(name)
    if names is None:
        if game.get_type().short_name == "chess":
            names = LongAlgebraic(chess960=bool(game.is_chess960()))
        else:
            names = MoveNames()
        names = _shared.setdefault(name, names)
    return names
