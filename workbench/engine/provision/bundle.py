"""What a node must hold before Salt runs, computed on the workstation: Salt's minion config,
grains, pillar, for the workbench's own tree (``current``) or kube-up's (``seed``).

Secrets are only in files marked ``secret`` (written 0600, root), never on a command line.
A node gets only the credentials its role needs: the CA key, the service-account key and
the admin certificate stay on the master; a minion gets its own kubelet certificate, the
kube-proxy certificate and the CA certificate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.engine.provision.cluster import ClusterSpec, NodeSpec
from workbench.engine.provision.pki import ClusterPKI, Subject, apiserver_names
from workbench.state import StateDir

MINION_CONF = "/etc/salt/minion.d/workbench.conf"
GRAINS_CONF = "/etc/salt/minion.d/grains.conf"
PILLAR_DIR = "/srv/pillar"
OVERLAY = "/srv/salt-overlay"  # kube-up's overlay: generated salt files and pillar
BINS_DIR = "/var/lib/workbench/kube-bins"
ETCD_DIR = "/var/lib/workbench/etcd"
ROLES = {"master": "kubernetes-master", "minion": "kubernetes-pool"}


@dataclass(frozen=True)
class NodeFile:
    path: str  # absolute on the node
    data: bytes
    mode: int = 0o644
    secret: bool = False


@dataclass(frozen=True)
class Extract:
    """Unpack the programs under ``prefix`` of a pushed tar into ``dest`` (kube-up's install.sh)."""

    tar: str
    prefix: str
    dest: str


@dataclass(frozen=True)
class NodeBundle:
    node: str
    files: tuple[NodeFile, ...]
    extracts: tuple[Extract, ...] = field(default=())

    def file(self, path: str) -> NodeFile:
        return next(f for f in self.files if f.path == path)


def _yaml(value: Any, *, header: str = "") -> bytes:
    # "#!yaml": Salt reads pillar without Jinja, so a PEM can never be taken for a template
    return (header + yaml.safe_dump(value, sort_keys=True, default_flow_style=False)).encode()


def minion_conf(file_roots: list[str], pillar_roots: list[str]) -> NodeFile:
    conf = {"file_client": "local", "file_roots": {"base": file_roots},
            "pillar_roots": {"base": pillar_roots}, "state_verbose": False}
    return NodeFile(MINION_CONF, _yaml(conf, header="# written by workbench: masterless Salt\n"))


def master_mode_minion_conf() -> NodeFile:
    """Master mode: no file client, roots or pillar here (the master serves them; its own
    drop-in, salt_master/config.py, says ``file_client: remote`` and must not be overridden)."""
    return NodeFile(MINION_CONF, _yaml({"state_verbose": False},
                                       header="# written by workbench: master mode (tree and pillar from the salt-master)\n"))


# -- the workbench's own tree --------------------------------------------------------------
def current_bundle(spec: ClusterSpec, node: NodeSpec, pki: ClusterPKI) -> NodeBundle:
    grains = {"grains": {
        "roles": [ROLES[node.role]], "node_ip": node.ip, "master_ip": spec.master.ip,
        "cluster_name": spec.name, "cloud": "openstack", "node_name": node.name,
    }}
    release = spec.release_dir
    if node.role == "master":
        tar, prefix = f"{release}/kubernetes-server-linux-amd64.tar.gz", "kubernetes/server/bin"
        programs = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]
        if spec.etcd_in_server_tar:
            programs.append("etcd")
    else:
        tar, prefix = f"{release}/kubernetes-node-linux-amd64.tar.gz", "kubernetes/node/bin"
        programs = ["kubelet", "kube-proxy"]
    params = {"kube": {
        "cluster_name": spec.name, "version": spec.version,
        "node_name": node.name, "node_ip": node.ip, "node_pod_cidr": node.pod_cidr,
        "master_name": spec.master.name, "master_ip": spec.master.ip,
        "master_floating_ip": spec.master.floating_ip or "",
        "service_cidr": spec.service_cidr, "service_ip": spec.service_ip, "pod_cidr": spec.pod_cidr,
        "dns_ip": spec.dns_ip, "dns_domain": spec.dns_domain,
        "runtime_endpoint": spec.runtime_endpoint, "pod_network": spec.pod_network,
        "nodes": [{"name": n.name, "ip": n.ip, "pod_cidr": n.pod_cidr} for n in spec.nodes],
        "bins": {"tar": tar, "prefix": prefix, "dir": BINS_DIR, "install_dir": "/usr/local/bin"}, "programs": programs,
        "etcd": etcd_source(spec),
        "extra_flags": {k: list(v) for k, v in spec.extra_flags.items()},
        "addons": list(spec.addons),
        # where components listen: all addresses / loopback, or only this node's address
        # (machines sharing one network stack, as the sandbox's nodes do)
        "any_address": node.ip if spec.listen == "node-ip" else "0.0.0.0",
        "local_address": node.ip if spec.listen == "node-ip" else "127.0.0.1",
    }}
    top = {"base": {"*": ["cluster", "secrets"]}}
    return NodeBundle(node.name, (
        minion_conf([spec.salt_tree], [PILLAR_DIR]),
        NodeFile(GRAINS_CONF, _yaml(grains)),
        NodeFile(f"{PILLAR_DIR}/top.sls", _yaml(top)),
        NodeFile(f"{PILLAR_DIR}/cluster.sls", _yaml(params, header="#!yaml\n")),
        NodeFile(f"{PILLAR_DIR}/secrets.sls", _yaml({"kube_pki": node_secrets(spec, node, pki)}, header="#!yaml\n"),
                 mode=0o600, secret=True),
    ))


def etcd_source(spec: ClusterSpec) -> dict[str, str]:
    """Where the master's etcd comes from: the server tar, etcd's own release tar pushed
    beside it, or else the distribution's package (Kubernetes' tars carry no etcd)."""
    if spec.etcd_in_server_tar:
        return {"source": "server-tar"}
    if spec.etcd_tar:
        top = spec.etcd_tar.removesuffix(".tar.gz")
        return {"source": "tar", "tar": f"{spec.release_dir}/{spec.etcd_tar}", "prefix": top,
                "dir": ETCD_DIR}
    return {"source": "package"}


def node_secrets(spec: ClusterSpec, node: NodeSpec, pki: ClusterPKI) -> dict[str, str]:
    """The certificates and keys this node's role needs, and nothing more."""
    out = {"ca_crt": pki.ca().cert_pem.decode()}

    def put(key: str, name: str, subject: Subject) -> None:
        ident = pki.client(name, subject)
        out[f"{key}_crt"], out[f"{key}_key"] = ident.cert_pem.decode(), ident.key_pem.decode()

    if node.role == "master":
        ips = [spec.master.ip, spec.service_ip, "127.0.0.1"]
        if spec.master.floating_ip:
            ips.append(spec.master.floating_ip)
        server = pki.apiserver(ips, apiserver_names(spec.master.name, spec.dns_domain))
        out["apiserver_crt"], out["apiserver_key"] = server.cert_pem.decode(), server.key_pem.decode()
        out["ca_key"] = pki.ca().key_pem.decode()  # the controller-manager signs CSRs with it
        sa_key, sa_pub = pki.service_account_key()
        out["sa_key"], out["sa_pub"] = sa_key.decode(), sa_pub.decode()
        put("apiserver_kubelet_client", "apiserver-kubelet-client",
            Subject("kube-apiserver-kubelet-client", ("system:masters",)))
        put("controller_manager", "controller-manager", Subject("system:kube-controller-manager"))
        put("scheduler", "scheduler", Subject("system:kube-scheduler"))
        put("admin", "admin", ADMIN)
    else:
        put("kubelet", f"kubelet-{node.name}", Subject(f"system:node:{node.name}", ("system:nodes",)))
        put("kube_proxy", "kube-proxy", Subject("system:kube-proxy", ("system:node-proxier",)))
    return out


ADMIN = Subject("workbench-admin", ("system:masters",))


# -- master mode: the same files, the pillar on the master only ------------------------
def master_mode_bundles(spec: ClusterSpec, made: Mapping[str, NodeBundle]) -> dict[str, NodeBundle]:
    """Masterless bundles of every node (``made``) turned into master mode: no pillar and no
    local file client on any minion; the master's ``pillar_roots`` holds each node's pillar
    under ``nodes/<id>/`` with a top that gives each minion only its own (its secrets
    included). The master's bundle is always in the result: its pillar changes with any node."""
    pillar = f"{PILLAR_DIR}/"
    out: dict[str, NodeBundle] = {}
    top: dict[str, list[Any]] = {}
    master_files: list[NodeFile] = []
    for name, bundle in made.items():
        own = [f for f in bundle.files if f.path.startswith(pillar) and f.path != f"{PILLAR_DIR}/top.sls"]
        key = pillar_key(name)
        top[name] = [{"match": "list"}, *(f"nodes.{key}.{Path(f.path).stem}" for f in own)]
        master_files += [NodeFile(f"{PILLAR_DIR}/nodes/{key}/{Path(f.path).name}", f.data, f.mode, f.secret)
                         for f in own]
        kept = [master_mode_minion_conf() if f.path == MINION_CONF else f
                for f in bundle.files if not f.path.startswith(pillar)]
        out[name] = NodeBundle(name, tuple(kept), bundle.extracts)
    master = spec.master.name
    base = out.get(master, NodeBundle(master, ()))
    out[master] = NodeBundle(master, (*base.files, NodeFile(f"{PILLAR_DIR}/top.sls", _yaml({"base": top})),
                                      *master_files), base.extracts)
    return out


def pillar_key(name: str) -> str:
    """A node name as one component of an sls name (Salt reads "." as a directory)."""
    return name.replace(".", "_")


# -- kube-up's tree (Kubernetes before v1.10) ---------------------------------------------
PROXY_TOKEN = "kube-proxy-token"


def seed_proxy_token(state: StateDir) -> str:
    """kube-proxy's own token (kube-up minted one beside the kubelet's), made once and kept
    0600 in the state dir like the cluster token, so re-provisioning never mints another."""
    return state.kept_token(PROXY_TOKEN)


def seed_bundle(spec: ClusterSpec, node: NodeSpec, token: str, kube_root: Path, *,
                proxy_token: str | None = None) -> NodeBundle:
    """The grains and pillar kube-up's provisioning wrote (cluster/vagrant/provision-*.sh),
    and the files it generated into the salt overlay: the master's known_tokens.csv (the
    kubelet's and kube-proxy's tokens), the minions' kubelet and kube-proxy kubeconfigs."""
    saltbase = Path(kube_root) / "cluster" / "saltbase"
    proxy_token = proxy_token or token
    grains: dict[str, Any] = {
        "roles": [ROLES[node.role]], "node_ip": node.ip, "master_ip": spec.master.ip,
        "api_servers": spec.master.ip, "cloud": "vagrant", "network_mode": "openvswitch",
        "networkInterfaceName": spec.mgmt_interface, "docker_opts": "",
        "cluster_name": spec.name,
    }
    if node.role == "master":
        public = spec.master.floating_ip or spec.master.ip
        sans = [f"IP:{ip}" for ip in dict.fromkeys((spec.master.ip, spec.service_ip)) if ip != public]
        sans += [f"DNS:{name}" for name in apiserver_names(spec.master.name, spec.dns_domain)]
        grains.update({"publicAddressOverride": public, "runtime_config": "",
                       "master_extra_sans": ",".join(sans), "keep_host_etcd": True})
    else:
        # the node's name in the API: the instance's (kube-up's vagrant tree used the IP)
        grains.update({"cbr-cidr": node.pod_cidr, "hostname_override": node.name})
    params = {
        "service_cluster_ip_range": spec.service_cidr, "cert_ip": spec.master.ip,
        "enable_cluster_monitoring": "none", "enable_cluster_logging": "false",
        "enable_cluster_ui": "true", "enable_node_logging": "false", "logging_destination": "",
        "elasticsearch_replicas": "1", "enable_cluster_dns": "true", "dns_replicas": "1",
        "dns_server": spec.dns_ip, "dns_domain": spec.dns_domain, "instance_prefix": spec.name,
        "admission_control": "NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota",
        "network_provider": "none", "cluster_cidr": spec.pod_cidr,
        # where components listen: all addresses / loopback, or only this node's address
        # (machines sharing one network stack, as the sandbox's nodes do)
        "bind_address": node.ip if spec.listen == "node-ip" else "0.0.0.0",
        "local_address": node.ip if spec.listen == "node-ip" else "127.0.0.1",
    }
    files = [
        minion_conf([f"{OVERLAY}/salt", spec.salt_tree], [f"{OVERLAY}/pillar"]),
        NodeFile(GRAINS_CONF, _yaml({"grains": grains})),
        NodeFile(f"{OVERLAY}/pillar/cluster-params.sls", _yaml(params)),
    ]
    files += _seed_pillar(saltbase / "pillar")
    if node.role == "master":
        csv = f"{token},kubelet,kubelet\n{proxy_token},kube_proxy,kube_proxy\n"
        files.append(NodeFile(f"{OVERLAY}/salt/kube-apiserver/known_tokens.csv", csv.encode(), 0o600, True))
    else:
        for user, key, secret in (("kubelet", "kubelet", token), ("kube-proxy", "kube_proxy", proxy_token)):
            files.append(NodeFile(f"{OVERLAY}/salt/{user}/kubeconfig", seed_kubeconfig(key, secret).encode(),
                                  0o600, True))
    tar = f"{spec.release_dir}/kubernetes-server-linux-amd64.tar.gz"
    extracts = [Extract(tar, "kubernetes/server/bin", f"{OVERLAY}/salt/kube-bins")]
    if node.role == "master" and spec.etcd_tar:
        # etcd came as a container image then; here etcd's own release tar, pushed beside
        extracts.append(Extract(f"{spec.release_dir}/{spec.etcd_tar}", spec.etcd_tar.removesuffix(".tar.gz"),
                                f"{OVERLAY}/salt/etcd-bins"))
    return NodeBundle(node.name, tuple(files), tuple(extracts))


def _seed_pillar(pillar_dir: Path) -> list[NodeFile]:
    """The tree's own pillar files (mine, logging, privilege, ...) with ours added to its top."""
    top: dict[str, Any] = {"base": {"*": ["cluster-params"]}}
    files = []
    if pillar_dir.is_dir():
        for path in sorted(pillar_dir.glob("*.sls")):
            if path.name == "top.sls":
                loaded = yaml.safe_load(path.read_text())
                if isinstance(loaded, Mapping) and isinstance(loaded.get("base"), Mapping):
                    top = {"base": {k: list(v) for k, v in loaded["base"].items()}}
            elif path.name != "cluster-params.sls":
                files.append(NodeFile(f"{OVERLAY}/pillar/{path.name}", path.read_bytes()))
    everyone = top["base"].setdefault("*", [])
    if "cluster-params" not in everyone:
        everyone.append("cluster-params")
    return [NodeFile(f"{OVERLAY}/pillar/top.sls", _yaml(top)), *files]


def seed_kubeconfig(user: str, token: str) -> str:
    """A kubeconfig as kube-up's provision-minion.sh wrote it: a token, no server (the
    component's --api-servers/--master names it), the server's certificate not checked."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "users": [{"name": user, "user": {"token": token}}],
        "clusters": [{"name": "local", "cluster": {"insecure-skip-tls-verify": True}}],
        "contexts": [{"name": "service-account-context", "context": {"cluster": "local", "user": user}}],
        "current-context": "service-account-context",
    }, sort_keys=False)
