"""Move names: long algebraic in chess, exactly as OpenSpiel writes them, and OpenSpiel's own names
elsewhere, however often a position comes back."""

import random

import pyspiel
import pytest

from envtorch.envs.games import GameMove, OpenSpielEnv, moves

pytestmark = pytest.mark.timeout(120)


def openspiel_lan(state, chess960=False):
    board = state.board()
    return sorted(
        pyspiel.chess.action_to_move(action, board).to_lan(chess960, board)
        for action in state.legal_actions()
    )


def random_games(env, games, seed=0):
    """Every position of `games` random games through `env`, as (observation, pyspiel state)."""
    rng = random.Random(seed)
    for episode in range(games):
        observation = env.reset(seed=episode)
        while not observation.done:
            yield observation, env.match.state
            observation = env.step(GameMove(move=rng.choice(observation.legal_moves)))


@pytest.mark.parametrize("game", ["chess", "chess(chess960=true)"])
def test_chess_moves_are_named_as_openspiel_writes_them_in_long_algebraic(game):
    env = OpenSpielEnv(game)
    chess960 = env.match.game.is_chess960()
    seen = set()
    for observation, state in random_games(env, 12):
        assert sorted(observation.legal_moves) == openspiel_lan(state, chess960)
        for action in state.legal_actions():
            move = pyspiel.chess.action_to_move(action, state.board())
            if move.is_castling():
                seen.add("castling")
            if str(move.promotion_type) != str(pyspiel.chess.PieceType.EMPTY):
                seen.add("promotion")
    assert seen == {"castling", "promotion"}


def test_the_history_names_the_moves_as_they_were_listed():
    env = OpenSpielEnv("chess")
    observation = env.reset(seed=0)
    rng = random.Random(1)
    played = []
    while not observation.done and len(played) < 80:
        played.append(rng.choice(observation.legal_moves))
        observation = env.step(GameMove(move=played[-1]))
    assert [entry.split(": ")[1] for entry in observation.history] == played


def test_a_chess_move_may_be_written_in_standard_algebraic_notation_too():
    env = OpenSpielEnv("chess")
    env.reset(seed=0)
    for move in ["e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5", "O-O", "Nf6", "d3"]:
        observation = env.step(GameMove(move=move))
        assert observation.error == ""
    assert observation.history[6] == "1: e1g1"
    assert "e8g8" in observation.legal_moves and "O-O" not in observation.legal_moves


@pytest.mark.parametrize(
    "game", ["kuhn_poker", "leduc_poker", "liars_dice", "tic_tac_toe", "connect_four", "goofspiel"]
)
def test_remembered_names_are_openspiel_own_in_every_position(game):
    env = OpenSpielEnv(game)
    for observation, state in random_games(env, 60):
        player = state.current_player()
        expected = [state.action_to_string(player, action) for action in state.legal_actions()]
        assert observation.legal_moves == expected


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker", "tic_tac_toe", "chess"])
def test_a_forked_game_goes_on_alone_and_shares_what_the_game_remembers(game):
    env = OpenSpielEnv(game)
    observation = env.reset(seed=3)
    observation = env.step(GameMove(move=observation.legal_moves[0]))
    before = list(env.state.actions)
    branches = env.fork(2)
    for index, branch in enumerate(branches):
        branch.step(GameMove(move=observation.legal_moves[index]))
        assert branch.match.actions[: len(before)] == before
        assert branch.match._names is env.match._names
    assert env.state.actions == before
    assert branches[0].state.actions != branches[1].state.actions


def test_standard_algebraic_moves_may_leave_out_the_check_sign_and_castle_with_zeros():
    env = OpenSpielEnv("chess")
    env.reset(seed=0)
    for move in ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "Nf3", "Be7", "0-0", "Nxh5"]:
        observation = env.step(GameMove(move=move))
        assert observation.error == "", move
    assert observation.history[4] == "1: d1h5" and observation.history[8] == "1: e1g1"
    mate = OpenSpielEnv("chess")
    mate.reset(seed=0)
    for move in ["e4", "e5", "Bc4", "Nc6", "Qh5", "Nf6", "qxf7"]:
        observation = mate.step(GameMove(move=move))
    assert observation.done and observation.rewards == [-1.0, 1.0]


def test_a_promotion_may_be_written_without_its_equals_sign():
    env = OpenSpielEnv("chess")
    for _, state in random_games(env, 12):
        player = state.current_player()
        promotions = {
            state.action_to_string(player, action): action
            for action in state.legal_actions()
            if "=" in state.action_to_string(player, action)
        }
        if promotions:
            break
    standard, action = next(iter(promotions.items()))
    [branch] = env.fork(1)
    played = branch.step(GameMove(move=standard.replace("=", "").rstrip("+#").lower()))
    assert played.error == "" and branch.match.actions[-1] == action


def test_a_refused_move_is_repeated_in_its_error_only_in_part():
    env = OpenSpielEnv("kuhn_poker")
    env.reset(seed=0)
    refused = env.step(GameMove(move="x" * 1_000_000))
    assert refused.error.startswith("'xxxx") and "(1000002 characters)" in refused.error
    assert len(refused.error) < 200


def test_chess960_names_its_opening_deal_as_openspiel_does():
    env = OpenSpielEnv("chess(chess960=true)")
    for seed in range(3):
        observation = env.reset(seed=seed)
        [deal] = env.state.actions
        state = env.match.game.new_initial_state()
        assert observation.history == [f"chance: {state.action_to_string(-1, deal)}"]


def test_a_memory_starts_over_when_full_and_stops_when_it_does_not_pay(monkeypatch):
    monkeypatch.setattr(moves, "REMEMBERED_POSITIONS", 10)
    paying, useless = moves.Memory(), moves.Memory()
    for key in range(30):
        paying.put(key % 12, key)
        assert paying.get(key % 12) == key and paying.get(key % 12) == key
        useless.put(key, key)
    assert paying.active and paying.get(29 % 12) == 29
    assert not useless.active and useless.get(29) is None


def test_connect_four_stops_remembering_positions_and_names_them_all_the_same(monkeypatch):
    monkeypatch.setattr(moves, "REMEMBERED_POSITIONS", 200)
    env = OpenSpielEnv("connect_four(rows=6,columns=7)")
    for observation, state in random_games(env, 40):
        player = state.current_player()
        expected = [state.action_to_string(player, action) for action in state.legal_actions()]
        assert observation.legal_moves == expected
    assert not env.match._names._positions.active
