"""The static pages, served from the package: no build step, no CDN, nothing fetched elsewhere.

Observations are the agent's output, so the pages never build HTML from data (only `textContent`),
and the Content-Security-Policy allows scripts and styles from this server alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

PLAY_PATH = "/web"
"""Where every server offers the page that plays its environment."""

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@lru_cache(maxsize=1)
def _assets() -> dict[str, tuple[bytes, str]]:
    """Every file of `envtorch/web/static` by name, with its content type, read once."""
    folder = resources.files("envtorch.web").joinpath("static")
    assets = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if suffix in _CONTENT_TYPES:
            assets[item.name] = (item.read_bytes(), _CONTENT_TYPES[suffix])
    return assets


def page_routes(prefix: str, page: str) -> list[BaseRoute]:
    """Routes serving the static file `page` at `prefix/` and the files beside it at
    `prefix/NAME`; `prefix` itself, when not empty, redirects to `prefix/`."""

    async def index(request: Request) -> Response:
        return _asset(page)

    async def asset(request: Request) -> Response:
        return _asset(request.path_params["name"])

    routes: list[BaseRoute] = [
        Route(f"{prefix}/", index, methods=["GET"]),
        Route(f"{prefix}/{{name}}", asset, methods=["GET"]),
    ]
    if prefix:
        routes.append(Route(prefix, _redirect_to(f"{prefix}/"), methods=["GET"]))
    return routes


def add_play_page(app: Starlette) -> None:
    """Serve the page that plays the app's environment at `/web`."""
    app.router.routes.extend(page_routes(PLAY_PATH, "play.html"))


def is_page(path: str) -> bool:
    """True for the play page and its files: static, holding no secret, so a browser gets them
    without the bearer token; the page then sends the token on every request it makes."""
    return path == PLAY_PATH or path.startswith(PLAY_PATH + "/")


def _asset(name: str) -> Response:
    found = _assets().get(name)
    if found is None:
        return Response(f"no file {name!r} here", status_code=404, media_type="text/plain")
    body, content_type = found
    return Response(body, media_type=content_type, headers=_HEADERS)


def _redirect_to(target: str) -> Callable[[Request], Awaitable[Response]]:
    async def redirect(request: Request) -> Response:
        return RedirectResponse(target, status_code=308)

    return redirect
