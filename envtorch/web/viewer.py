"""The trajectory browser `envtorch view` serves: its page and a small JSON API over one file.

`GET /api/summary` describes the file and its per-batch rewards, `GET /api/trajectories` lists a
filtered, sorted page of summaries, `GET /api/trajectories/N` sends one whole trajectory and
`GET /api/groups/G` the trajectories of one group. The browser never gets the whole file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from envtorch.web.pages import page_routes
from envtorch.web.trajectories import SORT_KEYS, Query, TrajectoryFile

MAX_PAGE = 500
"""The most summaries one `/api/trajectories` reply holds."""

MAX_GROUP = 16
"""The most trajectories of one group sent side by side."""

_PROBLEMS_SHOWN = 20


class BadRequest(ValueError):
    """A query parameter the API cannot use; the reply names it."""


def create_viewer_app(trajectories: TrajectoryFile) -> Starlette:
    """The viewer's app over `trajectories`: the page at `/`, its files, and the JSON API."""
    api = _Api(trajectories)
    routes = [
        Route("/api/summary", api.summary, methods=["GET"]),
        Route("/api/trajectories", api.trajectories, methods=["GET"]),
        Route("/api/trajectories/{index}", api.trajectory, methods=["GET"]),
        Route("/api/groups/{group}", api.group, methods=["GET"]),
        *page_routes("", "view.html"),
    ]
    return Starlette(routes=routes)


class _Api:
    def __init__(self, trajectories: TrajectoryFile) -> None:
        self.file = trajectories
        self._summary = _summary_of(trajectories)

    async def summary(self, request: Request) -> Response:
        return _json(self._summary)

    async def trajectories(self, request: Request) -> Response:
        try:
            query = _query(request.query_params)
        except BadRequest as error:
            return _json({"error": str(error)}, status=400)
        total, page = self.file.select(query)
        return _json(
            {
                "total": total,
                "offset": query.offset,
                "trajectories": [dataclasses.asdict(summary) for summary in page],
            }
        )

    async def trajectory(self, request: Request) -> Response:
        try:
            index = _integer("index", request.path_params["index"])
            return _json(self._whole(index))
        except BadRequest as error:
            return _json({"error": str(error)}, status=400)
        except IndexError as error:
            return _json({"error": str(error)}, status=404)

    async def group(self, request: Request) -> Response:
        try:
            group = _integer("group", request.path_params["group"])
        except BadRequest as error:
            return _json({"error": str(error)}, status=400)
        members = self.file.group(group)
        if not members:
            return _json({"error": f"no trajectory in group {group}"}, status=404)
        return _json(
            {
                "group": group,
                "size": len(members),
                "trajectories": [self._whole(index) for index in members[:MAX_GROUP]],
            }
        )

    def _whole(self, index: int) -> dict[str, Any]:
        row = self.file.row(index)
        return {"summary": dataclasses.asdict(self.file.summaries[index]), "row": row}


def _summary_of(trajectories: TrajectoryFile) -> dict[str, Any]:
    summaries = trajectories.summaries
    return {
        "path": str(trajectories.path),
        "count": len(summaries),
        "groups": len({summary.group for summary in summaries}),
        "failures": sum(summary.failure is not None for summary in summaries),
        "max_steps": max((summary.steps for summary in summaries), default=0),
        "batches": trajectories.batches(),
        "problem_count": len(trajectories.problems),
        "problems": trajectories.problems[:_PROBLEMS_SHOWN],
        "sort_keys": list(SORT_KEYS),
        "max_page": MAX_PAGE,
        "max_group": MAX_GROUP,
    }


def _query(params: Any) -> Query:
    """A `Query` from the URL's parameters; empty ones mean no filter."""
    values = {name: value for name, value in params.items() if value != ""}
    unknown = set(values) - _QUERY_PARAMETERS
    if unknown:
        raise BadRequest(
            f"unknown parameter {sorted(unknown)[0]!r}; "
            f"expected some of {', '.join(sorted(_QUERY_PARAMETERS))}"
        )
    sort = values.get("sort", "index")
    if sort not in SORT_KEYS:
        raise BadRequest(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    order = values.get("order", "ascending")
    if order not in ("ascending", "descending"):
        raise BadRequest(f"order must be ascending or descending, got {order!r}")
    failed = values.get("failed")
    if failed not in (None, "yes", "no"):
        raise BadRequest(f"failed must be yes or no, got {failed!r}")
    limit = _optional(values, "limit", _integer) or 50
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    return Query(
        group=_optional(values, "group", _integer),
        batch=_optional(values, "batch", _integer),
        failed=None if failed is None else failed == "yes",
        min_reward=_optional(values, "min_reward", _number),
        max_reward=_optional(values, "max_reward", _number),
        min_steps=_optional(values, "min_steps", _integer),
        max_steps=_optional(values, "max_steps", _integer),
        sort=sort,
        descending=order == "descending",
        offset=max(_optional(values, "offset", _integer) or 0, 0),
        limit=limit,
    )


_QUERY_PARAMETERS = {field.name for field in dataclasses.fields(Query)} - {"descending"} | {"order"}


def _optional(values: dict[str, str], name: str, parse: Any) -> Any:
    return parse(name, values[name]) if name in values else None


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}") from None


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {text!r}") from None
    if value != value:
        raise BadRequest(f"{name} must be a number, got {text!r}")
    return value


def _json(value: Any, status: int = 200) -> Response:
    body = msgspec.json.encode(value, enc_hook=repr)
    return Response(body, status_code=status, media_type="application/json")
