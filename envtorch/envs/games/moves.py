"""How a game names its moves: OpenSpiel's own names, or long algebraic ones in chess."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from envtorch.envs.games.spiel import pyspiel

View = Callable[[Any, int], str]
"""How a seat sees a position: the OpenSpiel state and the seat to its text."""

REMEMBERED_POSITIONS = 20_000
"""How many positions a game remembers the legal moves' names of, and how many moves the history
entries of, in each process: Leduc poker has 936 positions and about 9,300 moves in context; a
game too large to repeat itself, such as connect four, fills it at about 0.9 KiB a position,
18 MiB, and starts over."""

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


class MoveNames:
    """The names of a game's moves: OpenSpiel's own (`state.action_to_string`).

    The legal moves' names are remembered per position, the acting seat's view, and reused when
    the position comes back with the same legal actions; a move's history entries, as each seat
    sees it, are remembered per move in context. One `MoveNames` serves every match of a game in
    the process (`move_names`), and copies of a match share it: what it remembers is the game's,
    not an episode's.
    """

    def __init__(self, view: View) -> None:
        self._view = view
        self._positions: dict[tuple[int, str], LegalMoves] = {}
        self._history_entries: dict[HistoryKey, tuple[str, ...]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> MoveNames:
        return self

    def legal(self, state: Any, player: int) -> LegalMoves:
        """The legal moves of `player`, who is to act."""
        actions = state.legal_actions()
        key = (player, self._view(state, player))
        known = self._positions.get(key)
        if known is not None and known.actions == actions:
            return known
        legal = LegalMoves([self.name(state, player, action) for action in actions], actions)
        _remember(self._positions, key, legal)
        return legal

    def history_entries(self, key: HistoryKey) -> tuple[str, ...] | None:
        """The history entries of the move `key`, one per seat, if remembered."""
        return self._history_entries.get(key)

    def remember_history_entries(self, key: HistoryKey, entries: tuple[str, ...]) -> None:
        """Remember the history entries of the move `key`, one per seat."""
        _remember(self._history_entries, key, entries)

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

    def __init__(self, view: View, chess960: bool) -> None:
        super().__init__(view)
        self._chess960 = chess960
        self._fixed: dict[int, dict[int, str]] = {}

    def legal(self, state: Any, player: int) -> LegalMoves:
        actions = state.legal_actions()
        fixed = self._fixed.setdefault(player, {})
        try:
            return LegalMoves([fixed[action] for action in actions], actions)
        except KeyError:
            board = state.board()
            names = [fixed.get(action) or self._read(board, fixed, action) for action in actions]
            return LegalMoves(names, actions)

    def name(self, state: Any, player: int, action: int) -> str:
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


def move_names(name: str, game: Any, view: View) -> MoveNames:
    """How the game loaded as `name`, whose seats see positions through `view`, names its moves:
    long algebraic in chess, else OpenSpiel's own names; one `MoveNames` per game and process."""
    names = _shared.get(name)
    if names is None:
        if game.get_type().short_name == "chess":
            names = LongAlgebraic(view, chess960=bool(game.is_chess960()))
        else:
            names = MoveNames(view)
        names = _shared.setdefault(name, names)
    return names


def _remember(memory: dict[Any, Any], key: Any, value: Any) -> None:
    """Set `memory[key]`, forgetting everything first once `REMEMBERED_POSITIONS` are held."""
    if len(memory) >= REMEMBERED_POSITIONS:
        memory.clear()
    memory[key] = value
