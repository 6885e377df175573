"""Nova's server life: BUILD -> ACTIVE (or ERROR), reboot, rebuild, delete, and the node hooks.

Every change of a server's life goes through here, so ports, floating IPs and the node
behind the server (``NodeHooks``) always agree with what the API shows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from workbench.sandbox.cloud import console, errors, ports, server_view
from workbench.sandbox.cloud.store import Resource, new_id, now
from workbench.sandbox.hooks import ServerInfo

if TYPE_CHECKING:
    from workbench.sandbox.cloud.app import Cloud

log = logging.getLogger(__name__)

def _decoded(user_data: Any) -> str:
    """Nova takes user_data base64-encoded; the node's cloud-init reads the text."""
    if not user_data:
        return ""
    try:
        return base64.b64decode(str(user_data), validate=True).decode("utf-8", "replace")
    except ValueError:
        return str(user_data)


class Servers:
    """The server table's behaviour; the HTTP layer (compute.py) only parses and renders."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._tasks: set[asyncio.Task[None]] = set()
        self._boot_errors = 0

    # -- helpers ----------------------------------------------------------------------
    def get(self, server_id: str) -> Resource:
        server = self.cloud.store.servers.get(server_id)
        if server is None:
            raise errors.nova(404, f"Instance {server_id} could not be found.")
        return server

    def info(self, server: Resource) -> ServerInfo:
        store = self.cloud.store
        own = ports.server_ports(store, server["id"])
        fixed = tuple(ip["ip_address"] for p in own for ip in p["fixed_ips"])
        floating = tuple(
            f["floating_ip_address"] for f in ports.floating_of(store, {p["id"] for p in own})
        )
        keys = (server["_public_key"],) if server.get("_public_key") else ()
        image = store.images.get(server.get("image_id") or "") or {}
        return ServerInfo(
            id=server["id"], name=server["name"], fixed_ips=fixed, floating_ips=floating,
            public_keys=keys, metadata=dict(server.get("metadata", {})),
            image=str(image.get("name", "")), user_data=_decoded(server.get("user_data")),
        )

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set(self, server: Resource, **changes: Any) -> None:
        """Change a server; its status follows from vm_state and task_state, as in Nova."""
        server.update(changes, updated=now())
        server["status"] = server_view.status_of(server.get("vm_state"), server.get("task_state"))
        self.cloud.changed()

    async def _walk(self, server: Resource, tasks: tuple[str, ...], seconds: float) -> bool:
        """Step ``server`` through ``tasks`` over ``seconds``; False when it went away."""
        for task in tasks:
            if server["id"] not in self.cloud.store.servers or server.get("task_state") == "deleting":
                return False
            self._set(server, task_state=task)
            await asyncio.sleep(seconds / len(tasks))
        return server["id"] in self.cloud.store.servers and server.get("task_state") != "deleting"

    def _log(self, server: Resource, *lines: str) -> None:
        server.setdefault("_console", []).extend(lines)
        del server["_console"][:-500]

    # -- create -----------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> Resource:
        store = self.cloud.store
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise errors.nova(400, f"Invalid input for field/attribute name. Value: {name}. "
                                   "An invalid 'name' value was provided. The name must be: "
                                   "printable characters. Can not start or end with whitespace.")
        image_id = str(body.get("imageRef", "")).rsplit("/", 1)[-1]
        if image_id not in store.images:
            raise errors.nova(400, f"Image {image_id} could not be found.")
        flavor_id = str(body.get("flavorRef", "")).rsplit("/", 1)[-1]
        if flavor_id not in store.flavors:
            raise errors.nova(400, f"Flavor {flavor_id} could not be found.")
        key_name = body.get("key_name")
        if key_name is not None and key_name not in store.keypairs:
            raise errors.nova(400, "Invalid key_name provided.")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise errors.nova(400, "Invalid input for field/attribute metadata.")
        server_id = new_id()
        bound = self._networks(server_id, body.get("networks", "auto"))
        stamp = now()
        server: Resource = {
            "id": server_id, "name": name, "status": "BUILD", "created": stamp, "updated": stamp,
            "image_id": image_id, "flavor_id": flavor_id, "key_name": key_name,
            "metadata": {str(k): str(v) for k, v in metadata.items()},
            "tags": sorted(set(body.get("tags") or [])),
            "task_state": "scheduling", "vm_state": "building", "power_state": 0,
            "launched_at": None, "description": body.get("description"),
            "user_data": body.get("user_data"), "config_drive": body.get("config_drive") or "",
            "_public_key": store.keypairs[key_name]["public_key"] if key_name else "",
            "_nova_ports": bound,
        }
        store.servers[server_id] = server
        self._log(server, *console.kernel_log(name))
        self.cloud.changed()
        fail = self.cloud.faults.consume("boot-error", name)
        self._spawn(self._build(server_id, fail))
        return server

    def _networks(self, server_id: str, networks: Any) -> list[str]:
        """Bind the requested ports (or make them); returns the ports Nova created."""
        store = self.cloud.store
        if networks in ("auto", None):
            mgmt = next((n for n in store.networks.values() if not n["router:external"]), None)
            networks = [{"uuid": mgmt["id"]}] if mgmt else []
        if networks == "none":
            return []
        if not isinstance(networks, list):
            raise errors.nova(400, "Invalid input for field/attribute networks.")
        for item in networks:
            port_id = item.get("port") if isinstance(item, dict) else None
            if port_id:
                port = store.ports.get(port_id)
                if port is None:
                    raise errors.nova(400, f"Port id {port_id} could not be found.")
                if port["device_id"]:
                    raise errors.nova(409, f"Port {port_id} is still in use.")
        created: list[str] = []
        for item in networks:
            if item.get("port"):
                port = store.ports[item["port"]]
            else:
                net_id = item.get("uuid")
                if net_id not in store.networks:
                    raise errors.nova(400, f"Network {net_id} could not be found.")
                fixed = [{"ip_address": item["fixed_ip"]}] if item.get("fixed_ip") else None
                try:
                    port = ports.create_port(store, {"network_id": net_id, "fixed_ips": fixed})
                except errors.ApiError as exc:
                    for pid in created:
                        ports.delete_port(store, pid)
                    raise errors.nova(400, _neutron_message(exc)) from None
                created.append(port["id"])
            ports.bind(port, server_id, active=False)
        return created

    async def _build(self, server_id: str, fail: bool) -> None:
        server = self.cloud.store.servers.get(server_id)
        boot = self.cloud.delays.boot
        if server is None or not await self._walk(server, server_view.BUILD_TASKS, boot):
            return
        if fail:
            self._fail(server)
            return
        try:
            await self.cloud.hooks.boot(self.info(server))
        except Exception as exc:
            log.exception("node boot failed for %s", server["name"])
            self._fail(server, f"Node failed to boot: {exc}")
            return
        self._activate(server)

    def _activate(self, server: Resource) -> None:
        for port in ports.server_ports(self.cloud.store, server["id"]):
            ports.bind(port, server["id"], active=True)
        ips = ", ".join(self.info(server).fixed_ips)
        self._log(server, *console.cloud_init_log(server["name"], ips))
        self._set(
            server, task_state=None, vm_state="active", power_state=1,
            launched_at=server.get("launched_at") or now().replace("Z", ".000000"),
        )

    def _fail(self, server: Resource, message: str | None = None) -> None:
        which = self._boot_errors % len(console.FAULTS)
        self._boot_errors += 1
        text = message or console.FAULTS[which].format(id=server["id"])
        details = console.FAULT_DETAILS[which].format(id=server["id"]) if message is None else text
        store = self.cloud.store
        for port in ports.server_ports(store, server["id"]):
            if port["id"] in server.get("_nova_ports", []):
                ports.delete_port(store, port["id"])
            else:
                ports.unbind(port)
        self._log(server, f"[   12.000000] instance {server['id']} failed to build: {text}")
        self._set(
            server, task_state=None, vm_state="error", power_state=0,
            fault={"code": 500, "created": now(), "message": text, "details": details},
        )

    # -- delete -----------------------------------------------------------------------
    def delete(self, server: Resource) -> None:
        if server.get("task_state") == "deleting":
            return
        self._set(server, task_state="deleting")
        self._spawn(self._delete_later(server["id"]))

    async def _delete_later(self, server_id: str) -> None:
        await asyncio.sleep(self.cloud.delays.delete)
        await self.remove_now(server_id)

    async def remove_now(self, server_id: str) -> None:
        """Gone at once, as Horizon or another user would do it; the node goes with it."""
        store = self.cloud.store
        server = store.servers.pop(server_id, None)
        if server is None:
            return
        # As Nova does: ports Nova made for the server go with it; ports the user made
        # and passed in are only unbound. With leaked-ports, Nova's own ports leak too.
        leak = self.cloud.faults.active("leaked-ports", server["name"])
        nova_made = set(server.get("_nova_ports", []))
        for port in ports.server_ports(store, server_id):
            if port["id"] in nova_made and not leak:
                ports.delete_port(store, port["id"])
            else:
                ports.unbind(port)
        self.cloud.changed()
        with contextlib.suppress(Exception):
            await self.cloud.hooks.destroy(server_id)

    # -- actions ----------------------------------------------------------------------
    def _require_state(self, server: Resource, action: str, allowed: tuple[str, ...]) -> None:
        if server["status"] not in allowed or server.get("task_state"):
            raise errors.nova(
                409,
                f"Cannot '{action}' instance {server['id']} while it is in vm_state "
                f"{server['vm_state']}",
            )

    def reboot(self, server: Resource, hard: bool) -> None:
        self._require_state(server, "reboot", ("ACTIVE", "SHUTOFF", "ERROR") if hard else ("ACTIVE",))
        tasks = server_view.HARD_REBOOT_TASKS if hard else server_view.REBOOT_TASKS
        self._set(server, task_state=tasks[0])
        self._spawn(self._after(server, lambda: self.cloud.hooks.reboot(server["id"], hard), tasks))

    def rebuild(self, server: Resource, body: dict[str, Any]) -> None:
        self._require_state(server, "rebuild", ("ACTIVE", "SHUTOFF", "ERROR"))
        image_id = str(body.get("imageRef", server["image_id"])).rsplit("/", 1)[-1]
        if image_id not in self.cloud.store.images:
            raise errors.nova(400, f"Image {image_id} could not be found.")
        changes: dict[str, Any] = {"image_id": image_id}
        for key in ("name", "description"):
            if key in body:
                changes[key] = body[key]
        if isinstance(body.get("metadata"), dict):
            changes["metadata"] = {str(k): str(v) for k, v in body["metadata"].items()}
        server.pop("fault", None)
        self._set(server, task_state=server_view.REBUILD_TASKS[0], **changes)
        server["_console"] = list(console.kernel_log(server["name"]))
        self._spawn(self._after(server, lambda: self.cloud.hooks.rebuild(self.info(server)),
                                server_view.REBUILD_TASKS))

    def power(self, server: Resource, on: bool) -> None:
        self._require_state(server, "start" if on else "stop", ("SHUTOFF",) if on else ("ACTIVE",))
        self._set(server, task_state="powering-on" if on else "powering-off")
        if on:
            self._spawn(self._after(server, lambda: self.cloud.hooks.boot(self.info(server)),
                                    ("powering-on",)))
        else:
            async def stop() -> None:
                await asyncio.sleep(self.cloud.delays.delete)
                await self.cloud.hooks.destroy(server["id"])
                self._set(server, task_state=None, vm_state="stopped",
                          power_state=4)
            self._spawn(stop())

    async def _after(
        self, server: Resource, hook: Callable[[], Awaitable[None]], tasks: tuple[str, ...]
    ) -> None:
        if not await self._walk(server, tasks, self.cloud.delays.boot / 2):
            return
        try:
            await hook()
        except Exception as exc:
            log.exception("node hook failed for %s", server["name"])
            self._fail(server, f"Node failed: {exc}")
            return
        self._activate(server)

    def console(self, server: Resource, length: int | None) -> str:
        text = self.cloud.hooks.console(server["id"]) or "\n".join(server.get("_console", []))
        lines = text.splitlines()
        if length is not None and length >= 0:
            lines = lines[-length:] if length else []
        return "\n".join(lines) + ("\n" if lines else "")

    # -- restart ----------------------------------------------------------------------
    def restore(self) -> None:
        """After a restart, bring every server back to where its life was."""
        for server in list(self.cloud.store.servers.values()):
            if server.get("task_state") == "deleting":
                self._spawn(self.remove_now(server["id"]))
            elif server["status"] == "BUILD":
                self._spawn(self._build(server["id"], False))
            elif server["status"] in ("ACTIVE", "REBOOT", "HARD_REBOOT", "REBUILD"):
                self._set(server, task_state=None, vm_state="active")
                self._spawn(self._after(server, lambda s=server: self.cloud.hooks.boot(self.info(s)),
                                        ("powering-on",)))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


def _neutron_message(exc: errors.ApiError) -> str:
    return str(exc.body.get("NeutronError", {}).get("message", exc))
