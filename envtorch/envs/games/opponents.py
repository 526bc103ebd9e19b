"""Opponents the environment plays: a random one and a scripted one. Any callable taking a
`GameObservation` and the env's rng and returning a move name will do as well."""

from __future__ import annotations

import random

from envtorch.envs.games.match import GameObservation, Opponent


def random_opponent(observation: GameObservation, rng: random.Random) -> str:
    """A legal move drawn with the env's rng, so the same seed replays the same game."""
    return rng.choice(observation.legal_moves)


def scripted(*preferences: str) -> Opponent:
    """An opponent that plays the first of `preferences` that is legal, else the first legal
    move: `scripted("Bet", "Call")` always bets or calls when it can."""

    def opponent(observation: GameObservation, rng: random.Random) -> str:
        for move in preferences:
            if move in observation.legal_moves:
                return move
        return observation.legal_moves[0]

    return opponent
