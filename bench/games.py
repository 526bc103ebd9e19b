"""Game speed: a step of OpenSpielEnv against pyspiel itself, and over the wire against echo.

In-process, each game replays the same recorded random games three ways and reports the mean
CPU time of one move: pyspiel's `apply_action` (with the chance outcomes that follow) plus the
view string of the seat to act, which is the reference; pyspiel plus `legal_actions()`, which
every env listing the legal moves calls; and our `env.step(GameMove(...))`, after our env played
`--warm-up` other random games untimed, so that what it remembers of positions that come back is
warm, as in a long run. The floor column is what no env of ours can go below: pyspiel with
`legal_actions()` plus `Environment.step` of an env that does nothing but return one
`GameObservation` (timed once per run); naming the moves is left out of it, since names are
remembered. Over the wire, an `EnvClient` steps served games and a served echo env in
alternating blocks; the ratios are of the p50 wall-clock step times and of the mean CPU time per
step, client and server process added (from the scheduler's counters), which the machine's load
does not inflate.

The whole run, server processes included, is pinned to one CPU (`--cpu`, -1 for none): on a
shared 2-core VM timings drift otherwise.

    .venv/bin/python bench/games.py [--episodes 300] [--warm-up 3000] [--wire-steps 3000] \
        [--cpu 0]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import time
from dataclasses import dataclass

import pyspiel

from envtorch.client import EnvClient
from envtorch.core import Environment, State
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.envs.games import GameMove, GameObservation, OpenSpielEnv
from envtorch.providers import LocalProcessProvider

GAMES = ["kuhn_poker", "leduc_poker", "tic_tac_toe", "connect_four", "chess"]
MOVES_PER_EPISODE = 60
IN_PROCESS_GOAL = 1.5
WIRE_GOAL = 1.3


@dataclass
class Episode:
    """A recorded game: its seed, the moves by name, and every action with chance included."""

    seed: int
    moves: list[str]
    actions: list[int]


def record(game: str, episodes: int) -> list[Episode]:
    """Random games played through our env, cut at `MOVES_PER_EPISODE` moves, in a child process:
    what playing them teaches our env (a game's names, its history entries) stays there."""
    with multiprocessing.get_context("fork").Pool(1) as child:
        return child.apply(play_random_games, (game, episodes))


def play_random_games(game: str, episodes: int) -> list[Episode]:
    """Random games played through our env, cut at `MOVES_PER_EPISODE` moves."""
    rng = random.Random(0)
    env = OpenSpielEnv(game)
    recorded = []
    for seed in range(episodes):
        observation = env.reset(seed=seed)
        moves = []
        while not observation.done and len(moves) < MOVES_PER_EPISODE:
            moves.append(rng.choice(observation.legal_moves))
            observation = env.step(GameMove(move=moves[-1]))
        recorded.append(Episode(seed, moves, list(env.state.actions)))
    return recorded


def view_function(game: object) -> object:
    """The string our observations carry as `view`: information state in games of imperfect
    information, else the observation string."""
    game_type = game.get_type()
    perfect = game_type.information == pyspiel.GameType.Information.PERFECT_INFORMATION
    if perfect and game_type.provides_observation_string:
        return lambda state, player: state.observation_string(player)
    return lambda state, player: state.information_state_string(player)


def time_pyspiel(game_name: str, episodes: list[Episode], with_legal: bool) -> float:
    """Mean CPU seconds per move replaying the recorded games with pyspiel directly."""
    game = pyspiel.load_game(game_name)
    view = view_function(game)
    spent, moves = 0.0, 0
    for episode in episodes:
        state = game.new_initial_state()
        actions = iter(episode.actions)
        while state.is_chance_node():
            state.apply_action(next(actions))
        start = time.process_time()
        for _ in episode.moves:
            mover = state.current_player()
            state.apply_action(next(actions))
            while state.is_chance_node():
                state.apply_action(next(actions))
            player = mover if state.is_terminal() else state.current_player()
            view(state, player)
            if with_legal and not state.is_terminal():
                state.legal_actions()
        spent += time.process_time() - start
        moves += len(episode.moves)
    return spent / moves


def time_envtorch(game_name: str, warm_up: list[Episode], episodes: list[Episode]) -> float:
    """Mean CPU seconds per `env.step()` replaying the recorded `episodes` through our env, after
    replaying the other games `warm_up` untimed: the env remembers positions (names, what each
    seat saw) that come back from game to game, as they do in a long run."""
    env = OpenSpielEnv(game_name)
    spent, moves = 0.0, 0
    for timed, games in ((False, warm_up), (True, episodes)):
        for episode in games:
            env.reset(seed=episode.seed)
            actions = [GameMove(move=move) for move in episode.moves]
            start = time.process_time()
            for action in actions:
                env.step(action)
            if timed:
                spent += time.process_time() - start
                moves += len(actions)
    return spent / moves


class NoGame(Environment[GameMove, GameObservation, State]):
    """The floor of a game step: an env whose step only returns one `GameObservation`."""

    action_type = GameMove
    observation_type = GameObservation

    def _reset(self, *, seed: int | None, task: object) -> GameObservation:
        return GameObservation()

    def _step(self, action: GameMove) -> GameObservation:
        return GameObservation(player=0, view="", legal_moves=[], history=[], done=False)


def time_floor(steps: int = 200_000) -> float:
    """Mean CPU seconds per `env.step()` of `NoGame`: the env's own bookkeeping and one
    observation, with no game behind it."""
    env = NoGame()
    env.reset()
    action = GameMove(move="")
    start = time.process_time()
    for _ in range(steps):
        env.step(action)
    return (time.process_time() - start) / steps


def process_cpu(pid: int) -> float:
    """CPU seconds the process `pid` has run, all its threads, from the scheduler's counters."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with (
            contextlib.suppress(FileNotFoundError),
            open(f"/proc/{pid}/task/{task}/schedstat") as f,
        ):
            total += int(f.read().split()[0])
    return total / 1e9


@dataclass
class WireTimes:
    """One served target's step times: wall-clock, and CPU of the client and the server."""

    wall: list[float]
    cpu: list[float]

    def p50(self) -> float:
        return sorted(self.wall)[len(self.wall) // 2]

    def mean_cpu(self) -> float:
        return sum(self.cpu) / len(self.cpu)


class WirePlayer:
    """An `EnvClient` stepping a served env, resetting when an episode ends; times each step."""

    def __init__(self, server: LocalProcessProvider, target: str) -> None:
        assert server.url is not None and server.process is not None
        self.pid = server.process.pid
        self.echo = target == "echo"
        self.env = EnvClient(server.url, EchoEnv if self.echo else OpenSpielEnv)
        self.rng = random.Random(0)
        self.observation = self.env.reset(seed=0)
        self.times = WireTimes([], [])

    def steps(self, count: int) -> None:
        for _ in range(count):
            if self.observation.done:
                self.observation = self.env.reset(seed=len(self.times.wall))
            if self.echo:
                action = EchoAction(message="Hello, World!")
            else:
                action = GameMove(move=self.rng.choice(self.observation.legal_moves))
            server_cpu, client_cpu = process_cpu(self.pid), time.thread_time()
            start = time.perf_counter()
            self.observation = self.env.step(action)
            self.times.wall.append(time.perf_counter() - start)
            client_cpu = time.thread_time() - client_cpu
            self.times.cpu.append(client_cpu + process_cpu(self.pid) - server_cpu)


def wire_times(targets: list[str], steps: int) -> dict[str, WireTimes]:
    """Step times per served target, stepping them in alternating blocks so that the load of the
    machine weighs on each alike."""
    warmup, block = 200, 50
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(LocalProcessProvider(target)) for target in targets]
        players = [
            WirePlayer(server, target) for server, target in zip(servers, targets, strict=True)
        ]
        for player in players:
            stack.callback(player.env.close)
            player.steps(warmup)
            player.times = WireTimes([], [])
        for _ in range(steps // block):
            for player in players:
                player.steps(block)
        return {target: player.times for target, player in zip(targets, players, strict=True)}


def verdict(ratio: float, goal: float) -> str:
    return f"{'met' if ratio <= goal else 'MISSED'} (goal <= {goal}x)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument(
        "--warm-up", type=int, default=3000, help="other games our env plays first, untimed"
    )
    parser.add_argument("--wire-steps", type=int, default=3000)
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin the run to, -1: none")
    args = parser.parse_args()
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    pinned = f"pinned to CPU {args.cpu}" if args.cpu >= 0 else "not pinned"
    print(f"{pinned}; {args.episodes} recorded games per game, {args.warm_up} to warm up\n")
    floor = time_floor()
    print(f"in-process, mean CPU us per move (a no-op env's step: {floor * 1e6:.2f} us):")
    header = (
        f"{'game':<14}{'pyspiel':>9}{'+legal':>9}{'envtorch':>10}"
        f"{'vs pyspiel':>12}{'vs +legal':>11}{'floor':>8}{'vs pyspiel':>12}  goal"
    )
    print(header)
    for game in GAMES:
        recorded = record(game, args.warm_up + args.episodes)
        warm_up, episodes = recorded[: args.warm_up], recorded[args.warm_up :]
        bare = time_pyspiel(game, episodes, with_legal=False)
        listed = time_pyspiel(game, episodes, with_legal=True)
        ours = time_envtorch(game, warm_up, episodes)
        least = listed + floor
        print(
            f"{game:<14}{bare * 1e6:>9.1f}{listed * 1e6:>9.1f}{ours * 1e6:>10.1f}"
            f"{ours / bare:>11.1f}x{ours / listed:>10.1f}x"
            f"{least * 1e6:>8.1f}{least / bare:>11.1f}x  {verdict(ours / bare, IN_PROCESS_GOAL)}"
        )
    print("\nover the wire (EnvClient, one session each, in alternating blocks), us per step:")
    print(f"{'target':<14}{'p50':>7}{'vs echo':>9}  goal{'':<21}{'CPU':>5}{'vs echo':>9}  goal")
    measured = wire_times(["echo", "kuhn-poker", "chess"], args.wire_steps)
    echo = measured["echo"]
    for target, times in measured.items():
        wall, cpu = times.p50() / echo.p50(), times.mean_cpu() / echo.mean_cpu()
        print(
            f"{target:<14}{times.p50() * 1e6:>7.0f}{wall:>8.2f}x  {verdict(wall, WIRE_GOAL):<25}"
            f"{times.mean_cpu() * 1e6:>5.0f}{cpu:>8.2f}x  {verdict(cpu, WIRE_GOAL)}"
        )


if __name__ == "__main__":
    main()
