"""Renders over the wire: `envtorch serve --render-mode`, clients' `render_mode=`, array frames."""

import asyncio
import functools

import numpy
import pytest

from envtorch import AsyncEnvClient, EnvClient, LocalProcessProvider
from envtorch.envs.games import GameMove, OpenSpielEnv
from envtorch.server import create_app, serve_in_thread
from envtorch.wire import ServerError

pytestmark = pytest.mark.timeout(120)

MOVES = ["e4", "e5", "Nf3"]


def local_render(game, render_mode, moves):
    env = OpenSpielEnv(game, render_mode=render_mode)
    env.reset(seed=0)
    for move in moves:
        env.step(GameMove(move=move))
    return env.render()


def remote_render(env, moves):
    env.reset(seed=0)
    for move in moves:
        env.step(GameMove(move=move))
    return env.render()


def test_serve_with_a_render_mode_and_a_client_asking_for_another():
    with LocalProcessProvider("chess", render_mode="rgb_array") as server:
        with EnvClient(server.url, OpenSpielEnv) as env:
            frame = remote_render(env, MOVES)
        assert isinstance(frame, numpy.ndarray) and frame.dtype == numpy.uint8
        assert (frame == local_render("chess", "rgb_array", MOVES)).all()
        with EnvClient(server.url, OpenSpielEnv, render_mode="ansi") as env:
            assert remote_render(env, MOVES) == local_render("chess", "ansi", MOVES)


def test_without_a_render_mode_render_is_none_until_a_client_asks():
    app = create_app(functools.partial(OpenSpielEnv, "tic_tac_toe"))
    with serve_in_thread(app) as url:
        with EnvClient(url, OpenSpielEnv) as env:
            assert remote_render(env, ["x(1,1)"]) is None
        with EnvClient(url, OpenSpielEnv, render_mode="rgb_array") as env:
            frame = remote_render(env, ["x(1,1)"])
        assert (frame == local_render("tic_tac_toe", "rgb_array", ["x(1,1)"])).all()

        async def asynchronously():
            async with AsyncEnvClient(url, OpenSpielEnv, render_mode="ansi") as env:
                await env.reset(seed=0)
                await env.step(GameMove(move="x(1,1)"))
                return await env.render()

        assert asyncio.run(asynchronously()) == local_render("tic_tac_toe", "ansi", ["x(1,1)"])


def test_a_render_mode_the_env_lacks_is_refused_with_the_modes_it_has():
    refused = "render_mode 'human' is not one of this environment's render modes: .*'rgb_array'"
    with serve_in_thread(create_app(functools.partial(OpenSpielEnv, "kuhn_poker"))) as url:
        with (
            EnvClient(url, OpenSpielEnv, render_mode="human") as env,
            pytest.raises(ServerError, match=refused),
        ):
            env.reset()

        async def asynchronously():
            async with AsyncEnvClient(url, OpenSpielEnv, render_mode="human") as env:
                await env.reset()

        with pytest.raises(ServerError, match=refused):
            asyncio.run(asynchronously())
        with EnvClient(url, OpenSpielEnv, render_mode="ansi") as env:
            env.reset(seed=0)
            assert env.render().startswith("kuhn_poker: player 0 to act")


def test_serve_refuses_a_render_mode_the_env_lacks(capsys):
    from envtorch.cli import main

    assert main(["serve", "kuhn-poker", "--render-mode", "human", "--port", "0"]) == 2
    assert "render_mode 'human' is not supported" in capsys.readouterr().err
