"""A collector plays 10,000 Kuhn poker deals; seat 0's average matches OpenSpiel's own value."""

import math
import random

import pyspiel
import pytest
from open_spiel.python import policy as spiel_policy
from open_spiel.python.algorithms import expected_game_score

from envtorch import Collector
from envtorch.envs.games import GameMove, OpenSpielEnv

pytestmark = pytest.mark.timeout(300)

DEALS = 10_000


def random_policy_value_of_seat_0() -> float:
    """OpenSpiel's exact value of Kuhn poker for seat 0 when both seats play uniformly at random."""
    game = pyspiel.load_game("kuhn_poker")
    uniform = spiel_policy.UniformRandomPolicy(game)
    return float(expected_game_score.policy_value(game.new_initial_state(), [uniform] * 2)[0])


def test_random_self_play_matches_openspiels_value():
    rng = random.Random(0)

    def random_policy(inputs):
        return [GameMove(move=rng.choice(each.observation.legal_moves)) for each in inputs]

    collector = Collector(
        lambda: OpenSpielEnv("kuhn_poker", seat=0),
        random_policy,
        tasks=[None],
        total=DEALS,
        batch_size=1000,
        seed=0,
        progress=False,
    )
    rewards = [reward for batch in collector for reward in batch.rewards()]
    assert len(rewards) == DEALS
    mean = sum(rewards) / DEALS
    deviation = math.sqrt(sum((reward - mean) ** 2 for reward in rewards) / (DEALS - 1))
    expected = random_policy_value_of_seat_0()
    assert expected == pytest.approx(0.125)
    assert abs(mean - expected) < 4 * deviation / math.sqrt(DEALS)
