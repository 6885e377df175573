"""Real Salt (3008, from PyPI by the install step) masterless on a sandbox node."""

from __future__ import annotations

import dataclasses
import json

import pytest

from workbench.sandbox.nodes.image import salt_venv
from workbench.sandbox.nodes.rig import Rig

pytestmark = pytest.mark.skipif(salt_venv() is None, reason="Salt is not installed (README: .salt)")

TOP = "base:\n  '*':\n    - probe\n"
PROBE = """\
/etc/probe/config:
  file.managed:
    - contents: "hello from salt"
    - makedirs: True
    - mode: '0644'

/etc/systemd/system/saltprobe.service:
  file.managed:
    - contents: |
        [Unit]
        Description=Salt probe
        [Service]
        ExecStart=/bin/sleep 600
        [Install]
        WantedBy=multi-user.target

saltprobe:
  service.running:
    - enable: True
    - watch:
      - file: /etc/probe/config
    - require:
      - file: /etc/systemd/system/saltprobe.service

stamp:
  cmd.run:
    - name: hostname > /var/tmp/stamp
    - creates: /var/tmp/stamp
"""
SALT_CALL = "sudo /usr/bin/salt-call --local state.apply --out=json --retcode-passthrough"


def changed(states: dict) -> dict[str, dict]:
    return {key: s["changes"] for key, s in states.items() if s["changes"]}


async def test_real_salt_applies_a_tree_and_then_changes_nothing(rig: Rig) -> None:
    server = dataclasses.replace(rig.server("kubernetes-master"), image="fedora-21-cloud-salt")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        version = await conn.run("/usr/bin/salt-call --version", check=True)
        assert version.stdout.startswith("salt-call 3008.")
        for path, text in (("/srv/salt/top.sls", TOP), ("/srv/salt/probe.sls", PROBE)):
            await conn.run(f"sudo sh -c 'mkdir -p /srv/salt && cat > {path}'", input=text, check=True)
        first = await conn.run(SALT_CALL)
        states = json.loads(first.stdout)["local"]
        assert first.exit_status == 0, first.stdout + first.stderr
        assert all(s["result"] is True for s in states.values()), states
        assert sorted(k.split("_|-")[0] for k, s in states.items() if s["changes"]) == [
            "cmd", "file", "file", "service"], states  # two files, the service, the command
        assert (await conn.run("cat /etc/probe/config")).stdout == "hello from salt\n"
        assert (await conn.run("systemctl is-active saltprobe")).stdout == "active\n"
        assert (await conn.run("systemctl is-enabled saltprobe")).stdout == "enabled\n"
        assert (await conn.run("cat /var/tmp/stamp")).stdout == "kubernetes-master\n"
        second = await conn.run(SALT_CALL)
        again = json.loads(second.stdout)["local"]
        assert second.exit_status == 0 and all(s["result"] is True for s in again.values())
        assert changed(again) == {}, again
    await rig.manager.reboot(server.id, hard=False)  # enabled by Salt: started at boot
    async with await rig.connect(server) as conn:
        assert (await conn.run("systemctl is-active saltprobe")).stdout == "active\n"


async def test_dnf_installs_salt_on_the_stock_image(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-1")  # the stock image: no Salt
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        assert (await conn.run("test -e /usr/bin/salt-call")).exit_status == 1
        assert (await conn.run("dnf -y install salt-minion")).exit_status == 1  # not root
        installed = await conn.run("sudo dnf -y install salt-minion", check=True)
        assert "Complete!" in installed.stdout
        version = await conn.run("/usr/bin/salt-call --version", check=True)
        assert version.stdout.startswith("salt-call 3008.")
        assert "Nothing to do" in (await conn.run("sudo dnf -y install salt-minion")).stdout
