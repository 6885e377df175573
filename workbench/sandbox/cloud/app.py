"""The cloud as one aiohttp application: routing, tokens, API faults, unimplemented requests.

Services live under one port: Keystone at ``/v3``, Nova at ``/compute/v2.1``, Neutron at
``/network`` (the SDK appends ``/v2.0``), Glance at ``/image``. ``/sandbox/*`` is the
control endpoint (faults, status); it is not in the catalog and needs the control secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from workbench.sandbox.cloud import (
    compute,
    errors,
    identity,
    image,
    network,
    nova_rules,
    ports,
    secgroups,
    server_tags,
    tags,
)
from workbench.sandbox.cloud.errors import ApiError
from workbench.sandbox.cloud.servers import Servers
from workbench.sandbox.cloud.store import Resource, Store
from workbench.sandbox.cloud.web import CLOUD_KEY, cloud, read_body, reply
from workbench.sandbox.faults import FAULTS, FaultSet
from workbench.sandbox.hooks import NodeHooks

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PREFIXES = {"identity": "/v3", "compute": "/compute/v2.1", "network": "/network", "image": "/image"}
_DISCOVERY = {"/", "/v3", "/v3/", "/compute", "/compute/", "/compute/v2.1", "/compute/v2.1/",
              "/network", "/network/", "/image", "/image/", "/image/versions"}
CONTROL_HEADER = "X-Sandbox-Control"
DEFAULT_BURST = 3


class Cloud:
    """Everything a request handler needs: the store, faults, node hooks and delays."""

    def __init__(
        self, store: Store, *, state_path: Path, faults: FaultSet, hooks: NodeHooks,
        delays: Any, control_secret: str | None = None,
    ) -> None:
        self.store = store
        self.state_path = state_path
        self.faults = faults
        self.hooks = hooks
        self.delays = delays
        self.control_secret = control_secret or secrets.token_urlsafe(24)
        self.tokens: dict[str, datetime] = {}
        self.token_issued: dict[str, tuple[datetime, str]] = {}  # token -> (issued, audit id)
        self.unimplemented: list[str] = []
        self.servers = Servers(self)
        self.base_url = ""
        self.burst_left = DEFAULT_BURST if faults.active("api-5xx") else 0

    def url(self, service: str) -> str:
        return self.base_url + PREFIXES[service]

    def changed(self) -> None:
        self.store.save(self.state_path)

    def record_unimplemented(self, request: web.Request, what: str = "") -> None:
        entry = f"{request.method} {request.path_qs}" + (f" ({what})" if what else "")
        log.warning("unimplemented: %s", entry)
        self.unimplemented.append(entry)

    # -- cross-service effects ------------------------------------------------------
    async def port_deleted(self, port: Resource) -> None:
        server = self.store.servers.get(port["device_id"])
        ports.delete_port(self.store, port["id"])
        self.changed()
        if server is not None:
            await self._tell_addresses(server)

    async def addresses_changed(self, fip: Resource, before: str | None = None) -> None:
        self.changed()
        for port_id in {fip.get("port_id"), before} - {None}:
            port = self.store.ports.get(str(port_id))
            server = self.store.servers.get(port["device_id"]) if port else None
            if server is not None:
                await self._tell_addresses(server)

    async def _tell_addresses(self, server: Resource) -> None:
        if server["status"] == "ACTIVE":
            try:
                await self.hooks.set_addresses(self.servers.info(server))
            except Exception:
                log.exception("node set_addresses failed for %s", server["name"])

    # -- faults ---------------------------------------------------------------------
    async def set_fault(
        self, name: str, on: bool = True, server: str | None = None, count: int | None = None
    ) -> None:
        """Switch a fault; ``out-of-band-delete`` acts at once on the named server."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if name == "out-of-band-delete":
            if not on:
                return
            if not server:
                raise ValueError("out-of-band-delete needs a server name")
            found = self.store.by_name(self.store.servers, server)
            if found is None:
                raise ValueError(f"no server named {server!r}")
            await self.servers.remove_now(found["id"])
            return
        self.faults.set(name, on, server)
        if name == "api-5xx":
            self.burst_left = (count or DEFAULT_BURST) if on else 0
        refresh = getattr(self.hooks, "refresh_faults", None)
        if refresh is not None:
            refresh()  # nodes see node faults (salt-race, slow-ssh, ...) at once

    # -- the application ------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        app[CLOUD_KEY] = self
        for table in (identity.routes, compute.routes, server_tags.routes, network.routes,
                      secgroups.routes, tags.routes, image.routes, _control):
            app.router.add_routes(table)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None:
            self.record_unimplemented(request)
            return reply({"error": {"code": 404, "title": "Not Found",
                                    "message": f"{request.method} {request.path} is not implemented"}},
                         status=404)
        control = request.path.startswith("/sandbox/")
        version = ""
        try:
            if not control:
                await self._api_faults(request)
            if request.path.startswith("/compute/v2.1/"):
                version = nova_rules.negotiate(request)
            response = await handler(request)
        except ApiError as exc:
            response = reply(exc.body, status=exc.status)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("sandbox bug answering %s %s", request.method, request.path)
            error = _internal(request.path)
            response = reply(error.body, status=error.status)
        if version:
            response.headers["OpenStack-API-Version"] = f"compute {version}"
            response.headers["X-OpenStack-Nova-API-Version"] = version
            response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        request_id = f"req-{uuid.uuid4()}"  # oslo.context's generate_request_id
        response.headers["X-OpenStack-Request-Id"] = request_id
        if request.path.startswith("/compute"):
            response.headers["X-Compute-Request-Id"] = request_id
        if response.status == 401:  # keystone and keystonemiddleware both add it
            response.headers["WWW-Authenticate"] = f'Keystone uri="{self.base_url}"'
        return response

    async def _api_faults(self, request: web.Request) -> None:
        if self.faults.active("api-slow"):
            await asyncio.sleep(getattr(self.delays, "api_slow", 1.0))
        if self.faults.active("api-5xx"):
            self.burst_left -= 1
            if self.burst_left <= 0:
                self.faults.set("api-5xx", False)
            raise _unavailable(request.path)
        if request.path in _DISCOVERY or (
            request.path == "/v3/auth/tokens" and request.method == "POST"
        ):
            return
        token = request.headers.get("X-Auth-Token", "")
        expires = self.tokens.get(token)
        if expires is None or expires <= datetime.now(UTC):
            raise errors.unauthorized()
        if self.faults.consume("token-expire"):
            self.tokens.pop(token, None)
            raise errors.unauthorized()


def _service_error(path: str, status: int, neutron_type: str, title: str, message: str) -> ApiError:
    """The error body of the service that owns ``path``, as that service writes it."""
    if path.startswith("/compute"):
        return errors.nova(status, message)
    if path.startswith("/network"):
        return errors.neutron(status, neutron_type, message)
    if path.startswith("/image"):
        return errors.glance(status, message)
    return errors.keystone(status, title, message)


def _internal(path: str) -> ApiError:
    return _service_error(path, 500, "HTTPInternalServerError", "Internal Server Error",
                          "An unexpected error prevented the server from fulfilling your request.")


def _unavailable(path: str) -> ApiError:
    return _service_error(path, 503, "ServiceUnavailable", "Service Unavailable",
                          "The server is currently unavailable. Please try again at a later time.")


_control = web.RouteTableDef()


def _check_control(request: web.Request) -> Cloud:
    c = cloud(request)
    given = request.headers.get(CONTROL_HEADER, "").encode("utf-8", "surrogateescape")
    if not secrets.compare_digest(given, c.control_secret.encode()):
        raise ApiError(403, {"error": {"code": 403, "title": "Forbidden",
                                       "message": "bad or missing sandbox control secret"}})
    return c


@_control.get("/sandbox/status")
async def status(request: web.Request) -> web.Response:
    c = _check_control(request)
    return reply({"faults": c.faults.names(), "unimplemented": c.unimplemented,
                  "servers": len(c.store.servers)})


@_control.post("/sandbox/faults")
async def set_fault(request: web.Request) -> web.Response:
    c = _check_control(request)
    bad = ApiError(400, {"error": {"code": 400, "title": "Bad Request", "message": "bad body"}})
    body = await read_body(request, bad)
    count = body.get("count")
    try:
        await c.set_fault(str(body.get("name")), bool(body.get("on", True)),
                          body.get("server") or None, int(count) if count else None)
    except ValueError as exc:
        raise ApiError(400, {"error": {"code": 400, "title": "Bad Request",
                                       "message": str(exc)}}) from None
    return reply({"faults": c.faults.names()})


async def close_cloud(c: Cloud) -> None:
    with contextlib.suppress(Exception):
        await c.servers.close()
