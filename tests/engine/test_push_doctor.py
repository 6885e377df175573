"""The doctor finds pushed files a node rebooted on before they were known to be on disk,
and its fix checks them by CRC-32 and sends again the one a power loss zeroed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.engine.doctor.nodes import node_checks
from workbench.engine.parts import Parts

from .test_push_sandbox import build_and_push
from .test_salt_helpers import start_cluster


def on_node(node_root: Path, path: Path) -> str:
    """The node's own path of a file on its disk (``root/srv/x`` is the node's ``/srv/x``)."""
    return "/" + path.relative_to(node_root).as_posix()


def power_loss(node_root: Path, victim: Path) -> None:
    """What a power loss right after a push can leave: the victim's name, size and mtime
    are the new file's but its bytes are zeros, and every index entry is from another boot."""
    st = victim.stat()
    victim.write_bytes(bytes(st.st_size))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    index = node_root / "home" / "fedora" / ".cache" / "workbench" / "push-index"  # ~fedora
    entries = [json.loads(line) for line in index.read_text().splitlines()]
    for e in entries:
        e["b"] = "an-earlier-boot"
        e.pop("f", None)
        if e["p"] == on_node(node_root, victim):
            e["t"] = victim.stat().st_ctime_ns  # the identity the disk came back with
    index.write_text("".join(json.dumps(e) + "\n" for e in entries))


async def test_files_a_reboot_may_have_lost_are_found_checked_and_sent_again(make_sandbox: Callable[..., Any]) -> None:
    cluster = await start_cluster(make_sandbox, minions=1, provisioned=False)
    try:
        root, _, _ = await build_and_push(cluster)
        ctx = Parts(cluster.profile, state=cluster.state, bus=cluster.bus, cloud=cluster.client, ssh=cluster.pool)
        assert [a for a in await node_checks(ctx) if a.kind == "push-unconfirmed"] == []

        minion = cluster.minions[0]
        node_root = Path(cluster.box.state_dir) / "nodes" / minion.id / "root"
        release = node_root / cluster.profile.paths.release_dir.lstrip("/")
        victim = next(release.glob("kubernetes-server-linux-amd64.tar.gz"))
        good = (root / "_output" / "release-tars" / victim.name).read_bytes()
        power_loss(node_root, victim)

        alerts = [a for a in await node_checks(ctx) if a.kind == "push-unconfirmed"]
        assert [a.subject for a in alerts] == [minion.name]
        assert on_node(node_root, victim) in alerts[0].details.splitlines()
        summary = await alerts[0].fixes[0].run()
        assert "1 sent again" in summary, summary
        assert victim.read_bytes() == good
        assert [a for a in await node_checks(ctx) if a.kind == "push-unconfirmed"] == []
    finally:
        await cluster.close()
