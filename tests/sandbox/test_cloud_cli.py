"""The sandbox cloud driven by the real `openstack` CLI (python-openstackclient)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import os_conn

OPENSTACK = Path(sys.executable).with_name("openstack")
pytestmark = pytest.mark.skipif(not OPENSTACK.exists(), reason="python-openstackclient missing")


def osc(box, *args: str, ok: bool = True):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(box.clouds_path)
    proc = subprocess.run(
        [str(OPENSTACK), "--os-cloud", "sandbox", *args], env=env, capture_output=True,
        text=True, timeout=60,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    if ok and "json" in args:
        return json.loads(proc.stdout)
    return proc


def _wait_status(box, name: str, status: str) -> None:  # type: ignore[no-untyped-def]
    conn = os_conn(box)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        server = conn.compute.find_server(name)
        if server is not None and server.status == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} never became {status}")


def test_openstack_cli_port_server_floating_ip_and_teardown(sandbox):
    prefix = sandbox.profile_path.read_text().split('node_ip_base = "')[1].split('"')[0]
    ip = f"{prefix}240"
    port = osc(sandbox, "port", "create", "--network", "mgmt", "--fixed-ip",
               f"ip-address={ip}", "cli-port", "-f", "json")
    assert port["fixed_ips"][0]["ip_address"] == ip and port["status"] == "DOWN"

    taken = osc(sandbox, "port", "create", "--network", "mgmt", "--fixed-ip",
                f"ip-address={ip}", "cli-port-2", ok=False)
    assert taken.returncode != 0 and f"IP address {ip} already allocated" in taken.stderr

    osc(sandbox, "server", "create", "--image", "fedora-21-cloud", "--flavor", "m1.small",
        "--key-name", "workbench", "--port", "cli-port", "cli-server", "-f", "json")
    _wait_status(sandbox, "cli-server", "ACTIVE")
    servers = osc(sandbox, "server", "list", "-f", "json")
    row = next(s for s in servers if s["Name"] == "cli-server")
    assert row["Status"] == "ACTIVE" and ip in json.dumps(row["Networks"])

    fip = osc(sandbox, "floating", "ip", "create", "public", "--port", "cli-port", "-f", "json")
    listed = osc(sandbox, "floating", "ip", "list", "-f", "json")
    mine = next(f for f in listed if f["ID"] == fip["id"])
    assert mine["Fixed IP Address"] == ip and mine["Port"] == port["id"]

    console = osc(sandbox, "console", "log", "show", "cli-server").stdout
    assert "cli-server" in console

    compute_ports = osc(sandbox, "port", "list", "--device-owner", "compute:nova", "-f", "json")
    assert port["id"] in {p["ID"] for p in compute_ports}
    down = osc(sandbox, "port", "list", "--status", "DOWN", "-f", "json")
    assert port["id"] not in {p["ID"] for p in down}

    osc(sandbox, "floating", "ip", "delete", fip["id"])
    osc(sandbox, "server", "delete", "cli-server")
    conn = os_conn(sandbox)
    deadline = time.monotonic() + 20
    while conn.compute.find_server("cli-server") is not None:
        assert time.monotonic() < deadline, "server never went away"
        time.sleep(0.02)
    # the port we made outlives its server, unbound (as with Nova); then we delete it
    down = osc(sandbox, "port", "list", "--status", "DOWN", "-f", "json")
    assert port["id"] in {p["ID"] for p in down}
    osc(sandbox, "port", "delete", "cli-port")
    assert port["id"] not in {p["ID"] for p in osc(sandbox, "port", "list", "-f", "json")}
    assert fip["id"] not in {f["ID"] for f in osc(sandbox, "floating", "ip", "list", "-f", "json")}


def test_openstack_cli_reads_the_furniture(sandbox):
    assert "fedora-21-cloud" in {i["Name"] for i in osc(sandbox, "image", "list", "-f", "json")}
    assert {"m1.small", "m1.medium"} <= {f["Name"] for f in osc(sandbox, "flavor", "list", "-f", "json")}
    assert "workbench" in {k["Name"] for k in osc(sandbox, "keypair", "list", "-f", "json")}
    nets = {n["Name"] for n in osc(sandbox, "network", "list", "-f", "json")}
    assert {"mgmt", "public"} <= nets
    limits = osc(sandbox, "limits", "show", "--absolute", "-f", "json")
    values = {row["Name"]: row["Value"] for row in limits}
    assert values["instances"] >= 3 and values["instances_used"] == len(
        list(os_conn(sandbox).compute.servers())
    )
