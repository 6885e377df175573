"""Boot one sandbox node as an unprivileged user and run a few commands in it.

Run by test_nodes_machine as `nobody`, with the system's python3 (the project's venv may
live where `nobody` cannot read): loads the sandbox's machine and image modules by path.
Prints one JSON document.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import types
from pathlib import Path

NODES = Path(__file__).resolve().parents[2] / "workbench" / "sandbox" / "nodes"


def load(name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"nodes.{name}", NODES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"nodes.{name}"] = module
    spec.loader.exec_module(module)
    return module


async def main(base: Path) -> dict:
    package = types.ModuleType("nodes")
    package.__path__ = [str(NODES)]
    sys.modules["nodes"] = package
    image = load("image")
    machine = load("machine")
    out: dict = {"check": machine.check(), "uid": os.getuid()}
    img = image.build(base / "image")
    node_dir = base / "n1"
    node_dir.mkdir()
    layout = machine.Layout(node_dir, img)
    layout.create_disk()

    async def boot() -> machine.Machine:
        m = machine.Machine(layout, lambda msg: None)
        await m.boot({"name": "nobody-node", "instance": "i-nobody", "public_keys": []})
        return m

    async def run(m: machine.Machine, command: str) -> str:
        read, write = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        session = m.spawn({"argv": ["/bin/sh", "-c", command], "env": {"PATH": "/usr/bin:/bin"},
                           "cwd": "/", "uid": 1000, "gid": 1000}, [null, write, write])
        os.close(write)
        os.close(null)
        await session.exited
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        return data.decode()

    m = await boot()
    out["hostname"] = await run(m, "hostname")
    out["pid1"] = await run(m, "cat /proc/1/comm")
    out["write"] = await run(m, "echo x > /etc/probe && cat /etc/probe; echo t > /tmp/t")
    out["systemctl"] = await run(m, "systemctl is-active sshd")
    out["sudo"] = await run(m, "sudo -n id -u")
    out["pids"] = len(m.pids())
    await m.poweroff()
    m = await boot()
    out["after_reboot"] = await run(m, "cat /etc/probe; test -e /tmp/t && echo tmp-kept")
    pids = m.pids()
    await m.poweroff()
    out["left"] = [p for p in pids if Path(f"/proc/{p}").exists()]
    out["disk_probe"] = (layout.disk / "etc/probe").read_text()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
