"""Small helpers shared by the service modules: JSON in and out, public views."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from workbench.sandbox.cloud.errors import ApiError

if TYPE_CHECKING:
    from workbench.sandbox.cloud.app import Cloud

CLOUD_KEY: web.AppKey[Cloud] = web.AppKey("cloud")


def cloud(request: web.Request) -> Cloud:
    return request.app[CLOUD_KEY]


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(data), content_type="application/json", headers=headers
    )


def no_content(status: int = 204) -> web.Response:
    return web.Response(status=status)


async def read_body(request: web.Request, bad: ApiError) -> dict[str, Any]:
    """The request's JSON object; ``bad`` (the service's own 400) when it is not one."""
    try:
        data = await request.json() if request.can_read_body else {}
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict):
        raise bad
    return data


def paginate(
    request: web.Request, items: list[dict[str, Any]], collection: str, bad_marker: ApiError
) -> dict[str, Any]:
    """``{collection: page}`` plus ``<collection>_links`` (rel next) when the page is full
    (nova/api/openstack/common.py ``_get_collection_links``)."""
    marker = request.query.get("marker")
    if marker:
        index = next((i for i, r in enumerate(items) if r.get("id") == marker), None)
        if index is None:
            raise bad_marker
        items = items[index + 1:]
    try:
        limit = int(request.query.get("limit", "0"))
    except ValueError:
        limit = 0
    doc: dict[str, Any] = {collection: items}
    if limit > 0 and len(items) >= limit:  # Nova links "next" whenever a page is full
        doc[collection] = items[:limit]
        query = {k: v for k, v in request.query.items() if k != "marker"}
        query["marker"] = items[limit - 1]["id"]
        url = request.url.with_query(query)
        doc[f"{collection}_links"] = [{"rel": "next", "href": str(url)}]
    return doc


def public(resource: dict[str, Any]) -> dict[str, Any]:
    """A stored resource without its private (``_``-prefixed) bookkeeping keys."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}
