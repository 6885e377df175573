"""Neutron v2.0 over HTTP: networks, subnets, ports, floating IPs, tags, quotas, filters."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiMapping

from workbench.sandbox.cloud import errors, neutron_rules, ports
from workbench.sandbox.cloud.neutron_rules import member_view
from workbench.sandbox.cloud.web import cloud, no_content, paginate, read_body, reply

routes = web.RouteTableDef()

#: collection path -> (store table, resource key, kind used in NotFound errors)
COLLECTIONS = {
    "networks": ("networks", "network", "Network"),
    "subnets": ("subnets", "subnet", "Subnet"),
    "ports": ("ports", "port", "Port"),
    "floatingips": ("floatingips", "floatingip", "FloatingIP"),
}
_PAGING = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
_TAGS = {"tags", "tags-any", "not-tags", "not-tags-any"}
_BAD_BODY = neutron_rules.bad_request("Body contains invalid data")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def filter_items(
    request: web.Request, items: list[dict[str, Any]], query: MultiMapping[str]
) -> list[dict[str, Any]]:
    """Neutron's server-side filtering: equality (OR across repeats), tags, fixed_ips, fields."""
    out = items
    for key in set(query.keys()):
        values = query.getall(key)
        if key in _PAGING:
            continue
        if key in _TAGS:
            wanted = [set(v.split(",")) for v in values]
            flat = set().union(*wanted)
            def has(r: dict[str, Any], key: str = key, flat: set[str] = flat) -> bool:
                tags = set(r.get("tags", []))
                return {
                    "tags": flat <= tags, "tags-any": bool(flat & tags),
                    "not-tags": not flat <= tags, "not-tags-any": not flat & tags,
                }[key]
            out = [r for r in out if has(r)]
        elif key == "fixed_ips":
            conds = [tuple(v.split("=", 1)) for v in values if "=" in v]
            out = [
                r for r in out
                if all(any(ip.get(k) == v for ip in r.get("fixed_ips", [])) for k, v in conds)
            ]
        elif any(key in r for r in items) or key in _KNOWN_FIELDS:
            low = {v.lower() for v in values}
            out = [r for r in out if _text(r.get(key)).lower() in low or _text(r.get(key)) in values]
        else:
            cloud(request).record_unimplemented(request, f"filter {key}")
    return out


def project(query: MultiMapping[str], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutron's ``fields=`` projection."""
    fields = query.getall("fields", [])
    if not fields:
        return items
    return [{k: v for k, v in r.items() if k in fields} for r in items]


_KNOWN_FIELDS = {
    "id", "name", "status", "network_id", "device_id", "device_owner", "mac_address",
    "project_id", "tenant_id", "floating_ip_address", "floating_network_id", "port_id",
    "fixed_ip_address", "router_id", "router:external", "cidr", "ip_version", "description",
    "admin_state_up", "shared", "subnet_id",
}


@routes.get("/network")
@routes.get("/network/")
async def versions(request: web.Request) -> web.Response:
    base = cloud(request).url("network")
    return reply({"versions": [{
        "id": "v2.0", "status": "CURRENT", "links": [{"href": f"{base}/v2.0/", "rel": "self"}],
    }]})


@routes.get("/network/v2.0")
@routes.get("/network/v2.0/")
async def resources(request: web.Request) -> web.Response:
    base = cloud(request).url("network")
    return reply({"resources": [
        {"name": k, "collection": k, "links": [{"href": f"{base}/v2.0/{k}", "rel": "self"}]}
        for k in COLLECTIONS
    ]})


_EXTENSIONS = (
    "binding", "external-net", "router", "quotas", "quota_details", "standard-attr-tag",
    "standard-attr-description", "standard-attr-timestamp", "standard-attr-revisions",
    "port-security", "security-group", "allowed-address-pairs", "extra_dhcp_opt",
    "fip-port-details", "network_availability_zone", "filter-validation", "dns-integration",
    "tag-creation",
)


def _extension(alias: str) -> dict[str, Any]:
    return {"alias": alias, "name": alias, "description": alias, "links": [],
            "updated": "2013-01-01T00:00:00-00:00"}


@routes.get("/network/v2.0/extensions")
async def extensions(request: web.Request) -> web.Response:
    return reply({"extensions": [_extension(a) for a in _EXTENSIONS]})


@routes.get("/network/v2.0/extensions/{alias}")
async def extension(request: web.Request) -> web.Response:
    alias = request.match_info["alias"]
    if alias not in _EXTENSIONS:
        raise errors.neutron(404, "HTTPNotFound", f"Extension with alias {alias} does not exist")
    return reply({"extension": _extension(alias)})


@routes.get("/network/v2.0/{coll:networks|subnets|ports|floatingips}")
async def list_items(request: web.Request) -> web.Response:
    coll = request.match_info["coll"]
    table = getattr(cloud(request).store, COLLECTIONS[coll][0])
    items = filter_items(request, [member_view(COLLECTIONS[coll][1], r) for r in table.values()],
                         request.query)
    bad = errors.neutron(404, "NotFound", f"Marker {request.query.get('marker')} could not be found.")
    doc = paginate(request, items, coll, bad)
    page = doc[coll]
    doc.pop(f"{coll}_links", None)
    limit = request.query.get("limit", "")
    if limit.isdigit() and int(limit) > 0:  # api_common.get_pagination_links
        links = []
        query = {k: v for k, v in request.query.items() if k not in ("marker", "page_reverse")}
        if len(page) >= int(limit):
            links.append({"rel": "next", "href": str(request.url.with_query(
                {**query, "marker": page[-1]["id"]}))})
        first = page[0]["id"] if page else request.query.get("marker", "")
        links.append({"rel": "previous", "href": str(request.url.with_query(
            {**query, "marker": first, "page_reverse": "True"}))})
        doc[f"{coll}_links"] = links
    doc[coll] = project(request.query, page)
    return reply(doc)


@routes.get("/network/v2.0/{coll:networks|subnets|ports|floatingips}/{id}")
async def show_item(request: web.Request) -> web.Response:
    coll = request.match_info["coll"]
    table, key, kind = COLLECTIONS[coll]
    item = ports.get(cloud(request).store, table, kind, request.match_info["id"])
    fields = request.query.getall("fields", [])
    shown = member_view(key, item)
    if fields:
        shown = {k: v for k, v in shown.items() if k in fields}
    return reply({key: shown})


@routes.post("/network/v2.0/ports")
async def create_port(request: web.Request) -> web.Response:
    c = cloud(request)
    body = neutron_rules.body_of(await read_body(request, _BAD_BODY), "port")
    neutron_rules.check("port", body, create=True)
    port = ports.create_port(c.store, body)
    c.changed()
    return reply({"port": member_view("port", port)}, status=201)


@routes.put("/network/v2.0/ports/{id}")
async def update_port(request: web.Request) -> web.Response:
    c = cloud(request)
    port = ports.get(c.store, "ports", "Port", request.match_info["id"])
    body = neutron_rules.body_of(await read_body(request, _BAD_BODY), "port")
    neutron_rules.check("port", body, create=False)
    for key in ("name", "description", "admin_state_up", "device_id", "device_owner"):
        if key in body:
            port[key] = body[key]
    ports.touch(port)
    c.changed()
    return reply({"port": member_view("port", port)})


@routes.delete("/network/v2.0/ports/{id}")
async def delete_port(request: web.Request) -> web.Response:
    c = cloud(request)
    port = ports.get(c.store, "ports", "Port", request.match_info["id"])
    if port["device_owner"] == ports.ROUTER_OWNER and port["device_id"] == ports.router_id(c.store):
        # l3_db.prevent_l3_port_deletion: refused while the router exists
        raise errors.neutron(
            409, "ServicePortInUse", f"Port {port['id']} cannot be deleted directly via the "
            f"port API: has device owner {port['device_owner']}.",
        )
    if c.faults.consume("port-busy"):
        raise errors.neutron(
            409, "PortInUse",
            f"Unable to complete operation on port {port['id']} for network "
            f"{port['network_id']}. Port already has an attached device {port['device_id']}.",
        )
    await c.port_deleted(port)
    return no_content()


@routes.post("/network/v2.0/floatingips")
async def create_fip(request: web.Request) -> web.Response:
    c = cloud(request)
    body = neutron_rules.body_of(await read_body(request, _BAD_BODY), "floatingip")
    neutron_rules.check("floatingip", body, create=True)
    fip = ports.create_floatingip(c.store, body)
    await c.addresses_changed(fip)
    return reply({"floatingip": member_view("floatingip", fip)}, status=201)


@routes.put("/network/v2.0/floatingips/{id}")
async def update_fip(request: web.Request) -> web.Response:
    c = cloud(request)
    fip = ports.get(c.store, "floatingips", "FloatingIP", request.match_info["id"])
    body = neutron_rules.body_of(await read_body(request, _BAD_BODY), "floatingip")
    neutron_rules.check("floatingip", body, create=False)
    before = fip.get("port_id")
    if "port_id" in body:
        if body["port_id"]:
            ports.associate(c.store, fip, body["port_id"], body.get("fixed_ip_address"))
        else:
            ports.disassociate(fip)
    if "description" in body:
        fip["description"] = body["description"]
    ports.touch(fip)
    await c.addresses_changed(fip, before)
    return reply({"floatingip": member_view("floatingip", fip)})


@routes.delete("/network/v2.0/floatingips/{id}")
async def delete_fip(request: web.Request) -> web.Response:
    c = cloud(request)
    fip = ports.get(c.store, "floatingips", "FloatingIP", request.match_info["id"])
    before = fip.get("port_id")
    del c.store.floatingips[fip["id"]]
    await c.addresses_changed(fip, before)
    return no_content()


# -- quotas -------------------------------------------------------------------------
QUOTAS = {"network": 100, "subnet": 100, "port": 500, "floatingip": 50, "router": 10,
          "security_group": 10, "security_group_rule": 100}


def _used(request: web.Request) -> dict[str, int]:
    s = cloud(request).store
    return {"network": len(s.networks), "subnet": len(s.subnets), "port": len(s.ports),
            "floatingip": len(s.floatingips), "router": 1,
            "security_group": len(s.security_groups),
            "security_group_rule": sum(len(g["security_group_rules"]) for g in s.security_groups.values())}


@routes.get("/network/v2.0/quotas/{project}")
async def quotas(request: web.Request) -> web.Response:
    return reply({"quota": dict(QUOTAS)})


@routes.get("/network/v2.0/quotas/{project}/details")
@routes.get("/network/v2.0/quotas/{project}/details.json")
async def quota_details(request: web.Request) -> web.Response:
    used = _used(request)
    return reply({"quota": {
        k: {"limit": v, "used": used.get(k, 0), "reserved": 0} for k, v in QUOTAS.items()
    }})

