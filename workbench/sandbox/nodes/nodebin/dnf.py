"""`dnf install` on a sandbox node, for the one thing it can install: Salt (stdlib only).

The node's package repository is what the install step prepared (the Salt venv), mounted
read-only at /run/sandbox-repo/salt; installing links it in as Salt's onedir packages lay
themselves out (/opt/saltstack/salt, /usr/bin/salt-call, ...). On an unprivileged node
(bubblewrap, /usr bound read-only from the workstation) the commands and units go under
/usr/local instead, which is on PATH and in systemd's unit search path.
"""

from __future__ import annotations

import os
import sys

REPO = "/run/sandbox-repo/salt"
ONEDIR = "/opt/saltstack/salt"
PACKAGES = {"salt": ("salt",), "salt-minion": ("salt-minion", "salt-call"),
            "salt-master": ("salt-master", "salt-key", "salt", "salt-run", "salt-cp"), "salt-call": ("salt-call",)}


#: the unit files Salt's packages ship (salt/pkg/common/*.service), for the daemons they install
UNITS = {
    "salt-minion": ("The Salt Minion", "After=network.target salt-master.service\n", "KillMode=process\n"
                    "Type=notify\nNotifyAccess=all\nLimitNOFILE=8192\nExecStart=/usr/bin/salt-minion\n"),
    "salt-master": ("The Salt Master Server", "After=network.target\n", "LimitNOFILE=100000\nType=notify\n"
                    "NotifyAccess=all\nExecStart=/usr/bin/salt-master\n"),
}


def prefix() -> str:
    """/usr, or /usr/local where /usr is read-only (an unprivileged node)."""
    return "/usr" if os.access("/usr/bin", os.W_OK) else "/usr/local"


def unit_file(daemon: str, bindir: str = "/usr/bin") -> str:
    description, after, service = UNITS[daemon]
    service = service.replace("ExecStart=/usr/bin/", f"ExecStart={bindir}/")
    return (f"[Unit]\nDescription={description}\nDocumentation=man:{daemon}(1) "
            f"https://docs.saltproject.io/en/latest/contents.html\n{after}\n[Service]\n{service}\n"
            "[Install]\nWantedBy=multi-user.target\n")


def _wrapper(command: str) -> str:
    return f'#!/bin/sh\nexec {ONEDIR}/bin/python3 {ONEDIR}/bin/{command} "$@"\n'


def install(names: list[str]) -> int:
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        for name in unknown:
            print(f"No match for argument: {name}")
        print(f"Error: Unable to find a match: {' '.join(unknown)}", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("Error: This command has to be run with superuser privileges (under the root user on most systems).",
              file=sys.stderr)
        return 1
    if not os.path.isfile(f"{ONEDIR}/bin/salt-call"):
        if not os.path.isdir(REPO):
            print("Error: Failed to download metadata for repo 'salt-repo': Cannot download repomd.xml",
                  file=sys.stderr)
            return 1
        if os.path.isdir(ONEDIR) and not os.path.islink(ONEDIR):
            os.rmdir(ONEDIR)
        os.makedirs(os.path.dirname(ONEDIR), exist_ok=True)
        os.symlink(REPO, ONEDIR)
    commands = sorted({c for n in names for c in PACKAGES[n]} | {"salt-call"})
    fresh = [c for c in commands if not any(os.path.exists(f"{p}/bin/{c}") for p in ("/usr", "/usr/local"))]
    usr = prefix()
    for command in fresh:
        os.makedirs(f"{usr}/bin", exist_ok=True)
        with open(f"{usr}/bin/{command}", "w", encoding="utf-8") as handle:
            handle.write(_wrapper(command))
        os.chmod(f"{usr}/bin/{command}", 0o755)
        if command in UNITS:  # installed, not enabled (Fedora's presets leave Salt's daemons off)
            unit_dir = f"{usr}/lib/systemd/system"
            os.makedirs(unit_dir, exist_ok=True)
            with open(f"{unit_dir}/{command}.service", "w", encoding="utf-8") as handle:
                handle.write(unit_file(command, f"{usr}/bin"))
    if not fresh:
        for name in names:
            print(f"Package {name}-3008.0-1.noarch is already installed.")
        print("Dependencies resolved.\nNothing to do.\nComplete!")
        return 0
    print("Dependencies resolved.")
    for name in names:
        print(f"Installing:\n {name:<20} noarch   3008.0-1   salt-repo")
    print("Complete!")
    return 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    if not args:
        print("usage: dnf [options] COMMAND", file=sys.stderr)
        return 1
    if args[0] == "install":
        return install(args[1:])
    print(f"No such command: {args[0]}. Please use /usr/bin/dnf --help", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
