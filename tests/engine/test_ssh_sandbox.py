"""The pool and the system ssh against sandbox nodes: host keys learned from the console."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.engine.cloud import up
from workbench.errors import HostKeyMismatch

from .test_salt_helpers import start_cluster

REPO = Path(__file__).resolve().parents[2]


async def test_recreated_instance_on_reused_ip_connects_and_a_swapped_key_is_refused(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=1, provisioned=False)
    try:
        old = c.minions[0]
        assert (await c.pool.run(old, "hostname")).ok
        argv = c.pool.system_ssh_argv(old)
        first = await asyncio.to_thread(
            subprocess.run, [*argv, "-o", "BatchMode=yes", "echo", "first"], capture_output=True, text=True, timeout=30,
        )
        assert first.returncode == 0, first.stderr
        # the instance is deleted and recreated: new id, new host key, same fixed and floating IP
        await c.client.delete_server(old.id)
        again = await up(c.client, c.state, c.bus, fix_leaked=True)  # its port stays, DOWN
        new = next(i for i in again.instances if i.name == old.name)
        assert new.id != old.id and (new.fixed_ip, new.floating_ip) == (old.fixed_ip, old.floating_ip)
        c.pool.remember([new])
        assert (await c.pool.run(new, "echo new")).stdout == "new\n"  # trusted by its own console
        argv = c.pool.system_ssh_argv(new)
        second = await asyncio.to_thread(
            subprocess.run, [*argv, "-o", "BatchMode=yes", "echo", "second"], capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 0, second.stderr  # no prompt, no "REMOTE HOST IDENTIFICATION"
        assert second.stdout == "second\n"
        # a machine whose key the instance's console never printed: refused, named, remembered
        swapped = dataclasses.replace(new, floating_ip=c.master.floating_ip, fixed_ip=c.master.fixed_ip)
        await c.pool.close()
        with pytest.raises(HostKeyMismatch, match=new.name):
            await c.pool.connect(swapped)
        assert c.pool.mismatches[new.name].instance_id == new.id
    finally:
        await c.close()


async def test_cli_ssh_runs_a_command_and_exits_with_its_status(make_sandbox) -> None:
    c = await start_cluster(make_sandbox, minions=1, provisioned=False)
    await c.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workbench", "--profile", str(c.box.profile_path), "ssh",
         c.minions[0].name, "--", "echo out; echo err >&2; exit 3"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "out\n" and "err" in done.stderr
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workbench", "--profile", str(c.box.profile_path), "ssh", "nope", "--", "true"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert bad.returncode == 2 and "no ACTIVE node named 'nope'" in bad.stderr and "Traceback" not in bad.stderr
