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


async def test_no_top_file_fails_like_salt(rig: Rig) -> None:
    server = dataclasses.replace(rig.server("kubernetes-master"), image="fedora-21-cloud-salt")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        result = await conn.run("sudo salt-call --local state.highstate")
    assert result.exit_status == 1, result.stdout + result.stderr
    assert "No Top file or master_tops data matches found." in result.stdout + result.stderr


MISSING = """\
/opt/kubernetes/server/bin/kube-apiserver:
  file.managed:
    - source: salt://kube-bins/kube-apiserver
    - mode: '0755'
    - makedirs: True

probe-apiserver:
  cmd.run:
    - name: /opt/kubernetes/server/bin/kube-apiserver --version
    - require:
      - file: /opt/kubernetes/server/bin/kube-apiserver
"""


async def test_a_missing_release_file_fails_like_salt(rig: Rig) -> None:
    server = dataclasses.replace(rig.server("kubernetes-master"), image="fedora-21-cloud-salt")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        for path, text in (("/srv/salt/top.sls", TOP), ("/srv/salt/probe.sls", MISSING)):
            await conn.run(f"sudo sh -c 'mkdir -p /srv/salt && cat > {path}'", input=text, check=True)
        result = await conn.run(SALT_CALL)
        states = json.loads(result.stdout)["local"]
    assert result.exit_status == 2, result.stdout + result.stderr
    comments = {key.split("_|-")[1]: s["comment"] for key, s in states.items() if s["result"] is False}
    assert "Source file salt://kube-bins/kube-apiserver not found in saltenv 'base'" in \
        comments["/opt/kubernetes/server/bin/kube-apiserver"]
    assert comments["probe-apiserver"].startswith("One or more requisite failed: probe.")


MINION_CONF = "id: {name}\nmaster_type: disable\n"  # masterless: no lookup of a host named salt


async def test_dnf_installed_salt_minion_is_a_notify_unit_that_starts_and_survives_a_reboot(rig: Rig) -> None:
    """Salt's own unit (Type=notify, NotifyAccess=all): `systemctl start` returns once the
    real salt-minion sent READY=1; enabled, it and a unit of the test are back after a reboot."""
    server = rig.server("kubernetes-minion-1")  # the stock image: dnf installs Salt and its units
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        await conn.run("sudo dnf -y install salt-minion", check=True)
        assert (await conn.run("systemctl is-enabled salt-minion")).stdout == "disabled\n"
        show = await conn.run("systemctl show -p Type,NotifyAccess,FragmentPath salt-minion", check=True)
        assert show.stdout.split() == ["Type=notify", "NotifyAccess=all",
                                       "FragmentPath=/usr/lib/systemd/system/salt-minion.service"]
        await conn.run("sudo sh -c 'mkdir -p /etc/salt/minion.d && cat > /etc/salt/minion.d/local.conf'",
                       input=MINION_CONF.format(name=server.name), check=True)
        started = await conn.run("sudo systemctl start salt-minion; systemctl is-active salt-minion")
        assert started.stdout == "active\n", started.stderr
        pid = (await conn.run("systemctl show -P MainPID salt-minion", check=True)).stdout.strip()
        args = (await conn.run(f"ps -o args= -p {pid}", check=True)).stdout
        assert args.strip().endswith("/opt/saltstack/salt/bin/salt-minion"), args
        await conn.run("sudo tee /etc/systemd/system/keeper.service >/dev/null", check=True,
                       input="[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=multi-user.target\n")
        await conn.run("sudo systemctl enable salt-minion keeper && sudo systemctl start keeper", check=True)
    await rig.manager.reboot(server.id, hard=True)
    async with await rig.connect(server) as conn:
        result = await conn.run("systemctl is-active salt-minion keeper sshd")
        assert result.stdout.split() == ["active", "active", "active"]
        pid = (await conn.run("systemctl show -P MainPID salt-minion", check=True)).stdout.strip()
        assert (await conn.run(f"ps -o args= -p {pid}")).stdout.strip().endswith("bin/salt-minion")
        journal = (await conn.run("journalctl -u salt-minion -o cat", check=True)).stdout
        assert journal.count("Started The Salt Minion.") == 2  # before and after the reboot
