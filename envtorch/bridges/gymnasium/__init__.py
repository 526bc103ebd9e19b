"""Gymnasium, both ways: `from_gymnasium(env)` and `make("gymnasium:ID")` bring a Gymnasium env
in as an envtorch env; `to_gymnasium(env)` shows an envtorch env or client as a `gymnasium.Env`.

Needs the `gymnasium` extra: `pip install 'envtorch[gymnasium]'`.
"""

from envtorch.core.extras import import_optional

import_optional("gymnasium", extra="gymnasium", needed_by="the Gymnasium bridge")

from envtorch.bridges.gymnasium.adapter import GymnasiumAdapter, to_gymnasium  # noqa: E402
from envtorch.bridges.gymnasium.environment import (  # noqa: E402
    GymnasiumEnv,
    from_gymnasium,
    make_gymnasium,
)

__all__ = ["GymnasiumAdapter", "GymnasiumEnv", "from_gymnasium", "make_gymnasium", "to_gymnasium"]
