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
        session = m.spawn({"argv": ["/bin/sh", "-c", command], "env": {"PATH": "/usr/local/bin:/usr/bin:/bin"},
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
    out.update(await salt_nodes(base, image, machine, run))
    return out


async def salt_nodes(base: Path, image: types.ModuleType, machine: types.ModuleType, run) -> dict:
    """Real Salt as nobody: on the image with Salt, and installed by dnf on the stock one."""
    salt = image.salt_venv()
    if salt is None:
        return {"salt": "not installed"}
    out: dict = {}
    img = base / "image"
    for name, installed in (("salt-image", True), ("dnf", False)):
        layout = machine.Layout(base / name, img, salt, installed)
        layout.create_disk()
        m = machine.Machine(layout, lambda msg: None)
        await m.boot({"name": f"nobody-{name}", "instance": f"i-{name}", "public_keys": []})
        try:
            if not installed:
                out["dnf"] = await run(m, "sudo dnf -y install salt-minion >/dev/null && echo installed")
            out[f"{name}:ping"] = await run(m, "sudo salt-call --local test.ping --out=json 2>&1")
            conf = "id: nobody\\nmaster_type: disable\\n"
            out[f"{name}:minion"] = await run(
                m, f"sudo mkdir -p /etc/salt/minion.d && printf '{conf}' | sudo tee /etc/salt/minion.d/l.conf "
                ">/dev/null && sudo systemctl start salt-minion 2>&1; systemctl is-active salt-minion; journalctl -u salt-minion -n 8 -o cat")
        finally:
            await m.poweroff()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
