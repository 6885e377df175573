"""Sandbox nodes are machines: namespaces over a stock image, seen through real OpenSSH."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from workbench.sandbox.nodes.rig import Rig

from .test_nodes_ssh import run_ssh, ssh_argv


async def ssh(rig: Rig, server, command: str) -> tuple[int, str, str]:
    status, out, err = await run_ssh(ssh_argv(rig, server, command))
    return status, out.decode(), err.decode()


async def test_a_node_is_its_own_machine(rig: Rig) -> None:
    master = rig.server("kubernetes-master")
    minion = rig.server("kubernetes-minion-1")
    await rig.manager.boot(master)
    await rig.manager.boot(minion)
    assert await ssh(rig, master, "hostname") == (0, "kubernetes-master\n", "")
    assert await ssh(rig, master, "id -un; sudo id -un") == (0, "fedora\nroot\n", "")
    status, _, err = await ssh(rig, master, "touch /etc/kubernetes-nope")
    assert status == 1 and "Permission denied" in err  # the user is not root; sudo is
    probe = "sudo sh -c 'mkdir -p /etc/kubernetes && echo x > /etc/kubernetes/probe'"
    assert (await ssh(rig, master, probe))[0] == 0
    assert await ssh(rig, master, "cat /etc/kubernetes/probe") == (0, "x\n", "")
    assert (await ssh(rig, minion, "test -e /etc/kubernetes/probe"))[0] == 1  # only on that node
    assert not Path("/etc/kubernetes/probe").exists() or Path("/etc/kubernetes/probe").read_text() != "x\n"
    assert (await ssh(rig, master, "echo t > /tmp/scratch && sudo touch /run/scratch"))[0] == 0
    # the node's own processes only: its init is PID 1
    status, out, _ = await ssh(rig, master, "ps -eo pid=,comm= | head -1")
    assert out.split() == ["1", "python3"]
    assert "work" not in (await ssh(rig, master, "ls /"))[1].split()  # not the workstation's /

    await rig.manager.reboot(master.id, hard=False)
    assert await ssh(rig, master, "cat /etc/kubernetes/probe") == (0, "x\n", "")
    assert (await ssh(rig, master, "test -e /tmp/scratch || test -e /run/scratch"))[0] == 1

    node = rig.manager.nodes[master.id]
    assert node.machine is not None
    await run_ssh(ssh_argv(rig, master, "setsid sleep 600 >/dev/null 2>&1 < /dev/null &"))
    pids = node.machine.pids()
    assert len(pids) >= 2  # the init and the sleep
    await rig.manager.destroy(master.id)
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []  # nothing outlives delete
    assert not (rig.manager.root / master.id).exists()


async def test_a_fresh_node_holds_only_what_cloud_init_writes(rig: Rig) -> None:
    """The node's writable layer right after its first boot: the stock image plus what
    cloud-init does on any cloud. No grains, pillar, Salt config, certificates or tokens."""
    server = rig.server("kubernetes-master")
    await rig.manager.boot(server)
    disk = rig.manager.root / server.id / "root"
    files = sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if not p.is_dir())
    assert files == [
        "etc/group", "etc/hostname", "etc/hosts", "etc/passwd", "etc/shadow",
        "etc/sudoers.d/90-cloud-init-users", "home/fedora/.ssh/authorized_keys",
        f"var/lib/cloud/instances/{server.id}/boot-finished",
        "var/log/journal/sshd.log",  # the journal of the one enabled unit, which started
    ]
    assert (disk / "etc/hostname").read_text() == "kubernetes-master\n"
    assert (disk / "home/fedora/.ssh/authorized_keys").read_text().strip() == server.public_keys[0]
    status, out, _ = await ssh(rig, server, "find /run /tmp -mindepth 1 -maxdepth 2 | sort")
    repo = ["/run/sandbox-repo", "/run/sandbox-repo/salt"] if rig.manager.salt else []  # dnf's repo
    assert status == 0 and out.split() == [*repo, "/run/systemd", "/run/systemd/private", "/run/systemd/system"]
    status, out, _ = await ssh(rig, server, "ls /etc/salt /srv/kubernetes /var/lib/kubelet 2>&1; ls -A /srv")
    assert "No such file or directory" in out and out.count("No such file") == 3
    assert out.splitlines()[-1:] != ["salt"]
    # the stock image enables sshd alone and holds no Salt: its units come with dnf's package
    status, out, _ = await ssh(rig, server, "ls /etc/systemd/system/multi-user.target.wants")
    assert (status, out) == (0, "sshd.service\n")
    status, out, err = await ssh(rig, server, "systemctl is-enabled salt-minion; test -e /usr/bin/salt-call")
    assert status == 1 and out == "" and "salt-minion.service: No such file or directory" in err
    status, out, _ = await ssh(rig, server, "systemctl is-active sshd salt-minion salt-master")
    assert (status, out.split()) == (3, ["active", "inactive", "inactive"])


UNIT = """\
[Unit]
Description=Probe daemon
After=network.target

[Service]
EnvironmentFile=-/etc/sysconfig/probe
Environment="GREETING=hello there" COUNT=3
ExecStartPre=/bin/sh -c 'echo pre $GREETING'
ExecStart=/bin/sh -c 'echo start $COUNT $EXTRA; exec sleep 600'
Restart=on-failure
RestartSec=0.1

[Install]
WantedBy=multi-user.target
"""


async def test_units_run_as_systemd_runs_them(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-1")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        async def sh(command: str, **kw: object) -> str:
            return str((await conn.run(command, check=True, **kw)).stdout)

        await sh("sudo tee /etc/systemd/system/probe.service >/dev/null", input=UNIT)
        await sh("sudo sh -c 'mkdir -p /etc/sysconfig && echo EXTRA=more > /etc/sysconfig/probe'")
        assert (await conn.run("systemctl is-enabled probe")).stdout == "disabled\n"
        await sh("sudo systemctl daemon-reload && sudo systemctl enable probe && sudo systemctl start probe")
        assert await sh("systemctl is-active probe.service") == "active\n"
        assert await sh("systemctl is-enabled probe") == "enabled\n"
        show = await sh("systemctl show -p ActiveState,SubState,UnitFileState probe")
        assert show.split() == ["ActiveState=active", "SubState=running", "UnitFileState=enabled"]
        status = await sh("systemctl status probe")
        assert "Loaded: loaded (/etc/systemd/system/probe.service; enabled" in status
        assert "Active: active (running)" in status
        journal = await sh("journalctl -u probe --no-pager -o cat")
        assert "pre hello there" in journal and "start 3 more" in journal
        assert "Started Probe daemon." in journal
        main_pid = (await sh("systemctl show -P MainPID probe")).strip()
        await sh(f"sudo kill -9 {main_pid}")  # a crash: Restart=on-failure brings it back

        async def restarted() -> bool:
            pid = (await sh("systemctl show -P MainPID probe")).strip()
            return pid not in ("0", main_pid)

        await poll(restarted)
        assert "Scheduled restart job" in await sh("journalctl -u probe -n 20")
        assert (await conn.run("journalctl -u probe --since '-1h' -n 1")).stdout.count("\n") == 1
        assert (await conn.run("journalctl -u probe --since '@4102444800'")).stdout == "-- No entries --\n"
        assert (await conn.run("systemctl status nope")).exit_status == 4
        assert await sh("systemctl --version | head -1") == "systemd 252 (252.30-1~deb12u2)\n"
    await rig.manager.reboot(server.id, hard=False)  # enabled: started at boot
    async with await rig.connect(server) as conn:
        assert (await conn.run("systemctl is-active probe")).stdout == "active\n"
        await conn.run("sudo systemctl stop probe && sudo systemctl disable probe", check=True)
        assert (await conn.run("systemctl is-active probe")).stdout == "inactive\n"


async def poll(check, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_user_data_runs_once_on_first_boot(rig: Rig) -> None:
    import dataclasses

    config = """#cloud-config
write_files:
  - path: /etc/probe.conf
    content: |
      written by cloud-init
    permissions: '0600'
runcmd:
  - echo ran >> /var/tmp/runcmd.log
  - [sh, -c, "hostname > /var/tmp/name"]
"""
    server = dataclasses.replace(rig.server("kubernetes-minion-2"), user_data=config)
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        assert (await conn.run("sudo cat /etc/probe.conf")).stdout == "written by cloud-init\n"
        assert (await conn.run("stat -c %a /etc/probe.conf")).stdout == "600\n"
        assert (await conn.run("cat /var/tmp/runcmd.log /var/tmp/name")).stdout == "ran\nkubernetes-minion-2\n"
    await rig.manager.reboot(server.id, hard=False)
    async with await rig.connect(server) as conn:
        assert (await conn.run("cat /var/tmp/runcmd.log")).stdout == "ran\n"  # once per instance
    script = dataclasses.replace(rig.server("kubernetes-minion-3"), user_data="#!/bin/sh\necho from-script > /root/s\n")
    await rig.manager.boot(script)
    async with await rig.connect(script) as conn:
        assert (await conn.run("sudo cat /root/s")).stdout == "from-script\n"
    assert "running 'modules:final'" in rig.manager.console(script.id)  # cloud-init's console


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("bwrap"),
                    reason="needs root to become nobody, setpriv and bubblewrap")
def test_an_unprivileged_user_gets_a_node_too() -> None:
    """As `nobody`: bwrap's user namespace, the node's disk bound (no overlay there); real
    Salt runs there (its commands and units under /usr/local, /usr being read-only)."""
    base = Path(tempfile.mkdtemp(prefix="workbench-nobody-"))  # pytest's tmp is root's only
    try:
        os.chown(base, 65534, 65534)
        script = Path(__file__).with_name("nobody_node.py")
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
             str(script), str(base)], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] == 65534 and out["check"] is None
    assert out["hostname"] == "nobody-node\n" and out["pid1"] == "python3\n"
    assert out["write"] == "x\n" and out["systemctl"] == "active\n" and out["sudo"] == "0\n"
    assert out["after_reboot"] == "x\n"  # /etc kept, /tmp fresh
    assert out["left"] == [] and out["disk_probe"] == "x\n"
    if out.get("salt") == "not installed":
        return
    # real Salt there too: on the image with Salt, and after `dnf install` on the stock one;
    # Salt's own unit (Type=notify) starts and sends READY=1
    assert out["dnf"] == "installed\n"
    for name in ("salt-image", "dnf"):
        ping = out[f"{name}:ping"]  # Salt warns first that /etc/salt is missing (no config yet)
        assert json.loads(ping[ping.index("{"):]) == {"local": True}, ping
        assert out[f"{name}:minion"].startswith("active\n"), out[f"{name}:minion"]
