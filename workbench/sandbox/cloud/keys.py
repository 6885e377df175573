"""Nova keypairs, limits and quota sets (the preflight's view of the project)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import errors, nova_rules
from workbench.sandbox.cloud.store import Resource, Store, new_id, now
from workbench.sandbox.cloud.web import cloud, no_content, read_body, reply

_BAD_BODY = errors.nova(400, "Malformed request body")
QUOTAS = {"instances": 20, "cores": 40, "ram": 102400, "key_pairs": 100,
          "metadata_items": 128, "server_groups": 10, "server_group_members": 10}


def fingerprint(public_key: str) -> str:
    """Nova's fingerprint: MD5 of the key blob, colon-separated hex."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key")
    blob = base64.b64decode(parts[1], validate=True)
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def register(store: Store, name: str, public_key: str) -> Resource:
    key: Resource = {
        "name": name, "public_key": public_key.strip(), "fingerprint": fingerprint(public_key),
        "type": "ssh", "user_id": store.user_id, "created_at": now(), "id": new_id(),
        "deleted": False, "deleted_at": None, "updated_at": None,
    }
    store.keypairs[name] = key
    return key


def _short(request: web.Request, key: Resource) -> dict[str, Any]:
    """A key pair as Nova lists it; ``type`` only from microversion 2.2."""
    fields = ("name", "public_key", "fingerprint", "type")
    return {k: key[k] for k in fields if k != "type" or nova_rules.at_least(request, "2.2")}


async def list_keypairs(request: web.Request) -> web.Response:
    keys = cloud(request).store.keypairs.values()
    return reply({"keypairs": [{"keypair": _short(request, k)} for k in keys]})


async def show_keypair(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    key = cloud(request).store.keypairs.get(name)
    if key is None:
        raise errors.nova(404, f"Keypair {name} not found for user {cloud(request).store.user_id}")
    shown = dict(key)
    if not nova_rules.at_least(request, "2.2"):
        shown.pop("type", None)
    return reply({"keypair": shown})


async def create_keypair(request: web.Request) -> web.Response:
    c = cloud(request)
    body = nova_rules.keypair_create(request, await read_body(request, _BAD_BODY))
    name = body["name"]
    if not isinstance(name, str) or not name.strip():
        raise nova_rules.invalid("name", name, "Keypair data is invalid: the name is empty")
    if name in c.store.keypairs:
        raise errors.nova(409, f"Key pair '{name}' already exists.")
    private = None
    public = body.get("public_key")
    if not public:
        private, public = generate_keypair(name)
    try:
        key = register(c.store, name, public)
    except (ValueError, binascii.Error):
        raise errors.nova(400, "Keypair data is invalid: failed to generate fingerprint") from None
    c.changed()
    shown = _short(request, key) | {"user_id": key["user_id"]}
    if private:
        shown["private_key"] = private
    return reply({"keypair": shown}, status=201)


async def delete_keypair(request: web.Request) -> web.Response:
    c = cloud(request)
    name = request.match_info["name"]
    if c.store.keypairs.pop(name, None) is None:
        raise errors.nova(404, f"Keypair {name} not found for user {c.store.user_id}")
    c.changed()
    return no_content(204 if nova_rules.at_least(request, "2.2") else 202)


def generate_keypair(comment: str) -> tuple[str, str]:
    """(OpenSSH private key, public key line), ed25519."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return private, f"{public} {comment}"


async def limits(request: web.Request) -> web.Response:
    store = cloud(request).store
    used = _used(store)
    return reply({"limits": {"rate": [], "absolute": {
        "maxTotalInstances": QUOTAS["instances"], "maxTotalCores": QUOTAS["cores"],
        "maxTotalRAMSize": QUOTAS["ram"], "maxTotalKeypairs": QUOTAS["key_pairs"],
        "maxServerMeta": QUOTAS["metadata_items"], "maxImageMeta": 128,
        "maxPersonality": 5, "maxPersonalitySize": 10240,
        "maxServerGroups": QUOTAS["server_groups"],
        "maxServerGroupMembers": QUOTAS["server_group_members"],
        "totalInstancesUsed": used["instances"], "totalCoresUsed": used["cores"],
        "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0,
    }}})


def _used(store: Store) -> dict[str, int]:
    servers = list(store.servers.values())
    flavors = [store.flavors.get(s["flavor_id"], {}) for s in servers]
    return {"instances": len(servers), "cores": sum(f.get("vcpus", 0) for f in flavors),
            "ram": sum(f.get("ram", 0) for f in flavors), "key_pairs": len(store.keypairs),
            "metadata_items": 0, "server_groups": 0, "server_group_members": 0}


async def quota_set(request: web.Request) -> web.Response:
    store = cloud(request).store
    if request.match_info["tail"] == "/detail":
        used = _used(store)
        detail = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in QUOTAS.items()}
        return reply({"quota_set": {"id": request.match_info["project"], **detail}})
    return reply({"quota_set": {"id": request.match_info["project"], **QUOTAS}})


async def server_groups(request: web.Request) -> web.Response:
    return reply({"server_groups": []})


def add_routes(routes: web.RouteTableDef) -> None:
    routes.get("/compute/v2.1/os-server-groups")(server_groups)
    routes.get("/compute/v2.1/os-keypairs")(list_keypairs)
    routes.post("/compute/v2.1/os-keypairs")(create_keypair)
    routes.get("/compute/v2.1/os-keypairs/{name}")(show_keypair)
    routes.delete("/compute/v2.1/os-keypairs/{name}")(delete_keypair)
    routes.get("/compute/v2.1/limits")(limits)
    routes.get("/compute/v2.1/os-quota-sets/{project}{tail:(/detail)?}")(quota_set)
