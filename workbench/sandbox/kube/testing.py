"""A NodeView for driving KubeSim without the node manager (tests, benchmarks): a tmp root
and a unique loopback address; the files a highstate would write (tokens, certificates,
a kubelet kubeconfig)."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FakeNode:
    server_id: str
    name: str
    role: str
    root: Path
    addrs: list[str] = field(default_factory=list)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(self.addrs)

    def journal(self, unit: str, line: str) -> None:
        path = self.root / "var/log/journal" / f"{unit}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(line + "\n")

    def journal_text(self, unit: str) -> str:
        path = self.root / "var/log/journal" / f"{unit}.log"
        return path.read_text() if path.exists() else ""


def free_loopback(port: int = 8080) -> str:
    """A 127.a.b.c address (b > 0: never a sandbox subnet) where ``port`` is free."""
    for _ in range(100):
        address = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        with socket.socket() as sock:
            try:
                sock.bind((address, port))
            except OSError:
                continue
            return address
    raise RuntimeError("no free loopback address")


def make_node(tmp: Path, name: str, role: str, address: str | None = None) -> FakeNode:
    root = tmp / name / "root"
    (root / "var/log/journal").mkdir(parents=True)
    return FakeNode(f"id-{name}", name, role, root, [address or free_loopback()])


def write_tokens(master: FakeNode, token: str) -> None:
    path = master.root / "srv/kubernetes/known_tokens.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{token},kubelet,kubelet\n")
    os.replace(tmp, path)


def write_certs(master: FakeNode) -> bytes:
    """The master's CA and server certificate (as its highstate makes them); the CA's PEM."""
    from workbench.sandbox.nodes.nodebin import kubecerts

    return kubecerts.ensure(master.root / "srv/kubernetes", master.name, list(master.addresses)).ca_pem


def write_kubelet_config(minion: FakeNode, server: str, token: str, ca_pem: bytes | None = None) -> None:
    path = minion.root / "var/lib/kubelet/kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    ca = f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}\n" if ca_pem else ""
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"{ca}    server: {server}\n  name: local\ncontexts:\n- context:\n    cluster: local\n"
        "    user: kubelet\n  name: service-account-context\ncurrent-context: service-account-context\n"
        f"users:\n- name: kubelet\n  user:\n    token: {token}\n"
    )


async def poll(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
