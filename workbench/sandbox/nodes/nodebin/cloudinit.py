"""cloud-init's part of a boot, run by the node's init (stdlib only).

Every boot: the hostname (/etc/hostname, /etc/hosts). Once per instance: the default user
`fedora` with passwordless sudo and the boot keypair authorised, then the server's
`user_data` (already split into write_files / packages / runcmd / a script by the sandbox,
which parses the YAML). What it prints goes to the console, as cloud-init's output does.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import subprocess
import time

USER, UID = "fedora", 1000
SUDOERS = "/etc/sudoers.d/90-cloud-init-users"


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _chown(path: str, uid: int, gid: int) -> None:
    with contextlib.suppress(OSError):  # one mapped uid (unprivileged): all stays root's
        os.chown(path, uid, gid)


def hostname(name: str) -> None:
    with open("/etc/hostname", "w", encoding="utf-8") as handle:
        handle.write(name + "\n")
    try:
        with open("/etc/hosts", encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if not line.startswith("127.0.1.1")]
    except OSError:
        lines = ["127.0.0.1\tlocalhost"]
    lines.append(f"127.0.1.1\t{name}")
    with open("/etc/hosts", "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def default_user(keys: list[str]) -> None:
    """useradd fedora, sudoers, ~/.ssh/authorized_keys (cloud-init's users-groups, ssh)."""
    with open("/etc/passwd", encoding="utf-8") as handle:
        known = any(line.startswith(USER + ":") for line in handle)
    if not known:
        _append("/etc/passwd", f"{USER}:x:{UID}:{UID}:Fedora Cloud User:/home/{USER}:/bin/bash")
        _append("/etc/group", f"{USER}:x:{UID}:")
        if os.path.exists("/etc/shadow"):
            _append("/etc/shadow", f"{USER}:!:{int(time.time() // 86400)}:0:99999:7:::")
    os.makedirs("/etc/sudoers.d", exist_ok=True)
    with open(SUDOERS, "w", encoding="utf-8") as handle:
        handle.write(f"# Created by cloud-init v. 0.7.6\n\n# User rules for {USER}\n"
                     f"{USER} ALL=(ALL) NOPASSWD:ALL\n")
    os.chmod(SUDOERS, 0o440)
    home = f"/home/{USER}"
    ssh = f"{home}/.ssh"
    os.makedirs(ssh, mode=0o700, exist_ok=True)
    path = f"{ssh}/authorized_keys"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(k.strip() + "\n" for k in keys))
    os.chmod(path, 0o600)
    for each in (home, ssh, path):
        _chown(each, UID, UID)
    os.chmod(home, 0o700)


def _owner(spec: str) -> tuple[int, int]:
    import grp
    import pwd

    user, _, group = spec.partition(":")
    try:
        uid = pwd.getpwnam(user).pw_uid
        gid = grp.getgrnam(group).gr_gid if group else pwd.getpwnam(user).pw_gid
    except KeyError:
        return 0, 0
    return uid, gid


def write_files(entries: list[dict]) -> list[str]:
    out = []
    for entry in entries:
        path = entry["path"]
        data = entry.get("content", "").encode()
        encoding = str(entry.get("encoding", "")).lower()
        if encoding in ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64"):
            data = base64.b64decode(data)
        if "gz" in encoding or "gzip" in encoding:
            data = gzip.decompress(data)
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "ab" if entry.get("append") else "wb") as handle:
            handle.write(data)
        os.chmod(path, int(str(entry.get("permissions", "0644")), 8))
        _chown(path, *_owner(str(entry.get("owner", "root:root"))))
    return out


def _run(argv: list[str] | str) -> str:
    shell = isinstance(argv, str)
    done = subprocess.run(argv, shell=shell, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env={"PATH": "/usr/local/sbin:/usr/local/bin:"
                          "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"})
    return done.stdout.decode(errors="replace")


def user_data(plan: dict, instance: str) -> str:
    """Run the parsed user_data once per instance; returns what it printed."""
    sem = f"/var/lib/cloud/instances/{instance}/sem"
    if os.path.exists(f"{sem}/user-data"):
        return ""
    os.makedirs(sem, exist_ok=True)
    out: list[str] = []
    if plan.get("write_files"):
        write_files(plan["write_files"])
    if plan.get("packages"):
        out.append(_run(["dnf", "-y", "install", *plan["packages"]]))
    for cmd in plan.get("runcmd", []):
        out.append(_run(cmd))
    if plan.get("script"):
        scripts = f"/var/lib/cloud/instances/{instance}/scripts"
        os.makedirs(scripts, exist_ok=True)
        path = f"{scripts}/part-001"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(plan["script"])
        os.chmod(path, 0o700)
        out.append(_run([path]))
    with open(f"{sem}/user-data", "w", encoding="utf-8") as handle:
        handle.write(f"{time.time():.0f}\n")
    return "".join(out)


def first_boot(instance: str) -> bool:
    return not os.path.exists(f"/var/lib/cloud/instances/{instance}/boot-finished")


def finished(instance: str) -> None:
    path = f"/var/lib/cloud/instances/{instance}/boot-finished"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{time.time():.0f}\n")
