"""Where Salt lives on a node and how its services are driven, as shell text for SSH.

A real node: ``/etc/salt``, Salt on PATH, systemd, ``sudo``. ``service="daemon"`` is for
hosts without systemd (and the tests, where several nodes share one machine): each
daemon is started with ``-d`` and stopped by the pid in its pidfile. ``root_dir`` gives a
node private pki, socket, cache, log and pid paths (Salt's defaults under ``/`` otherwise).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Literal

Service = Literal["salt-master", "salt-minion"]


@dataclass(frozen=True)
class SaltPlace:
    config_dir: str = "/etc/salt"
    bin_dir: str = ""  # "" = the programs are on PATH
    sudo: str = "sudo"
    service: Literal["systemd", "daemon"] = "systemd"
    root_dir: str | None = None

    def program(self, name: str) -> str:
        return shlex.quote(f"{self.bin_dir.rstrip('/')}/{name}" if self.bin_dir else name)

    def salt(self, name: str, *args: str, sudo: bool = True) -> str:
        """``sudo salt-key -c DIR ARGS...`` (args quoted)."""
        words = [self.program(name), "-c", shlex.quote(self.config_dir), *map(shlex.quote, args)]
        return " ".join([self.sudo, *words] if self.sudo and sudo else words)

    def until_stdin_closes(self, command: str) -> str:
        """Run ``command`` (as root) until it ends or our stdin closes: a listener that
        never outlives the SSH channel that started it."""
        return self.as_root(f"{command} & p=$!; cat >/dev/null; kill $p 2>/dev/null; wait $p")

    def as_root(self, script: str) -> str:
        """A shell script run as root (``sudo sh -c``)."""
        return f"{self.sudo} sh -c {shlex.quote(script)}" if self.sudo else f"sh -c {shlex.quote(script)}"

    def paths(self, service: Service) -> dict[str, str]:
        """The config keys that keep this node's Salt files inside ``root_dir``."""
        if self.root_dir is None:
            return {}
        root = self.root_dir.rstrip("/")
        kind = "master" if service == "salt-master" else "minion"
        return {
            "root_dir": root, "pki_dir": f"{root}/pki/{kind}", "sock_dir": f"{root}/run/{kind}",
            "cachedir": f"{root}/cache/{kind}", "log_file": f"{root}/log/{kind}",
            "pidfile": f"{root}/run/{service}.pid",
        }

    def pki_dir(self, service: Service) -> str:
        kind = "master" if service == "salt-master" else "minion"
        return self.paths(service).get("pki_dir", f"/etc/salt/pki/{kind}")

    def pidfile(self, service: Service) -> str:
        return self.paths(service).get("pidfile", f"/var/run/{service}.pid")

    def _daemon_pids(self, service: Service) -> str:
        """Shell: the pids of this daemon (Salt 3008's main process may exit and leave its
        process manager running, so the pidfile alone does not find them)."""
        # "[s]alt-...": the pattern never matches the shell that carries it
        name = f"[{service[0]}]{service[1:]}"
        pattern = shlex.quote(f"{self.bin_dir.rstrip('/') + '/' if self.bin_dir else ''}{name} -c {self.config_dir}( |$)")
        return f"pgrep -f -- {pattern}"

    def _launch(self, service: Service) -> str:
        """Shell: start the daemon (through a variable, so no shell's own command line
        looks like the daemon's to ``pgrep``)."""
        return f"d={self.program(service)}; \"$d\" -c {shlex.quote(self.config_dir)} -d"

    def start(self, service: Service) -> str:
        """Start the service if it is not running (idempotent)."""
        if self.service == "systemd":  # enabled too: back after a reboot (late, in the boot race)
            return f"{self.sudo} systemctl enable --now {service}".strip()
        return self.as_root(
            f"if {self._daemon_pids(service)} >/dev/null; then exit 0; fi; {self._launch(service)}"
        )

    def enable(self, service: Service) -> str:
        """Start at boot (systemd); a daemon here has no boot to start at."""
        return f"{self.sudo} systemctl enable {service}".strip() if self.service == "systemd" else "true"

    def stop(self, service: Service) -> str:
        if self.service == "systemd":
            return f"{self.sudo} systemctl stop {service}".strip()
        return self.as_root(self._stop_script(service))

    def restart(self, service: Service) -> str:
        if self.service == "systemd":
            return f"{self.sudo} systemctl restart {service}".strip()
        return self.as_root(self._stop_script(service) + self._launch(service))

    def _stop_script(self, service: Service) -> str:
        """TERM every process of the daemon (CONT too, should it hang stopped), poll until
        all are gone (15 s at most), then KILL the rest."""
        pids = self._daemon_pids(service)
        return (
            f"ps=$({pids}); if [ -n \"$ps\" ]; then kill -TERM $ps; kill -CONT $ps; "
            f"i=0; while {pids} >/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; "
            f"ps=$({pids}) && kill -9 $ps; fi; rm -f {shlex.quote(self.pidfile(service))}; "
        )

    def is_active(self, service: Service) -> str:
        """Exit 0 when the service runs; prints active / inactive."""
        if self.service == "systemd":
            return f"systemctl is-active {service}"
        return f"if {self._daemon_pids(service)} >/dev/null; then echo active; else echo inactive; exit 3; fi"

    def journal(self, service: Service) -> str:
        """The equivalent command a person runs to see why a service stopped."""
        if self.service == "systemd":
            return f"sudo journalctl -u {service} -n 50"
        kind = "master" if service == "salt-master" else "minion"
        return f"tail -n 50 {shlex.quote(self.paths(service).get('log_file', f'/var/log/salt/{kind}'))}"
