"""Put a node's bundle in place over SSH: one command per node, secrets on stdin only.

The node runs ``sudo -n python3 -c SCRIPT`` (the script holds no secret) and reads the
bundle as JSON on stdin. Each file is written only when its bytes or mode differ, through
a temp file in the same directory, fsynced and renamed, owned by root: a second run
changes nothing, an interrupted one leaves each file old or new. Tars are unpacked only
when they changed since the last unpacking (size and mtime, kube-up's install.sh's job); a
tar not pushed is reported, not fatal: Salt then names the state that needed it.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from typing import Any

from workbench.engine.provision.bundle import NodeBundle
from workbench.engine.ssh import NodeLike, SSHPool
from workbench.errors import NodeError
from workbench.redact import redact

NODE_SCRIPT = r'''
import base64, json, os, sys, tarfile
req = json.load(sys.stdin)
def put(path, data, mode):
    try:
        with open(path, "rb") as f:
            same = f.read() == data and (os.stat(path).st_mode & 0o7777) == mode
    except OSError:
        same = False
    if same:
        return False
    d = os.path.dirname(path) or "."
    os.makedirs(d, mode=0o755, exist_ok=True)
    tmp = os.path.join(d, ".%s.wb-tmp" % os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        if os.geteuid() == 0:
            os.fchown(fd, 0, 0)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return True
changed, unpacked, missing = [], [], []
for f in req["files"]:
    if put(f["path"], base64.b64decode(f["data"]), f["mode"]):
        changed.append(f["path"])
for x in req["extracts"]:
    tar, dest = x["tar"], x["dest"]
    try:
        st = os.stat(tar)
    except OSError:
        missing.append(x["tar"])
        continue
    stamp = "%d %d" % (st.st_size, int(st.st_mtime))
    try:
        with open(os.path.join(dest, ".from-tar")) as f:
            if f.read().strip() == stamp:
                continue
    except OSError:
        pass
    prefix = x["prefix"].rstrip("/") + "/"
    os.makedirs(dest, mode=0o755, exist_ok=True)
    with tarfile.open(tar, "r:*") as t:
        for m in t:
            name = m.name[len(prefix):] if m.name.startswith(prefix) else ""
            if not m.isfile() or not name or "/" in name:
                continue
            src = t.extractfile(m)
            put(os.path.join(dest, name), src.read(), 0o755)
    put(os.path.join(dest, ".from-tar"), stamp.encode(), 0o644)
    unpacked.append(x["dest"])
print(json.dumps({"changed": changed, "unpacked": unpacked, "missing": missing}))
'''


@dataclass(frozen=True)
class ApplyResult:
    node: str
    changed: tuple[str, ...]
    unpacked: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # release tars not on the node (not pushed): Salt will say what lacks them


def request(bundle: NodeBundle) -> bytes:
    """The JSON a node's script reads on stdin."""
    body: dict[str, Any] = {
        "files": [{"path": f.path, "mode": f.mode, "data": base64.b64encode(f.data).decode()}
                  for f in bundle.files],
        "extracts": [{"tar": x.tar, "prefix": x.prefix, "dest": x.dest} for x in bundle.extracts],
    }
    return json.dumps(body).encode()


def apply_command() -> str:
    return f"sudo -n python3 -c {shlex.quote(NODE_SCRIPT)}"


async def apply_bundle(pool: SSHPool, node: NodeLike, bundle: NodeBundle, *,
                       timeout: float | None = 300.0) -> ApplyResult:
    result = await pool.run(node, apply_command(), input=request(bundle),
                            timeout=timeout, source=None)
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    except ValueError:
        answer = {}
    if not result.ok or "changed" not in answer:
        why = answer.get("error") or (result.stderr.strip().splitlines() or [f"exit status {result.exit_status}"])[-1]
        raise NodeError(node.name, redact(f"provisioning files: {why}"))
    return ApplyResult(node.name, tuple(answer["changed"]), tuple(answer.get("unpacked", ())),
                       tuple(answer.get("missing", ())))
