"""A node's disk: a Fedora-like tree under <node dir>/root with the sandbox's commands.

run/ is the node's tmpfs: cleared at every boot, it holds unit states, the facts the
node's commands read (run/sandbox/*.json) and the salt-race marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

NODEBIN = Path(__file__).with_name("nodebin")
LIB = "usr/local/lib/sandbox"
PY_COMMANDS = {
    "salt-call": "salt_call",
    "systemctl": "systemctl",
    "journalctl": "journalctl",
    "hostname": "hostname",
}
DIRS = (
    "srv/salt", "srv/kube-release", "srv/kubernetes", "var/lib/kubelet", "var/log/journal",
    "etc/salt", "etc/ssh", "etc/systemd/system/multi-user.target.wants", "run", "tmp",
    "usr/local/bin", LIB, "opt", "home",
)
SSHD_CONFIG = """\
# sandbox node: the sshd_config a Fedora cloud image ships, trimmed
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
Subsystem sftp /usr/libexec/openssh/sftp-server
"""
SUDO = """\
#!/bin/sh
# sandbox sudo: sessions already run with every right the node has; run the command.
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-E|-H|-S|-k|--preserve-env|--non-interactive) shift ;;
    -u|-g) shift; shift ;;
    -u*|-g*|--preserve-env=*|--user=*) shift ;;
    --) shift; break ;;
    -*) echo "sudo: unknown option -- ${1#-}" >&2
        echo "usage: sudo [-nEH] [-u user] command" >&2; exit 1 ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then echo "usage: sudo [-nEH] [-u user] command" >&2; exit 1; fi
exec "$@"
"""
BOOT_UNITS = ("sshd", "salt-minion")
#: The working directory in a prompt, as ``\\W`` shows it ("~" at home), in plain POSIX sh
#: (dash and bash both expand it): one prompt, exported, serves bash and the sh it starts.
PROMPT_DIR = '$([ "$PWD" = "$HOME" ] && echo "~" || echo "${PWD##*/}")'
#: The node's /etc/bashrc: Fedora's prompt for the SSH user on this node. bash reads the
#: host's /etc/bash.bashrc first (``\\u@\\h``: the sandbox's own user and machine), then ~/.bashrc.
ETC_BASHRC = f"""\
# sandbox node /etc/bashrc: the prompt names the SSH user and this node, [fedora@kubernetes-master ~]$
if [ -n "$PS1" ]; then
  if [ "$USER" = root ]; then _sign='#'; else _sign='$'; fi
  PS1="[${{USER}}@${{HOSTNAME%%.*}} "'{PROMPT_DIR}'"]${{_sign}} "
  unset _sign
fi
"""
USER_BASHRC = """\
# .bashrc
if [ -f "$HOME/etc/bashrc" ]; then
  . "$HOME/etc/bashrc"
fi
"""


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def create(root: Path) -> None:
    """A fresh disk: directories, sshd_config, the sandbox's commands."""
    for rel in DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    _write(root / "etc/ssh/sshd_config", SSHD_CONFIG, 0o600)
    _write(root / "etc/hostname", "localhost\n")
    _write(root / "etc/os-release", 'NAME=Fedora\nVERSION_ID=23\nPRETTY_NAME="Fedora 23 (Cloud Edition)"\n')
    install_commands(root)


def install_commands(root: Path) -> None:
    """(Re)install the node's commands; done at every boot so they follow the sandbox's code."""
    lib = root / LIB
    lib.mkdir(parents=True, exist_ok=True)
    for source in NODEBIN.glob("*.py"):
        shutil.copyfile(source, lib / source.name)
    bin_dir = root / "usr/local/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command, module in PY_COMMANDS.items():
        launcher = (
            f"#!{sys.executable} -IS\n"
            "import sys\n"
            f"sys.path.insert(0, {str(lib)!r})\n"
            f"from {module} import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        _write(bin_dir / command, launcher, 0o755)
    _write(bin_dir / "sudo", SUDO, 0o755)
    _write(root / "etc/bashrc", ETC_BASHRC)
    if not (root / ".bashrc").exists():  # the user's own: written once, then theirs
        _write(root / ".bashrc", USER_BASHRC)
    python = bin_dir / "python3"
    if python.is_symlink() or python.exists():
        python.unlink()
    python.symlink_to(sys.executable)


def grains_text(role: str, cluster: str, master_ip: str, name: str) -> str:
    roles = "kubernetes-master" if role == "master" else "kubernetes-pool"
    return (
        f"roles:\n  - {roles}\n"
        f"cluster_name: {cluster}\n"
        f"master_ip: {master_ip}\n"
        f"hostname_override: {name}\n"
        "cloud: openstack\n"
        "api_servers: " + (master_ip or "''") + "\n"
    )


def write_facts(root: Path, facts: dict[str, object], settings: dict[str, float]) -> None:
    """Grains (YAML, for people) and run/sandbox/node.json (for the node's commands)."""
    _write(
        root / "etc/salt/grains",
        grains_text(*(str(facts[k]) for k in ("role", "cluster", "master_ip", "name"))),
    )
    _write(root / "etc/hostname", facts["name"] + "\n")
    _write(root / "run/sandbox/node.json", json.dumps(facts, indent=2) + "\n", 0o600)
    _write(root / "run/sandbox/settings.json", json.dumps(settings) + "\n")


def write_faults(root: Path, names: Iterable[str]) -> None:
    _write(root / "run/sandbox/faults.json", json.dumps(sorted(names)) + "\n")


def boot_run(root: Path, role: str) -> None:
    """Clear run/ (tmpfs) and bring units to their boot state; enabled units start too."""
    run = root / "run"
    if run.exists():
        shutil.rmtree(run)
    (run / "sandbox").mkdir(parents=True)
    units = run / "systemd/units"
    units.mkdir(parents=True)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    enabled = {p.name.removesuffix(".service") for p in wants.glob("*.service")} if wants.exists() else set()
    booted = set(BOOT_UNITS) | enabled | ({"salt-master"} if role == "master" else set())
    for unit in ("sshd", "salt-minion", "salt-master", "kubelet", "kube-apiserver"):
        (units / unit).write_text("active\n1\n" if unit in booted else "inactive\n0\n")
    (run / "sshd").mkdir()
    config = root / "etc/ssh/sshd_config"
    if config.exists():
        shutil.copyfile(config, run / "sshd/effective_config")


def read_units(root: Path) -> dict[str, tuple[bool, int]]:
    """unit -> (active, starts since boot), as the node's systemctl records them."""
    out: dict[str, tuple[bool, int]] = {}
    units = root / "run/systemd/units"
    if units.is_dir():
        for path in units.iterdir():
            if not path.name.startswith("."):
                with contextlib.suppress(OSError, ValueError):
                    words = path.read_text().split()
                    out[path.name] = (words[:1] == ["active"], int(words[1]) if len(words) > 1 else 0)
    return out


def sshd_uses_dns(root: Path) -> bool:
    """Whether the running sshd (config read when it last started) does reverse DNS."""
    try:
        text = (root / "run/sshd/effective_config").read_text()
    except OSError:
        return True
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0].lower() == "usedns":
            return words[1].lower() != "no"
    return True
