"""Nova v2.1 over HTTP: discovery, servers, actions, flavors, keypairs, limits, quotas."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import errors, keys, nova_rules
from workbench.sandbox.cloud.nova_rules import MAX_VERSION, MIN_VERSION
from workbench.sandbox.cloud.server_view import link, server_view
from workbench.sandbox.cloud.store import Resource, now
from workbench.sandbox.cloud.web import cloud, no_content, paginate, read_body, reply

routes = web.RouteTableDef()
_BAD_BODY = errors.nova(400, "Malformed request body")


def _version_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"href": f"{base}/", "rel": "self"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


@routes.get("/compute")
@routes.get("/compute/")
async def versions(request: web.Request) -> web.Response:
    return reply({"versions": [_version_doc(cloud(request).url("compute"))]})


@routes.get("/compute/v2.1")
@routes.get("/compute/v2.1/")
async def version(request: web.Request) -> web.Response:
    return reply({"version": _version_doc(cloud(request).url("compute"))})


def _flavor_view(request: web.Request, flavor: Resource) -> dict[str, Any]:
    return {**flavor, "links": link(request, "flavors", flavor["id"])}


_SERVER_FILTERS = {"name", "status", "ip", "image", "flavor", "tags", "tags-any", "not-tags",
                   "not-tags-any", "key_name", "changes-since", "all_tenants", "deleted",
                   "limit", "marker", "sort_key", "sort_dir", "reservation_id", "host"}


def _tag_ok(key: str, value: str, server: Resource) -> bool:
    want, have = set(value.split(",")), set(server.get("tags", []))
    return {"tags": want <= have, "tags-any": bool(want & have),
            "not-tags": not want <= have, "not-tags-any": not want & have}[key]


def _matches(request: web.Request, server: Resource, view: dict[str, Any]) -> bool:
    """Nova's list filters (name and ip are regular expressions, as in Nova)."""
    checks = {
        "name": lambda v: re.search(v, server["name"]) is not None,
        "status": lambda v: server["status"] == v.upper(),
        "ip": lambda v: any(
            re.search(v, a["addr"]) for addrs in view["addresses"].values() for a in addrs
        ),
        "image": lambda v: server["image_id"] == v.rsplit("/", 1)[-1],
        "flavor": lambda v: server["flavor_id"] == v.rsplit("/", 1)[-1],
        "key_name": lambda v: server["key_name"] == v,
    }
    for key in set(request.query.keys()):
        value = request.query.get(key, "")
        if key not in _SERVER_FILTERS:
            cloud(request).record_unimplemented(request, f"filter {key}")
        elif (key in checks and not checks[key](value)) or (key.endswith("tags") and not _tag_ok(key, value, server)):
            return False
    return True


def _listed(request: web.Request) -> list[dict[str, Any]]:
    c = cloud(request)
    out = []
    for server in sorted(c.store.servers.values(), key=lambda s: s["created"], reverse=True):
        view = server_view(request, server, listing=True)
        if _matches(request, server, view):
            out.append(view)
    return out


@routes.get("/compute/v2.1/servers")
async def list_servers(request: web.Request) -> web.Response:
    doc = _page(request)
    doc["servers"] = [{"id": v["id"], "name": v["name"], "links": v["links"]} for v in doc["servers"]]
    return reply(doc)


@routes.get("/compute/v2.1/servers/detail")
async def list_servers_detail(request: web.Request) -> web.Response:
    return reply(_page(request))


def _page(request: web.Request) -> dict[str, Any]:
    marker = request.query.get("marker")
    return paginate(request, _listed(request), "servers", errors.nova(400, f"marker [{marker}] not found"))


@routes.get("/compute/v2.1/servers/{id}")
async def show_server(request: web.Request) -> web.Response:
    server = cloud(request).servers.get(request.match_info["id"])
    return reply({"server": server_view(request, server)})


@routes.post("/compute/v2.1/servers")
async def create_server(request: web.Request) -> web.Response:
    c = cloud(request)
    body = nova_rules.server_create(request, await read_body(request, _BAD_BODY))
    server = c.servers.create(body)
    links = link(request, "servers", server["id"])
    return reply({"server": {
        "id": server["id"], "links": links,
        "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}],
    }}, status=202, headers={"Location": links[0]["href"]})


@routes.delete("/compute/v2.1/servers/{id}")
async def delete_server(request: web.Request) -> web.Response:
    c = cloud(request)
    c.servers.delete(c.servers.get(request.match_info["id"]))
    return no_content()


@routes.post("/compute/v2.1/servers/{id}/action")
async def server_action(request: web.Request) -> web.Response:
    c = cloud(request)
    server = c.servers.get(request.match_info["id"])
    body = await read_body(request, _BAD_BODY)
    if "os-getConsoleOutput" in body:
        length = (body["os-getConsoleOutput"] or {}).get("length")
        try:
            count = None if length in (None, "", -1, "-1") else int(length)
        except (TypeError, ValueError):
            raise errors.nova(400, "Invalid input for field/attribute length.") from None
        return reply({"output": c.servers.console(server, count)})
    if "reboot" in body:
        c.servers.reboot(server, nova_rules.reboot(body["reboot"]) == "HARD")
        return no_content(202)
    if "rebuild" in body:
        c.servers.rebuild(server, nova_rules.rebuild(request, body["rebuild"]))
        return reply({"server": server_view(request, server)}, status=202)
    if "os-start" in body or "os-stop" in body:
        c.servers.power(server, "os-start" in body)
        return no_content(202)
    cloud(request).record_unimplemented(request, f"action {sorted(body)}")
    raise errors.nova(400, f"There is no such action: {', '.join(body)}")


@routes.get("/compute/v2.1/servers/{id}/ips")
async def server_ips(request: web.Request) -> web.Response:
    server = cloud(request).servers.get(request.match_info["id"])
    return reply({"addresses": server_view(request, server)["addresses"]})


@routes.get("/compute/v2.1/servers/{id}/metadata")
async def server_metadata(request: web.Request) -> web.Response:
    return reply({"metadata": cloud(request).servers.get(request.match_info["id"])["metadata"]})


@routes.post("/compute/v2.1/servers/{id}/metadata")
@routes.put("/compute/v2.1/servers/{id}/metadata")
async def set_server_metadata(request: web.Request) -> web.Response:
    c = cloud(request)
    server = c.servers.get(request.match_info["id"])
    meta = (await read_body(request, _BAD_BODY)).get("metadata")
    if not isinstance(meta, dict):
        raise _BAD_BODY
    new = {str(k): str(v) for k, v in meta.items()}
    server["metadata"] = new if request.method == "PUT" else {**server["metadata"], **new}
    server["updated"] = now()
    c.changed()
    return reply({"metadata": server["metadata"]})


# -- flavors ------------------------------------------------------------------------
@routes.get("/compute/v2.1/flavors")
@routes.get("/compute/v2.1/flavors/detail")
async def list_flavors(request: web.Request) -> web.Response:
    flavors = sorted(cloud(request).store.flavors.values(), key=lambda f: f["ram"])
    if not request.path.endswith("/detail"):
        return reply({"flavors": [
            {"id": f["id"], "name": f["name"], "description": None,
             "links": link(request, "flavors", f["id"])} for f in flavors
        ]})
    return reply({"flavors": [_flavor_view(request, f) for f in flavors]})


@routes.get("/compute/v2.1/flavors/{id}")
async def show_flavor(request: web.Request) -> web.Response:
    flavor = cloud(request).store.flavors.get(request.match_info["id"])
    if flavor is None:
        raise errors.nova(404, f"Flavor {request.match_info['id']} could not be found.")
    return reply({"flavor": _flavor_view(request, flavor)})


@routes.get("/compute/v2.1/flavors/{id}/os-extra_specs")
async def flavor_specs(request: web.Request) -> web.Response:
    if request.match_info["id"] not in cloud(request).store.flavors:
        raise errors.nova(404, f"Flavor {request.match_info['id']} could not be found.")
    return reply({"extra_specs": {}})


keys.add_routes(routes)
