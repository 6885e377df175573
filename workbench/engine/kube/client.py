"""The cluster as kubectl sees it: cluster-info services, nodes, pods.

``KubeClient`` writes a kubeconfig into the state dir (server, the cluster CA read from
the master, the cluster token) and runs the real ``kubectl`` (``cluster-info``,
``get nodes -o json``, ``get pods --all-namespaces -o json``); where kubectl is not
installed it reads the same from the API over HTTPS, verified with the same CA. Each
refresh publishes ``ClusterInfoChanged``. The API server is ``https://<master>:6443``;
``http://<master>:8080`` is the old insecure port, which checks no token.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import re
import shlex
import shutil
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from workbench.engine.kube.printer import node_roles, node_status, pod_columns
from workbench.errors import WorkbenchError
from workbench.events import Bus, ClusterInfoChanged
from workbench.models.cluster import ClusterInfo, NodeInfo, PodInfo, Service
from workbench.redact import REDACTOR, redact
from workbench.state import atomic_write

if TYPE_CHECKING:
    from workbench.engine.ssh.pool import NodeLike, SSHPool

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUNNING_AT = re.compile(r"^(?P<name>.+?) is running at (?P<url>\S+)\s*$")
MASTER = "Kubernetes master"
CLUSTER_SERVICE = "kubernetes.io/cluster-service=true"
SECURE_PORT = 6443
INSECURE_PORT = 8080
PEM_CERT = "-----BEGIN CERTIFICATE-----"
UNAUTHORIZED = "You must be logged in to the server (Unauthorized)"


class KubeError(WorkbenchError):
    """kubectl or the API server failed; one line for a person."""


# -- parsing (shared by the kubectl and the HTTP paths) ------------------------------

def parse_cluster_info(text: str) -> tuple[Service, ...]:
    """``X is running at URL`` lines, colour codes stripped; the control plane is the master."""
    services = []
    for raw in ANSI.sub("", text).splitlines():
        match = RUNNING_AT.match(raw.strip())
        if match:
            name = match.group("name")
            if name in ("Kubernetes control plane", "Kubernetes master"):
                name = MASTER  # kubectl >= 1.20 says "control plane"; the seed's kubectl said master
            services.append(Service(name, match.group("url")))
    return tuple(services)


def _doc(text: str | bytes | dict[str, Any], what: str) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise KubeError(f"{what}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items", []), list):
        raise KubeError(f"{what}: expected a list document with items")
    return doc


def _items(text: str | bytes | dict[str, Any], what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for index, item in enumerate(_doc(text, what).get("items", [])):
        if isinstance(item, dict):
            yield index, item


T = TypeVar("T")


def _malformed(what: str, index: int, exc: Exception) -> KubeError:
    return KubeError(f"{what}: item {index} is malformed ({type(exc).__name__}: {exc})")


def _parse(text: str | bytes | dict[str, Any], what: str, one: Callable[[dict[str, Any]], T]) -> list[T]:
    out = []
    for index, item in _items(text, what):
        try:
            out.append(one(item))
        except (AttributeError, TypeError, ValueError) as exc:
            raise _malformed(what, index, exc) from None
    return out


def parse_nodes(text: str | bytes | dict[str, Any]) -> tuple[NodeInfo, ...]:
    return tuple(sorted(_parse(text, "nodes", _node), key=lambda n: n.name))


def _node(item: dict[str, Any]) -> NodeInfo:
    status = item.get("status") or {}
    ready = any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    version = str((status.get("nodeInfo") or {}).get("kubeletVersion", ""))
    return NodeInfo(str((item.get("metadata") or {}).get("name", "")), ready, version,
                    node_status(item), node_roles(item))


def parse_pods(text: str | bytes | dict[str, Any], now: dt.datetime | None = None) -> tuple[PodInfo, ...]:
    at = now or dt.datetime.now(dt.UTC)
    return tuple(sorted(_parse(text, "pods", lambda item: _pod(item, at)), key=lambda p: (p.namespace, p.name)))


def _pod(item: dict[str, Any], now: dt.datetime) -> PodInfo:
    meta = item.get("metadata") or {}
    cols = pod_columns(item, now)
    return PodInfo(str(meta.get("namespace", "")), str(meta.get("name", "")),
                   cols.ready, cols.status, cols.restarts, cols.restarts_text)


def services_from_api(server: str, doc: dict[str, Any]) -> tuple[Service, ...]:
    """What kubectl cluster-info prints, computed from the services list the same way."""
    out = [Service(MASTER, server)]
    for svc in _doc(doc, "services").get("items", []):
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        name = str(meta.get("name", ""))
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ports = spec.get("ports") or []
        if ingress:
            host = ingress[0].get("ip") or ingress[0].get("hostname", "")
            url = " ".join(f"http://{host}:{p.get('port')}" for p in ports)
        else:
            ref = name
            if ports:
                port_name = str(ports[0].get("name") or "")
                scheme = "https" if port_name == "https" or ports[0].get("port") == 443 else ""
                ref = ":".join([scheme, name, port_name]) if scheme else (f"{name}:{port_name}" if port_name else name)
            url = f"{server}/api/v1/namespaces/{meta.get('namespace', 'default')}/services/{ref}/proxy"
        title = (meta.get("labels") or {}).get("kubernetes.io/name") or name
        out.append(Service(str(title), url))
    return tuple(out)


# -- the client --------------------------------------------------------------------------

class KubeClient:
    """Talks to one cluster's API server at ``server`` (``https://<master>:6443``).

    ``ca_pem`` is the cluster CA (the master's ``/srv/kubernetes/ca.crt``) that the
    server's certificate must chain to; ``ca_loader`` fetches it at the first https
    refresh instead (e.g. ``lambda: fetch_ca(pool, master, path)``); with neither the
    system's roots are used.
    """

    def __init__(self, server: str, token: str | None, state_dir: Path, *, bus: Bus | None = None,
                 kubectl: str | None = "auto", timeout: float = 20.0, ca_pem: bytes | None = None,
                 ca_loader: Callable[[], Awaitable[bytes]] | None = None,
                 client_pem: Path | None = None) -> None:
        self.server = server.rstrip("/")
        self.client_pem = client_pem  # a certificate and its key (the workbench's admin) instead of a token
        self.token = token or None
        REDACTOR.add(self.token)
        self.state_dir = Path(state_dir)
        self.bus = bus
        self.kubectl = shutil.which("kubectl") if kubectl == "auto" else kubectl
        self.timeout = timeout
        self.ca_pem = ca_pem or None
        self.ca_loader = ca_loader

    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / "kubeconfig"

    def write_kubeconfig(self) -> Path:
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        if self.client_pem is not None:
            pem = self.client_pem.read_bytes()
            cut = pem.find(b"-----BEGIN PRIVATE KEY-----")
            user = {"client-certificate-data": base64.b64encode(pem[:cut]).decode("ascii"),
                    "client-key-data": base64.b64encode(pem[cut:]).decode("ascii")}
        cluster: dict[str, Any] = {"server": self.server}
        if self.ca_pem:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode("ascii")
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "workbench",
            "clusters": [{"name": "workbench", "cluster": cluster}],
            "users": [{"name": "workbench", "user": user}],
            "contexts": [{"name": "workbench", "context": {"cluster": "workbench", "user": "workbench"}}],
        }
        atomic_write(self.kubeconfig_path, yaml.safe_dump(config, sort_keys=False), mode=0o600)
        return self.kubeconfig_path

    async def refresh(self) -> ClusterInfo:
        if self.ca_pem is None and self.ca_loader is not None and self.server.startswith("https://"):
            self.ca_pem = await self.ca_loader() or None
        info = await (self._with_kubectl() if self.kubectl else self._with_http())
        if self.bus is not None:
            self.bus.publish(ClusterInfoChanged(info))
        return info

    async def _with_kubectl(self) -> ClusterInfo:
        if self.token is None and self.client_pem is None:
            # kubectl would prompt for a username on stdin and fail with "error: EOF"
            raise KubeError(f"{self.server}: no credential for kubectl: give the cluster token (--token-file) "
                            "or provision with the workbench's tree (its admin certificate)")
        self.write_kubeconfig()
        text, nodes, pods = await _all(
            self._kubectl("cluster-info"),
            self._kubectl("get", "nodes", "-o", "json"),
            self._kubectl("get", "pods", "--all-namespaces", "-o", "json"),
        )
        return ClusterInfo(self.server, parse_cluster_info(text), parse_nodes(nodes), parse_pods(pods), "kubectl")

    async def _kubectl(self, *args: str) -> str:
        assert self.kubectl is not None
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig_path)}
        proc = await asyncio.create_subprocess_exec(
            self.kubectl, f"--kubeconfig={self.kubeconfig_path}", f"--cache-dir={self.state_dir / 'kube-cache'}",
            f"--request-timeout={int(self.timeout)}s", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout + 5)
        except (TimeoutError, asyncio.CancelledError) as exc:
            proc.kill()
            await proc.wait()
            if isinstance(exc, TimeoutError):  # a server that accepts and never answers
                raise KubeError(f"kubectl {' '.join(args)}: no answer from {self.server} "
                                f"within {self.timeout + 5:g} s") from None
            raise
        if proc.returncode != 0:
            lines = [ln for ln in ANSI.sub("", err.decode("utf-8", "replace")).splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit status {proc.returncode}"
            if "You must be logged in" in why:
                why += ": is the cluster token right?"
            raise KubeError(redact(f"kubectl {' '.join(args)} ({self.server}): {why}"))
        return out.decode("utf-8", "replace")

    async def _with_http(self) -> ClusterInfo:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        tls = self._ssl()
        try:
            async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:

                async def get(path: str) -> dict[str, Any]:
                    async with session.get(self.server + path, ssl=tls) as resp:
                        if resp.status == 401:
                            raise KubeError(f"{self.server}: {UNAUTHORIZED}: is the cluster token right?")
                        if resp.status != 200:
                            why = _status_message(await resp.read())
                            raise KubeError(redact(f"GET {self.server}{path}: HTTP {resp.status}{why}"))
                        return _doc(await resp.read(), path)

                svcs, nodes, pods = await _all(
                    get(f"/api/v1/namespaces/kube-system/services?labelSelector={CLUSTER_SERVICE}"),
                    get("/api/v1/nodes"), get("/api/v1/pods"))
        except aiohttp.ClientConnectorCertificateError as exc:
            why = getattr(exc.certificate_error, "verify_message", "") or str(exc.certificate_error)
            raise KubeError(f"{self.server}: TLS: the server's certificate is not trusted ({why}); "
                            "is the cluster CA the master's?") from None
        except aiohttp.ClientError as exc:
            raise KubeError(f"{self.server}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        except TimeoutError:
            raise KubeError(f"{self.server}: no answer in {self.timeout:.0f}s") from None
        return ClusterInfo(self.server, services_from_api(self.server, svcs), parse_nodes(nodes),
                           parse_pods(pods), "http")


    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https://"):
            return True
        if not self.ca_pem:
            context = ssl.create_default_context()
        else:
            try:
                context = ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
                raise KubeError(f"the cluster CA is not a usable PEM certificate: {exc}") from None
        if self.client_pem is not None:
            context.load_cert_chain(self.client_pem)
        return context


def _status_message(body: bytes) -> str:
    """``: <reason>: <message>`` of the API's Status document (what kubectl prints), else ""."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(doc, dict) or doc.get("kind") != "Status" or not doc.get("message"):
        return ""
    reason = f"{doc['reason']}: " if doc.get("reason") else ""
    return ": " + reason + " ".join(str(doc["message"]).split())[:300]


async def _all(*calls: Awaitable[Any]) -> list[Any]:
    """Every call's result; the first failure raised only after all finished (none left behind)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def server_url(address: str, port: int | None = None, *, tls: bool = False) -> str:
    """``https://address:6443`` with ``tls``; else the insecure ``http://address:8080``."""
    if tls:
        return f"https://{address}:{port or SECURE_PORT}"
    return f"http://{address}:{port or INSECURE_PORT}"


async def fetch_ca(pool: SSHPool, master: NodeLike, path: str) -> bytes:
    """The cluster CA from the master's disk (``paths.kube_ca``), read over SSH."""
    try:
        result = await pool.run(master, f"cat {shlex.quote(path)}", timeout=30)
    except WorkbenchError as exc:
        raise KubeError(f"cluster CA {master.name}:{path}: {exc}") from None
    if result.exit_status != 0 or PEM_CERT not in result.stdout:
        why = result.stderr.strip().splitlines()[-1:] or ["not a PEM certificate"]
        raise KubeError(f"cluster CA {master.name}:{path}: {why[0]} (has the master's highstate run?)")
    return result.stdout.encode("ascii", "replace")
