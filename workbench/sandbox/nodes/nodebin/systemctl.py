"""`systemctl` on a sandbox node: unit state lives in run/systemd/units/<unit>.

The node manager notices changes after the SSH channel closes and tells the sandbox's
Kubernetes (a started kube-apiserver serves, a started kubelet registers).
"""

from __future__ import annotations

import sys
import time

import nodelib

USAGE = "usage: systemctl [--no-pager] [-q] start|stop|restart|is-active|is-enabled|status|enable|disable UNIT..."


def _status(unit: str, desc: str) -> int:
    active = nodelib.is_active(unit)
    enabled = "enabled" if nodelib.is_enabled(unit) else "disabled"
    since = time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime())
    state = f"active (running) since {since}" if active else "inactive (dead)"
    print(f"{'●' if active else '○'} {unit}.service - {desc}")
    print(f"     Loaded: loaded (/usr/lib/systemd/system/{unit}.service; {enabled}; vendor preset: disabled)")
    print(f"     Active: {state}")
    try:
        lines = (nodelib.JOURNAL_DIR / f"{unit}.log").read_text().splitlines()[-10:]
    except OSError:
        lines = []
    if lines:
        print()
        print("\n".join(lines))
    return 0 if active else 3


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    quiet = "-q" in argv or "--quiet" in argv
    if not args:
        print(USAGE, file=sys.stderr)
        return 1
    verb, units = args[0], [nodelib.unit_name(a) for a in args[1:]]
    if verb == "daemon-reload":
        return 0
    if not units:
        print(f"Too few arguments.\n{USAGE}", file=sys.stderr)
        return 1
    status = 0
    for unit in units:
        desc = nodelib.UNITS.get(unit)
        if verb == "is-active":
            active = desc is not None and nodelib.is_active(unit)
            if not quiet:
                print("active" if active else "inactive")
            status = status or (0 if active else 3)
            continue
        if desc is None:
            if verb == "status":
                print(f"Unit {unit}.service could not be found.", file=sys.stderr)
                return 4
            print(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", file=sys.stderr)
            return 5
        if verb == "start":
            if not nodelib.is_active(unit):
                nodelib.start_unit(unit)
        elif verb == "stop":
            if nodelib.is_active(unit):
                nodelib.stop_unit(unit)
        elif verb in ("restart", "reload", "try-restart"):
            if verb != "try-restart" or nodelib.is_enabled(unit):
                nodelib.restart_unit(unit)
            elif nodelib.is_active(unit):
                nodelib.stop_unit(unit)
        elif verb == "enable":
            nodelib.set_enabled(unit, True)
        elif verb == "disable":
            nodelib.set_enabled(unit, False)
        elif verb == "is-enabled":
            enabled = nodelib.is_enabled(unit)
            if not quiet:
                print("enabled" if enabled else "disabled")
            status = status or (0 if enabled else 1)
        elif verb == "status":
            status = status or _status(unit, desc)
        else:
            print(f"Unknown command verb {verb}.", file=sys.stderr)
            return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
