from envtorch.cli import main
from envtorch.cli.demo import _solution


def test_demo_runs_end_to_end(capsys):
    assert main(["demo", "--tasks", "6", "--group-size", "2", "--concurrency", "4"]) == 0
    out = capsys.readouterr().out
    assert "episodes                           12" in out
    assert "failed (infrastructure)             0" in out
    solved = next(line for line in out.splitlines() if "solved" in line)
    count = int(solved.split()[1])
    assert 0 < count < 12


def test_scripted_policy_solves_some_and_guesses_others():
    assert _solution("What is (3 + 4) * 2?", 0).endswith("answer")
    assert "packs * price" in _solution("Ava buys 3 packs of cards at 4 dollars a pack.", 0)
    assert _solution("Ben has 3 coins. How many?", 1).startswith("guess = 4")
