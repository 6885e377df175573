"""The master's Kubernetes API server: TLS on 6443 and the insecure 8080, on every master address.

The secure port serves the certificate the master's highstate made (``srv/kubernetes/
server.cert``) and needs a bearer token from ``known_tokens.csv`` (re-read when it
changes) on every request: otherwise 401 with a Status body, as kube-apiserver answers.
The insecure port is the seed's ``http://localhost:8080``: no authentication, and here
read-only (kubectl never sends a token over plain http). A node is Ready while its
kubelet's last status update is younger than three heartbeat intervals (at least 1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from workbench.sandbox.hooks import NodeView
from workbench.sandbox.kube import discovery, objects
from workbench.sandbox.kube.auth import READS, TOKENS, TokenFile, bearer, server_context
from workbench.sandbox.kube.objects import NodeRecord

log = logging.getLogger(__name__)
PORT = 8080
SECURE_PORT = 6443
MIN_GRACE = 1.0


@dataclass
class ClusterState:
    """What etcd would keep: it survives API server restarts, not the master's deletion."""

    created: float = field(default_factory=time.time)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)


def _json(body: dict[str, Any], status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, headers={"Content-Type": content_type})


class ApiServer:
    def __init__(self, node: NodeView, state: ClusterState, heartbeat: float, port: int = PORT,
                 secure_port: int = SECURE_PORT) -> None:
        self.node = node
        self.state = state
        self.grace = max(3 * heartbeat, MIN_GRACE)  # a busy test machine must not flap nodes
        self.port = port
        self.secure_port = secure_port
        self.tokens = TokenFile(node.root / TOKENS)
        self.tls, self.tls_error = server_context(node.root)
        self.requests: deque[str] = deque(maxlen=200)
        self.unimplemented: list[str] = []
        self._sites: dict[tuple[str, int], web.TCPSite] = {}
        self._runner: web.AppRunner | None = None
        self._watch: asyncio.Task[None] | None = None
        self._last_auth_log = 0.0

    # -- life ---------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/version", self._version)
        r.add_get("/healthz", self._healthz)
        r.add_get("/api", self._api)
        r.add_get("/apis", self._apis)
        r.add_get("/api/v1", self._resources)
        r.add_get("/api/v1/nodes", self._list_nodes)
        r.add_post("/api/v1/nodes", self._create_node)
        r.add_get("/api/v1/nodes/{name}", self._get_node)
        r.add_get("/api/v1/nodes/{name}/status", self._get_node)
        r.add_route("PATCH", "/api/v1/nodes/{name}/status", self._update_status)
        r.add_put("/api/v1/nodes/{name}/status", self._update_status)
        r.add_get("/api/v1/namespaces", self._list_namespaces)
        r.add_get("/api/v1/namespaces/{namespace}", self._get_namespace)
        for kind in ("pods", "services"):
            r.add_get(f"/api/v1/{kind}", self._lister(kind))
            r.add_get(f"/api/v1/namespaces/{{namespace}}/{kind}", self._lister(kind))
            r.add_get(f"/api/v1/namespaces/{{namespace}}/{kind}/{{name}}", self._getter(kind))
        r.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self.sync_addresses()
        self._watch = asyncio.create_task(self._watch_addresses())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._runner is not None:
            await self._runner.cleanup()
        self._sites.clear()
        self._runner = None

    @property
    def urls(self) -> list[str]:
        return [f"http://{address}:{port}" for address, port in self._sites if port == self.port]

    @property
    def secure_urls(self) -> list[str]:
        return [f"https://{address}:{port}" for address, port in self._sites if port == self.secure_port]

    async def sync_addresses(self) -> None:
        """Listen on exactly the node's addresses (a floating IP may come and go)."""
        assert self._runner is not None
        ports = [self.port] + ([self.secure_port] if self.tls is not None else [])
        wanted = {(address, port) for address in self.node.addresses for port in ports}
        for key in list(self._sites):
            if key not in wanted:
                await self._sites.pop(key).stop()
        for address, port in sorted(wanted - set(self._sites)):
            tls = self.tls if port == self.secure_port else None
            site = web.TCPSite(self._runner, address, port, reuse_address=True, ssl_context=tls)
            try:
                await site.start()
            except OSError as exc:
                log.warning("kube-apiserver on %s: cannot listen on %s:%d: %s", self.node.name, address, port, exc)
                continue
            self._sites[(address, port)] = site

    async def _watch_addresses(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            try:
                await self.sync_addresses()
            except Exception:
                log.exception("kube-apiserver on %s: address sync failed", self.node.name)

    # -- auth -----------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs} accept={request.headers.get('Accept', '')}")
        if not request.secure:  # the insecure port: nobody is authenticated, nothing may change
            if request.method not in READS:
                return _json(discovery.status(403, "Forbidden", f"the insecure port {self.port} is read-only; "
                                              f"use https on port {self.secure_port} with a token"), 403)
            response: web.StreamResponse = await handler(request)
            return response
        token = bearer(request.headers.get("Authorization", ""))
        if not token or token not in self.tokens.tokens():
            now = time.monotonic()
            if now - self._last_auth_log > 1.0:
                self._last_auth_log = now
                self.node.journal("kube-apiserver", "authentication.go:58] Unable to authenticate the request "
                                  "due to an error: invalid bearer token")
            return _json(discovery.status(401, "Unauthorized", "Unauthorized"), 401)
        return await handler(request)  # type: ignore[no-any-return]

    # -- discovery --------------------------------------------------------------------
    async def _version(self, request: web.Request) -> web.Response:
        return _json(objects.VERSION)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        return _json(discovery.api_versions(request.host))

    async def _apis(self, request: web.Request) -> web.Response:
        return _json(discovery.api_groups())

    async def _resources(self, request: web.Request) -> web.Response:
        return _json(discovery.resource_list())

    async def _not_found(self, request: web.Request) -> web.Response:
        what = f"{request.method} {request.path}"
        if not request.path.startswith(("/openapi/", "/apis/")):
            self.unimplemented.append(what)
            log.info("kube-apiserver: unimplemented %s", what)
        return _json(discovery.status(404, "NotFound", "the server could not find the requested resource"), 404)

    # -- objects ------------------------------------------------------------------------
    def node_objects(self) -> list[dict[str, Any]]:
        now = time.time()
        return [objects.node_object(rec, self.grace, now) for _, rec in sorted(self.state.nodes.items())]

    def _items(self, kind: str) -> list[dict[str, Any]]:
        created = self.state.created
        if kind == "pods":
            return objects.system_pods(sorted(self.state.nodes), created)
        if kind == "services":
            return objects.services(created)
        if kind == "namespaces":
            return objects.namespaces(created)
        return self.node_objects()

    def _reply_list(self, request: web.Request, kind: str, items: list[dict[str, Any]]) -> web.Response:
        selector = request.query.get("labelSelector", "")
        if selector:
            items = [i for i in items if objects.matches(i, selector)]
        singular = {"pods": "Pod", "services": "Service", "namespaces": "Namespace", "nodes": "Node"}[kind]
        if discovery.wants_table(request.headers.get("Accept", "")):
            table = discovery.table(singular, items, request.query.get("includeObject", "PartialObjectMetadata"))
            return _json(table, content_type=discovery.TABLE_CONTENT_TYPE)
        return _json({"kind": f"{singular}List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                      "items": items})

    def _reply_one(self, request: web.Request, kind: str, obj: dict[str, Any] | None, name: str) -> web.Response:
        if obj is None:
            return _json(discovery.status(404, "NotFound", f'{kind} "{name}" not found', name=name, kind=kind), 404)
        if discovery.wants_table(request.headers.get("Accept", "")):
            table = discovery.table(obj["kind"], [obj], request.query.get("includeObject", "PartialObjectMetadata"))
            return _json(table, content_type=discovery.TABLE_CONTENT_TYPE)
        return _json(obj)

    def _lister(self, kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            ns = request.match_info.get("namespace")
            items = [i for i in self._items(kind) if ns is None or i["metadata"].get("namespace") == ns]
            return self._reply_list(request, kind, items)
        return handler

    def _getter(self, kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            ns, name = request.match_info["namespace"], request.match_info["name"]
            found = next((i for i in self._items(kind) if i["metadata"]["name"] == name
                          and i["metadata"].get("namespace") == ns), None)
            return self._reply_one(request, kind, found, name)
        return handler

    async def _list_namespaces(self, request: web.Request) -> web.Response:
        return self._reply_list(request, "namespaces", self._items("namespaces"))

    async def _get_namespace(self, request: web.Request) -> web.Response:
        name = request.match_info["namespace"]
        found = next((n for n in self._items("namespaces") if n["metadata"]["name"] == name), None)
        return self._reply_one(request, "namespaces", found, name)

    async def _list_nodes(self, request: web.Request) -> web.Response:
        return self._reply_list(request, "nodes", self.node_objects())

    async def _get_node(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        rec = self.state.nodes.get(name)
        obj = objects.node_object(rec, self.grace, time.time()) if rec else None
        return self._reply_one(request, "nodes", obj, name)

    async def _create_node(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            name = str(body["metadata"]["name"])
        except (ValueError, KeyError, TypeError):
            return _json(discovery.status(400, "BadRequest", "a Node with metadata.name is required"), 400)
        if name in self.state.nodes:
            return _json(discovery.status(409, "AlreadyExists", f'nodes "{name}" already exists',
                                          name=name, kind="nodes"), 409)
        now = time.time()
        rec = NodeRecord(name, now, now, {k: body.get(k, {}) for k in ("metadata", "status")})
        self.state.nodes[name] = rec
        return _json(objects.node_object(rec, self.grace, now), 201)

    async def _update_status(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        rec = self.state.nodes.get(name)
        if rec is None:
            return _json(discovery.status(404, "NotFound", f'nodes "{name}" not found', name=name, kind="nodes"), 404)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        status = body.get("status") if isinstance(body, dict) else None
        if isinstance(status, dict):
            merged = dict(rec.body.get("status", {}))
            merged.update({k: v for k, v in status.items() if k != "conditions"})
            rec.body["status"] = merged
        rec.heartbeat = time.time()
        return _json(objects.node_object(rec, self.grace, rec.heartbeat))
