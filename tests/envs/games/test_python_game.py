"""CodeAct on a game: the tools live in the sandboxed namespace, the game stays on the host."""

import pytest

from envtorch import make
from envtorch.envs.games import PythonGameEnv, scripted
from envtorch.envs.python import CodeAction

pytestmark = pytest.mark.timeout(90)


def run(env, code):
    return env.step(CodeAction(code=code))


def test_code_plays_a_game_with_the_tools_and_earns_its_reward():
    with PythonGameEnv("tic_tac_toe", opponent=scripted("o(2,0)", "o(2,1)", "o(2,2)")) as env:
        observation = env.reset(seed=0)
        assert "legal_moves()" in observation.prompt and "tic_tac_toe: player 0 to act" in (
            observation.prompt
        )
        first = run(env, "moves = legal_moves()\nlen(moves), moves[0]")
        assert first.value == [9, "x(0,0)"] and first.reward == 0.0 and not first.done
        won = run(
            env, "for move in ['x(0,0)', 'x(0,1)', 'x(0,2)']:\n    result = play(move)\nresult"
        )
        assert won.value["done"] and won.value["reward"] == 1.0
        assert won.reward == 1.0 and won.done


def test_a_refused_move_comes_back_to_the_code_and_changes_nothing():
    with make("python-game") as env:
        env.reset(seed=0)
        refused = run(env, "play('x(9,9)')")
        assert refused.value["error"].startswith("'x(9,9)' is not a legal move for player 0")
        assert refused.value["history"] == [] and refused.reward == 0.0
        wrong_type = run(env, "play(42)").exception
        assert wrong_type.message == "play() argument 'move' must be str, not int"
        assert run(env, "len(legal_moves())").value == 9


def test_the_game_is_not_in_the_namespace():
    with PythonGameEnv("leduc_poker") as env:
        env.reset(seed=1)
        names = run(env, "sorted(name for name in globals() if not name.startswith('__'))").value
        assert {"legal_moves", "play", "board"} <= set(names)
        assert not any("spiel" in name or "match" in name for name in names)
        hidden = run(env, "import sys\nsorted(m for m in sys.modules if 'spiel' in m)").value
        assert hidden == []
        board = run(env, "board()").value
        assert board.startswith("leduc_poker: player 0 to act\n")
        assert "[Observer: 0]" in board and "[Observer: 1]" not in board


def test_ansi_shows_the_code_then_the_board():
    with PythonGameEnv("tic_tac_toe", render_mode="ansi") as env:
        env.reset(seed=0)
        run(env, "play('x(1,1)')['done']")
        text = env.render()
        assert ">>> play('x(1,1)')['done']\nFalse\n" in text
        assert "  ...\n  .x.\n" in text.replace("o", ".")


def test_a_fork_plays_its_own_game_with_its_own_tools_and_rewards():
    with PythonGameEnv("tic_tac_toe", opponent=scripted()) as env:
        env.reset(seed=0)
        run(env, "play('x(1,1)')")
        [fork] = env.fork(1)
        try:
            assert fork.match is not env.match
            run(fork, "play('x(0,2)')")
            won = run(fork, "play('x(2,0)')['history']")
            assert won.reward == 1.0 and won.done
            assert won.value == ["0: x(1,1)", "1: o(0,0)", "0: x(0,2)", "1: o(0,1)", "0: x(2,0)"]
            untouched = run(env, "play('x(2,2)')['history']")
            assert untouched.value == ["0: x(1,1)", "1: o(0,0)", "0: x(2,2)", "1: o(0,1)"]
            assert untouched.reward == 0.0 and env.match.history(0) == untouched.value
        finally:
            fork.close()
