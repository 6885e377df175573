"""Neutron's tag API (standard-attr-tag, tag-creation) on networks, subnets, ports and
floating IPs, from neutron/extensions/tagging.py: PUT one tag 201 (new or not), GET one
204/404, PUT all 200, POST (add many) 201, DELETE 204; at most 50 tags of 255 characters."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import errors, ports
from workbench.sandbox.cloud.web import cloud, no_content, read_body, reply

routes = web.RouteTableDef()
_BAD_BODY = errors.neutron(400, "HTTPBadRequest", "Body contains invalid data")
MAX_TAGS = 50
MAX_TAG_LEN = 255
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


def _invalid(message: str) -> errors.ApiError:
    return errors.neutron(400, "InvalidInput", f"Invalid input for operation: {message}.")


def _check_tag(tag: str) -> None:
    if not tag:
        raise _invalid(f"'{tag}' Blank strings are not permitted")
    if len(tag) > MAX_TAG_LEN:
        raise _invalid(f"'{tag}' exceeds maximum length of {MAX_TAG_LEN}")


async def _tags_body(request: web.Request) -> list[str]:
    """``{"tags": [...]}``: unique strings, as ``validate_tags`` in tagging.py wants."""
    body = await read_body(request, _BAD_BODY)
    tags = body.get("tags")
    if "tags" not in body:
        raise _invalid("Invalid tags body")
    if not isinstance(tags, list):
        raise _invalid(f"'{tags}' is not a list")
    dupes = sorted({t for t in tags if tags.count(t) > 1})
    if dupes:
        raise _invalid(f"Duplicate items in the list: '{', '.join(map(str, dupes))}'")
    for tag in tags:
        if not isinstance(tag, str):
            raise _invalid(f"'{tag}' is not a valid string")
        _check_tag(tag)
    return tags


def _limit(tags: set[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise errors.neutron(400, "BadRequest", f"Bad tags request: The number of tags exceed "
                                                f"the per-resource limit of {MAX_TAGS}.")


def _store(request: web.Request, item: dict[str, Any], tags: set[str]) -> None:
    item["tags"] = sorted(tags)
    ports.touch(item)
    cloud(request).changed()


@routes.put(_TAGGED)
async def set_tags(request: web.Request) -> web.Response:
    item = _tagged(request)
    tags = set(await _tags_body(request))
    _limit(tags)
    _store(request, item, tags)
    return reply({"tags": item["tags"]})


@routes.post(_TAGGED)
async def add_tags(request: web.Request) -> web.Response:
    item = _tagged(request)
    tags = await _tags_body(request)
    _limit({*item["tags"], *tags})
    _store(request, item, {*item["tags"], *tags})
    return reply({"tags": tags}, status=201)


@routes.delete(_TAGGED)
async def clear_tags(request: web.Request) -> web.Response:
    _store(request, _tagged(request), set())
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
    tag = request.match_info["tag"]
    _check_tag(tag)
    _limit({*item["tags"], tag})
    if tag not in item["tags"]:
        _store(request, item, {*item["tags"], tag})
    return no_content(201)


@routes.delete(_TAGGED + "/{tag}")
async def remove_tag(request: web.Request) -> web.Response:
    item = _tagged(request)
    tag = request.match_info["tag"]
    if tag not in item["tags"]:
        raise errors.neutron(404, "TagNotFound", f"Tag {tag} could not be found.")
    _store(request, item, set(item["tags"]) - {tag})
    return no_content()

