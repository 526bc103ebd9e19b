"""OpenSpiel games: moves by name, seeded deals, seats and opponents, what each seat may see."""

import functools
import random
import sys

import pyspiel
import pytest

from envtorch import MissingDependency, make
from envtorch.cli import main
from envtorch.env_checker import check_env
from envtorch.envs.games import (
    GameMove,
    GameObservation,
    OpenSpielEnv,
    PythonGameEnv,
    random_opponent,
    scripted,
)
from envtorch.registry import OPENSPIEL_SHORT_NAMES, registered

pytestmark = pytest.mark.timeout(120)

GAME_IDS = [
    id
    for id, spec in registered().items()
    if spec.entry_point in ("envtorch.envs.games:OpenSpielEnv", "envtorch.envs.games:PythonGameEnv")
]


def play(env, *moves):
    observation = None
    for move in moves:
        observation = env.step(GameMove(move=move))
    return observation


def test_every_short_name_and_the_codeact_variant_are_registered():
    assert sorted(GAME_IDS) == sorted([*OPENSPIEL_SHORT_NAMES, "python-game"])
    assert OPENSPIEL_SHORT_NAMES == {
        "kuhn-poker": "kuhn_poker",
        "leduc-poker": "leduc_poker",
        "liars-dice": "liars_dice",
        "tic-tac-toe": "tic_tac_toe",
        "connect-four": "connect_four",
        "chess": "chess",
    }


@pytest.mark.parametrize("id", GAME_IDS)
def test_the_checker_passes_on_every_registered_game(id):
    report = check_env(functools.partial(make, id))
    assert "hidden state" in report.passed and "render modes" in report.passed


def test_envtorch_check_takes_any_openspiel_game_by_name(capsys):
    assert main(["check", "openspiel:goofspiel"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "OpenSpielEnv passed 10 checks"


def test_make_takes_any_openspiel_game_by_name():
    env = make("openspiel:kuhn_poker", seat=1)
    assert isinstance(env, OpenSpielEnv) and env.match.seat == 1
    observation = env.reset(seed=0)
    assert observation.player == 1 and observation.legal_moves == ["Pass", "Bet"]
    assert env.state.game == "kuhn_poker" and env.state.seat == 1
    assert make("chess").match.short_name == "chess"


def test_an_unknown_game_or_seat_is_refused_at_construction():
    with pytest.raises(ValueError, match="OpenSpiel has no game 'pokr'"):
        OpenSpielEnv("pokr")
    with pytest.raises(ValueError, match="seat must be None or 0..1"):
        OpenSpielEnv("kuhn_poker", seat=2)
    with pytest.raises(TypeError, match="opponent must be callable"):
        OpenSpielEnv("kuhn_poker", seat=0, opponent="random")


def test_the_seat_to_act_sees_its_card_but_not_the_others():
    env = OpenSpielEnv("kuhn_poker")
    for seed in range(20):
        observation = env.reset(seed=seed)
        deal = env.state.actions
        assert observation.player == 0
        assert observation.view == str(deal[0])
        assert observation.history == [f"chance: Deal:{deal[0]}", "chance: ?"]
        observation = play(env, "Pass")
        assert observation.player == 1 and observation.view == f"{deal[1]}p"
        assert observation.history == ["chance: ?", f"chance: Deal:{deal[1]}", "0: Pass"]


def test_a_seed_replays_the_deal_and_the_opponents():
    def episode(seed):
        env = OpenSpielEnv("leduc_poker", seat=0)
        observations = [env.reset(seed=seed)]
        while not observations[-1].done:
            observations.append(play(env, observations[-1].legal_moves[0]))
        return observations, env.state.actions

    assert episode(7) == episode(7)
    assert len({tuple(episode(seed)[1][:2]) for seed in range(10)}) > 1


def test_moves_are_names_as_a_player_writes_them():
    kuhn = OpenSpielEnv("kuhn_poker")
    kuhn.reset(seed=0)
    assert play(kuhn, " bet ").history[-1] == "0: Bet"
    chess = OpenSpielEnv("chess")
    assert "g1f3" in chess.reset(seed=0).legal_moves
    assert play(chess, "e2e4").history == ["1: e2e4"]
    assert play(chess, "Nf6").history == ["1: e2e4", "0: g8f6"]
    assert play(chess, "G1F3").history[-1] == "1: g1f3"
    assert play(chess, "nc6").history[-1] == "0: b8c6"


@pytest.mark.parametrize("move", ["e2e5", "", "Ke2", "O-O", "pass"])
def test_an_illegal_move_is_an_observation_and_changes_nothing(move):
    env = OpenSpielEnv("chess")
    first = env.reset(seed=0)
    refused = play(env, move)
    assert refused.error.startswith(f"{move!r} is not a legal move for player 1; legal moves: a2a3")
    assert refused.legal_moves == first.legal_moves and refused.view == first.view
    assert refused.reward == 0.0 and not refused.done
    assert env.state.actions == [] and env.state.step_count == 1
    assert play(env, "e4").error == ""


def test_every_seat_in_turn_with_rewards_per_player():
    env = OpenSpielEnv("kuhn_poker")
    env.reset(seed=3)
    cards = env.state.actions
    bet = play(env, "Bet")
    assert bet.player == 1 and bet.reward == 0.0 and bet.rewards == [0.0, 0.0]
    called = play(env, "Bet")
    winner = 0 if cards[0] > cards[1] else 1
    assert called.done and called.player == 1 and called.legal_moves == []
    assert called.rewards == ([2.0, -2.0] if winner == 0 else [-2.0, 2.0])
    assert called.reward == called.rewards[1]


def test_one_seat_against_a_scripted_opponent():
    env = OpenSpielEnv("kuhn_poker", seat=1, opponent=scripted("Bet"))
    observation = env.reset(seed=0)
    assert observation.player == 1 and observation.history[-1] == "0: Bet"
    assert observation.legal_moves == ["Pass", "Bet"]
    folded = play(env, "Pass")
    assert folded.done and folded.reward == -1.0 and folded.rewards == [1.0, -1.0]


def test_any_callable_opponent_sees_only_its_own_seat():
    seen = []

    def opponent(observation, rng):
        seen.append(observation)
        return observation.legal_moves[-1]

    env = OpenSpielEnv("leduc_poker", seat=0, opponent=opponent)
    observation = env.reset(seed=5)
    while not observation.done:
        observation = play(env, "Call")
    own_card = env.state.actions[1]
    assert seen and all(isinstance(view, GameObservation) for view in seen)
    assert all(view.player == 1 and f"[Private: {own_card}]" in view.view for view in seen)
    assert all(view.history[0] == "chance: ?" for view in seen)


def test_an_opponent_that_cheats_is_an_error():
    env = OpenSpielEnv("tic_tac_toe", seat=0, opponent=lambda observation, rng: "x(1,1)")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="opponent of seat 1 chose 'x\\(1,1\\)'"):
        play(env, "x(0,0)")


def test_a_simultaneous_game_is_played_in_turns_with_hidden_choices():
    env = OpenSpielEnv("goofspiel", seat=1)
    observation = env.reset(seed=0)
    assert observation.player == 1 and observation.history[1] == "0: ?"
    assert observation.legal_moves[0] == "[P1]Bid: 1"


def test_private_moves_stay_private():
    env = OpenSpielEnv("phantom_ttt", seat=0, opponent=random_opponent)
    env.reset(seed=0)
    observation = play(env, "x(0,0)")
    assert observation.history == ["0: x(0,0)", "1: ?"]


def test_ansi_shows_the_acting_seat_only():
    env = OpenSpielEnv("kuhn_poker", render_mode="ansi")
    env.reset(seed=3)
    cards = env.state.actions
    assert env.render() == (
        "kuhn_poker: player 0 to act\n"
        f"  {cards[0]}\n"
        f"history: chance: Deal:{cards[0]}, chance: ?\n"
        "legal moves: Pass, Bet\n"
    )
    play(env, "Bet", "Pass")
    assert env.render() == (
        "kuhn_poker: game over, returns 1, -1 (player 1's view)\n"
        f"  {cards[1]}bp\n"
        f"history: chance: ?, chance: Deal:{cards[1]}, 0: Bet, 1: Pass\n"
    )


def test_ansi_draws_a_chess_board():
    env = OpenSpielEnv("chess", render_mode="ansi")
    env.reset(seed=0)
    play(env, "e4")
    text = env.render()
    assert "4 . . . . P . . .\n" in text and "  a b c d e f g h\n" in text
    assert "black to move" in text and text.endswith(
        "legal moves: " + ", ".join(env.match.legal_moves()) + "\n"
    )


@pytest.mark.parametrize(
    ("game", "moves", "shape"),
    [
        ("chess", ["e4"], (384, 384, 3)),
        ("tic_tac_toe", ["x(1,1)"], (192, 192, 3)),
        ("connect_four", ["x3"], (384, 448, 3)),
    ],
)
def test_rgb_array_draws_the_board(game, moves, shape):
    env = OpenSpielEnv(game, render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    play(env, *moves)
    after = env.render()
    assert after.shape == shape and str(after.dtype) == "uint8"
    assert (before != after).any()


def test_rgb_array_of_other_games_is_their_table():
    env = OpenSpielEnv("kuhn_poker", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.min() < 100 < frame.max()


def test_a_game_drawn_as_its_table_keeps_its_frame_bounded():
    env = OpenSpielEnv("backgammon", render_mode="rgb_array")
    observation = env.reset(seed=0)
    rng = random.Random(0)
    for _ in range(120):
        if observation.done:
            break
        observation = play(env, rng.choice(observation.legal_moves))
    assert len(observation.history) > 100
    height, width, _ = env.render().shape
    assert width < 1000 and height < 1000


def test_a_random_policy_finishes_every_registered_game():
    rng = random.Random(0)
    for game in OPENSPIEL_SHORT_NAMES.values():
        env = OpenSpielEnv(game, seat=0, max_steps=400)
        observation = env.reset(seed=1)
        while not observation.done:
            observation = play(env, rng.choice(observation.legal_moves))
        assert observation.error == ""


def test_without_open_spiel_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspiel", None)
    with pytest.raises(MissingDependency, match=r"pip install 'envtorch\[games\]'$"):
        OpenSpielEnv("kuhn_poker")
    with pytest.raises(MissingDependency, match=r"pip install 'envtorch\[games\]'$"):
        PythonGameEnv()


def test_the_env_keeps_the_whole_game_for_a_replay():
    env = OpenSpielEnv("leduc_poker", seat=0)
    observation = env.reset(seed=2)
    earned = 0.0
    while not observation.done:
        observation = play(env, observation.legal_moves[-1])
        earned += observation.reward
    state = pyspiel.load_game("leduc_poker").new_initial_state()
    for action in env.state.actions:
        state.apply_action(action)
    assert state.is_terminal() and state.returns()[0] == earned != 0.0


def test_rewards_along_the_way_add_up_to_the_returns():
    env = OpenSpielEnv("2048", max_steps=30)
    observation = env.reset(seed=4)
    earned = []
    while not observation.done:
        observation = play(env, random.Random(len(earned)).choice(observation.legal_moves))
        earned.append(observation.reward)
    state = pyspiel.load_game("2048").new_initial_state()
    for action in env.state.actions:
        state.apply_action(action)
    assert sum(earned) == state.returns()[0] and sum(reward > 0 for reward in earned) > 1
