import pytest

from envtorch import Compose, RewardSum, State, Transform
from envtorch.envs.echo import EchoAction, EchoEnv, EchoObservation


class Append(Transform):
    def __init__(self, tag):
        self.tag = tag

    def __call__(self, observation, action, state):
        observation.metadata.setdefault("order", []).append(self.tag)
        return observation


def test_compose_applies_in_order():
    composed = Compose([Append("a"), Append("b"), lambda o, a, s: Append("c")(o, a, s)])
    observation = composed(EchoObservation(), EchoAction(message="x"), State())
    assert observation.metadata["order"] == ["a", "b", "c"]


def test_compose_validates_its_input():
    with pytest.raises(TypeError, match="non-callable"):
        Compose([Append("a"), 3])
    with pytest.raises(TypeError, match="sequence"):
        Compose(Append("a"))


def test_compose_nests_and_repr():
    composed = Compose([Compose([Append("a")]), Append("b")])
    observation = composed(EchoObservation(), None, State())
    assert observation.metadata["order"] == ["a", "b"]
    assert repr(composed).startswith("Compose([Compose([")


def test_reward_sum_weights_terms_and_records_them():
    reward = RewardSum(
        {
            "length": lambda o, a, s: len(a.message),
            "polite": lambda o, a, s: 1.0 if "please" in a.message else 0.0,
        },
        weights={"length": 0.5, "polite": 2.0},
    )
    observation = reward(EchoObservation(), EchoAction(message="please"), State())
    assert observation.reward == pytest.approx(0.5 * 6 + 2.0)
    assert observation.metadata["reward_terms"] == {"length": 6.0, "polite": 1.0}


def test_reward_sum_adds_to_the_env_reward_and_composes():
    env = EchoEnv(
        transform=Compose(
            [
                RewardSum({"bonus": lambda o, a, s: 1.0}),
                RewardSum({"penalty": lambda o, a, s: -1.0}, weights={"penalty": 0.25}),
            ]
        )
    )
    assert env.reset().reward is None
    observation = env.step(EchoAction(message="Hello, World!"))
    assert observation.reward == pytest.approx(1.3 + 1.0 - 0.25)
    assert observation.metadata["reward_terms"] == {"bonus": 1.0, "penalty": -1.0}


def test_reward_sum_validates():
    with pytest.raises(ValueError, match="unknown reward terms"):
        RewardSum({"a": lambda o, a, s: 0.0}, weights={"b": 1.0})
    with pytest.raises(TypeError, match="not callable"):
        RewardSum({"a": 1.0})
