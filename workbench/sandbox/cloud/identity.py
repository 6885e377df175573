"""Keystone v3: discovery, password authentication, tokens valid for hours, the catalog."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from workbench.redact import REDACTOR
from workbench.sandbox.cloud import errors
from workbench.sandbox.cloud.store import PROJECT_NAME, REGION, USER_NAME
from workbench.sandbox.cloud.web import cloud, read_body, reply

routes = web.RouteTableDef()
TOKEN_HOURS = 8
SERVICES = (("identity", "keystone"), ("compute", "nova"), ("network", "neutron"),
            ("image", "glance"))
#: the sandbox user is a member (and so a reader) of its project, never an admin
_ROLES = [{"id": "member-role", "name": "member"}, {"id": "reader-role", "name": "reader"}]
_BAD_BODY = errors.keystone(400, "Bad Request", "Expecting to find auth in request body.")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _v3(base: str) -> dict[str, Any]:
    return {
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }


@routes.get("/")
async def root_versions(request: web.Request) -> web.Response:
    return reply({"versions": {"values": [_v3(cloud(request).base_url)]}}, status=300)


@routes.get("/v3")
@routes.get("/v3/")
async def v3(request: web.Request) -> web.Response:
    return reply({"version": _v3(cloud(request).base_url)})


def catalog(request: web.Request) -> list[dict[str, Any]]:
    c = cloud(request)
    out = []
    for kind, name in SERVICES:
        url = c.url(kind)
        out.append({
            "id": f"{kind}-service", "type": kind, "name": name,
            "endpoints": [
                {"id": f"{kind}-{iface}", "interface": iface, "region": REGION,
                 "region_id": REGION, "url": url}
                for iface in ("public", "internal", "admin")
            ],
        })
    return out


def _mapping(value: Any) -> dict[str, Any]:
    """A JSON object from the request body, or a bad request (a 400, never a 500)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _BAD_BODY
    return value


def _same_secret(given: Any, stored: str) -> bool:
    """Constant-time compare on UTF-8 bytes: ``compare_digest`` refuses non-ASCII str (a
    TypeError, once a 500 for a password like 'pässwörd'); lone surrogates from JSON too."""
    return secrets.compare_digest(str(given).encode("utf-8", "surrogatepass"),
                                  stored.encode("utf-8", "surrogatepass"))


@routes.post("/v3/auth/tokens")
async def issue_token(request: web.Request) -> web.Response:
    c = cloud(request)
    body = await read_body(request, _BAD_BODY)
    auth = body.get("auth")
    if not isinstance(auth, dict):
        raise _BAD_BODY
    identity = _mapping(auth.get("identity"))
    methods = identity.get("methods") or []
    if not isinstance(methods, list):
        raise _BAD_BODY
    user = _mapping(_mapping(identity.get("password")).get("user"))
    if "password" not in methods or not (
        user.get("name") == USER_NAME or user.get("id") == c.store.user_id
    ) or not _same_secret(user.get("password", ""), c.store.password):
        raise errors.keystone(401, "Unauthorized", "The request you have made requires authentication.")
    scope = _mapping(_mapping(auth.get("scope")).get("project"))
    if scope and scope.get("name") not in (None, PROJECT_NAME) and scope.get("id") != c.store.project_id:
        raise errors.keystone(401, "Unauthorized", "The request you have made requires authentication.")
    issued = datetime.now(UTC)
    expires = issued + timedelta(hours=TOKEN_HOURS)
    token = "gAAAAA" + secrets.token_urlsafe(64)
    REDACTOR.add(token)
    c.tokens[token] = expires
    audit_id = secrets.token_urlsafe(16)[:22]
    c.token_issued[token] = (issued, audit_id)
    domain = {"id": "default", "name": "Default"}
    doc: dict[str, Any] = {
        "methods": ["password"], "audit_ids": [audit_id],
        "expires_at": _stamp(expires), "issued_at": _stamp(issued),
        "user": {"id": c.store.user_id, "name": USER_NAME, "domain": domain,
                 "password_expires_at": None},
    }
    if scope:
        doc |= {
            "project": {"id": c.store.project_id, "name": PROJECT_NAME, "domain": domain},
            "is_domain": False,
            "roles": _ROLES,
            "catalog": catalog(request),
        }
    return reply({"token": doc}, status=201, headers={"X-Subject-Token": token})


@routes.get("/v3/auth/tokens")
async def validate_token(request: web.Request) -> web.Response:
    c = cloud(request)
    subject = request.headers.get("X-Subject-Token", "")
    expires = c.tokens.get(subject)
    if expires is None or expires <= datetime.now(UTC):
        raise errors.keystone(404, "Not Found", f"Could not find token: {subject[:8]}...")
    issued, audit_id = c.token_issued.get(subject, (expires - timedelta(hours=TOKEN_HOURS), ""))
    domain = {"id": "default", "name": "Default"}
    return reply({"token": {
        "methods": ["password"], "expires_at": _stamp(expires), "issued_at": _stamp(issued),
        "audit_ids": [audit_id] if audit_id else [],
        "user": {"id": c.store.user_id, "name": USER_NAME, "domain": domain,
                 "password_expires_at": None},
        "project": {"id": c.store.project_id, "name": PROJECT_NAME, "domain": domain},
        "is_domain": False, "catalog": catalog(request), "roles": _ROLES,
    }}, headers={"X-Subject-Token": subject})


@routes.get("/v3/auth/catalog")
async def get_catalog(request: web.Request) -> web.Response:
    return reply({"catalog": catalog(request)})


def _project(request: web.Request) -> dict[str, Any]:
    c = cloud(request)
    return {
        "id": c.store.project_id, "name": PROJECT_NAME, "domain_id": "default", "enabled": True,
        "is_domain": False, "parent_id": "default", "description": "", "tags": [],
        "links": {"self": f"{c.url('identity')}/projects/{c.store.project_id}"},
    }


@routes.get("/v3/auth/projects")
@routes.get("/v3/projects")
async def projects(request: web.Request) -> web.Response:
    return reply({"projects": [_project(request)]})


@routes.get("/v3/projects/{id}")
async def project(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    if wanted != cloud(request).store.project_id:
        raise errors.keystone(404, "Not Found", f"Could not find project: {wanted}.")
    return reply({"project": _project(request)})
