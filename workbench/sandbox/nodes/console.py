"""A node's host key and the cloud-init style boot log that publishes it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import asyncssh


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The node's ed25519 host key, generated at first boot and kept across reboots."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    os.replace(tmp, path)
    return key


def boot_log(name: str, addresses: tuple[str, ...], key: asyncssh.SSHKey) -> str:
    """Console output as a Fedora cloud image prints it, host keys as cloud-init does."""
    comment = f"root@{name}"
    public = key.export_public_key().decode().strip().split()
    fingerprint = key.get_fingerprint("sha256")
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    uptime = f"{time.monotonic() % 100:.2f}"
    rule = "#" * 61
    ci = [
        f"ci-info: | {'eth0':>6} | True | {addr:<15} | 255.255.255.0 | . | fa:16:3e:00:00:00 |"
        for addr in addresses[:1]
    ]
    lines = [
        "[    0.000000] Linux version 4.2.3-300.fc23.x86_64 (mockbuild@bkernel01) #1 SMP",
        "[    2.104418] systemd[1]: Detected virtualization kvm.",
        f"[    3.871020] cloud-init[612]: Cloud-init v. 0.7.6 running 'init-local' at {stamp}. Up 3.84 seconds.",
        f"[    5.209113] cloud-init[655]: Cloud-init v. 0.7.6 running 'init' at {stamp}. Up 5.18 seconds.",
        "ci-info: +++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++++",
        *ci,
        f"Cloud-init v. 0.7.6 running 'modules:config' at {stamp}. Up 9.02 seconds.",
        f"ec2: {rule}",
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
        f"ec2: 256 {fingerprint} {comment} (ED25519)",
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
        f"ec2: {rule}",
        "-----BEGIN SSH HOST KEY KEYS-----",
        f"{public[0]} {public[1]} {comment}",
        "-----END SSH HOST KEY KEYS-----",
        f"Cloud-init v. 0.7.6 finished at {stamp}. Datasource DataSourceOpenStack "
        f"[net,ver=2].  Up {uptime} seconds",
        "",
        "Fedora 23 (Cloud Edition)",
        "Kernel 4.2.3-300.fc23.x86_64 on an x86_64 (ttyS0)",
        "",
        f"{name} login: ",
    ]
    return "\n".join(lines) + "\n"
