"""Neutron's tag API (standard-attr-tag) on networks, subnets, ports and floating IPs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import errors, ports
from workbench.sandbox.cloud.web import cloud, no_content, read_body, reply

routes = web.RouteTableDef()
_BAD_BODY = errors.neutron(400, "BadRequest", "Bad request: the body is not a JSON object.")
COLLECTIONS = {
    "networks": ("networks", "Network"),
    "subnets": ("subnets", "Subnet"),
    "ports": ("ports", "Port"),
    "floatingips": ("floatingips", "FloatingIP"),
}


def _tagged(request: web.Request) -> dict[str, Any]:
    table, kind = COLLECTIONS[request.match_info["coll"]]
    return ports.get(cloud(request).store, table, kind, request.match_info["id"])


_TAGGED = "/network/v2.0/{coll:networks|subnets|ports|floatingips}/{id}/tags"


@routes.get(_TAGGED)
async def get_tags(request: web.Request) -> web.Response:
    return reply({"tags": _tagged(request)["tags"]})


@routes.put(_TAGGED)
async def set_tags(request: web.Request) -> web.Response:
    item = _tagged(request)
    tags = (await read_body(request, _BAD_BODY)).get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise errors.neutron(400, "BadRequest", "Invalid input: tags must be a list of strings.")
    item["tags"] = sorted(set(tags))
    ports.touch(item)
    cloud(request).changed()
    return reply({"tags": item["tags"]})


@routes.delete(_TAGGED)
async def clear_tags(request: web.Request) -> web.Response:
    item = _tagged(request)
    item["tags"] = []
    cloud(request).changed()
    return no_content()


@routes.get(_TAGGED + "/{tag}")
async def has_tag(request: web.Request) -> web.Response:
    tag = request.match_info["tag"]
    if tag not in _tagged(request)["tags"]:
        raise errors.neutron(404, "TagNotFound", f"Tag {tag} could not be found.")
    return no_content()


@routes.put(_TAGGED + "/{tag}")
async def add_tag(request: web.Request) -> web.Response:
    item = _tagged(request)
    if request.match_info["tag"] not in item["tags"]:
        item["tags"] = sorted({*item["tags"], request.match_info["tag"]})
    cloud(request).changed()
    return no_content(201)


@routes.delete(_TAGGED + "/{tag}")
async def remove_tag(request: web.Request) -> web.Response:
    item = _tagged(request)
    tag = request.match_info["tag"]
    if tag not in item["tags"]:
        raise errors.neutron(404, "TagNotFound", f"Tag {tag} could not be found.")
    item["tags"].remove(tag)
    cloud(request).changed()
    return no_content()

