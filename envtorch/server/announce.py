"""The line `envtorch serve` prints once it listens, which process providers wait for."""

SERVING_ON = "envtorch serving on "
"""Followed by the server's base URL, e.g. `envtorch serving on http://127.0.0.1:8000`."""
