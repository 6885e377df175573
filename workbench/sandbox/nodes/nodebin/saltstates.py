"""The states a sandbox node's highstate applies (stdlib only; runs on the node).

Master: salt services, the cluster CA and API server certificate (``generate-cert``,
published to minions as ``salt://kube-ca/ca.crt``), the kube-apiserver binary from the
server release tar, /srv/kubernetes/known_tokens.csv and the kube-apiserver service.
Minion: the same with the kubelet binary, /var/lib/kubelet/kubeconfig (``https://`` on
the master's secure port, the CA from pillar ``ca_cert`` or the master's file server,
the token in the users section) and the kubelet service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import string
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nodelib
import saltmaster

Outcome = tuple[bool, str, dict]
RELEASE = nodelib.ROOT / "srv" / "kube-release"
BIN_DIR = nodelib.ROOT / "opt" / "kubernetes" / "server" / "bin"
TOKENS = nodelib.ROOT / "srv" / "kubernetes" / "known_tokens.csv"
KUBECONFIG = nodelib.ROOT / "var" / "lib" / "kubelet" / "kubeconfig"
TOKEN_LINE = re.compile(r"^([^,\s]+),kubelet,kubelet\s*$", re.M)
KUBECONFIG_TOKEN = re.compile(r"^\s*token:\s*(\S+)\s*$", re.M)
CERT_DIR = nodelib.ROOT / "srv" / "kubernetes"
CA_SALT_PATH = "kube-ca/ca.crt"
SECURE_PORT = 6443
CA_WAIT = 30.0  # seconds a minion waits for its master to publish the CA
PEM_CERT = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class State:
    sls: str
    module: str
    id: str
    fun: str
    run: Callable[[], Outcome]
    require: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.module}_|-{self.id}_|-{self.id}_|-{self.fun}"


def new_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def _server_tar() -> Path | None:
    preferred = RELEASE / "kubernetes-server-linux-amd64.tar.gz"
    if preferred.is_file():
        return preferred
    found = sorted(RELEASE.glob("kubernetes-server-linux-*.tar.gz"))
    return found[0] if found else None


def install_binary(name: str) -> Outcome:
    """Install one server binary from the release tar (skipped when the tar is unchanged)."""
    target = BIN_DIR / name
    tar_path = _server_tar()
    if tar_path is None:
        return False, f"Source file salt://kube-bins/{name} not found in saltenv 'base'", {}
    record_path = BIN_DIR.parent / ".installed.json"
    records = nodelib.read_json(record_path, {})
    records = records if isinstance(records, dict) else {}
    stat = tar_path.stat()
    stamp = [str(tar_path), stat.st_size, stat.st_mtime_ns]
    old = records.get(name, {})
    if target.is_file() and old.get("tar") == stamp:
        return True, f"File /opt/kubernetes/server/bin/{name} is in the correct state", {}
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            member = next(
                (m for m in tar if m.isfile() and m.name.rsplit("/", 1)[-1] == name), None
            )
            if member is None:
                return False, f"Source file salt://kube-bins/{name} not found in saltenv 'base'", {}
            source = tar.extractfile(member)
            assert source is not None
            digest = hashlib.sha256()
            BIN_DIR.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{name}.tmp")
            with open(tmp, "wb") as out:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    except (OSError, tarfile.TarError, EOFError) as exc:
        return False, f"Unable to manage file: {tar_path.name}: {exc}", {}
    sha = digest.hexdigest()
    os.chmod(tmp, 0o755)
    existed = target.exists()
    os.replace(tmp, target)
    records[name] = {"tar": stamp, "sha256": sha}
    nodelib.write_atomic(record_path, json.dumps(records, indent=2) + "\n")
    if old.get("sha256") == sha and existed:
        return True, f"File /opt/kubernetes/server/bin/{name} is in the correct state", {}
    diff = "Replace binary file" if existed else "New file"
    return True, f"File /opt/kubernetes/server/bin/{name} updated", {"diff": diff, "mode": "0755"}


def _manage_secret_file(path: Path, text: str, shown: str) -> Outcome:
    try:
        current = path.read_text()
    except OSError:
        current = None
    if current == text:
        return True, f"File {shown} is in the correct state", {}
    nodelib.write_atomic(path, text, 0o600)
    if current is None:
        return True, f"File {shown} updated", {"diff": "New file", "mode": "0600"}
    return True, f"File {shown} updated", {"diff": "<show_changes=False>"}


def known_tokens(pillar: dict, regen: bool, boot_token: str) -> Outcome:
    try:
        current = TOKENS.read_text()
    except OSError:
        current = ""
    match = TOKEN_LINE.search(current)
    if regen:
        token = new_token()
    elif pillar.get("kubelet_token"):
        token = str(pillar["kubelet_token"])
    elif match:
        token = match.group(1)
    else:
        token = boot_token or new_token()
    others = [line for line in current.splitlines() if line and not TOKEN_LINE.match(line)]
    text = "\n".join([f"{token},kubelet,kubelet", *others]) + "\n"
    return _manage_secret_file(TOKENS, text, "/srv/kubernetes/known_tokens.csv")


def kubernetes_cert(facts: dict) -> Outcome:
    """make-ca-cert.sh: the CA once, a server certificate for the master's addresses."""
    import kubecerts

    addresses = [str(a) for a in facts.get("addresses") or []]
    name = str(facts.get("name") or "kubernetes-master")
    script = f"make-ca-cert.sh {addresses[0] if addresses else name} " + ",".join(
        [f"IP:{a}" for a in addresses] + ["IP:127.0.0.1", f"IP:{kubecerts.SERVICE_IP}", "DNS:kubernetes"])
    try:
        result = kubecerts.ensure(CERT_DIR, name, addresses)
    except (OSError, ValueError, ImportError) as exc:
        return False, f"Command \"{script}\" run", {"pid": os.getpid(), "retcode": 1, "stdout": "",
                                                     "stderr": f"{type(exc).__name__}: {exc}"}
    published = saltmaster.publish(CA_SALT_PATH, result.ca_pem)
    if not result.changed and not published:
        return True, "unless condition is true", {}
    done = [f"wrote /srv/kubernetes/{f}" for f in result.changed]
    stdout = "; ".join(done + ([f"published salt://{CA_SALT_PATH}"] if published else []))
    return True, f"Command \"{script}\" run", {"pid": os.getpid(), "retcode": 0, "stdout": stdout, "stderr": ""}


def cluster_ca(pillar: dict, master_ip: str) -> tuple[bytes | None, str]:
    """The cluster CA (PEM): pillar ``ca_cert`` (base64, as GCE's kube-env CA_CERT), else salt://."""
    if pillar.get("ca_cert"):
        try:
            pem = base64.b64decode(str(pillar["ca_cert"]), validate=True)
        except ValueError:
            return None, "Pillar ca_cert is not base64"
    else:
        pem, why = saltmaster.fetch(master_ip, CA_SALT_PATH, CA_WAIT)
        if pem is None:
            return None, why
    if PEM_CERT not in pem:
        return None, f"salt://{CA_SALT_PATH} is not a PEM certificate"
    return pem, ""


def kubeconfig_text(master_ip: str, token: str, ca_pem: bytes = b"") -> str:
    ca_line = f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}\n" if ca_pem else ""
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- cluster:\n"
        f"{ca_line}"
        f"    server: https://{master_ip}:{SECURE_PORT}\n"
        "  name: local\n"
        "contexts:\n"
        "- context:\n"
        "    cluster: local\n"
        "    user: kubelet\n"
        "  name: service-account-context\n"
        "current-context: service-account-context\n"
        "users:\n"
        "- name: kubelet\n"
        "  user:\n"
        f"    token: {token}\n"
    )


def kubelet_kubeconfig(pillar: dict, master_ip: str, boot_token: str) -> Outcome:
    try:
        match = KUBECONFIG_TOKEN.search(KUBECONFIG.read_text())
    except OSError:
        match = None
    token = str(pillar.get("kubelet_token") or (match.group(1) if match else boot_token))
    if not master_ip:
        return False, "Unable to manage file: grain master_ip is not set", {}
    ca_pem, why = cluster_ca(pillar, master_ip)
    if ca_pem is None:
        return False, f"Unable to manage file: {why}", {}
    return _manage_secret_file(KUBECONFIG, kubeconfig_text(master_ip, token, ca_pem), "/var/lib/kubelet/kubeconfig")


def service_running(unit: str, restart_if_changed: Callable[[], bool]) -> Outcome:
    nodelib.set_enabled(unit, True)
    if not nodelib.is_active(unit):
        nodelib.start_unit(unit)
        return True, f"Service {unit} has been enabled, and is running", {unit: True}
    if restart_if_changed():
        nodelib.stop_unit(unit)
        nodelib.start_unit(unit)
        return True, "Service restarted", {unit: True}
    return True, f"The service {unit} is already running", {}


def salt_service(unit: str, race: bool) -> Outcome:
    if race:
        return False, f"The Salt Minion service is not running: {unit} is not running", {}
    if not nodelib.is_active(unit):
        nodelib.start_unit(unit)
        return True, f"Service {unit} has been enabled, and is running", {unit: True}
    return True, f"The service {unit} is already running", {}


def plan(role: str, pillar: dict, race: bool, regen: bool, changed: set[str]) -> list[State]:
    """The ordered states of this node's highstate; `changed` collects changed state ids."""
    facts = nodelib.node()
    boot_token = str(facts.get("kubelet_token", ""))
    states = [State("salt", "service", "salt-minion", "running", lambda: salt_service("salt-minion", race))]
    watched: tuple[str, ...] = ()
    if role == "master":
        states.append(State("salt", "service", "salt-master", "running", lambda: salt_service("salt-master", race)))
        states.append(State("generate-cert", "cmd", "kubernetes-cert", "script", lambda: kubernetes_cert(facts)))
        watched = ("kubernetes-cert",)
        binary, unit, sls = "kube-apiserver", "kube-apiserver", "kube-apiserver"
        config = State(sls, "file", "/srv/kubernetes/known_tokens.csv", "managed",
                       lambda: known_tokens(pillar, regen, boot_token), ("salt-minion",))
    else:
        binary, unit, sls = "kubelet", "kubelet", "kubelet"
        master_ip = str(facts.get("master_ip", ""))
        config = State(sls, "file", "/var/lib/kubelet/kubeconfig", "managed",
                       lambda: kubelet_kubeconfig(pillar, master_ip, boot_token), ("salt-minion",))
    bin_id = f"/opt/kubernetes/server/bin/{binary}"
    states.append(State("kube-bins", "file", bin_id, "managed", lambda: install_binary(binary), ("salt-minion",)))
    states.append(config)
    states.append(State(sls, "service", unit, "running",
                        lambda: service_running(unit, lambda: bool(changed & {bin_id, config.id, *watched})),
                        ("salt-minion", bin_id, config.id, *watched)))
    return states
