"""OpenSpiel, imported on first use: load a game by name, ready to be played in turns."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from envtorch.core.extras import import_optional


def pyspiel() -> ModuleType:
    """The `pyspiel` module, from the `games` extra."""
    return import_optional("pyspiel", extra="games", needed_by="OpenSpiel games")


def load_game(name: str) -> Any:
    """The OpenSpiel game `name` (parameters allowed: `"kuhn_poker(players=3)"`).

    A simultaneous-move game is turned into a sequential one whose moves stay hidden until every
    player has chosen, so every game has one player to act at a time.
    """
    spiel = pyspiel()
    if name.partition("(")[0] not in spiel.registered_names():
        raise ValueError(f"OpenSpiel has no game {name!r}; pyspiel.registered_names() lists them")
    try:
        game = spiel.load_game(name)
    except spiel.SpielError as error:
        raise ValueError(f"OpenSpiel cannot load {name!r}: {error}") from None
    if game.get_type().dynamics == spiel.GameType.Dynamics.SIMULTANEOUS:
        game = spiel.convert_to_turn_based(game)
    return game
