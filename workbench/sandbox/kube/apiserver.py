"""The master's Kubernetes API server: plain http on port 8080 of every master address.

Every request that carries ``Authorization: Bearer <token>`` is checked against the master's
``srv/kubernetes/known_tokens.csv`` (re-read when it changes); writes need a valid token.
Reads without credentials are served, as Kubernetes' insecure port 8080 did: kubectl
(client-go) never sends a bearer token over plain http, so it reaches 8080 anonymously.
A node is Ready while its kubelet's last status update is younger than three heartbeat
intervals (at least 1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from workbench.sandbox.hooks import NodeView
from workbench.sandbox.kube import discovery, objects
from workbench.sandbox.kube.objects import NodeRecord

log = logging.getLogger(__name__)
PORT = 8080
MIN_GRACE = 1.0
TOKENS = Path("srv/kubernetes/known_tokens.csv")


@dataclass
class ClusterState:
    """What etcd would keep: it survives API server restarts, not the master's deletion."""

    created: float = field(default_factory=time.time)
    nodes: dict[str, NodeRecord] = field(default_factory=dict)


class TokenFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._tokens: set[str] = set()

    def tokens(self) -> set[str]:
        try:
            st = self.path.stat()
        except OSError:
            self._seen, self._tokens = None, set()
            return self._tokens
        if self._seen != (st.st_mtime, st.st_size):
            try:
                rows = list(csv.reader(self.path.read_text().splitlines()))
            except (OSError, csv.Error):
                rows = []
            self._tokens = {row[0].strip() for row in rows if row and row[0].strip()}
            self._seen = (st.st_mtime, st.st_size)
        return self._tokens


def _json(body: dict[str, Any], status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, headers={"Content-Type": content_type})


class ApiServer:
    def __init__(self, node: NodeView, state: ClusterState, heartbeat: float, port: int = PORT) -> None:
        self.node = node
        self.state = state
        self.grace = max(3 * heartbeat, MIN_GRACE)  # a busy test machine must not flap nodes
        self.port = port
        self.tokens = TokenFile(node.root / TOKENS)
        self.requests: deque[str] = deque(maxlen=200)
        self.unimplemented: list[str] = []
        self._sites: dict[str, web.TCPSite] = {}
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
        return [f"http://{address}:{self.port}" for address in self._sites]

    async def sync_addresses(self) -> None:
        """Listen on exactly the node's addresses (a floating IP may come and go)."""
        assert self._runner is not None
        wanted = set(self.node.addresses)
        for address in list(self._sites):
            if address not in wanted:
                await self._sites.pop(address).stop()
        for address in sorted(wanted - set(self._sites)):
            site = web.TCPSite(self._runner, address, self.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                log.warning("kube-apiserver on %s: cannot listen on %s:%d: %s", self.node.name, address, self.port, exc)
                continue
            self._sites[address] = site

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
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        anonymous_read = not header and request.method in ("GET", "HEAD")
        if not anonymous_read and (not token or token not in self.tokens.tokens()):
            now = time.monotonic()
            if now - self._last_auth_log > 1.0:
                self._last_auth_log = now
                self.node.journal("kube-apiserver", "authentication.go:58] Unable to authenticate the request "
                                  "due to an error: invalid bearer token")
            return _json(discovery.status(401, "Unauthorized", "Unauthorized"), 401)
        response: web.StreamResponse = await handler(request)
        return response

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
