"""The bearer token shared by servers, clients and providers: its variable and its header."""

from __future__ import annotations

import os

TOKEN_VARIABLE = "ENVTORCH_TOKEN"


def auth_headers(token: str | None = None) -> dict[str, str]:
    """The `Authorization: Bearer` header for `token` (default: `$ENVTORCH_TOKEN`), if any."""
    if token is None:
        token = os.environ.get(TOKEN_VARIABLE)
    return {"Authorization": f"Bearer {token}"} if token else {}
