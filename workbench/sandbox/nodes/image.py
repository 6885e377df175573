"""The stock image nodes boot from: the workstation's system dirs plus a small image tree.

``STATE/image/`` (rebuilt at every sandbox start) holds what a cloud image adds over the
workstation's /usr: a baseline /etc (the workstation's, without its users, host keys,
enabled units or sudo rules), the sandbox's systemctl / journalctl / systemd-run and
node init (/usr/local/lib/sandbox), a dnf that installs Salt, an sshd unit (the one unit
enabled), empty /var /srv /opt /home /root. Real Salt is the venv the install step made
(``.salt/`` at the project root, or ``$WORKBENCH_SALT``), seen as /opt/saltstack/salt; the
image ``fedora-21-cloud-salt`` adds its commands and Salt's package units (``salt/usr``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

NODEBIN = Path(__file__).with_name("nodebin")
LIB = "usr/local/lib/sandbox"
PYTHON = "/usr/bin/python3"
#: node command -> nodebin module, and where the image puts it
COMMANDS = {
    "usr/bin/systemctl": "systemctl",
    "usr/bin/journalctl": "journalctl",
    "usr/bin/systemd-run": "systemd_run",
    "usr/local/bin/dnf": "dnf",
}
SKIP_ETC = {"ssh/ssh_host_", "shadow-", "gshadow-", "passwd-", "group-", "subuid", "subgid",
            "machine-id", "sudoers.d/", "systemd/system/", "hostname", "cloud/", "salt/",
            "kubernetes/", "gitconfig", "npmrc", "pip.conf"}
DIRS = ("var/lib", "var/log/journal", "var/cache", "var/tmp", "var/spool", "srv", "opt",
        "home", "root", "mnt", "media", "etc/systemd/system/multi-user.target.wants",
        "etc/sudoers.d", "usr/lib/systemd/system", "usr/local/bin", "opt/saltstack/salt")
SSHD_UNIT = """\
[Unit]
Description=OpenSSH server daemon
After=network.target

[Service]
ExecStart=/usr/sbin/sshd -D $OPTIONS

[Install]
WantedBy=multi-user.target
"""
SSHD_CONFIG = """\
# the sshd_config a Fedora cloud image ships, trimmed
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
SyslogFacility AUTHPRIV
PermitRootLogin without-password
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
ChallengeResponseAuthentication no
GSSAPIAuthentication yes
GSSAPICleanupCredentials no
UsePAM yes
X11Forwarding yes
#UseDNS yes
Subsystem sftp /usr/lib/openssh/sftp-server
"""
#: appended to the image's /etc/bash.bashrc: Fedora's prompt, [fedora@kubernetes-master ~]$, in
#: plain POSIX sh (exported, it serves bash and the dash it starts alike)
PROMPT = """
# cloud image: Fedora's prompt
if [ -n "$PS1" ]; then
  if [ "$(id -u)" = 0 ]; then _sign='#'; else _sign='$'; fi
  PS1="[$(id -un)@${HOSTNAME%%.*} "'$([ "$PWD" = "$HOME" ] && echo "~" || echo "${PWD##*/}")'"]${_sign} "
  unset _sign
fi
"""
#: /usr/bin/sudo where only one uid is mapped (unprivileged): sessions already are the node's
#: root there, and the real sudo refuses sudoers owned by an unmapped uid
SUDO_SHIM = """\
#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-E|-H|-S|-k|-i|--preserve-env|--non-interactive) shift ;;
    -u|-g) shift; shift ;;
    -u*|-g*|--preserve-env=*|--user=*) shift ;;
    --) shift; break ;;
    -*) echo "sudo: unknown option -- ${1#-}" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: sudo [-nEH] [-u user] command" >&2; exit 1; }
exec "$@"
"""
SALT_COMMANDS = ("salt-call", "salt-minion", "salt-master", "salt-key", "salt", "salt-run", "salt-cp")
SYSTEM_UID_MAX = 999
#: the workstation's package installers, hidden: apt-get on a node would reach the Debian
#: mirrors (nodes share the workstation's network). The queries stay (dpkg-query, apt-cache
#: policy), so Salt's pkg.installed finds what the image already holds, as on a real image.
HIDDEN = ("usr/bin/apt-get", "usr/bin/apt", "usr/bin/aptitude")


def salt_venv() -> Path | None:
    """The real Salt the install step made (a venv on /usr/bin/python3), if any."""
    given = os.environ.get("WORKBENCH_SALT")
    candidates = [Path(given)] if given else [Path(__file__).resolve().parents[3] / ".salt"]
    for path in candidates:
        if (path / "bin" / "salt-call").is_file():
            return path
    return None


def salt_wrapper(command: str) -> str:
    """/usr/bin/salt-call as Salt's onedir packages install it, running the venv's script."""
    return (f"#!/bin/sh\nexec /opt/saltstack/salt/bin/python3 /opt/saltstack/salt/bin/{command} "
            '"$@"\n')


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _users(text: str, uid_field: int) -> str:
    """Keep system accounts only (the workstation's people are not on the image)."""
    kept = []
    for line in text.splitlines():
        parts = line.split(":")
        try:
            if int(parts[uid_field]) > SYSTEM_UID_MAX and int(parts[uid_field]) != 65534:
                continue
        except (IndexError, ValueError):
            pass
        kept.append(line)
    return "\n".join(kept) + "\n"


def _copy_etc(dest: Path) -> None:
    def ignore(folder: str, names: list[str]) -> list[str]:
        rel = os.path.relpath(folder, "/etc")
        rel = "" if rel == "." else rel + "/"
        return [n for n in names if any((rel + n).startswith(s) or (rel + n + "/") == s for s in SKIP_ETC)]

    def copy(src: str, dst: str) -> None:
        with contextlib.suppress(OSError):  # unreadable unprivileged (shadow, ...): left out
            shutil.copy2(src, dst)

    with contextlib.suppress(shutil.Error):  # unreadable directories (unprivileged) stay out
        shutil.copytree("/etc", dest, symlinks=True, ignore=ignore, copy_function=copy,
                        ignore_dangling_symlinks=True, dirs_exist_ok=True)
    for name, field in (("passwd", 2), ("group", 2)):
        path = dest / name
        if path.exists():
            path.write_text(_users(path.read_text(), field))
    shadow = dest / "shadow"
    if shadow.exists():
        names = {line.split(":")[0] for line in (dest / "passwd").read_text().splitlines()}
        rows = [line.split(":") for line in shadow.read_text().splitlines()]
        shadow.write_text("".join(":".join([r[0], "*", *r[2:]]) + "\n" for r in rows if r[0] in names))
        shadow.chmod(0o640)
    gshadow = dest / "gshadow"
    if gshadow.exists():
        groups = {line.split(":")[0] for line in (dest / "group").read_text().splitlines()}
        gshadow.write_text("".join(line + "\n" for line in gshadow.read_text().splitlines()
                                   if line.split(":")[0] in groups))
    _write(dest / "hostname", "localhost\n")
    bashrc = dest / "bash.bashrc"
    _write(bashrc, (bashrc.read_text() if bashrc.exists() else "") + PROMPT)
    _write(dest / "ssh/sshd_config", SSHD_CONFIG, 0o600)


def _nodebin(module: str) -> Any:
    """A nodebin module (they run on nodes, with nodebin as their path), loaded here."""
    spec = importlib.util.spec_from_file_location(f"_nodebin_{module}", NODEBIN / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _copy_package_db(image: Path) -> None:
    """The package database of the /usr the image shares (dpkg's status), so that the node's
    package queries (Salt's pkg.installed) see what is installed, as on a real image."""
    status = Path("/var/lib/dpkg/status")
    if status.is_file():
        (image / "var/lib/dpkg/updates").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(status, image / "var/lib/dpkg/status")
        (image / "var/lib/dpkg/available").touch()


def build(image: Path, *, python: str = PYTHON) -> Path:
    """(Re)build the image tree at ``image``; returns it."""
    fresh = image.with_name(image.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    for rel in DIRS:
        (fresh / rel).mkdir(parents=True, exist_ok=True)
    (fresh / "root").chmod(0o700)
    _copy_etc(fresh / "etc")
    lib = fresh / LIB
    lib.mkdir(parents=True, exist_ok=True)
    for source in NODEBIN.glob("*.py"):
        shutil.copyfile(source, lib / source.name)
    _write(lib / "sudo", SUDO_SHIM, 0o755)
    for rel, module in COMMANDS.items():
        _write(fresh / rel, f"#!{python} -I\nimport sys\nsys.path.insert(0, '/{LIB}')\n"
               f"from {module} import main\nsys.exit(main(sys.argv[1:]))\n", 0o755)
    _write(fresh / "usr/lib/systemd/system/sshd.service", SSHD_UNIT)
    _copy_package_db(fresh)
    wants = fresh / "etc/systemd/system/multi-user.target.wants"
    (wants / "sshd.service").symlink_to("/usr/lib/systemd/system/sshd.service")
    for rel in HIDDEN:
        if os.geteuid() == 0 and Path("/", rel).exists():  # an overlay whiteout (char 0:0)
            os.mknod(fresh / rel, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    for command in SALT_COMMANDS:
        _write(fresh / "salt/usr/bin" / command, salt_wrapper(command), 0o755)
    dnf = _nodebin("dnf")  # the node's own package tool: one unit text for both images
    for daemon in dnf.UNITS:
        _write(fresh / "salt/usr/lib/systemd/system" / f"{daemon}.service", dnf.unit_file(daemon))
    old = image.with_name(image.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if image.exists():
        image.rename(old)
    fresh.rename(image)
    shutil.rmtree(old, ignore_errors=True)
    return image


def python_ok() -> bool:
    return Path(PYTHON).is_file() and sys.platform.startswith("linux")
