"""The doctor's push check: files a node rebooted on before they were known to be on disk.

A push renames each file into place without waiting for its data to reach the disk (see
docs/push.md), so a power loss within ~30 s of it can leave a file with its new name and
size over zeros. The node's push index says which files those are: entries written in an
earlier boot and never marked as flushed. The fix pushes to that node again: its agent
checks each of them by CRC-32 on start, keeps the good ones and the push resends the rest.
"""

from __future__ import annotations

import asyncio
import json
import shlex

from workbench.engine.parts import Parts
from workbench.engine.push.session import AGENT_DIR
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.errors import NodeError
from workbench.models.alerts import Alert, Fix

KINDS = ("push-unconfirmed",)

INDEX = f'"{AGENT_DIR}/push-index"'  # the agent's default index (agent_command)

# run with the node's python3 -S: the paths of the suspects, as JSON (the index is JSON lines,
# a later line for a path replaces an earlier one, "x" forgets it)
_SUSPECTS = r"""
import json, sys
boot = open("/proc/sys/kernel/random/boot_id").read().strip()
last = {}
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    try:
        e = json.loads(line)
        path = e["p"]
    except (ValueError, KeyError, TypeError):
        continue
    if e.get("x"):
        last.pop(path, None)
    else:
        last[path] = e
print(json.dumps(sorted(p for p, e in last.items() if e.get("b") not in (None, boot) and not e.get("f"))))
"""


async def unconfirmed_alerts(ctx: Parts, pool: SSHPool, nodes: list[NodeLike]) -> list[Alert]:
    """One warning per node that rebooted with pushed files never known to be on disk."""

    async def one(node: NodeLike) -> Alert | None:
        result = await pool.run(node, f"python3 -S -c {shlex.quote(_SUSPECTS)} {INDEX}")
        if not result.ok:
            return None
        try:
            paths = [str(p) for p in json.loads(result.stdout or "[]")]
        except (ValueError, TypeError):
            return None
        if not paths:
            return None

        async def fix(node: NodeLike = node, count: int = len(paths)) -> str:
            from workbench.engine.push.runner import push  # the push stack, only when fixing

            conn = await pool.connect(node)
            report = await push(ctx.profile, ctx.state, {node.name: (node, conn)}, bus=ctx.bus, direct=True,
                                pipeline="doctor")
            done = report.nodes[0]
            if not done.ok:
                raise NodeError(node.name, done.error or "push failed")
            return f"{node.name}: {count} file(s) checked by CRC-32, {done.files_changed} sent again"

        return Alert(
            kind="push-unconfirmed", severity="warning", subject=node.name,
            message=f"{node.name}: rebooted with {len(paths)} pushed file(s) not yet known to be on disk; "
                    "a power loss may have left them as zeros",
            command=f"workbench push  # checks them on {node.name} and resends the bad ones",
            details="\n".join(paths),
            fixes=(Fix("verify-push", f"check them by CRC-32 on {node.name} and push again whatever is wrong",
                       fix, destructive=False),),
        )

    found = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
    return [a for a in found if isinstance(a, Alert)]
