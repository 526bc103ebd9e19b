"""Over the wire, nothing sent to the player of seat 0 holds seat 1's private cards.

Two clients play Leduc poker in two sessions of one server, each as seat 0 against the
server's random opponent in seat 1. Every byte each client receives (observations, state
replies, renders) is searched for the private part of seat 1's view in that deal.
"""

import contextlib
import json
import random
import threading

import pyspiel
import pytest
from websockets.sync.client import connect

from envtorch import EnvtorchError
from envtorch.envs.games import OpenSpielEnv
from envtorch.server import create_app, serve_in_thread

pytestmark = pytest.mark.timeout(120)

DEALS = 40


class Player:
    """A raw WebSocket client of one session, rendering as text, that keeps every frame it
    receives."""

    def __init__(self, url: str) -> None:
        self.connection = connect(
            url.replace("http://", "ws://") + "/ws?render_mode=ansi", compression=None
        ).__enter__()
        self.received: list[bytes] = []

    def ask(self, kind: str, data: dict | None = None) -> dict:
        self.connection.send(json.dumps({"type": kind, "data": data or {}}))
        frame = self.connection.recv(timeout=10)
        self.received.append(frame.encode() if isinstance(frame, str) else frame)
        reply = json.loads(frame)
        assert reply["type"] != "error", reply
        return reply["data"]

    def play_a_deal(self, seed: int) -> tuple[str, bytes]:
        """Play one deal, asking for the state and a render after every move; return the
        episode id and every byte received during the deal."""
        start = len(self.received)
        choose = random.Random(seed).choice
        observation = self.ask("reset", {"seed": seed})["observation"]
        done = False
        while not done:
            assert set(self.ask("state")) == {"episode_id", "step_count", "game", "seat"}
            assert self.ask("render")["frame"].startswith("leduc_poker: player 0 to act")
            reply = self.ask("step", {"move": choose(observation["legal_moves"])})
            observation, done = reply["observation"], reply["done"]
        episode_id = self.ask("state")["episode_id"]
        self.ask("render")
        return episode_id, b"".join(self.received[start:])


def private_views(actions: list[int]) -> tuple[set[str], set[str]]:
    """Replay a Leduc deal: what only seat 0 may see, and what seat 0 must never see (seat 1's
    card and information states, and the dealer's line showing both cards)."""
    state = pyspiel.load_game("leduc_poker").new_initial_state()
    views: tuple[set[str], set[str]] = (set(), set())
    for action in actions:
        state.apply_action(action)
        if not state.is_chance_node():
            for seat in (0, 1):
                views[seat].add(state.information_state_string(seat))
            views[1].update(line for line in str(state).splitlines() if line.startswith("Cards"))
    first, second = actions[0], actions[1]
    views[0].update({f"[Private: {first}]", f"Chance outcome:{first}"})
    views[1].update({f"[Private: {second}]", f"Chance outcome:{second}"})
    return views


def test_seat_0_never_receives_seat_1s_cards():
    envs: list[OpenSpielEnv] = []

    def factory(**kwargs):
        env = OpenSpielEnv("leduc_poker", seat=0, **kwargs)
        envs.append(env)
        return env

    def by_episode(episode_id):
        for env in envs:
            with contextlib.suppress(EnvtorchError):
                if env.state.episode_id == episode_id:
                    return env
        raise LookupError(episode_id)

    with serve_in_thread(create_app(factory)) as url:
        players = [Player(url), Player(url)]
        transcripts: list[list[tuple[str, bytes, list[int]]]] = [[], []]

        def play(index):
            for deal in range(DEALS):
                episode_id, received = players[index].play_a_deal(seed=1000 * index + deal)
                actions = list(by_episode(episode_id).state.actions)
                transcripts[index].append((episode_id, received, actions))

        threads = [threading.Thread(target=play, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for player in players:
            player.connection.close()

    assert [len(transcript) for transcript in transcripts] == [DEALS, DEALS]
    for transcript in transcripts:
        for _, received, actions in transcript:
            own, others = private_views(actions)
            assert f"[Private: {actions[0]}]".encode() in received
            leaked = [token for token in others - own if token.encode() in received]
            assert not leaked, f"seat 0 received seat 1's {leaked}"
