"""systemd semantics real Salt and Salt's own units need, on a node over SSH: drop-ins,
Type=notify with NotifyAccess, Restart=on-failure with RestartSec and NRestarts."""

from __future__ import annotations

import asyncio

import asyncssh

from workbench.sandbox.nodes.rig import Rig

BASE = """\
[Unit]
Description=Drop-in probe
[Service]
Environment=GREETING=from-unit WHO=unit
ExecStart=/bin/sh -c 'echo run $GREETING $WHO; exec sleep 600'
[Install]
WantedBy=multi-user.target
"""
OVERRIDE = """\
[Service]
Environment=GREETING=from-drop-in
ExecStart=
ExecStart=/bin/sh -c 'echo override $GREETING $WHO; exec sleep 601'
"""


async def sh(conn: asyncssh.SSHClientConnection, command: str, **kw: object) -> str:
    return str((await conn.run(command, check=True, **kw)).stdout)


async def poll(check, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_drop_in_overrides_environment_and_resets_exec_start(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-1")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        await sh(conn, "sudo tee /etc/systemd/system/dropper.service >/dev/null", input=BASE)
        await sh(conn, "sudo systemctl start dropper")
        assert "run from-unit unit" in await sh(conn, "journalctl -u dropper -o cat")
        await sh(conn, "sudo mkdir -p /etc/systemd/system/dropper.service.d")
        await sh(conn, "sudo tee /etc/systemd/system/dropper.service.d/10-override.conf >/dev/null",
                 input=OVERRIDE)
        assert await sh(conn, "systemctl show -P NeedDaemonReload dropper") == "yes\n"
        await sh(conn, "sudo systemctl daemon-reload && sudo systemctl restart dropper")
        show = await sh(conn, "systemctl show -p DropInPaths,Environment,ExecStart dropper")
        assert show.splitlines() == [
            "DropInPaths=/etc/systemd/system/dropper.service.d/10-override.conf",
            "Environment=GREETING=from-drop-in WHO=unit",
            "ExecStart=/bin/sh -c echo override $GREETING $WHO; exec sleep 601",  # one command left
        ]
        journal = await sh(conn, "journalctl -u dropper -o cat")
        assert "override from-drop-in unit" in journal
        pid = (await sh(conn, "systemctl show -P MainPID dropper")).strip()
        assert await sh(conn, f"ps -o args= -p {pid}") == "sleep 601\n"
        status = await sh(conn, "systemctl status dropper")
        assert "    Drop-In: /etc/systemd/system/dropper.service.d\n" in status
        assert "10-override.conf" in status
        # a drop-in with a syntax systemd reads but no ExecStart= after the reset: refused
        await sh(conn, "sudo sh -c 'printf \"[Service]\\nExecStart=\\n\" > "
                       "/etc/systemd/system/dropper.service.d/20-empty.conf'")
        await sh(conn, "sudo systemctl daemon-reload")
        result = await conn.run("sudo systemctl restart dropper")
        assert result.exit_status == 1
        assert "Service has no ExecStart= setting" in await sh(conn, "journalctl -u dropper -o cat")


NOTIFY = """\
[Unit]
Description=Notify probe
[Service]
Type=notify
{access}
TimeoutStartSec={timeout}
ExecStart=/bin/sh -c 'echo starting; sleep 0.3; systemd-notify --ready --status=serving; exec sleep 600'
"""

CHILD_READY = """\
[Unit]
Description=Child notify probe
[Service]
Type=notify
TimeoutStartSec={timeout}
ExecStart=/bin/sh -c "python3 -c 'import os, socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\
.sendto(b\\"READY=1\\", os.environ[\\"NOTIFY_SOCKET\\"])'; exec sleep 600"
"""


async def test_type_notify_waits_for_ready_from_an_allowed_sender(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-2")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        unit = NOTIFY.format(access="NotifyAccess=all", timeout="20")
        await sh(conn, "sudo tee /etc/systemd/system/notifier.service >/dev/null", input=unit)
        # start returns once READY=1 arrived, so the unit is active at once, not activating
        assert (await sh(conn, "sudo systemctl start notifier; systemctl is-active notifier")) == "active\n"
        show = await sh(conn, "systemctl show -p Type,NotifyAccess,StatusText,SubState notifier")
        assert show.split() == ["Type=notify", "NotifyAccess=all", "StatusText=serving", "SubState=running"]
        assert 'Status: "serving"' in await sh(conn, "systemctl status notifier")

        # NotifyAccess=main (the default): READY=1 from a child (its own pid) is refused
        unit = CHILD_READY.format(timeout="1.5")
        await sh(conn, "sudo tee /etc/systemd/system/refused.service >/dev/null", input=unit)
        result = await conn.run("sudo systemctl start refused")
        assert result.exit_status == 1
        assert (await sh(conn, "systemctl show -p ActiveState,Result refused")).split() == [
            "ActiveState=failed", "Result=timeout"]
        journal = await sh(conn, "journalctl -u refused -o cat")
        assert "but reception only permitted for main PID" in journal
        assert "start operation timed out. Terminating." in journal


ON_FAILURE = """\
[Unit]
Description=Crashing probe
[Service]
ExecStart=/bin/sh -c 'n=$(cat /var/tmp/runs 2>/dev/null || echo 0); echo $((n+1)) > /var/tmp/runs; \
  [ "$n" -ge 2 ] && exec sleep 600; exit 3'
Restart=on-failure
RestartSec=200ms
"""


async def test_restart_on_failure_after_restart_sec_counts_restarts(rig: Rig) -> None:
    server = rig.server("kubernetes-minion-3")
    await rig.manager.boot(server)
    async with await rig.connect(server) as conn:
        await sh(conn, "sudo tee /etc/systemd/system/crasher.service >/dev/null", input=ON_FAILURE)
        await sh(conn, "sudo systemctl start crasher")

        async def running() -> bool:
            return await sh(conn, "systemctl show -P SubState crasher") == "running\n" and \
                await sh(conn, "cat /var/tmp/runs") == "3\n"

        await poll(running)  # two exits with status 3, each restarted: the third run stays
        assert await sh(conn, "systemctl show -P NRestarts crasher") == "2\n"
        journal = await sh(conn, "journalctl -u crasher -o cat")
        assert "crasher.service: Main process exited, code=exited, status=3/FAILURE" in journal
        assert "crasher.service: Scheduled restart job, restart counter is at 2." in journal
        # SIGKILL is a failure (restarted); SIGTERM counts as a clean exit: left stopped
        pid = (await sh(conn, "systemctl show -P MainPID crasher")).strip()
        await sh(conn, f"sudo kill -KILL {pid}")

        async def restarted() -> bool:
            return await sh(conn, "systemctl show -P NRestarts crasher") == "3\n" and \
                await sh(conn, "systemctl show -P SubState crasher") == "running\n"

        await poll(restarted)
        assert "status=9/KILL" in await sh(conn, "journalctl -u crasher -o cat")
        pid = (await sh(conn, "systemctl show -P MainPID crasher")).strip()
        await sh(conn, f"sudo kill -TERM {pid}")

        async def stopped() -> bool:
            return (await conn.run("systemctl is-active crasher")).stdout == "inactive\n"

        await poll(stopped)
        await asyncio.sleep(0.5)  # RestartSec is 200 ms: a restart would have come by now
        assert (await conn.run("systemctl is-active crasher")).stdout == "inactive\n"
        assert await sh(conn, "systemctl show -P NRestarts crasher") == "3\n"
