"""Hidden state (a task's answer, a poker hand) never leaves the server."""

from dataclasses import dataclass, field

from envtorch import EnvClient, State, hidden
from envtorch.envs.echo import EchoAction, EchoEnv
from envtorch.server import create_app, serve_in_thread


@dataclass(kw_only=True)
class CardState(State):
    hand: list[str] = hidden(default_factory=list)
    table: list[str] = field(default_factory=list)


class CardEnv(EchoEnv):
    state_type = CardState

    def _reset(self, *, seed, task):
        self.state.hand = ["ace of spades"]
        self.state.table = ["two of hearts"]
        return super()._reset(seed=seed, task=task)


def test_remote_state_leaves_out_hidden_fields():
    with serve_in_thread(create_app(CardEnv)) as url, EnvClient(url, CardEnv) as env:
        env.reset(task={"answer": "secret answer"})
        env.step(EchoAction(message="hi"))
        state = env.state
        assert state.table == ["two of hearts"] and state.step_count == 1
        assert state.hand == [] and state.task is None


def test_local_state_keeps_everything():
    env = CardEnv()
    env.reset(task={"answer": "secret answer"})
    assert env.state.hand == ["ace of spades"]
    assert env.state.task == {"answer": "secret answer"}
