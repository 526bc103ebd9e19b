"""Games with hidden information on OpenSpiel (the `games` extra): poker, chess, any game by name.

```python
from envtorch import make
from envtorch.envs.games import GameMove

env = make("kuhn-poker", seat=0)
observation = env.reset(seed=1)
observation = env.step(GameMove(move="bet"))
```
"""

from envtorch.envs.games.environment import GameMove, GameState, OpenSpielEnv
from envtorch.envs.games.match import GameObservation, Opponent
from envtorch.envs.games.opponents import random_opponent, scripted
from envtorch.envs.games.python_game import PythonGameEnv

__all__ = [
    "GameMove",
    "GameObservation",
    "GameState",
    "OpenSpielEnv",
    "Opponent",
    "PythonGameEnv",
    "random_opponent",
    "scripted",
]
