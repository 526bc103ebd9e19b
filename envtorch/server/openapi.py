"""`GET /openapi.json`: an OpenAPI document of the app's HTTP routes, built from the routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from envtorch.core import encode


def openapi_endpoint(title: str, routes: list[Any]) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering the OpenAPI 3.1 document of `routes` (HTTP routes only), each
    operation summarised by the first line of its endpoint's docstring."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        summary = (route.endpoint.__doc__ or route.path).strip().split("\n", 1)[0]
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                operation = {"summary": summary, "responses": {"200": {"description": "OK"}}}
                paths.setdefault(route.path, {})[method.lower()] = operation
    document = {"openapi": "3.1.0", "info": {"title": title, "version": _version()}, "paths": paths}
    body = encode(document)

    async def openapi(request: Request) -> Response:
        """`GET /openapi.json`."""
        return Response(body, media_type="application/json")

    return openapi


def _version() -> str:
    try:
        return metadata.version("envtorch")
    except metadata.PackageNotFoundError:
        return "0"
