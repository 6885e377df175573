"""What a client needs to use the sandbox: clouds.yaml, profile.toml and the SSH key."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from workbench.sandbox.cloud.bootstrap import IMAGE_NAME, MGMT_NETWORK, PUBLIC_NETWORK
from workbench.sandbox.cloud.store import PROJECT_NAME, REGION, USER_NAME, Store
from workbench.state import atomic_write

CLOUD_NAME = "sandbox"
KEYPAIR_NAME = "workbench"
CLUSTER_NAME = "kubernetes"
SSH_PORT = 2222


def write_clouds_yaml(path: Path, store: Store, auth_url: str) -> None:
    doc = {"clouds": {CLOUD_NAME: {
        "auth": {
            "auth_url": auth_url, "username": USER_NAME, "password": store.password,
            "project_name": PROJECT_NAME, "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": REGION, "identity_api_version": 3, "interface": "public",
    }}}
    atomic_write(path, yaml.safe_dump(doc, sort_keys=False), mode=0o600)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return json.dumps([str(v) for v in value])  # a TOML array of basic strings
    return json.dumps(str(value))  # a TOML basic string


def write_profile(
    path: Path, store: Store, *, clouds_yaml: Path, private_key: Path, minions: int,
    kube_root: Path, state_dir: Path,
) -> None:
    tables = {
        "cloud": {"name": CLOUD_NAME, "region": REGION, "clouds_yaml": clouds_yaml},
        "cluster": {
            "name": CLUSTER_NAME, "minions": minions, "image": IMAGE_NAME, "flavor": "m1.small",
            "keypair": KEYPAIR_NAME, "network": MGMT_NETWORK, "floating_ip_pool": PUBLIC_NETWORK,
            "master_ip": f"127.{store.octet}.0.2", "node_ip_base": f"127.{store.octet}.0.",
        },
        "ssh": {"user": "fedora", "private_key": private_key, "port": SSH_PORT,
                "use_ssh_config": False, "use_agent": False},
        # nodes share the workstation's network: each component on its node's address only,
        # no pod routes on it; no container runtime to run DNS pods
        "kube": {"root": kube_root, "listen": "node-ip", "pod_network": "none", "addons": []},
    }
    lines = [
        "# Written by `workbench sandbox serve`: a profile for the embedded sandbox cloud.",
        "sandbox = true",
        f"state_dir = {_toml(state_dir)}",
    ]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {_toml(v)}" for k, v in table.items()]
    atomic_write(path, "\n".join(lines) + "\n")


def ensure_private_key(path: Path, comment: str) -> str:
    """The keypair's private key (kept 0600, generated once); returns the public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if path.exists():
        key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        atomic_write(path, pem, mode=0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    line = f"{public} {comment}"
    atomic_write(path.with_name(path.name + ".pub"), line + "\n")
    return line
