"""A minion's kubelet: registers its node with the master and keeps it Ready.

It reads ``var/lib/kubelet/kubeconfig`` (YAML: server and CA in clusters, token in
users, as the seed says), POSTs its Node over TLS verified with that CA, then updates
the node's status every heartbeat. A 401 is journalled the way the real kubelet words
it ("the server has asked for the client to provide credentials") and retried; so are
unreachable masters and certificates the CA did not sign (x509 errors).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from workbench.sandbox.hooks import NodeView

log = logging.getLogger(__name__)
KUBECONFIG = Path("var/lib/kubelet/kubeconfig")
GRAINS = Path("etc/salt/grains")
CREDENTIALS = "the server has asked for the client to provide credentials"


@dataclass(frozen=True)
class KubeletConfig:
    server: str
    token: str
    ca_pem: bytes | None = None  # certificate-authority(-data); None: the system's roots
    insecure: bool = False  # insecure-skip-tls-verify

    def ssl(self) -> ssl.SSLContext | bool:
        """What aiohttp verifies the server with (True for plain http: unused)."""
        if not self.server.startswith("https://"):
            return True
        return _context(self.ca_pem, self.insecure)


_CONTEXTS: dict[tuple[bytes | None, bool], ssl.SSLContext] = {}


def _context(ca_pem: bytes | None, insecure: bool) -> ssl.SSLContext:
    key = (ca_pem, insecure)
    if key not in _CONTEXTS:
        if insecure:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        elif ca_pem:
            try:
                context = ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace"))
            except ssl.SSLError:
                context = ssl.create_default_context()  # an unusable CA: verification fails
        else:
            context = ssl.create_default_context()
        _CONTEXTS[key] = context
    return _CONTEXTS[key]


def _ca(root: Path, cluster: dict[str, Any]) -> bytes | None:
    data = cluster.get("certificate-authority-data")
    if data:
        try:
            return base64.b64decode(str(data))
        except (binascii.Error, ValueError):
            return b"(invalid certificate-authority-data)"
    path = cluster.get("certificate-authority")
    if path:
        try:
            return (root / str(path).lstrip("/")).read_bytes()
        except OSError:
            return b"(unreadable certificate-authority)"
    return None


def read_kubeconfig(root: Path) -> KubeletConfig | None:
    """The server and token the kubelet uses; None when the file is missing or unusable."""
    try:
        data = yaml.safe_load((root / KUBECONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    context_name = data.get("current-context")
    contexts = {c.get("name"): c.get("context", {}) for c in data.get("contexts") or [] if isinstance(c, dict)}
    context = contexts.get(context_name) or next(iter(contexts.values()), {}) or {}
    clusters = {c.get("name"): c.get("cluster", {}) for c in data.get("clusters") or [] if isinstance(c, dict)}
    users = {u.get("name"): u.get("user", {}) for u in data.get("users") or [] if isinstance(u, dict)}
    cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), {}) or {}
    user = users.get(context.get("user")) or next(iter(users.values()), {}) or {}
    server = str(cluster.get("server") or "") or _server_from_grains(root)
    token = str(user.get("token") or "")
    if not server:
        return None
    return KubeletConfig(server.rstrip("/"), token, _ca(root, cluster),
                         bool(cluster.get("insecure-skip-tls-verify")))


def _server_from_grains(root: Path) -> str:
    try:
        grains = yaml.safe_load((root / GRAINS).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return ""
    master = grains.get("master_ip") if isinstance(grains, dict) else None
    return f"https://{master}:6443" if master else ""


def klog(level: str, where: str, message: str) -> str:
    now = time.time()
    return f"{level}{time.strftime('%m%d %H:%M:%S', time.localtime(now))}.{int(now % 1 * 1e6):06d}    1234 {where}] {message}"


class Kubelet:
    def __init__(self, node: NodeView, heartbeat: float, version: str = "v1.2.0-alpha.6") -> None:
        self.node = node
        self.heartbeat = heartbeat
        self.version = version
        self.registered = False
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[str, float] = ("", 0.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kubelet-{self.node.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _journal(self, line: str, *, repeat_every: float = 1.0) -> None:
        """Journal a line; the same line again only after ``repeat_every`` seconds."""
        message, at = self._last
        now = time.monotonic()
        body = line.split("] ", 1)[-1]
        if body == message and now - at < repeat_every:
            return
        self._last = (body, now)
        self.node.journal("kubelet", line)

    def node_body(self) -> dict[str, Any]:
        addresses = [{"type": "InternalIP", "address": a} for a in self.node.addresses[:1]]
        addresses += [{"type": "ExternalIP", "address": a} for a in self.node.addresses[1:2]]
        addresses.append({"type": "Hostname", "address": self.node.name})
        return {
            "kind": "Node", "apiVersion": "v1",
            "metadata": {"name": self.node.name, "labels": {
                "kubernetes.io/hostname": self.node.name, "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64"}},
            "status": {
                "capacity": {"cpu": "2", "memory": "4046940Ki", "pods": "40"},
                "allocatable": {"cpu": "2", "memory": "4046940Ki", "pods": "40"},
                "addresses": addresses,
                "nodeInfo": {"kubeletVersion": self.version, "kubeProxyVersion": self.version,
                             "osImage": "Fedora 21 (Twenty One)", "kernelVersion": "3.17.4-301.fc21.x86_64",
                             "containerRuntimeVersion": "docker://1.9.1", "operatingSystem": "linux",
                             "architecture": "amd64", "machineID": self.node.server_id.replace("-", ""),
                             "systemUUID": self.node.server_id.upper(), "bootID": self.node.server_id},
            },
        }

    async def _run(self) -> None:
        self._journal(klog("I", "server.go:415", "Starting kubelet"))
        timeout = aiohttp.ClientTimeout(total=max(2.0, 2 * self.heartbeat))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                config = read_kubeconfig(self.node.root)
                if config is None:
                    self._journal(klog("E", "server.go:277", f"invalid kubeconfig: stat /{KUBECONFIG}: "
                                       "no such file or directory"))
                else:
                    await self._once(session, config)
                await asyncio.sleep(self.heartbeat)

    async def _once(self, session: aiohttp.ClientSession, config: KubeletConfig) -> None:
        headers = {"Authorization": f"Bearer {config.token}", "Content-Type": "application/json"}
        name = self.node.name
        tls = config.ssl()
        try:
            if not self.registered:
                async with session.post(f"{config.server}/api/v1/nodes", json=self.node_body(),
                                        headers=headers, ssl=tls) as resp:
                    if resp.status == 401:
                        self._journal(klog("E", "kubelet_node_status.go:96",
                                           f'Unable to register node "{name}" with API server: {CREDENTIALS} (post nodes)'))
                        return
                    if resp.status not in (200, 201, 409):
                        self._journal(klog("E", "kubelet_node_status.go:96",
                                           f'Unable to register node "{name}" with API server: status {resp.status}'))
                        return
                self.registered = True
                self._journal(klog("I", "kubelet_node_status.go:72", f"Successfully registered node {name}"))
            patch = {"status": {**self.node_body()["status"], "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]}}
            async with session.patch(f"{config.server}/api/v1/nodes/{name}/status", json=patch,
                                     headers={**headers, "Content-Type": "application/strategic-merge-patch+json"},
                                     ssl=tls) as resp:
                if resp.status == 401:
                    self._journal(klog("E", "kubelet_node_status.go:380", "Error updating node status, will retry: "
                                       f'error getting node "{name}": {CREDENTIALS} (get nodes {name})'))
                elif resp.status == 404:
                    self.registered = False  # the node object is gone: register again
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._journal(klog("E", "kubelet_node_status.go:380", "Error updating node status, will retry: "
                               f"Patch {config.server}/api/v1/nodes/{name}/status: {_short(exc)}"))


def _short(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        why = str(getattr(exc.certificate_error, "verify_message", "") or exc.certificate_error)
        if "mismatch" in why or "match" in why:
            return f"x509: certificate is not valid for {exc.host}"
        return "x509: certificate signed by unknown authority"
    text = str(exc) or type(exc).__name__
    if "Connect call failed" in text or "Cannot connect" in text:
        return "dial tcp: connection refused"
    return text.splitlines()[0][:200]
