"""Nova's server tags (nova/api/openstack/compute/server_tags.py), from microversion 2.26.

``PUT .../tags/{tag}`` answers 201 with a ``Location`` when the tag is new and 204 when
the server has it already; ``GET .../tags/{tag}`` is 204 or 404; at most 50 tags.
"""

from __future__ import annotations

from aiohttp import web

from workbench.sandbox.cloud import errors, nova_rules
from workbench.sandbox.cloud.store import Resource, now
from workbench.sandbox.cloud.web import cloud, no_content, read_body, reply

routes = web.RouteTableDef()
MAX_TAGS = 50
_TAGS = "/compute/v2.1/servers/{id}/tags"
_BAD_BODY = errors.nova(400, "Malformed request body")


def _server(request: web.Request) -> Resource:
    nova_rules.require(request, "2.26")
    return cloud(request).servers.get(request.match_info["id"])


def _changed(request: web.Request, server: Resource, tags: list[str]) -> None:
    server["tags"] = tags
    server["updated"] = now()
    cloud(request).changed()


@routes.get(_TAGS)
async def list_tags(request: web.Request) -> web.Response:
    return reply({"tags": list(_server(request).get("tags", []))})


@routes.put(_TAGS)
async def replace_tags(request: web.Request) -> web.Response:
    server = _server(request)
    doc = await read_body(request, _BAD_BODY)
    extra = [k for k in doc if k != "tags"]
    if extra:
        raise errors.nova(400, f"Additional properties are not allowed ({extra[0]!r} was unexpected)")
    tags = doc.get("tags")
    if not isinstance(tags, list) or not all(nova_rules.tag_ok(t) for t in tags):
        raise nova_rules.invalid("tags", tags, "is not valid under any of the given schemas")
    if len(set(tags)) > MAX_TAGS:
        raise nova_rules.invalid("tags", tags, f"is too long (maximum {MAX_TAGS} items)")
    _changed(request, server, sorted(set(tags)))
    return reply({"tags": server["tags"]})


@routes.delete(_TAGS)
async def clear_tags(request: web.Request) -> web.Response:
    _changed(request, _server(request), [])
    return no_content()


@routes.get(_TAGS + "/{tag}")
async def has_tag(request: web.Request) -> web.Response:
    server = _server(request)
    tag = request.match_info["tag"]
    if tag not in server.get("tags", []):
        raise errors.nova(404, f"Server {server['id']} has no tag '{tag}'")
    return no_content()


@routes.put(_TAGS + "/{tag}")
async def add_tag(request: web.Request) -> web.Response:
    server = _server(request)
    tag = request.match_info["tag"]
    if not nova_rules.tag_ok(tag):
        raise errors.nova(400, f"Tag '{tag}' is invalid. It must be a non empty string without "
                               "characters '/' and ','.")
    tags = list(server.get("tags", []))
    if len(tags) >= MAX_TAGS:
        raise errors.nova(400, f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    if tag in tags:
        return no_content()
    _changed(request, server, sorted({*tags, tag}))
    location = f"{cloud(request).url('compute')}/servers/{server['id']}/tags/{tag}"
    return web.Response(status=201, headers={"Location": location})


@routes.delete(_TAGS + "/{tag}")
async def remove_tag(request: web.Request) -> web.Response:
    server = _server(request)
    tag = request.match_info["tag"]
    if tag not in server.get("tags", []):
        raise errors.nova(404, f"Instance {server['id']} has no tag '{tag}'")
    _changed(request, server, [t for t in server["tags"] if t != tag])
    return no_content()
